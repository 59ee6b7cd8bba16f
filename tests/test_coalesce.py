"""Concurrent one-row writes sent together (``sprakvan_shared.coalesce``), against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
import pytest

from sprakvan_shared import db
from sprakvan_shared.coalesce import CoalescedStatement
from sprakvan_shared.db import NotSaved, OutcomeUnknown, create_pool

from .conftest import eventually

# `via` tells which statement stored a row; a note 'bad' is refused by PostgreSQL.
_TABLE = "CREATE TABLE rows (id int PRIMARY KEY, note text NOT NULL CHECK (note <> 'bad'), via text NOT NULL)"
_ONE = "INSERT INTO rows (id, note, via) VALUES ($1, $2, 'one')"
_MANY = "INSERT INTO rows (id, note, via) SELECT id, note, 'many' FROM unnest($1::int[], $2::text[]) AS r(id, note)"
# The same, taking a while: a statement still running when the test wants it to.
_PAUSE = "WITH pause AS (SELECT pg_sleep(0.3)) "
_SLOW_ONE = _PAUSE + "INSERT INTO rows (id, note, via) SELECT $1, $2, 'one' FROM pause"
_SLOW_MANY = _PAUSE + _MANY.replace(" AS r(id, note)", " AS r(id, note), pause")


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, min_size=1, max_size=4)
    await pool.execute(_TABLE)
    yield pool
    await pool.close()


@pytest.fixture
async def watcher(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A session of its own, that sees what the pool's sessions run."""
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


def waiting_rows(statement: CoalescedStatement, pool: asyncpg.Pool, count: int):  # noqa: ANN201
    async def queued() -> bool:
        return len(statement._pools[pool].waiting) == count

    return queued


async def first_running_then_waiting(
    statement: CoalescedStatement, pool: asyncpg.Pool, watcher: asyncpg.Connection, waiting_ids: list[int]
) -> tuple[asyncio.Future[None], list[asyncio.Future[None]]]:
    """Row 1's statement running on the server, and the rows ``waiting_ids`` waiting for it."""
    first = asyncio.ensure_future(statement.execute(pool, (1, "n")))  # alone: sent from its caller's task
    await running_on_the_server(watcher)
    waiting = [asyncio.ensure_future(statement.execute(pool, (i, "n"))) for i in waiting_ids]
    await eventually(waiting_rows(statement, pool, len(waiting_ids)))
    return first, waiting


async def running_on_the_server(conn: asyncpg.Connection) -> None:
    async def running() -> bool:
        return (
            await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'WITH pause%'"
            )
            > 0
        )

    await eventually(running, timeout=10, interval=0.01)


async def stored(pool: asyncpg.Pool) -> dict[int, str]:
    return {row["id"]: row["via"] for row in await pool.fetch("SELECT id, via FROM rows")}


async def test_a_lone_row_goes_at_once_in_the_one_row_statement(pool: asyncpg.Pool) -> None:
    statement = CoalescedStatement(_ONE, _MANY)
    await statement.execute(pool, (1, "a"))
    await statement.execute(pool, (2, "b"))
    assert await stored(pool) == {1: "one", 2: "one"}
    assert statement.counts(pool) == (2, 2)


async def test_concurrent_rows_go_together_and_each_caller_waits_for_its_commit(
    pool: asyncpg.Pool, database_url: str
) -> None:
    statement = CoalescedStatement(_ONE, _MANY, max_in_flight=1)
    reader = await asyncpg.create_pool(database_url, min_size=1, max_size=2)  # another session's view
    seen_at_return: dict[int, int] = {}

    async def write(row_id: int) -> None:
        await statement.execute(pool, (row_id, "n"))
        seen_at_return[row_id] = await reader.fetchval("SELECT count(*) FROM rows WHERE id = $1", row_id)

    try:
        await asyncio.gather(*(write(i) for i in range(40)))
    finally:
        await reader.close()
    rows = await stored(pool)
    assert sorted(rows) == list(range(40))
    assert set(seen_at_return.values()) == {1}, "a caller returned before its row was committed"
    statements, sent = statement.counts(pool)
    assert sent == 40
    assert statements < 10, f"{statements} statements for 40 concurrent rows"
    assert "many" in rows.values()


async def test_a_row_postgres_refuses_fails_alone(pool: asyncpg.Pool) -> None:
    statement = CoalescedStatement(_ONE, _MANY, max_in_flight=1)
    notes = ["bad" if i == 7 else "fine" for i in range(20)]
    outcomes = await asyncio.gather(
        *(statement.execute(pool, (i, note)) for i, note in enumerate(notes)), return_exceptions=True
    )
    failed = {i: type(o) for i, o in enumerate(outcomes) if o is not None}
    assert failed == {7: asyncpg.CheckViolationError}
    assert sorted(await stored(pool)) == [i for i in range(20) if i != 7]


async def test_an_outage_answers_unknown_for_the_rows_it_cut_off_and_never_saved_for_a_lost_one(
    pool: asyncpg.Pool, database_url: str
) -> None:
    statement = CoalescedStatement(_SLOW_ONE, _SLOW_MANY, max_in_flight=1)
    writes = [asyncio.ensure_future(statement.execute(pool, (i, "n"))) for i in range(12)]
    admin = await asyncpg.connect(database_url)
    try:
        await running_on_the_server(admin)  # the first row's statement; the others wait for it
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()
    outcomes = await asyncio.gather(*writes, return_exceptions=True)
    rows = await stored(pool)
    for i, outcome in enumerate(outcomes):
        if outcome is None:
            assert i in rows, f"row {i} was answered as saved but is not"
        else:
            assert isinstance(outcome, OutcomeUnknown), repr(outcome)
    assert isinstance(outcomes[0], OutcomeUnknown)
    assert all(outcome is None for outcome in outcomes[1:]), "rows sent after the outage go through"


async def test_a_caller_cancelled_before_its_row_was_sent_sends_nothing(
    pool: asyncpg.Pool, watcher: asyncpg.Connection
) -> None:
    statement = CoalescedStatement(_SLOW_ONE, _SLOW_MANY, max_in_flight=1)
    first, (cancelled, kept) = await first_running_then_waiting(statement, pool, watcher, [2, 3])
    cancelled.cancel()
    await asyncio.gather(first, kept)
    assert cancelled.cancelled()
    assert await stored(pool) == {1: "one", 3: "one"}


async def test_a_statement_cancelled_in_flight_answers_its_callers_unknown(
    pool: asyncpg.Pool, watcher: asyncpg.Connection
) -> None:
    # The service stopping cancels what runs: a caller must hear so, not wait for an answer for ever.
    statement = CoalescedStatement(_SLOW_ONE, _SLOW_MANY, max_in_flight=1)
    first, waiting = await first_running_then_waiting(statement, pool, watcher, [2, 3])
    await first
    (task,) = statement._pools[pool].tasks  # rows 2 and 3, in a statement task of their own
    await running_on_the_server(watcher)
    task.cancel()
    for caller in waiting:
        with pytest.raises(OutcomeUnknown):
            await asyncio.wait_for(caller, timeout=5)
    await asyncio.wait_for(statement.execute(pool, (4, "n")), timeout=5)  # and the next row goes as usual
    assert {1, 4} <= set(await stored(pool))


async def test_a_lone_caller_cancelled_mid_statement_leaves_the_statement_free_for_the_next(
    pool: asyncpg.Pool, watcher: asyncpg.Connection
) -> None:
    statement = CoalescedStatement(_SLOW_ONE, _SLOW_MANY, max_in_flight=1)
    lone = asyncio.ensure_future(statement.execute(pool, (1, "n")))
    await running_on_the_server(watcher)
    lone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await lone
    await asyncio.wait_for(statement.execute(pool, (2, "n")), timeout=5)  # not queued behind a lost slot
    assert statement.counts(pool) == (2, 2)
    assert 2 in await stored(pool)


async def test_a_statement_task_cancelled_before_it_ran_frees_its_place(pool: asyncpg.Pool) -> None:
    statement = CoalescedStatement(_ONE, _MANY, max_in_flight=1)
    await statement.execute(pool, (1, "n"))
    state = statement._pools[pool]
    state.in_flight = 1  # as while a statement runs: row 2 waits for it
    second = asyncio.ensure_future(statement.execute(pool, (2, "n")))
    await eventually(waiting_rows(statement, pool, 1))
    state.in_flight = 0
    statement._send_next(pool, state)  # as when that statement ends: row 2's statement task is created
    (task,) = state.tasks
    task.cancel()  # before its first step: its coroutine never runs, so no finally of its own would either
    with pytest.raises(OutcomeUnknown):
        await asyncio.wait_for(second, timeout=5)
    await asyncio.wait_for(statement.execute(pool, (3, "n")), timeout=5)
    assert await stored(pool) == {1: "one", 3: "one"}


async def test_each_request_knows_whether_its_row_may_have_been_saved(pool: asyncpg.Pool) -> None:
    # What an outage later in the request answers (db.request_outcome): a row sent may be saved.
    statement = CoalescedStatement(_ONE, _MANY, max_in_flight=1)

    async def request(row_id: int, note: str) -> type[db.DatabaseUnavailable]:
        with db.tracking_writes():
            with contextlib.suppress(asyncpg.CheckViolationError):
                await statement.execute(pool, (row_id, note))
            return db.request_outcome()

    outcomes = await asyncio.gather(*(request(i, "bad" if i == 3 else "n") for i in range(6)))
    assert outcomes == [OutcomeUnknown, OutcomeUnknown, OutcomeUnknown, NotSaved, OutcomeUnknown, OutcomeUnknown]
