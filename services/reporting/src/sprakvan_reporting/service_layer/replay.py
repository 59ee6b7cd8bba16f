"""Rebuild the read models from the streams: ``sprakvan replay reporting``.

One transaction: the old rows are deleted (not truncated, so reports keep reading the old snapshot
meanwhile), every retained event of the streams reporting reads is applied in batches through the same
``Batch`` the live consumer uses, and the commit makes the new read models visible at once. A live
event that arrives meanwhile waits on the rows' locks and is applied after, version-gated, on top.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from importlib import resources
from zoneinfo import ZoneInfo

import asyncpg
import nats
import structlog
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from sprakvan_shared.contracts.envelope import IntegrationEvent, parse_subject
from sprakvan_shared.contracts.subjects import EVENTS_STREAM, INTAKE_STREAM, MATCHING_STREAM, Namespace, StreamSpec
from sprakvan_shared.db import create_pool, load_migrations, migrate, shared_migrations

from ..adapters import read_models as rm
from ..settings import ReportingSettings
from .consumers import CONSUMED, Batch

log = structlog.get_logger(__name__)

READ_STREAMS: tuple[StreamSpec, ...] = (INTAKE_STREAM, MATCHING_STREAM, EVENTS_STREAM)
_BY_TYPE: dict[tuple[str, str], type[IntegrationEvent]] = {(e.PRODUCER, e.EVENT_TYPE): e for e in CONSUMED}


@dataclass(frozen=True)
class ReplayResult:
    events: int
    skipped: int  # not an event reporting reads, or not a valid one
    seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def parse(relative_subject: str, data: bytes) -> IntegrationEvent | None:
    """The event a stream message carries, or None when reporting does not read it."""
    try:
        producer, aggregate, _, action = parse_subject(relative_subject)
    except ValueError:
        return None
    kind = _BY_TYPE.get((producer, f"{aggregate}.{action}"))
    if kind is None:
        return None
    try:
        return kind.model_validate_json(data)
    except ValidationError:
        log.warning("replay_invalid_event", subject=relative_subject)  # the live consumer dead-letters it
        return None


async def stream_messages(
    js: JetStreamContext, namespace: Namespace, specs: Iterable[StreamSpec], *, fetch: int = 2000
) -> AsyncIterator[tuple[str, bytes]]:
    """Every retained message of the streams, oldest first, through an ephemeral consumer (no acks)."""
    for spec in specs:
        name = namespace.stream(spec)
        try:
            info = await js.stream_info(name)
        except NotFoundError:
            continue  # that service has never published
        if info.state.messages == 0:
            continue
        subscription = await js.pull_subscribe(
            namespace.subject(spec.subjects[0]),
            stream=name,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, max_ack_pending=-1, mem_storage=True
            ),
        )
        try:
            # Ask for exactly what is left: a fetch for more than the stream holds waits out its timeout.
            remaining = (await subscription.consumer_info()).num_pending
            while remaining > 0:
                messages = await subscription.fetch(min(fetch, remaining), timeout=30)
                for message in messages:
                    yield namespace.relative(message.subject), message.data
                remaining = messages[-1].metadata.num_pending
        finally:
            await subscription.unsubscribe()


async def rebuild(
    pool: asyncpg.Pool,
    messages: AsyncIterator[tuple[str, bytes]],
    zone: ZoneInfo,
    *,
    batch_size: int = 5000,
    consumer_names: Iterable[str] = (),
) -> ReplayResult:
    started = time.perf_counter()
    applied = skipped = 0
    async with pool.acquire() as conn, conn.transaction():
        for table in rm.READ_MODEL_TABLES:
            await conn.execute(f"DELETE FROM {table}")  # noqa: S608 - names from our own constant
        # The kit's gate remembers what this service applied; a rebuild starts it afresh.
        if await conn.fetchval("SELECT to_regclass('consumed_aggregates') IS NOT NULL"):
            await conn.execute("DELETE FROM consumed_aggregates WHERE consumer = ANY($1::text[])", list(consumer_names))
        # Pipelined: PostgreSQL applies one batch while this process parses the next (one statement at a
        # time on the connection; the loop yields now and then so the applying task can send its next one).
        batch, in_batch = Batch(), 0
        applying: asyncio.Task[None] | None = None
        try:
            async for subject, data in messages:
                event = parse(subject, data)
                if event is None:
                    skipped += 1
                    continue
                batch.add(event, zone)
                applied += 1
                in_batch += 1
                if in_batch % 250 == 0:
                    await asyncio.sleep(0)
                if in_batch >= batch_size:
                    if applying is not None:
                        await applying
                    applying = asyncio.create_task(batch.apply(conn))
                    batch, in_batch = Batch(), 0
            if applying is not None:
                await applying
            await batch.apply(conn)
        finally:
            if applying is not None and not applying.done():
                applying.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await applying
    result = ReplayResult(applied, skipped, time.perf_counter() - started)
    log.info("replay_done", events=result.events, skipped=result.skipped, seconds=round(result.seconds, 2))
    return result


async def replay_from_streams(settings: ReportingSettings) -> ReplayResult:
    """Drop the read models and rebuild them from intake's, matching's and the events service's streams."""
    from ..service import CONSUMERS  # the durables whose gate rows a rebuild resets

    pool = await create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            await migrate(conn, [*shared_migrations(), *reporting_migrations()])
        nc = await nats.connect([url.strip() for url in settings.nats_url.split(",")], name="sprakvan-reporting-replay")
        try:
            messages = stream_messages(nc.jetstream(), settings.namespace, READ_STREAMS)
            return await rebuild(
                pool,
                messages,
                ZoneInfo(settings.timezone),
                batch_size=settings.replay_batch_size,
                consumer_names=[c.name for c in CONSUMERS],
            )
        finally:
            await nc.close()
    finally:
        await pool.close()


def reporting_migrations() -> list:
    return load_migrations("reporting", resources.files("sprakvan_reporting") / "migrations")
