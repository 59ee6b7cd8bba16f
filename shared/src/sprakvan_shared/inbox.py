"""Idempotent inbox: a consumer records each event id in the same transaction as the event's effect,
so a redelivered or duplicated event changes nothing the second time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from uuid import UUID

import asyncpg


async def claim(conn: asyncpg.Connection, consumer: str, event_id: UUID) -> bool:
    """True the first time ``consumer`` sees ``event_id``. Call inside the effect's transaction: a
    concurrent duplicate waits on the primary key until this transaction ends, then sees it as done."""
    if not conn.is_in_transaction():
        raise RuntimeError("inbox.claim must run inside the transaction of the effect")
    status = await conn.execute(
        "INSERT INTO inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", consumer, event_id
    )
    return status == "INSERT 0 1"


async def apply_once(
    pool: asyncpg.Pool,
    consumer: str,
    event_id: UUID,
    effect: Callable[[asyncpg.Connection], Awaitable[None]],
) -> bool:
    """Run ``effect`` in a transaction unless ``consumer`` already applied ``event_id``.
    Returns whether it ran."""
    async with pool.acquire() as conn, conn.transaction():
        if not await claim(conn, consumer, event_id):
            return False
        await effect(conn)
        return True
