"""Matching's copy of intake's participants and organisation configuration, kept from their events.

Handlers run inside the consumer kit's transaction, behind its per-aggregate version gate (stale and
duplicate events never arrive, an erased participant never comes back), and are idempotent by state:
each upserts the full state it receives. Pairs they end are announced through the outbox in the same
transaction.
"""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import asyncpg
import structlog

from sprakvan_shared.contracts.intake import (
    OrganisationConfigured,
    ParticipantErased,
    ParticipantRegistered,
    ParticipantStatus,
    ParticipantUpdated,
)

from ..adapters import candidate_store, pair_store, programme_store
from ..domain.model import EndReason
from .unit_of_work import store

log = structlog.get_logger(__name__)
ZONE = ZoneInfo("Europe/Stockholm")


def _day(event) -> date:  # noqa: ANN001 - any integration event
    return event.occurred_at.astimezone(ZONE).date()


async def on_participant(conn: asyncpg.Connection, event: ParticipantRegistered | ParticipantUpdated) -> None:
    """registered, updated, interviewed, withdrawn: the participant's full state. A withdrawal ends the
    person's open proposals (their formed and active pairs stay for the coordinator to end with a reason)."""
    state = event.payload
    await candidate_store.upsert_candidate(conn, event.organisation_id, state)
    if state.status is ParticipantStatus.WITHDRAWN:
        pending = await pair_store.pairs_of_participant(
            conn, event.organisation_id, state.participant_id, statuses=["proposed"]
        )
        await store(conn, [(p.close(EndReason.WITHDRAWN, _day(event)), "ended") for p in pending])


async def on_erased(conn: asyncpg.Connection, event: ParticipantErased) -> None:
    """Forget the person: the candidate row, their forbids and the notes on their pairs. Their proposals
    and open pairs end (reason: erased); the pairs keep ids and dates for the statistics."""
    org, participant_id = event.organisation_id, event.payload.participant_id
    await candidate_store.delete_candidate(conn, org, participant_id)
    open_ = await pair_store.pairs_of_participant(conn, org, participant_id, statuses=["proposed", "formed", "active"])
    await store(conn, [(p.close(EndReason.ERASED, _day(event)), "ended") for p in open_])
    await pair_store.forget_notes_of(conn, org, participant_id)
    await programme_store.forget_forbids_of(conn, org, participant_id)
    log.info("participant_erased", participant_id=str(participant_id), pairs_ended=len(open_))


async def on_organisation(conn: asyncpg.Connection, event: OrganisationConfigured) -> None:
    # The envelope's organisation is the one the producer vouches for; the payload's copy is ignored.
    await candidate_store.upsert_organisation(conn, event.organisation_id, event.payload)
