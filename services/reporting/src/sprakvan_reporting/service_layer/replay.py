"""Rebuild the read models from the streams: ``sprakvan replay reporting``.

One transaction: the old rows are deleted (not truncated, so reports keep reading the old snapshot
meanwhile), every retained event of the streams reporting reads is applied in batches through the same
``Batch`` the live consumer uses, and the commit makes the new read models visible at once. A live
event that arrives meanwhile waits on the rows' locks and is applied after, version-gated, on top.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from zoneinfo import ZoneInfo

import asyncpg
import nats
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import StreamState
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
    js: JetStreamContext, namespace: Namespace, specs: Iterable[StreamSpec], *, chunk: int = 1000, idle: float = 3.0
) -> AsyncIterator[tuple[str, bytes]]:
    """Every message the streams hold when this starts, oldest first, through an ordered push consumer
    (measured here: about four times the rate of pull fetches or of iterating a subscription). The
    client's pending limits are the stream's own size: nats-py drops messages beyond them (a "slow
    consumer") without the ordered consumer noticing, which lost 0.13 % of a 1M-event replay in the
    benchmark. So a slow rebuild may hold up to the whole stream in memory while it catches up. A stream
    ends when its last message at the start has arrived, or when nothing more of what was there at the
    start remains (purged by an erasure, or replaced by a newer event of its subject, which the live
    consumer then applies on top)."""
    for spec in specs:
        name = namespace.stream(spec)
        try:
            info = await js.stream_info(name)
        except NotFoundError:
            continue  # that service has never published
        if info.state.messages == 0:
            continue
        async for item in _read_stream(js, namespace, spec, info.state, chunk, idle):
            yield item


async def _read_stream(
    js: JetStreamContext, namespace: Namespace, spec: StreamSpec, state: StreamState, chunk: int, idle: float
) -> AsyncIterator[tuple[str, bytes]]:
    total, last = state.messages, state.last_seq
    queue: asyncio.Queue[list[tuple[str, bytes]] | None] = asyncio.Queue(maxsize=8)
    buffer: list[tuple[str, bytes]] = []
    seen = 0
    done = False
    latest: Msg | None = None

    async def on_message(msg: Msg) -> None:
        nonlocal buffer, seen, done, latest
        if done:
            return
        seen += 1
        latest = msg
        buffer.append((namespace.relative(msg.subject), msg.data))
        # Metadata costs a parse of the reply subject: look only once the count says it may be the end.
        end = seen >= total and msg.metadata.sequence.stream >= last
        if end or len(buffer) >= chunk:
            ready, buffer = buffer, []
            await queue.put(ready)
        if end:
            done = True
            await queue.put(None)

    subscription = await js.subscribe(
        namespace.subject(spec.subjects[0]),
        stream=namespace.stream(spec),
        ordered_consumer=True,
        cb=on_message,
        pending_msgs_limit=total + chunk * 16,
        pending_bytes_limit=state.bytes + 64 * 1024 * 1024,
    )
    try:
        while True:
            try:
                ready = await asyncio.wait_for(queue.get(), timeout=idle)
            except TimeoutError:
                if not await _nothing_left(js, namespace.stream(spec), latest, last):
                    continue  # only slow: keep waiting
                done = True
                ready, buffer = buffer, []
                for item in ready:
                    yield item
                break
            if ready is None:
                break
            for item in ready:
                yield item
    finally:
        done = True
        await subscription.unsubscribe()
    if seen < total:
        log.warning("replay_stream_shorter", stream=spec.key, expected=total, read=seen)


async def _nothing_left(js: JetStreamContext, stream: str, latest: Msg | None, last: int) -> bool:
    """Whether the stream holds no message between the latest one seen and the last one at the start
    (those were purged meanwhile, by an erasure), so the read is complete."""
    after = latest.metadata.sequence.stream + 1 if latest is not None else 1
    if after > last:
        return True
    try:
        upcoming = await js.get_msg(stream, seq=after, next=True)
    except NotFoundError:
        return True
    return upcoming.seq > last


@contextlib.contextmanager
def _existing_objects_left_alone() -> Iterator[None]:
    """Keep the cyclic garbage collector off what the process held before the rebuild (``gc.freeze``):
    its full collections scan every tracked object, and a rebuild makes enough to run dozens of them.
    What the rebuild itself makes is collected as usual. Measured on 500k events, two runs one after the
    other: 4.7 s of 31.8 s in the collector without it, 1.9 s of 22.4 s with it (the benchmark process holds
    its 500k generated events meanwhile, which the freeze also leaves alone).

    The youngest generation is collected after 50,000 allocations rather than 700: a rebuild allocates
    some twenty objects per event and frees nearly all of them by reference count, so frequent young
    collections found little and cost about 7 % of a 300k-event replay (four runs, alternated)."""
    thresholds = gc.get_threshold()
    gc.set_threshold(50_000, *thresholds[1:])
    try:
        if gc.get_freeze_count():  # someone froze before: theirs to undo
            yield
            return
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
    finally:
        gc.set_threshold(*thresholds)


async def rebuild(
    pool: asyncpg.Pool,
    messages: AsyncIterator[tuple[str, bytes]],
    zone: ZoneInfo,
    *,
    batch_size: int = 5000,
    consumer_names: Iterable[str] = (),
) -> ReplayResult:
    with _existing_objects_left_alone():
        return await _rebuild(pool, messages, zone, batch_size=batch_size, consumer_names=consumer_names)


async def _rebuild(
    pool: asyncpg.Pool,
    messages: AsyncIterator[tuple[str, bytes]],
    zone: ZoneInfo,
    *,
    batch_size: int,
    consumer_names: Iterable[str],
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
                    applying = asyncio.create_task(batch.apply(conn, recount_signups=False))
                    batch, in_batch = Batch(), 0
            if applying is not None:
                await applying
            await batch.apply(conn, recount_signups=False)
            await rm.recount_all_signups(conn)
        finally:
            if applying is not None and not applying.done():
                applying.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await applying
    # Fresh statistics for the planner: every row was replaced, and until autovacuum's analyze comes round a
    # review may be planned for tables it thinks empty (5,000 participants never analyzed: 2 s, not 50 ms).
    async with pool.acquire() as conn:
        await conn.execute(f"ANALYZE {', '.join(rm.READ_MODEL_TABLES)}")
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
