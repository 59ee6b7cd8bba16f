"""Activities and their occurrences. Every statement is scoped to an organisation (the materialiser's
``series_to_materialise`` alone looks at every organisation's series)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from ..domain.model import (
    Activity,
    Occurrence,
)
from ..domain.recurrence import Schedule
from .rows import (
    O_COLUMNS,
    OCCURRENCE_COLUMNS,
    LockedOccurrence,
    NotFound,
    StoredActivity,
    activity_from_row,
    occurrence_from_row,
    occurrence_values,
    schedule_to_json,
)


async def insert_activity(
    conn: asyncpg.Connection, activity: Activity, schedule: Schedule | None, materialised_to: datetime | None
) -> None:
    d = activity.details
    await conn.execute(
        """INSERT INTO activities (id, organisation_id, kind, status, title, type_code, venue_id, district, capacity,
               programmes, partner_ids, description, campaign, schedule, continues, materialised_to, version,
               created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb, $15, $16, $17, $18, $19)""",
        activity.id,
        activity.organisation_id,
        activity.kind.value,
        activity.status.value,
        d.title,
        d.type_code,
        d.venue_id,
        d.district,
        d.capacity,
        list(d.programmes),
        list(d.partner_ids),
        d.description,
        d.campaign,
        schedule_to_json(schedule),
        activity.continues,
        materialised_to,
        activity.version,
        activity.created_at,
        activity.updated_at,
    )


async def update_activity(
    conn: asyncpg.Connection, activity: Activity, schedule: Schedule | None, materialised_to: datetime | None
) -> None:
    d = activity.details
    await conn.execute(
        """UPDATE activities SET status = $3, title = $4, type_code = $5, venue_id = $6, district = $7, capacity = $8,
               programmes = $9, partner_ids = $10, description = $11, campaign = $12, schedule = $13::jsonb,
               materialised_to = $14, version = $15, updated_at = $16
           WHERE id = $1 AND organisation_id = $2""",
        activity.id,
        activity.organisation_id,
        activity.status.value,
        d.title,
        d.type_code,
        d.venue_id,
        d.district,
        d.capacity,
        list(d.programmes),
        list(d.partner_ids),
        d.description,
        d.campaign,
        schedule_to_json(schedule),
        materialised_to,
        activity.version,
        activity.updated_at,
    )


async def load_activity(
    conn: asyncpg.Connection, organisation_id: str, activity_id: uuid.UUID, *, lock: bool = False
) -> StoredActivity:
    row = await conn.fetchrow(
        "SELECT * FROM activities WHERE id = $1 AND organisation_id = $2" + (" FOR UPDATE" if lock else ""),
        activity_id,
        organisation_id,
    )
    if row is None:
        raise NotFound("activity")
    return activity_from_row(row)


async def set_materialised_to(conn: asyncpg.Connection, activity_id: uuid.UUID, until: datetime) -> None:
    await conn.execute(
        "UPDATE activities SET materialised_to = GREATEST(materialised_to, $2) WHERE id = $1", activity_id, until
    )


async def series_to_materialise(conn: asyncpg.Connection, horizon: datetime) -> list[StoredActivity]:
    """Active series (of every organisation) whose occurrences do not reach ``horizon`` yet. An imported
    activity has no rule (its occurrences were given one by one): nothing to materialise."""
    rows = await conn.fetch(
        """SELECT * FROM activities WHERE kind = 'series' AND status = 'active' AND schedule IS NOT NULL
           AND (materialised_to IS NULL OR materialised_to < $1) ORDER BY id""",
        horizon,
    )
    return [activity_from_row(r) for r in rows]


async def insert_occurrences(conn: asyncpg.Connection, occurrences: Sequence[Occurrence]) -> list[uuid.UUID]:
    """Insert the ones not there yet (materialising twice, or on two replicas, is harmless): their ids."""
    if not occurrences:
        return []
    rows = [occurrence_values(o) for o in occurrences]
    columns = list(zip(*rows, strict=True))
    inserted = await conn.fetch(
        f"""INSERT INTO occurrences ({OCCURRENCE_COLUMNS})
            SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::timestamptz[], $5::timestamptz[],
                                 $6::timestamptz[], $7::uuid[], $8::text[], $9::int[], $10::text[], $11::text[],
                                 $12::int[], $13::int[], $14::timestamptz[], $15::timestamptz[], $16::timestamptz[])
            ON CONFLICT DO NOTHING RETURNING id""",
        *columns,
    )
    return [r["id"] for r in inserted]


async def save_occurrence(conn: asyncpg.Connection, o: Occurrence) -> None:
    await conn.execute(
        """UPDATE occurrences SET starts_at = $3, ends_at = $4, venue_id = $5, district = $6, capacity = $7,
               status = $8, cancel_reason = $9, sequence = $10, version = $11, updated_at = $12, cancelled_at = $13
           WHERE id = $1 AND organisation_id = $2""",
        o.id,
        o.organisation_id,
        o.starts_at,
        o.ends_at,
        o.venue_id,
        o.district,
        o.capacity,
        o.status.value,
        o.cancel_reason.value if o.cancel_reason else None,
        o.sequence,
        o.version,
        o.updated_at,
        o.cancelled_at,
    )


async def load_occurrence(conn: asyncpg.Connection, organisation_id: str, occurrence_id: uuid.UUID) -> Occurrence:
    row = await conn.fetchrow(
        f"SELECT {OCCURRENCE_COLUMNS} FROM occurrences WHERE id = $1 AND organisation_id = $2",
        occurrence_id,
        organisation_id,
    )
    if row is None:
        raise NotFound("occurrence")
    return occurrence_from_row(row)


async def occurrences_of(
    conn: asyncpg.Connection, organisation_id: str, activity_id: uuid.UUID, *, starting_from: datetime | None = None
) -> list[Occurrence]:
    rows = await conn.fetch(
        f"""SELECT {OCCURRENCE_COLUMNS} FROM occurrences
            WHERE organisation_id = $1 AND activity_id = $2 AND ($3::timestamptz IS NULL OR original_start >= $3
                  OR (original_start IS NULL AND starts_at >= $3))
            ORDER BY starts_at, id""",
        organisation_id,
        activity_id,
        starting_from,
    )
    return [occurrence_from_row(r) for r in rows]


async def list_activities(conn: asyncpg.Connection, organisation_id: str, limit: int) -> list[StoredActivity]:
    rows = await conn.fetch(
        "SELECT * FROM activities WHERE organisation_id = $1 ORDER BY created_at DESC, id LIMIT $2",
        organisation_id,
        limit,
    )
    return [activity_from_row(r) for r in rows]


async def list_occurrences(
    conn: asyncpg.Connection,
    organisation_id: str,
    start: datetime,
    end: datetime,
    *,
    district: str | None = None,
    venue_id: uuid.UUID | None = None,
    programme: str | None = None,
    limit: int = 500,
) -> list[LockedOccurrence]:
    """Occurrences starting in [start, end) with their seat counters (read without a lock)."""
    rows = await conn.fetch(
        f"""SELECT {O_COLUMNS},
                   o.confirmed, o.waitlisted, o.arrivals, a.programmes
            FROM occurrences o JOIN activities a ON a.id = o.activity_id
            WHERE o.organisation_id = $1 AND o.starts_at >= $2 AND o.starts_at < $3
              AND ($4::text IS NULL OR o.district = $4) AND ($5::uuid IS NULL OR o.venue_id = $5)
              AND ($6::text IS NULL OR a.programmes = '{{}}' OR $6 = ANY(a.programmes))
            ORDER BY o.starts_at, o.id LIMIT $7""",
        organisation_id,
        start,
        end,
        district,
        venue_id,
        programme,
        limit,
    )
    return [
        LockedOccurrence(occurrence_from_row(r), r["confirmed"], r["waitlisted"], r["arrivals"], tuple(r["programmes"]))
        for r in rows
    ]


async def occurrence_with_seats(
    conn: asyncpg.Connection, organisation_id: str, occurrence_id: uuid.UUID
) -> LockedOccurrence:
    row = await conn.fetchrow(
        f"""SELECT {O_COLUMNS},
                   o.confirmed, o.waitlisted, o.arrivals, a.programmes
            FROM occurrences o JOIN activities a ON a.id = o.activity_id
            WHERE o.id = $1 AND o.organisation_id = $2""",
        occurrence_id,
        organisation_id,
    )
    if row is None:
        raise NotFound("occurrence")
    return LockedOccurrence(
        occurrence_from_row(row), row["confirmed"], row["waitlisted"], row["arrivals"], tuple(row["programmes"])
    )
