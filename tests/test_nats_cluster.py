"""Scale-out on NATS itself: the relay publishes through a three-node JetStream cluster with replicated
streams, and a node killed mid-stream loses nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import nats
import pytest

from sprakvan_cli.embedded import EmbeddedNatsCluster
from sprakvan_shared import outbox
from sprakvan_shared.contracts.subjects import DEAD_LETTER_STREAM, INTAKE_STREAM, Namespace
from sprakvan_shared.db import create_pool, migrate, shared_migrations
from sprakvan_shared.messaging import ensure_streams
from sprakvan_shared.outbox import OutboxRelay

from .conftest import eventually
from .factories import probe_event

pytestmark = [pytest.mark.isolated, pytest.mark.chaos, pytest.mark.timeout(300)]

EVENTS = 3000
NS = Namespace("cluster")  # a namespace of its own: nothing else lives on these servers anyway
STREAM = NS.stream(INTAKE_STREAM)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[EmbeddedNatsCluster]:
    with EmbeddedNatsCluster(tmp_path / "nats-cluster", size=3) as started:
        yield started


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, min_size=1, max_size=4)
    async with pool.acquire() as conn:
        await migrate(conn, shared_migrations())
    yield pool
    await pool.close()


async def test_a_node_killed_mid_stream_loses_no_event(cluster: EmbeddedNatsCluster, pool: asyncpg.Pool) -> None:
    nc = await nats.connect(servers=cluster.urls, reconnect_time_wait=0.5, max_reconnect_attempts=-1)
    js = nc.jetstream()
    await ensure_streams(js, [INTAKE_STREAM, DEAD_LETTER_STREAM], NS, replicas=3)
    info = await js.stream_info(STREAM)
    assert info.config.num_replicas == 3 and len(info.cluster.replicas or []) == 2

    for _ in range(EVENTS // 100):
        async with pool.acquire() as conn, conn.transaction():
            await outbox.enqueue(conn, *(probe_event() for _ in range(100)))
    killed: list[object] = []

    async def kill_node(acked) -> None:  # noqa: ANN001 - between a batch's acks and its mark
        if not killed and relay.published_total + len(acked) >= EVENTS // 3:
            # The node this client talks to: the relay must fail over to another one.
            victim = next(node for node in cluster.nodes if nc.connected_url.netloc.endswith(f":{node.port}"))
            await asyncio.to_thread(victim.kill)
            killed.append(victim)

    relay = OutboxRelay(
        pool, nc, namespace=NS, batch_size=100, poll_interval=0.1, publish_timeout=2, after_publish=kill_node
    )
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: _published(pool, at_least=EVENTS), timeout=90)
    finally:
        await relay.stop()
        await task
    [victim] = killed
    assert relay.published_total >= EVENTS
    assert nc.connected_url is not None and f":{victim.port}" not in nc.connected_url.netloc
    await nc.close()

    survivor = next(node for node in cluster.nodes if node is not victim)
    check = await nats.connect(survivor.url)
    try:
        state = (await check.jetstream().stream_info(STREAM)).state
    finally:
        await check.close()
    # Each event has a subject of its own: all there, and no sequence spent on a duplicate.
    assert (state.messages, state.last_seq) == (EVENTS, EVENTS)


async def _published(pool: asyncpg.Pool, *, at_least: int) -> bool:
    return await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL") >= at_least
