"""Computing a review: both periods' figures from one snapshot of the read models, then the pure
assembly in ``domain.review``."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg

from sprakvan_shared.db import acquire_clean

from ..adapters import figures, partnerships
from ..adapters.figures import Scope
from ..domain.model import Narrative, Partnership, Period
from ..domain.review import build_review


class UnknownPartnership(LookupError):
    pass


async def labels(conn: asyncpg.Connection, organisation_id: str) -> dict[str, Any]:
    """Code -> {sv, en} from the organisation's configuration, for the printed report."""
    configuration = await conn.fetchval(
        "SELECT configuration FROM organisations WHERE organisation_id = $1", organisation_id
    )
    found: dict[str, Any] = {}
    for key in ("programmes", "districts", "referral_sources", "campaigns", "interests"):
        entries = (configuration or {}).get(key) or []
        found[key] = {e["code"]: e.get("labels") or {} for e in sorted(entries, key=lambda e: e["code"])}
    return found


_SNAPSHOT_ID = re.compile(r"^[0-9A-F]+-[0-9A-F]+(-[0-9]+)?$")
# The report's sorts and hashes (100k participants, 50k pairs) fit in memory with this; the default 4 MB
# spilled them to disk.
_WORK_MEM = "64MB"


Job = Callable[[asyncpg.Connection], Awaitable[Any]]


# Requests take their connections one request at a time: two reviews that each held part of their set
# while waiting for the rest could otherwise empty the pool and wait for each other for ever.
_ACQUIRING = asyncio.Lock()


_BEGIN = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
# No parallel query workers: the lanes are the review's parallelism, and on two cores workers beside them
# only queued for the CPU (100k participants, interleaved with and without: 550 -> 497 ms median).
# Plans for the parameters given: from its sixth run on a connection, PostgreSQL may keep a prepared
# statement's generic plan, which cannot drop the "no programme given" branches or see the period's
# selectivity (100k participants: the waiting time 46 -> 170 ms, the waiting list 129 -> 166 ms).
_WORK_MEM_LOCAL = (
    f"SET LOCAL work_mem = '{_WORK_MEM}'; SET LOCAL max_parallel_workers_per_gather = 0; "
    "SET LOCAL plan_cache_mode = force_custom_plan"
)


async def _in_one_snapshot(pool: asyncpg.Pool, lanes: Sequence[Sequence[Job]]) -> list[list[Any]]:
    """Run each lane's jobs one after the other on a connection of its own, the lanes side by side, all
    in one snapshot (the first lane's, exported to the others): figures computed in parallel are still
    of one moment. A pool smaller than the lanes runs them on the connections it can give.

    Round trips are few, since each one waits for a CPU on a busy machine: the first connection begins
    and exports its snapshot in two, each other one begins on that snapshot in one (a simple query of
    its statements), and none is reset when it goes back to the pool (nothing is left on the session:
    the transaction has ended, its setting was local)."""
    width = max(1, min(len(lanes), pool.get_max_size() - 1 if pool.get_max_size() > 2 else 1))
    merged: list[list[Job]] = [[] for _ in range(width)]
    for index, lane in enumerate(lanes):
        merged[index % width].extend(lane)
    async with contextlib.AsyncExitStack() as stack:
        async with _ACQUIRING:
            connections = [await stack.enter_async_context(acquire_clean(pool)) for _ in merged]
        first = connections[0]
        stack.push_async_callback(_end, first)
        await first.execute(f"{_BEGIN}; {_WORK_MEM_LOCAL}")
        snapshot = await first.fetchval("SELECT pg_export_snapshot()")
        if not _SNAPSHOT_ID.match(snapshot):
            raise RuntimeError("unexpected snapshot id")
        for conn in connections[1:]:
            stack.push_async_callback(_end, conn)
        _raise_first(
            await asyncio.gather(
                *(
                    conn.execute(f"{_BEGIN}; SET TRANSACTION SNAPSHOT '{snapshot}'; {_WORK_MEM_LOCAL}")
                    for conn in connections[1:]
                ),
                return_exceptions=True,
            )
        )

        async def run(conn: asyncpg.Connection, jobs: Sequence[Job]) -> list[Any]:
            return [await job(conn) for job in jobs]

        # Every lane finishes before a failure is raised: a connection still busy with a query cannot
        # be rolled back and released (asyncpg would raise InterfaceError over the real error).
        results = await asyncio.gather(
            *(run(c, jobs) for c, jobs in zip(connections, merged, strict=True)), return_exceptions=True
        )
        _raise_first(results)
    # Back in the lanes' own shape.
    flat = {
        id(job): result
        for jobs, done in zip(merged, results, strict=True)
        for job, result in zip(jobs, done, strict=True)
    }
    return [[flat[id(job)] for job in lane] for lane in lanes]


def _raise_first(results: Sequence[Any]) -> None:
    """After ``gather(..., return_exceptions=True)``: every connection is idle again, raise what failed."""
    for result in results:
        if isinstance(result, BaseException):
            raise result


async def _end(conn: asyncpg.Connection) -> None:
    """End a lane's read-only transaction (nothing to keep: ROLLBACK costs what COMMIT does). After a
    failure asyncpg's release rolls back what is still open, or closes a connection it cannot use."""
    if conn.is_in_transaction() and not conn.is_closed():
        with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError):
            await conn.execute("ROLLBACK")


async def compute_review(
    pool: asyncpg.Pool, scope: Scope, period: Period, partnership_id: uuid.UUID | None = None
) -> dict[str, Any]:
    """The period's figures on two connections and the year before's on a third, in one snapshot."""
    before = period.year_earlier()
    now_a, now_b, previous = await _in_one_snapshot(
        pool,
        [
            [
                lambda c: _partnership_and_narrative(c, scope, period, partnership_id),
                lambda c: labels(c, scope.organisation_id),
                lambda c: figures.registrations(c, scope, period),
                lambda c: figures.pairs(c, scope, period),
            ],
            [lambda c: figures.waiting_list(c, scope, period), lambda c: figures.activities(c, scope, period)],
            [
                lambda c: figures.registrations(c, scope, before),
                lambda c: figures.pairs(c, scope, before),
                lambda c: figures.activities(c, scope, before),
            ],
        ],
    )
    (partnership, narrative), found_labels, registrations, pairs = now_a
    waiting_list, activities = now_b
    now = {"registrations": registrations, "pairs": pairs, "activities": activities, "waiting_list": waiting_list}
    # The waiting list is a snapshot at the period's end, shown for the period only.
    then = {"registrations": previous[0], "pairs": previous[1], "activities": previous[2]}
    return build_review(
        organisation_id=scope.organisation_id,
        programme=scope.programme,
        period=period,
        now=now,
        before=then,
        partnership=partnership,
        narrative=narrative,
        labels=found_labels,
    )


async def _partnership_and_narrative(
    conn: asyncpg.Connection, scope: Scope, period: Period, partnership_id: uuid.UUID | None
) -> tuple[Partnership | None, Narrative | None]:
    if partnership_id is not None:
        partnership = await partnerships.get(conn, scope.organisation_id, partnership_id)
        if partnership is None:
            raise UnknownPartnership(str(partnership_id))
    else:
        partnership = await partnerships.find_for(conn, scope.organisation_id, scope.programme, period)
    narrative = await partnerships.get_narrative(conn, partnership.id, period) if partnership else None
    return partnership, narrative
