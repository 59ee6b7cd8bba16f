"""What intake's participant events do here: the read model that decides who may sign up, withdrawal
(future sign-ups cancelled, the queue moves) and erasure (sign-ups and check-ins gone, counts kept).

Handlers are idempotent by state: applying the same participant state twice changes nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from sprakvan_shared import outbox

from ..adapters import repository as repo
from ..adapters.history import forget_imported_rows
from ..domain.signups import KnownParticipant, ParticipantStanding, SignupCancelReason
from . import signups
from .attendance import erase_check_ins
from .events import signup_erased


async def apply_state(conn: asyncpg.Connection, participant: KnownParticipant, version: int, *, now: datetime) -> int:
    """Store what intake says of the participant; a withdrawal cancels their future sign-ups. Inside a
    transaction. Returns the number of sign-ups cancelled."""
    await repo.upsert_participant(conn, participant, version)
    if participant.status is not ParticipantStanding.WITHDRAWN:
        return 0
    return await _cancel_future(conn, participant.organisation_id, participant.participant_id, now)


async def _cancel_future(
    conn: asyncpg.Connection, organisation_id: str, participant_id: uuid.UUID, now: datetime
) -> int:
    held = await repo.active_signups_of_participant(conn, organisation_id, participant_id, starting_after=now)
    for occurrence_id, signup_id in held:  # occurrence-id order: the same lock order everywhere
        change = await signups.cancel_locked(
            conn, organisation_id, occurrence_id, [signup_id], SignupCancelReason.WITHDRAWN, now=now
        )
        await signups.announce(conn, change, None)
    return len(held)


async def erase(conn: asyncpg.Connection, organisation_id: str, participant_id: uuid.UUID, *, now: datetime) -> None:
    """Inside a transaction: forget the participant. Future sign-ups are cancelled first (the queue moves),
    then every sign-up row is deleted behind a ``signup.erased`` tombstone (which purges its earlier
    messages from the stream), and check-ins become anonymous counts on their occurrences."""
    # Participant row first, occurrences after: the lock order of sign-up, so the two never deadlock.
    await conn.execute(
        "SELECT 1 FROM participants WHERE participant_id = $1 AND organisation_id = $2 FOR UPDATE",
        participant_id,
        organisation_id,
    )
    await _cancel_future(conn, organisation_id, participant_id, now)
    erased = await repo.delete_signups_of_participant(conn, organisation_id, participant_id)
    if erased:
        await outbox.enqueue(conn, *(signup_erased(s, now, None) for s in erased))
    await erase_check_ins(conn, organisation_id, participant_id, now=now)
    await forget_imported_rows(conn, organisation_id, participant_id, [s.id for s in erased])
    await conn.execute(
        "DELETE FROM participants WHERE participant_id = $1 AND organisation_id = $2", participant_id, organisation_id
    )
