"""Sign-ups and the occurrence row lock every seat decision takes first (``lock_occurrence``). Every change
to an occurrence's sign-ups happens under that lock, so its ``confirmed``/``waitlisted``/``arrivals``
columns are exact and no count(*) is needed."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

import asyncpg

from sprakvan_shared import outbox
from sprakvan_shared.contracts.envelope import IntegrationEvent

from ..domain.signups import Signup
from .rows import (
    O_COLUMNS,
    SIGNUP_COLUMNS,
    LockedOccurrence,
    NotFound,
    occurrence_from_row,
    signup_from_row,
    signup_values,
)


async def lock_occurrence(conn: asyncpg.Connection, organisation_id: str, occurrence_id: uuid.UUID) -> LockedOccurrence:
    row = await conn.fetchrow(
        f"""SELECT {O_COLUMNS},
                   o.confirmed, o.waitlisted, o.arrivals, a.programmes
            FROM occurrences o JOIN activities a ON a.id = o.activity_id
            WHERE o.id = $1 AND o.organisation_id = $2 FOR UPDATE OF o""",
        occurrence_id,
        organisation_id,
    )
    if row is None:
        raise NotFound("occurrence")
    return LockedOccurrence(
        occurrence_from_row(row), row["confirmed"], row["waitlisted"], row["arrivals"], tuple(row["programmes"])
    )


async def lock_for_signup(
    conn: asyncpg.Connection, organisation_id: str, occurrence_id: uuid.UUID, participant_id: uuid.UUID
) -> tuple[LockedOccurrence, bool]:
    """``lock_occurrence`` that also tells whether the participant holds an active sign-up (one round trip)."""
    row = await conn.fetchrow(
        f"""SELECT {O_COLUMNS},
                   o.confirmed, o.waitlisted, o.arrivals, a.programmes,
                   EXISTS (SELECT 1 FROM signups s WHERE s.occurrence_id = o.id AND s.participant_id = $3
                           AND s.status <> 'cancelled') AS already
            FROM occurrences o JOIN activities a ON a.id = o.activity_id
            WHERE o.id = $1 AND o.organisation_id = $2 FOR UPDATE OF o""",
        occurrence_id,
        organisation_id,
        participant_id,
    )
    if row is None:
        raise NotFound("occurrence")
    locked = LockedOccurrence(
        occurrence_from_row(row), row["confirmed"], row["waitlisted"], row["arrivals"], tuple(row["programmes"])
    )
    return locked, row["already"]


_ADD_SIGNUP_ANNOUNCED = outbox.insert_after_changes(
    {
        "added": f"INSERT INTO signups ({SIGNUP_COLUMNS}) VALUES ({', '.join(f'${i}' for i in range(1, 15))})",
        "counted": "UPDATE occurrences SET confirmed = $15, waitlisted = $16, arrivals = $17 WHERE id = $3",
    },
    17,
)


async def add_signup_announced(
    conn: asyncpg.Connection, signup: Signup, confirmed: int, waitlisted: int, event: IntegrationEvent
) -> None:
    """The sign-up row, the occurrence's counters and the outbox row in one statement: the occurrence lock is
    held for one round trip less per statement saved, and that lock is what limits sign-ups per second."""
    await conn.execute(
        _ADD_SIGNUP_ANNOUNCED, *signup_values(signup), confirmed, waitlisted, signup.arrival, *outbox.outbox_row(event)
    )


async def set_seat_counters(
    conn: asyncpg.Connection, occurrence_id: uuid.UUID, confirmed: int, waitlisted: int, arrivals: int
) -> None:
    await conn.execute(
        "UPDATE occurrences SET confirmed = $2, waitlisted = $3, arrivals = $4 WHERE id = $1",
        occurrence_id,
        confirmed,
        waitlisted,
        arrivals,
    )


async def save_signups(conn: asyncpg.Connection, signups: Iterable[Signup]) -> None:
    rows = [signup_values(s) for s in signups]
    if not rows:
        return
    await conn.executemany(
        """UPDATE signups SET status = $5, confirmed_at = $8, promoted_at = $9, cancelled_at = $10,
               cancel_reason = $11, cancelled_late = $12, over_capacity = $13, version = $14
           WHERE id = $1 AND organisation_id = $2 AND occurrence_id = $3 AND participant_id = $4
                 AND arrival = $6 AND signed_up_at = $7""",
        rows,
    )


async def load_signup(conn: asyncpg.Connection, organisation_id: str, signup_id: uuid.UUID) -> Signup:
    row = await conn.fetchrow(
        f"SELECT {SIGNUP_COLUMNS} FROM signups WHERE id = $1 AND organisation_id = $2", signup_id, organisation_id
    )
    if row is None:
        raise NotFound("signup")
    return signup_from_row(row)


async def waiting_in_line(conn: asyncpg.Connection, occurrence_id: uuid.UUID, limit: int | None) -> list[Signup]:
    rows = await conn.fetch(
        f"""SELECT {SIGNUP_COLUMNS} FROM signups WHERE occurrence_id = $1 AND status = 'waitlisted'
            ORDER BY arrival LIMIT $2""",
        occurrence_id,
        limit,
    )
    return [signup_from_row(r) for r in rows]


async def signups_of(conn: asyncpg.Connection, organisation_id: str, occurrence_id: uuid.UUID) -> list[Signup]:
    rows = await conn.fetch(
        f"SELECT {SIGNUP_COLUMNS} FROM signups WHERE occurrence_id = $1 AND organisation_id = $2 ORDER BY arrival",
        occurrence_id,
        organisation_id,
    )
    return [signup_from_row(r) for r in rows]


async def active_signups_of_participant(
    conn: asyncpg.Connection, organisation_id: str, participant_id: uuid.UUID, *, starting_after: datetime | None
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(occurrence id, sign-up id) of the participant's active sign-ups, in occurrence-id order (the lock order)."""
    rows = await conn.fetch(
        """SELECT s.occurrence_id, s.id FROM signups s JOIN occurrences o ON o.id = s.occurrence_id
           WHERE s.organisation_id = $1 AND s.participant_id = $2 AND s.status <> 'cancelled'
             AND ($3::timestamptz IS NULL OR o.starts_at > $3)
           ORDER BY s.occurrence_id""",
        organisation_id,
        participant_id,
        starting_after,
    )
    return [(r["occurrence_id"], r["id"]) for r in rows]


async def delete_signups_of_participant(
    conn: asyncpg.Connection, organisation_id: str, participant_id: uuid.UUID
) -> list[Signup]:
    rows = await conn.fetch(
        f"DELETE FROM signups WHERE organisation_id = $1 AND participant_id = $2 RETURNING {SIGNUP_COLUMNS}",
        organisation_id,
        participant_id,
    )
    return [signup_from_row(r) for r in rows]
