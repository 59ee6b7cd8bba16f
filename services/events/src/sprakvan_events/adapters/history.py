"""What the history import and export need beyond the other repository modules: references by import key
(or by id, for things made in the app), corrections, and the paged export reads. Every statement is
scoped to an organisation."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import asyncpg

from sprakvan_shared.imports import known_keys

from ..domain.model import Occurrence
from ..domain.signups import Signup
from .rows import OCCURRENCE_COLUMNS, occurrence_from_row, signup_values

# The table an import kind's aggregates live in, for a reference by id.
_TABLES = {"venues": "venues", "activities": "activities", "occurrences": "occurrences"}


async def resolve(
    conn: asyncpg.Connection, organisation_id: str, kind: str, keys: Iterable[str]
) -> dict[str, uuid.UUID]:
    """Import key (or the id of one made in the app, as an export names it) -> the aggregate's id; keys
    that name nothing of this organisation are left out."""
    wanted = sorted(set(keys))
    found = {k: uuid.UUID(v.aggregate_id) for k, v in (await known_keys(conn, organisation_id, kind, wanted)).items()}
    as_ids: dict[uuid.UUID, str] = {}
    for key in wanted:
        if key not in found:
            try:
                as_ids[uuid.UUID(key)] = key
            except ValueError:
                continue
    if as_ids:
        rows = await conn.fetch(
            f"SELECT id FROM {_TABLES[kind]} WHERE organisation_id = $1 AND id = ANY($2::uuid[])",
            organisation_id,
            list(as_ids),
        )
        found.update({as_ids[r["id"]]: r["id"] for r in rows})
    return found


async def activities_at(conn: asyncpg.Connection, organisation_id: str, venue_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await conn.fetch(
        "SELECT id FROM activities WHERE organisation_id = $1 AND venue_id = $2 ORDER BY id", organisation_id, venue_id
    )
    return [r["id"] for r in rows]


async def occurrences_at(conn: asyncpg.Connection, organisation_id: str, venue_id: uuid.UUID) -> list[Occurrence]:
    rows = await conn.fetch(
        f"""SELECT {OCCURRENCE_COLUMNS} FROM occurrences WHERE organisation_id = $1 AND venue_id = $2
            ORDER BY id FOR UPDATE""",
        organisation_id,
        venue_id,
    )
    return [occurrence_from_row(r) for r in rows]


async def active_signup_holders(
    conn: asyncpg.Connection, organisation_id: str, pairs: Iterable[tuple[uuid.UUID, uuid.UUID]]
) -> dict[tuple[uuid.UUID, uuid.UUID], uuid.UUID]:
    """(occurrence, participant) -> the id of the active sign-up they already hold."""
    pairs = list(pairs)
    if not pairs:
        return {}
    rows = await conn.fetch(
        """SELECT s.occurrence_id, s.participant_id, s.id FROM signups s
           JOIN unnest($2::uuid[], $3::uuid[]) AS t(occurrence_id, participant_id)
             ON t.occurrence_id = s.occurrence_id AND t.participant_id = s.participant_id
           WHERE s.organisation_id = $1 AND s.status <> 'cancelled'""",
        organisation_id,
        [p[0] for p in pairs],
        [p[1] for p in pairs],
    )
    return {(r["occurrence_id"], r["participant_id"]): r["id"] for r in rows}


async def occurrences_by_id(
    conn: asyncpg.Connection, organisation_id: str, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Occurrence]:
    rows = await conn.fetch(
        f"SELECT {OCCURRENCE_COLUMNS} FROM occurrences WHERE organisation_id = $1 AND id = ANY($2::uuid[])",
        organisation_id,
        list(set(ids)),
    )
    return {r["id"]: occurrence_from_row(r) for r in rows}


async def update_signup(conn: asyncpg.Connection, s: Signup) -> None:
    """A corrected sign-up (the history import): every field but who, where and the arrival."""
    await conn.execute(
        """UPDATE signups SET status = $5, signed_up_at = $7, confirmed_at = $8, promoted_at = $9, cancelled_at = $10,
               cancel_reason = $11, cancelled_late = $12, over_capacity = $13, version = $14
           WHERE id = $1 AND organisation_id = $2 AND occurrence_id = $3 AND participant_id = $4 AND arrival = $6""",
        *signup_values(s),
    )


async def forget_imported_rows(
    conn: asyncpg.Connection, organisation_id: str, participant_id: uuid.UUID, signup_ids: Iterable[uuid.UUID]
) -> None:
    """An erased participant's sign-up and check-in rows lose their import keys with them."""
    await conn.execute(
        """DELETE FROM import_keys WHERE organisation_id = $1
           AND ((kind = 'signups' AND aggregate_id = ANY($2::text[]))
                OR (kind = 'attendance' AND aggregate_id LIKE '%/' || $3))""",
        organisation_id,
        [str(i) for i in signup_ids],
        str(participant_id),
    )
