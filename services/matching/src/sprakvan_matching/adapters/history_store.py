"""Pairs as the history import and export read them: every pair of some newcomers, pages of formed pairs.

Every query takes the organisation id.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import asyncpg

from ..domain.model import Pair
from .pair_store import PAIR_COLUMNS, pair_of


async def pairs_of(
    conn: asyncpg.Connection, organisation_id: str, newcomer_ids: Iterable[uuid.UUID], pair_ids: Iterable[uuid.UUID]
) -> list[Pair]:
    """Every pair (proposals too) of these newcomers, and these pairs, locked (after their people)."""
    rows = await conn.fetch(
        f"""SELECT {PAIR_COLUMNS} FROM pairs
            WHERE organisation_id = $1 AND (newcomer_id = ANY($2::uuid[]) OR pair_id = ANY($3::uuid[]))
            ORDER BY pair_id FOR UPDATE""",
        organisation_id,
        sorted(set(newcomer_ids)),
        sorted(set(pair_ids)),
    )
    return [pair_of(r) for r in rows]


async def formed_pairs_page(
    conn: asyncpg.Connection, organisation_id: str, *, after: uuid.UUID | None, limit: int
) -> list[Pair]:
    """Pairs that formed (proposals that never did are no history), in id order."""
    rows = await conn.fetch(
        f"""SELECT {PAIR_COLUMNS} FROM pairs
            WHERE organisation_id = $1 AND formed_at IS NOT NULL AND ($2::uuid IS NULL OR pair_id > $2)
            ORDER BY pair_id LIMIT $3""",
        organisation_id,
        after,
        limit,
    )
    return [pair_of(r) for r in rows]


async def held_follow_ups_page(
    conn: asyncpg.Connection, organisation_id: str, *, after: tuple[uuid.UUID, int] | None, limit: int
) -> list[asyncpg.Record]:
    """Follow-ups held, one row each (pair_id, position, the follow-up's stored object), in that order."""
    after_pair, after_position = after if after else (None, 0)
    return await conn.fetch(
        """SELECT p.pair_id, f.position, f.item
           FROM pairs p CROSS JOIN LATERAL jsonb_array_elements(p.follow_ups) WITH ORDINALITY AS f(item, position)
           WHERE p.organisation_id = $1 AND f.item ->> 'done_on' IS NOT NULL
             AND ($2::uuid IS NULL OR (p.pair_id, f.position) > ($2::uuid, $3::bigint))
           ORDER BY p.pair_id, f.position LIMIT $4""",
        organisation_id,
        after_pair,
        after_position,
        limit,
    )
