"""The outbox relay against a real PostgreSQL and NATS."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import nats
import pytest

from sprakvan_shared import outbox
from sprakvan_shared.contracts.subjects import DEAD_LETTER_STREAM, HEADER_MSG_ID, INTAKE_STREAM, Namespace
from sprakvan_shared.db import create_pool, migrate, shared_migrations
from sprakvan_shared.messaging import ensure_streams
from sprakvan_shared.outbox import OutboxRelay

from .conftest import eventually
from .factories import ProbeHappened, probe_event
from .streams import stream_messages


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, min_size=1, max_size=4)
    async with pool.acquire() as conn:
        await migrate(conn, shared_migrations())
    yield pool
    await pool.close()


@pytest.fixture
async def js(nc: nats.NATS, ns: Namespace):  # noqa: ANN201
    js = nc.jetstream()
    await ensure_streams(js, [INTAKE_STREAM, DEAD_LETTER_STREAM], ns)
    js.intake = ns.stream(INTAKE_STREAM)  # the stream's name in this test's namespace
    js.ns = ns
    return js


async def enqueue(pool: asyncpg.Pool, count: int) -> list[ProbeHappened]:
    events = [probe_event() for _ in range(count)]
    async with pool.acquire() as conn, conn.transaction():
        await outbox.enqueue(conn, *events)
    return events


async def test_enqueue_refuses_to_run_outside_a_transaction(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(RuntimeError, match="inside the transaction"):
            await outbox.enqueue(conn, probe_event())


async def test_relay_killed_between_publish_and_mark_leaves_no_second_copy(
    pool: asyncpg.Pool, js, database_url: str, nats_url: str
) -> None:
    events = await enqueue(pool, 10)

    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.relay_crash_child",
        database_url,
        nats_url,
        js.ns.root,
        stdout=asyncio.subprocess.PIPE,
    )
    output, _ = await asyncio.wait_for(child.communicate(), timeout=30)
    assert child.returncode == -signal.SIGKILL, output
    assert b"acked 10" in output
    # Published, acknowledged, but never marked: the crash window.
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 10
    assert len(await stream_messages(js, js.intake)) == 10

    # A new relay republishes all ten; JetStream drops them as duplicates of their event ids.
    relay = OutboxRelay(pool, js._nc, namespace=js.ns)
    assert await relay.relay_batch() == 10
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0

    stored = await stream_messages(js, js.intake)
    assert len(stored) == 10
    assert sorted(m.headers[HEADER_MSG_ID] for m in stored) == sorted(str(e.event_id) for e in events)

    # And a consumer reading the stream from the start sees each event once.
    subscription = await js.pull_subscribe(js.ns.subject(ProbeHappened.subject_filter()), stream=js.intake)
    seen = []
    for message in await subscription.fetch(50, timeout=2):
        seen.append(ProbeHappened.model_validate_json(message.data).event_id)
        await message.ack()
    assert sorted(seen) == sorted(e.event_id for e in events)


async def test_row_committed_late_with_a_lower_id_is_still_published(pool: asyncpg.Pool, js) -> None:
    late = probe_event()
    slow = await pool.acquire()
    transaction = slow.transaction()
    await transaction.start()
    await outbox.enqueue(slow, late)  # takes the lower id, commits last
    early = await enqueue(pool, 3)

    relay = OutboxRelay(pool, js._nc, namespace=js.ns)
    assert await relay.relay_batch() == 3
    await transaction.commit()
    await pool.release(slow)
    assert await relay.relay_batch() == 1

    ids = [m.headers[HEADER_MSG_ID] for m in await stream_messages(js, js.intake)]
    assert ids == [str(e.event_id) for e in early] + [str(late.event_id)]


async def test_running_relay_wakes_on_notify_and_a_second_relay_stands_by(pool: asyncpg.Pool, js) -> None:
    # A long poll interval: only NOTIFY can make the leader publish quickly.
    leader = OutboxRelay(pool, js._nc, namespace=js.ns, poll_interval=30)
    standby = OutboxRelay(pool, js._nc, namespace=js.ns, poll_interval=0.1)
    tasks = [asyncio.create_task(leader.run()), asyncio.create_task(standby.run())]
    try:
        await asyncio.sleep(0.3)
        await enqueue(pool, 5)
        await eventually(lambda: _count(js, 5), timeout=5)
        await eventually(lambda: pool.fetchval("SELECT count(*) = 0 FROM outbox WHERE published_at IS NULL"))
        assert leader.published_total == 5
        assert standby.published_total == 0
    finally:
        await leader.stop()
        await standby.stop()
        await asyncio.gather(*tasks)


async def test_prune_deletes_only_rows_published_before_the_retention(pool: asyncpg.Pool, js) -> None:
    await enqueue(pool, 3)
    relay = OutboxRelay(pool, js._nc, namespace=js.ns, retention=timedelta(days=7))
    await relay.relay_batch()
    await pool.execute(
        "UPDATE outbox SET published_at = now() - interval '8 days' WHERE id = (SELECT min(id) FROM outbox)"
    )
    await enqueue(pool, 1)  # unpublished: never pruned
    assert await relay.prune() == 1
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 3


async def _count(js, expected: int) -> bool:  # noqa: ANN001
    return len(await stream_messages(js, js.intake)) == expected


async def test_a_partly_acknowledged_batch_keeps_the_acknowledged_rows_marked(pool: asyncpg.Pool, js) -> None:  # noqa: ANN001
    good = await enqueue(pool, 2)
    stray = probe_event()
    async with pool.acquire() as conn, conn.transaction():
        # A subject no stream captures: JetStream answers "no responders" for this one message.
        event_id, _subject, *rest = outbox.outbox_row(stray)
        await conn.execute(outbox._INSERT, event_id, "nowhere.probe.x.happened", *rest)
    relay = OutboxRelay(pool, js._nc, namespace=js.ns, publish_timeout=2)
    with pytest.raises(outbox.PublishFailed, match="1 of 3"):
        await relay.relay_batch()
    unpublished = await pool.fetch("SELECT event_id FROM outbox WHERE published_at IS NULL")
    assert [r["event_id"] for r in unpublished] == [stray.event_id]
    assert len(await stream_messages(js, js.intake)) == len(good)
