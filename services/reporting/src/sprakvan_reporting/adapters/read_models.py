"""Full-state upserts of the read models, one statement per batch.

Each row is an aggregate's whole state; the higher version wins, so applying the same event twice, or an
older one late, leaves the row as it is. The live consumer applies batches of one, the replay batches of
thousands, through the same statements.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
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
class OccurrenceFacts:
    organisation_id: str
    occurrence_id: uuid.UUID
    activity_id: uuid.UUID
    programmes: tuple[str, ...]
    activity_type: str
    district: str | None
    starts_on: date
    cancelled: bool
    version: int


@dataclass(frozen=True)
class SignupFacts:
    organisation_id: str
    signup_id: uuid.UUID
    occurrence_id: uuid.UUID
    status: str
    version: int


@dataclass(frozen=True)
class AttendanceFacts:
    organisation_id: str
    occurrence_id: uuid.UUID
    came: tuple[int, ...]  # in the order of WALK_IN_SLOTS
    no_show: int
    walk_ins: tuple[int, ...]  # in the order of WALK_IN_SLOTS
    campaign_signups: dict[str, int]
    version: int


RowT = TypeVar("RowT", ParticipantFacts, PairFacts, OccurrenceFacts, SignupFacts, AttendanceFacts)


def latest(rows: Iterable[RowT], key: str) -> list[RowT]:
    """One row per aggregate, the highest version (one statement may touch a row only once)."""
    best: dict[tuple[str, Any], RowT] = {}
    for row in rows:
        k = (row.organisation_id, getattr(row, key))
        if k not in best or best[k].version < row.version:
            best[k] = row
    return list(best.values())


def _columns(rows: Sequence[Any]) -> list[list[Any]]:
    """Column arrays for unnest(). Plain attribute reads: dataclasses.astuple deep-copies every value and
    took most of a replay's time."""
    if not rows:
        return []
    return [[getattr(r, f.name) for r in rows] for f in fields(rows[0])]


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


# Pairs and erasures are different aggregates, applied in parallel: a pair written while its person is
# being erased could keep the link. Pair writes share this lock; an erasure takes it alone, so it sees
# every pair committed before it and every pair written after it sees the erasure.
_ERASURE_LOCK = 0x5250_4552  # "RPER"


async def erase_participants(conn: asyncpg.Connection, organisation_id: str, ids: Sequence[uuid.UUID]) -> None:
    """The person's row goes (their anonymous record, if any, counts instead), and pairs lose the link."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _ERASURE_LOCK)
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
    await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", _ERASURE_LOCK)
    await conn.execute(_UPSERT_PAIRS, *columns)


_UPSERT_OCCURRENCES = """
INSERT INTO sessions (organisation_id, occurrence_id, activity_id, programmes, activity_type, district, starts_on,
                      cancelled, occurrence_version)
SELECT t.organisation_id, t.occurrence_id, t.activity_id, t.programmes::text[], t.activity_type, t.district,
       t.starts_on, t.cancelled, t.version
FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::date[], $8::boolean[],
            $9::integer[])
    AS t(organisation_id, occurrence_id, activity_id, programmes, activity_type, district, starts_on, cancelled,
         version)
ON CONFLICT (organisation_id, occurrence_id) DO UPDATE SET
    activity_id = excluded.activity_id, programmes = excluded.programmes, activity_type = excluded.activity_type,
    district = excluded.district, starts_on = excluded.starts_on, cancelled = excluded.cancelled,
    occurrence_version = excluded.occurrence_version
WHERE sessions.occurrence_version IS NULL OR sessions.occurrence_version < excluded.occurrence_version
"""


def _text_array_literal(values: Sequence[str]) -> str:
    # Codes match [a-z0-9_-]: nothing in them needs quoting in an array literal.
    return "{" + ",".join(sorted(values)) + "}"


async def upsert_occurrences(conn: asyncpg.Connection, rows: Iterable[OccurrenceFacts]) -> None:
    batch = latest(rows, "occurrence_id")
    if not batch:
        return
    columns = _columns(batch)
    columns[3] = [_text_array_literal(codes) for codes in columns[3]]
    await conn.execute(_UPSERT_OCCURRENCES, *columns)


# A sign-up belongs to one occurrence for good (the events contract never moves it).
_UPSERT_SIGNUPS = """
INSERT INTO signups (organisation_id, signup_id, occurrence_id, status, version)
SELECT * FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::text[], $5::integer[])
ON CONFLICT (organisation_id, signup_id) DO UPDATE SET status = excluded.status, version = excluded.version
WHERE signups.version < excluded.version
"""

# Sign-ups of one occurrence are different aggregates, applied in parallel. Each recount first makes sure
# the occurrence's session row exists, then locks it (in id order, so two batches cannot deadlock) in a
# statement of its own, so that the count statement after it takes its snapshot only once it holds the
# lock, and sees every sign-up of those who counted before. (One statement with a data-modifying CTE
# cannot lock a row it has just inserted, and an UPDATE re-checked after waiting keeps its old snapshot.)
_CREATE_SIGNUP_COUNTS = """
INSERT INTO sessions (organisation_id, occurrence_id)
SELECT * FROM unnest($1::text[], $2::uuid[]) ON CONFLICT DO NOTHING
"""

_LOCK_SIGNUP_COUNTS = """
SELECT 1 FROM sessions c JOIN unnest($1::text[], $2::uuid[]) AS t(organisation_id, occurrence_id)
    ON c.organisation_id = t.organisation_id AND c.occurrence_id = t.occurrence_id
ORDER BY c.organisation_id, c.occurrence_id FOR UPDATE OF c
"""

_RECOUNT_SIGNUPS = """
UPDATE sessions c SET signups_confirmed = (
    SELECT count(*) FROM signups s WHERE s.organisation_id = c.organisation_id
        AND s.occurrence_id = c.occurrence_id AND s.status = 'confirmed')
FROM unnest($1::text[], $2::uuid[]) AS t(organisation_id, occurrence_id)
WHERE c.organisation_id = t.organisation_id AND c.occurrence_id = t.occurrence_id
"""


async def _recount_signups(conn: asyncpg.Connection, touched: Sequence[tuple[str, uuid.UUID]]) -> None:
    if touched:
        orgs, ids = [t[0] for t in touched], [t[1] for t in touched]
        await conn.execute(_CREATE_SIGNUP_COUNTS, orgs, ids)
        await conn.execute(_LOCK_SIGNUP_COUNTS, orgs, ids)
        await conn.execute(_RECOUNT_SIGNUPS, orgs, ids)


async def upsert_signups(conn: asyncpg.Connection, rows: Iterable[SignupFacts], *, recount: bool = True) -> None:
    """``recount=False``: the caller recounts every occurrence once at the end (``recount_all_signups``),
    as a rebuild does, which no one reads before it commits."""
    batch = latest(rows, "signup_id")
    if not batch:
        return
    await conn.execute(_UPSERT_SIGNUPS, *_columns(batch))
    if recount:
        await _recount_signups(conn, sorted({(r.organisation_id, r.occurrence_id) for r in batch}))


async def recount_all_signups(conn: asyncpg.Connection) -> None:
    await conn.execute(
        """INSERT INTO sessions (organisation_id, occurrence_id, signups_confirmed)
           SELECT organisation_id, occurrence_id, count(*) FILTER (WHERE status = 'confirmed')
           FROM signups GROUP BY 1, 2
           ON CONFLICT (organisation_id, occurrence_id) DO UPDATE SET signups_confirmed = excluded.signups_confirmed"""
    )


async def erase_signups(conn: asyncpg.Connection, organisation_id: str, signup_ids: Sequence[uuid.UUID]) -> None:
    """An erased participant's sign-ups go; the occurrences' counts follow."""
    gone = await conn.fetch(
        """DELETE FROM signups WHERE organisation_id = $1 AND signup_id = ANY($2::uuid[])
           RETURNING organisation_id, occurrence_id""",
        organisation_id,
        list(signup_ids),
    )
    await _recount_signups(conn, sorted({(r["organisation_id"], r["occurrence_id"]) for r in gone}))


_SLOTS = len(WALK_IN_SLOTS)
_UPSERT_ATTENDANCE = f"""
INSERT INTO sessions (organisation_id, occurrence_id, came, came_total, no_show, walk_ins, walk_ins_total,
                      campaign_signups, attendance_version)
SELECT t.organisation_id, t.occurrence_id,
       ARRAY[{", ".join(f"t.c{i}" for i in range(_SLOTS))}], {" + ".join(f"t.c{i}" for i in range(_SLOTS))},
       t.no_show,
       ARRAY[{", ".join(f"t.w{i}" for i in range(_SLOTS))}], {" + ".join(f"t.w{i}" for i in range(_SLOTS))},
       t.campaign_signups::jsonb, t.version
FROM unnest($1::text[], $2::uuid[], $3::integer[], $4::text[], $5::integer[],
            {", ".join(f"${i + 6}::integer[]" for i in range(2 * _SLOTS))})
    AS t(organisation_id, occurrence_id, no_show, campaign_signups, version,
         {", ".join(f"c{i}" for i in range(_SLOTS))}, {", ".join(f"w{i}" for i in range(_SLOTS))})
ON CONFLICT (organisation_id, occurrence_id) DO UPDATE SET
    came = excluded.came, came_total = excluded.came_total, no_show = excluded.no_show,
    walk_ins = excluded.walk_ins, walk_ins_total = excluded.walk_ins_total,
    campaign_signups = excluded.campaign_signups, attendance_version = excluded.attendance_version
WHERE sessions.attendance_version IS NULL OR sessions.attendance_version < excluded.attendance_version
"""


async def upsert_attendance(conn: asyncpg.Connection, rows: Iterable[AttendanceFacts]) -> None:
    batch = latest(rows, "occurrence_id")
    if not batch:
        return
    plain = [
        [r.organisation_id for r in batch],
        [r.occurrence_id for r in batch],
        [r.no_show for r in batch],
        [json.dumps(dict(sorted(r.campaign_signups.items()))) for r in batch],
        [r.version for r in batch],
    ]
    came = [[r.came[i] for r in batch] for i in range(_SLOTS)]
    walk_ins = [[r.walk_ins[i] for r in batch] for i in range(_SLOTS)]
    await conn.execute(_UPSERT_ATTENDANCE, *plain, *came, *walk_ins)


async def replace_erasure_statistics(
    conn: asyncpg.Connection, organisation_id: str, year: int, version: int, records: Sequence[ParticipantFacts]
) -> bool:
    """The anonymous records of one organisation and registration year, replaced as a whole when this
    version is newer than the one applied. Returns whether it was."""
    newer = await conn.fetchval(
        """INSERT INTO erasure_statistics (organisation_id, year, version) VALUES ($1, $2, $3)
           ON CONFLICT (organisation_id, year) DO UPDATE SET version = excluded.version
           WHERE erasure_statistics.version < excluded.version
           RETURNING true""",
        organisation_id,
        year,
        version,
    )
    if not newer:
        return False
    await conn.execute(
        """DELETE FROM participants WHERE organisation_id = $1 AND anonymous
           AND registered_on >= make_date($2, 1, 1) AND registered_on < make_date($2 + 1, 1, 1)""",
        organisation_id,
        year,
    )
    await upsert_participants(conn, records)
    return True


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


READ_MODEL_TABLES = (
    "participants", "erased_participants", "erasure_statistics", "pairs", "sessions", "signups", "organisations",
)  # fmt: skip


async def drop_read_models(conn: asyncpg.Connection) -> None:
    """Empty every table built from events (the partnership, this service's own data, stays)."""
    await conn.execute(f"TRUNCATE {', '.join(READ_MODEL_TABLES)}")
