"""What every use case shares: one transaction, the clock, the errors the API turns into 404/409/422."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import asyncpg

from sprakvan_shared import outbox
from sprakvan_shared.contracts.envelope import IntegrationEvent

from ..adapters import pair_store
from ..domain.constraints import Broken
from ..domain.model import Pair
from .events import pair_event

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Context:
    """Per service: the pool, the programme's day boundaries and how long to wait for a lock."""

    pool: asyncpg.Pool
    zone: ZoneInfo = ZoneInfo("Europe/Stockholm")
    lock_timeout_ms: int = 5000
    clock: Clock = utcnow

    def now(self) -> datetime:
        return self.clock()

    def today(self) -> date:
        return self.clock().astimezone(self.zone).date()


class NotFound(Exception):
    """Nothing of that id in the caller's organisation (another organisation's rows look the same)."""


class Conflict(Exception):
    """The state changed under the request (409): the volunteer is full, the newcomer paired elsewhere."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class ConstraintsBroken(Exception):
    """A hard constraint would break (422), with each one named."""

    def __init__(self, broken: Sequence[Broken], where: tuple[str | int, ...] = ()) -> None:
        super().__init__(", ".join(b.value for b in broken))
        self.broken = list(broken)
        self.where = where


class InvalidInput(Exception):
    """A value the domain refuses (422), e.g. a matching conversation in the future."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@asynccontextmanager
async def transaction(ctx: Context) -> AsyncIterator[asyncpg.Connection]:
    async with ctx.pool.acquire() as conn, conn.transaction():
        # A coordinator waits for another's lock on the same people at most this long, then gets a 409.
        await conn.execute(f"SET LOCAL lock_timeout = {int(ctx.lock_timeout_ms)}")
        yield conn


async def store(conn: asyncpg.Connection, changes: Sequence[tuple[Pair, str]]) -> list[IntegrationEvent]:
    """Save changed pairs and enqueue one full-state event each, in the caller's transaction; the events, in
    the order of ``changes`` (a round answers with their score breakdowns instead of building them again)."""
    if not changes:
        return []
    await pair_store.save_pairs(conn, [pair for pair, _ in changes])
    events = [pair_event(pair, action) for pair, action in changes]
    await outbox.enqueue(conn, *events)
    return events
