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
from sprakvan_shared import relay as relay_module
from sprakvan_shared.contracts.subjects import DEAD_LETTER_STREAM, HEADER_MSG_ID, INTAKE_STREAM, Namespace
from sprakvan_shared.db import create_pool, migrate, shared_migrations
from sprakvan_shared.messaging import ensure_streams
from sprakvan_shared.outbox import OutboxRelay

from .conftest import eventually
from .factories import ProbeErased, ProbeHappened, probe_event
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
        await eventually(lambda: _is_leading(leader))  # then the commit's NOTIFY reaches a leader
        await enqueue(pool, 5)
        await eventually(lambda: _count(js, 5), timeout=5)
        await eventually(lambda: pool.fetchval("SELECT count(*) = 0 FROM outbox WHERE published_at IS NULL"))
        assert leader.published_total == 5
        assert standby.published_total == 0
    finally:
        await leader.stop()
        await standby.stop()
        await asyncio.gather(*tasks)


async def test_a_commit_wakes_the_relay_only_when_no_earlier_row_waits(pool: asyncpg.Pool, database_url: str) -> None:
    """Migration 0006: a NOTIFY for the first waiting row, none while rows wait, one for a batch of rows."""
    listener = await asyncpg.connect(database_url)
    notified: list[str] = []
    await listener.add_listener(outbox.NOTIFY_CHANNEL, lambda *args: notified.append(args[2]))
    try:

        async def notifications_after(count: int) -> int:
            before = len(notified)
            await enqueue(pool, count)
            # A round trip: PostgreSQL sends a notification before the next ReadyForQuery, and asyncpg
            # schedules the listener before the answer's waiter; one more turn of the loop has run it.
            await listener.execute("SELECT 1")
            await asyncio.sleep(0)
            return len(notified) - before

        await pool.execute("UPDATE outbox SET published_at = now() WHERE published_at IS NULL")
        assert await notifications_after(3) == 1  # nothing waited: one, for the batch of three
        assert await notifications_after(1) == 0  # rows wait: the relay is at work, no wake-up
        await pool.execute("UPDATE outbox SET published_at = now() WHERE published_at IS NULL")
        assert await notifications_after(1) == 1
    finally:
        await listener.close()


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


async def _is_leading(relay: OutboxRelay) -> bool:
    return relay.leading


async def _count(js, expected: int) -> bool:  # noqa: ANN001
    return len(await stream_messages(js, js.intake)) == expected


async def _insert_stray(pool: asyncpg.Pool) -> ProbeHappened:
    """A row whose subject no stream captures: JetStream answers "no responders" for it alone."""
    stray = probe_event()
    async with pool.acquire() as conn, conn.transaction():
        event_id, _subject, *rest = outbox.outbox_row(stray)
        await conn.execute(outbox._INSERT, event_id, "nowhere.probe.x.happened", *rest)
    return stray


async def test_a_row_that_fails_alone_is_retried_later_and_the_rest_is_marked(pool: asyncpg.Pool, js) -> None:  # noqa: ANN001
    good = await enqueue(pool, 2)
    stray = await _insert_stray(pool)
    relay = OutboxRelay(pool, js._nc, namespace=js.ns, publish_timeout=2)
    assert await relay.relay_batch() == 2  # no PublishFailed: NATS is fine, the row is not
    row = await pool.fetchrow("SELECT event_id, attempts, last_error, next_attempt_at > now() AS later FROM outbox "
                              "WHERE published_at IS NULL")  # fmt: skip
    assert (row["event_id"], row["attempts"], row["later"]) == (stray.event_id, 1, True)
    assert "NoStreamResponse" in row["last_error"]
    assert len(await stream_messages(js, js.intake)) == len(good)
    assert await relay.relay_batch() == 0  # not before its next attempt is due


async def test_one_poison_row_among_1200_is_parked_and_the_rest_flows_without_backoff(pool: asyncpg.Pool, js) -> None:  # noqa: ANN001
    await enqueue(pool, 400)
    poison = await _insert_stray(pool)
    await enqueue(pool, 799)
    relay = OutboxRelay(
        pool, js._nc, namespace=js.ns, batch_size=100, poll_interval=0.05, max_attempts=3, retry_delay=0.05
    )
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: _count(js, 1199), timeout=30)
        status = await eventually(lambda: _parked(pool), timeout=10)
    finally:
        await relay.stop()
        await task
    assert status == outbox.OutboxStatus(backlog=0, oldest_unpublished_age=0.0, parked=1)
    row = await pool.fetchrow("SELECT event_id, attempts, last_error FROM outbox WHERE parked_at IS NOT NULL")
    assert (row["event_id"], row["attempts"]) == (poison.event_id, 3)
    assert "NoStreamResponse" in row["last_error"]
    assert relay.backoffs == 0 and relay.parked_total == 1
    # An operator who fixed the cause gives it new attempts.
    assert await outbox.unpark(pool) == 1
    assert (await outbox.outbox_status(pool)).backlog == 1


async def _parked(pool: asyncpg.Pool) -> outbox.OutboxStatus | None:
    status = await outbox.outbox_status(pool)
    return status if status.parked else None


async def test_pipelined_batches_publish_every_row_once_in_id_order(pool: asyncpg.Pool, js) -> None:  # noqa: ANN001
    events = await enqueue(pool, 1000)
    relay = OutboxRelay(pool, js._nc, namespace=js.ns, batch_size=64)
    assert await relay.drain() == 1000
    ids = [m.headers[HEADER_MSG_ID] for m in await stream_messages(js, js.intake)]
    assert ids == [str(e.event_id) for e in events]
    assert (await outbox.outbox_status(pool)).backlog == 0


async def test_a_tombstone_purges_the_aggregates_earlier_messages_and_rows(pool: asyncpg.Pool, js) -> None:  # noqa: ANN001
    registered = probe_event(version=1)
    other = probe_event()
    tombstone = ProbeErased(
        organisation_id="linkoping", aggregate_id=registered.aggregate_id, version=2, payload=registered.payload
    )
    async with pool.acquire() as conn, conn.transaction():
        await outbox.enqueue(conn, registered, other)
    async with pool.acquire() as conn, conn.transaction():
        await outbox.enqueue(conn, tombstone)
    relay = OutboxRelay(
        pool, js._nc, namespace=js.ns, batch_size=2
    )  # the tombstone comes in the second, pipelined batch
    assert await relay.drain() == 3
    subjects = [m.subject for m in await stream_messages(js, js.intake)]
    assert subjects == [js.ns.subject(other.subject), js.ns.subject(tombstone.subject)]
    remaining = await pool.fetch("SELECT event_id FROM outbox ORDER BY id")
    assert [r["event_id"] for r in remaining] == [other.event_id, tombstone.event_id]


async def test_the_leader_whose_backend_dies_stops_publishing_and_the_standby_takes_over(
    pool: asyncpg.Pool, js
) -> None:  # noqa: ANN001
    published: dict[str, list[int]] = {"first": [], "second": []}

    def recorder(name: str):  # noqa: ANN202
        async def record(ids) -> None:  # noqa: ANN001
            published[name].extend(ids)

        return record

    first = OutboxRelay(
        pool, js._nc, namespace=js.ns, poll_interval=0.05, batch_size=50, after_publish=recorder("first")
    )
    second = OutboxRelay(
        pool, js._nc, namespace=js.ns, poll_interval=0.05, batch_size=50, after_publish=recorder("second")
    )
    tasks = [asyncio.create_task(first.run())]
    producing = asyncio.Event()

    async def produce() -> None:
        while not producing.is_set():
            await enqueue(pool, 20)
            await asyncio.sleep(0.01)

    try:
        await eventually(lambda: _is_true(first.leading))
        tasks.append(asyncio.create_task(second.run()))
        producer = asyncio.create_task(produce())
        await eventually(lambda: _is_true(len(published["first"]) > 200))
        # Kill the backend that holds the leader's advisory lock, under load.
        killed = await pool.fetchval(
            """SELECT pg_terminate_backend(pid) FROM pg_locks
                WHERE locktype = 'advisory' AND objid = $1 AND granted""",
            relay_module._RELAY_LOCK_KEY,
        )
        assert killed
        at_kill = len(published["first"])
        await eventually(lambda: _is_true(second.leading and len(published["second"]) > 300))
        producing.set()
        await producer
        await eventually(lambda: pool.fetchval("SELECT count(*) = 0 FROM outbox WHERE published_at IS NULL"))
    finally:
        producing.set()
        await first.stop()
        await second.stop()
        await asyncio.gather(*tasks)
    # The old leader finished at most the batches it had claimed before the kill (two on the wire and one
    # being claimed); it never led again meanwhile.
    assert len(published["first"]) - at_kill <= 3 * 50
    assert not first.leading
    # Every row once in the stream, none lost, none twice.
    total = await pool.fetchval("SELECT count(*) FROM outbox")
    stored = await stream_messages(js, js.intake)
    assert len(stored) == total == len({m.headers[HEADER_MSG_ID] for m in stored})


async def _is_true(value: object) -> bool:
    return bool(value)


async def test_prune_runs_on_its_schedule_a_chunk_per_round_and_refuses_a_short_retention(
    pool: asyncpg.Pool, js, monkeypatch: pytest.MonkeyPatch
) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="duplicate window"):
        OutboxRelay(pool, js._nc, namespace=js.ns, retention=timedelta(hours=24))
    monkeypatch.setattr(relay_module, "_PRUNE_CHUNK", 2)  # 7 rows: four rounds, publishing in between
    await enqueue(pool, 7)
    relay = OutboxRelay(pool, js._nc, namespace=js.ns, poll_interval=0.05, prune_interval=0.1)
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: pool.fetchval("SELECT count(*) = 0 FROM outbox WHERE published_at IS NULL"))
        await pool.execute("UPDATE outbox SET published_at = now() - interval '8 days'")
        await eventually(lambda: pool.fetchval("SELECT count(*) = 0 FROM outbox"))
    finally:
        await relay.stop()
        await task


async def test_after_repeated_nats_outages_the_backlog_is_published_within_about_a_second(
    pool: asyncpg.Pool, embedded_nats
) -> None:  # noqa: ANN001
    # Reconnecting as the services' broker does (messaging.make_broker).
    nc = await nats.connect(embedded_nats.url, reconnect_time_wait=1, max_reconnect_attempts=-1)
    await ensure_streams(nc.jetstream(), [INTAKE_STREAM, DEAD_LETTER_STREAM], Namespace())
    relay = OutboxRelay(pool, nc, poll_interval=0.1, publish_timeout=1, batch_size=50)
    task = asyncio.create_task(relay.run())
    loop = asyncio.get_running_loop()
    lags = []
    try:
        for _ in range(3):
            await enqueue(pool, 200)
            await asyncio.to_thread(embedded_nats.stop)  # mid-stream: the relay is still publishing
            await enqueue(pool, 300)  # accepted while NATS is away
            # Long enough for a backoff that never resets to grow past several seconds.
            await eventually(lambda: _is_true(relay.backoffs >= 1 or not nc.is_connected))
            await asyncio.sleep(2)  # the outage itself, not a wait for a result
            await asyncio.to_thread(embedded_nats.start)
            back = loop.time()
            await eventually(_all_published(pool), timeout=15, interval=0.02)
            lags.append(loop.time() - back)
    finally:
        await relay.stop()
        await task
        await nc.close()
    assert relay.backoff == 0.1  # reset by the batches after the outage
    # About a second: the client's reconnect wait (1 s) plus a batch; a backoff grown over three outages
    # (or a 30 s cap) would show here.
    print(f"publish lag after each outage: {[round(lag, 2) for lag in lags]} s")
    assert max(lags) < 4, lags
    nc = await nats.connect(embedded_nats.url)
    try:
        stored = await stream_messages(nc.jetstream(), Namespace().stream(INTAKE_STREAM))
    finally:
        await nc.close()
    assert len({m.headers[HEADER_MSG_ID] for m in stored}) == 1500


def _all_published(pool: asyncpg.Pool):  # noqa: ANN202
    return lambda: pool.fetchval("SELECT count(*) = 0 FROM outbox WHERE published_at IS NULL")
