"""Full-state upserts of the read models, one statement per batch.

Each row is an aggregate's whole state; the higher version wins, so applying the same event twice, or an
older one late, leaves the row as it is. The live consumer applies batches of one, the replay batches of
thousands, through the same statements.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, fields
from datetime import date
from typing import Any, TypeVar

import asyncpg

from ..domain.model import WALK_IN_SLOTS


@dataclass(frozen=True)
class ParticipantFacts:
    organisation_id: str
    record_id: uuid.UUID
    anonymous: bool
    programme: str | None
    role: str
    gender: str
    birth_year: int | None
    district: str | None
    referral_source: str | None
    campaign: str | None
    capacity: int | None
    registered_on: date
    interviewed_on: date | None
    withdrawn_on: date | None
    version: int


@dataclass(frozen=True)
class PairFacts:
    organisation_id: str
    pair_id: uuid.UUID
    programme: str | None
    newcomer_id: uuid.UUID | None
    established_id: uuid.UUID | None
    origin: str | None
    status: str
    proposed_on: date | None
    formed_on: date | None
    activated_on: date | None
    ended_on: date | None
    end_reason: str | None
    follow_up_dates: tuple[date, ...]
    version: int


@dataclass(frozen=True)
class ActivityFacts:
    organisation_id: str
    activity_id: uuid.UUID
    programme: str | None
    activity_type: str
    district: str | None
    version: int


@dataclass(frozen=True)
class OccurrenceFacts:
    organisation_id: str
    occurrence_id: uuid.UUID
    activity_id: uuid.UUID
    district: str | None
    starts_on: date
    held: bool
    signups: int
    attended: int
    walk_ins: tuple[int, ...]  # in the order of WALK_IN_SLOTS
    version: int


RowT = TypeVar("RowT", ParticipantFacts, PairFacts, ActivityFacts, OccurrenceFacts)


def latest(rows: Iterable[RowT], key: str) -> list[RowT]:
    """One row per aggregate, the highest version (one statement may touch a row only once)."""
    best: dict[tuple[str, Any], RowT] = {}
    for row in rows:
        k = (row.organisation_id, getattr(row, key))
        if k not in best or best[k].version < row.version:
            best[k] = row
    return list(best.values())


def _columns(rows: Sequence[Any]) -> list[list[Any]]:
    return [list(column) for column in zip(*(astuple(r) for r in rows), strict=True)] if rows else []


_PARTICIPANT_TYPES = [
    "text", "uuid", "boolean", "text", "text", "text", "integer", "text", "text", "text", "integer",
    "date", "date", "date", "integer",
]  # fmt: skip
_PARTICIPANT_COLUMNS = [f.name for f in fields(ParticipantFacts)]

_UPSERT_PARTICIPANTS = f"""
INSERT INTO participants ({", ".join(_PARTICIPANT_COLUMNS)})
SELECT t.* FROM unnest({", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(_PARTICIPANT_TYPES))})
    AS t({", ".join(_PARTICIPANT_COLUMNS)})
WHERE t.anonymous OR NOT EXISTS (
    SELECT 1 FROM erased_participants e WHERE e.organisation_id = t.organisation_id AND e.participant_id = t.record_id)
ON CONFLICT (organisation_id, record_id) DO UPDATE SET
    {", ".join(f"{c} = excluded.{c}" for c in _PARTICIPANT_COLUMNS[2:])}
WHERE participants.version < excluded.version
"""


async def upsert_participants(conn: asyncpg.Connection, rows: Iterable[ParticipantFacts]) -> None:
    batch = latest(rows, "record_id")
    if batch:
        await conn.execute(_UPSERT_PARTICIPANTS, *_columns(batch))


async def erase_participants(conn: asyncpg.Connection, organisation_id: str, ids: Sequence[uuid.UUID]) -> None:
    """The person's row goes (their anonymous record, if any, counts instead), and pairs lose the link."""
    await conn.execute(
        """INSERT INTO erased_participants (organisation_id, participant_id)
           SELECT $1, unnest($2::uuid[]) ON CONFLICT DO NOTHING""",
        organisation_id,
        list(ids),
    )
    await conn.execute(
        "DELETE FROM participants WHERE organisation_id = $1 AND record_id = ANY($2::uuid[]) AND NOT anonymous",
        organisation_id,
        list(ids),
    )
    await conn.execute(
        """UPDATE pairs SET
               newcomer_id = CASE WHEN newcomer_id = ANY($2::uuid[]) THEN NULL ELSE newcomer_id END,
               established_id = CASE WHEN established_id = ANY($2::uuid[]) THEN NULL ELSE established_id END
           WHERE organisation_id = $1 AND (newcomer_id = ANY($2::uuid[]) OR established_id = ANY($2::uuid[]))""",
        organisation_id,
        list(ids),
    )


def _erased_or(column: str) -> str:
    return f"""CASE WHEN EXISTS (SELECT 1 FROM erased_participants e WHERE e.organisation_id = t.organisation_id
                                 AND e.participant_id = t.{column}) THEN NULL ELSE t.{column} END"""


_UPSERT_PAIRS = f"""
INSERT INTO pairs (organisation_id, pair_id, programme, newcomer_id, established_id, origin, status, proposed_on,
                   formed_on, activated_on, ended_on, end_reason, follow_up_dates, version)
SELECT t.organisation_id, t.pair_id, t.programme, {_erased_or("newcomer_id")}, {_erased_or("established_id")},
       t.origin, t.status, t.proposed_on, t.formed_on, t.activated_on, t.ended_on, t.end_reason,
       t.follow_ups::date[], t.version
FROM unnest($1::text[], $2::uuid[], $3::text[], $4::uuid[], $5::uuid[], $6::text[], $7::text[], $8::date[],
            $9::date[], $10::date[], $11::date[], $12::text[], $13::text[], $14::integer[])
    AS t(organisation_id, pair_id, programme, newcomer_id, established_id, origin, status, proposed_on,
         formed_on, activated_on, ended_on, end_reason, follow_ups, version)
ON CONFLICT (organisation_id, pair_id) DO UPDATE SET
    programme = excluded.programme, newcomer_id = excluded.newcomer_id, established_id = excluded.established_id,
    origin = excluded.origin, status = excluded.status, proposed_on = excluded.proposed_on,
    formed_on = excluded.formed_on, activated_on = excluded.activated_on, ended_on = excluded.ended_on,
    end_reason = excluded.end_reason, follow_up_dates = excluded.follow_up_dates, version = excluded.version
WHERE pairs.version < excluded.version
"""


def _date_array_literal(days: Sequence[date]) -> str:
    return "{" + ",".join(d.isoformat() for d in sorted(days)) + "}"


async def upsert_pairs(conn: asyncpg.Connection, rows: Iterable[PairFacts]) -> None:
    batch = latest(rows, "pair_id")
    if not batch:
        return
    columns = _columns(batch)
    columns[12] = [_date_array_literal(days) for days in columns[12]]  # ragged arrays travel as literals
    await conn.execute(_UPSERT_PAIRS, *columns)


_UPSERT_ACTIVITIES = """
INSERT INTO activities (organisation_id, activity_id, programme, activity_type, district, version)
SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::integer[])
ON CONFLICT (organisation_id, activity_id) DO UPDATE SET
    programme = excluded.programme, activity_type = excluded.activity_type, district = excluded.district,
    version = excluded.version
WHERE activities.version < excluded.version
"""


async def upsert_activities(conn: asyncpg.Connection, rows: Iterable[ActivityFacts]) -> None:
    batch = latest(rows, "activity_id")
    if batch:
        await conn.execute(_UPSERT_ACTIVITIES, *_columns(batch))


_SLOTS = len(WALK_IN_SLOTS)
_UPSERT_OCCURRENCES = f"""
INSERT INTO occurrences (organisation_id, occurrence_id, activity_id, district, starts_on, held, signups, attended,
                         walk_ins, walk_ins_total, version)
SELECT t.organisation_id, t.occurrence_id, t.activity_id, t.district, t.starts_on, t.held, t.signups, t.attended,
       ARRAY[{", ".join(f"t.w{i}" for i in range(_SLOTS))}], {" + ".join(f"t.w{i}" for i in range(_SLOTS))},
       t.version
FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::text[], $5::date[], $6::boolean[], $7::integer[],
            $8::integer[], $9::integer[],
            {", ".join(f"${i + 10}::integer[]" for i in range(_SLOTS))})
    AS t(organisation_id, occurrence_id, activity_id, district, starts_on, held, signups, attended, version,
         {", ".join(f"w{i}" for i in range(_SLOTS))})
ON CONFLICT (organisation_id, occurrence_id) DO UPDATE SET
    activity_id = excluded.activity_id, district = excluded.district, starts_on = excluded.starts_on,
    held = excluded.held, signups = excluded.signups, attended = excluded.attended, walk_ins = excluded.walk_ins,
    walk_ins_total = excluded.walk_ins_total, version = excluded.version
WHERE occurrences.version < excluded.version
"""


async def upsert_occurrences(conn: asyncpg.Connection, rows: Iterable[OccurrenceFacts]) -> None:
    batch = latest(rows, "occurrence_id")
    if not batch:
        return
    plain = [
        [r.organisation_id for r in batch],
        [r.occurrence_id for r in batch],
        [r.activity_id for r in batch],
        [r.district for r in batch],
        [r.starts_on for r in batch],
        [r.held for r in batch],
        [r.signups for r in batch],
        [r.attended for r in batch],
        [r.version for r in batch],
    ]
    slots = [[r.walk_ins[i] for r in batch] for i in range(_SLOTS)]
    await conn.execute(_UPSERT_OCCURRENCES, *plain, *slots)


async def upsert_organisation(
    conn: asyncpg.Connection, organisation_id: str, configuration: dict, version: int
) -> None:
    await conn.execute(
        """INSERT INTO organisations (organisation_id, configuration, version) VALUES ($1, $2, $3)
           ON CONFLICT (organisation_id) DO UPDATE SET configuration = excluded.configuration,
               version = excluded.version
           WHERE organisations.version < excluded.version""",
        organisation_id,
        configuration,
        version,
    )


READ_MODEL_TABLES = ("participants", "erased_participants", "pairs", "activities", "occurrences", "organisations")


async def drop_read_models(conn: asyncpg.Connection) -> None:
    """Empty every table built from events (the partnership, this service's own data, stays)."""
    await conn.execute(f"TRUNCATE {', '.join(READ_MODEL_TABLES)}")
