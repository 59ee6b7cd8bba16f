"""A service process's connections and background work, started and stopped as one: the asyncpg pool
(migrated at start), the NATS connection, the outbox relay and the event consumers.

PostgreSQL is needed to start: without it the service can accept nothing. NATS is not: the service
serves HTTP at once and connects in the background, retrying for as long as it lives; writes land in
the outbox meanwhile, and the relay and the consumers start once NATS answers.

Every replica deletes expired Idempotency-Key records at start and then every
``IDEMPOTENCY_PRUNE_INTERVAL`` (hourly): their stored responses hold personal data, and a service whose
keyed POSTs stop would otherwise keep them for good. (The relay's leader prunes the outbox.)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import nats
import structlog
from faststream import FastStream
from faststream.nats import JStream, PullSub
from faststream.specification import AsyncAPI

from . import idempotency
from .consumer import ConsumerRunner, EventConsumer, RetryPolicy
from .contracts.envelope import IntegrationEvent
from .contracts.subjects import DEAD_LETTER_STREAM, StreamSpec, stream_of_subject
from .db import Migration, create_pool, migrate, shared_migrations
from .logging import configure_logging
from .messaging import ensure_streams, make_broker
from .metrics import record_dead_letter
from .outbox import OutboxRelay
from .relay_process import RelayConfig, RelayProcess
from .settings import ServiceSettings

log = structlog.get_logger(__name__)

IDEMPOTENCY_PRUNE_INTERVAL = 3600.0  # seconds
_IDEMPOTENCY_PRUNE_CHUNK = 1000


async def _until_done(step: Callable[[], Awaitable[None]], what: str) -> None:
    while True:
        try:
            await step()
            return
        except Exception as exc:
            log.warning("messaging_setup_retrying", step=what, error=type(exc).__name__)
            await asyncio.sleep(1.0)


async def connect_nats(nats_url: str, *, name: str, stop: asyncio.Event | None = None) -> nats.NATS | None:
    """A NATS connection that never gives up reconnecting; until NATS first answers, tries again and again
    (HTTP is served meanwhile, writes wait in the outbox). None when ``stop`` is set first."""
    servers = [url.strip() for url in nats_url.split(",")]
    stop = stop or asyncio.Event()  # never set: try until NATS answers
    delay = 0.2
    while not stop.is_set():
        try:
            return await nats.connect(
                servers,
                name=name,
                # Never give up reconnecting: a service outlives any NATS restart.
                max_reconnect_attempts=-1,
                reconnect_time_wait=1,
                connect_timeout=2,
                allow_reconnect=True,
            )
        except Exception as exc:  # not there yet
            log.warning("nats_unavailable_retrying", error=type(exc).__name__, retry_in=delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            delay = min(delay * 2, 5.0)
    return None


@dataclass
class ServiceRuntime:
    name: str
    settings: ServiceSettings
    migrations: Sequence[Migration]
    publishes: Sequence[type[IntegrationEvent]] = ()
    consumers: Sequence[EventConsumer] = ()
    _pool: asyncpg.Pool | None = field(default=None, init=False)
    nats: nats.NATS | None = field(default=None, init=False)
    relay: OutboxRelay | None = field(default=None, init=False)  # in this process (RELAY_PROCESS=false)
    relay_process: RelayProcess | None = field(default=None, init=False)  # else in a child process
    runners: list[ConsumerRunner] = field(default_factory=list, init=False)
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list, init=False)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    # Set once NATS answered and the streams, the relay and the consumers run (tests wait for it).
    messaging_ready: asyncio.Event = field(default_factory=asyncio.Event, init=False)

    @property
    def streams(self) -> list[StreamSpec]:
        """The streams it publishes to and reads from, and the dead-letter stream."""
        found = {stream_of_subject(event.subject_filter()) for event in self.publishes}
        found |= {consumer.source for consumer in self.consumers}
        return sorted(found | {DEAD_LETTER_STREAM}, key=lambda spec: spec.key)

    @functools.cached_property
    def asyncapi(self) -> dict[str, Any]:
        """The AsyncAPI document of what this service publishes and consumes."""
        ns = self.settings.namespace
        broker = make_broker(self.settings.nats_url, service=self.name)  # never connected: documentation only
        for event in self.publishes:
            broker.publisher(
                ns.subject(event.subject_filter()),
                schema=event,
                title=event.EVENT_TYPE,
                description=(event.__doc__ or event.EVENT_TYPE).strip(),
            )
        for consumer in self.consumers:
            for event, _handler in consumer.handlers.values():

                async def documented(_: bytes) -> None:  # pragma: no cover - never subscribed
                    return None

                broker.subscriber(
                    ns.subject(event.subject_filter()),
                    stream=JStream(ns.stream(consumer.source), declare=False),
                    durable=consumer.name,
                    pull_sub=PullSub(batch_size=1),
                    title=f"{consumer.name}:{event.EVENT_TYPE}",
                )(documented)
        app = FastStream(broker, specification=AsyncAPI(title=f"Språkvän {self.name}", version="1"))
        return app.schema.to_specification().to_jsonable()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError(f"{self.name} runtime is not started")
        return self._pool

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_deliveries=self.settings.consumer_max_deliveries,
            backoff=self.settings.consumer_backoff_seconds,
            ack_wait=self.settings.consumer_ack_wait_seconds,
        )

    async def start(self) -> None:
        s = self.settings
        self._stopping.clear()
        self._pool = await create_pool(
            s.database_url,
            min_size=s.db_pool_min,
            max_size=s.db_pool_max,
            command_timeout=s.db_command_timeout,
            acquire_timeout=s.db_acquire_timeout,
            lock_timeout=s.db_lock_timeout,
        )
        async with self._pool.acquire() as conn:
            await migrate(conn, [*shared_migrations(), *self.migrations])
        self._tasks.append(asyncio.create_task(self._connect_and_run(), name=f"{self.name}-messaging"))
        self._tasks.append(asyncio.create_task(self._prune_idempotency_keys(), name=f"{self.name}-prune"))
        # Everything loaded at start-up lives as long as the process: move it out of the collector's
        # sight, and collect young objects less often. Measured: about 10% more registrations/s.
        gc.collect()
        gc.freeze()
        gc.set_threshold(20_000, 50, 1_000)
        log.info("service_started", service=self.name)

    async def _prune_idempotency_keys(self) -> None:
        while not self._stopping.is_set():
            try:
                while await idempotency.prune(self.pool, limit=_IDEMPOTENCY_PRUNE_CHUNK) == _IDEMPOTENCY_PRUNE_CHUNK:
                    pass  # short deletes, one chunk after the other
            except Exception as exc:  # the database away: the next round tries again
                log.warning("idempotency_prune_failed", error=type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=IDEMPOTENCY_PRUNE_INTERVAL)

    async def _connect_and_run(self) -> None:
        s = self.settings
        self.nats = await connect_nats(s.nats_url, name=f"sprakvan-{self.name}")
        assert self.nats is not None  # without a stop event it tries until it connects
        js = self.nats.jetstream()
        # JetStream may not be ready yet (a cluster electing a leader, say): retry until it is.
        await _until_done(
            lambda: ensure_streams(js, self.streams, s.namespace, replicas=s.nats_stream_replicas), "streams"
        )
        if self.publishes and s.relay_process:
            self.relay_process = RelayProcess(RelayConfig.of(self.name, s))
            self._tasks.append(asyncio.create_task(self.relay_process.run(), name=f"{self.name}-outbox-relay"))
        elif self.publishes:
            self.relay = RelayConfig.of(self.name, s).relay(self.pool, self.nats)
            self._tasks.append(asyncio.create_task(self.relay.run(), name=f"{self.name}-outbox-relay"))
        for consumer in self.consumers:
            runner = ConsumerRunner(
                consumer,
                self.pool,
                self.nats,
                namespace=s.namespace,
                retry=self.retry_policy,
                batch_size=s.consumer_batch_size,
                parallel_aggregates=s.consumer_parallel_aggregates,
                fetch_timeout=s.consumer_fetch_timeout_seconds,
                on_dead_letter=record_dead_letter,
            )
            await _until_done(runner.declare, consumer.name)
            self.runners.append(runner)
            self._tasks.append(asyncio.create_task(runner.run(), name=f"{consumer.name}-consumer"))
        self.messaging_ready.set()
        log.info("messaging_started", service=self.name, consumers=[c.name for c in self.consumers])

    async def stop(self) -> None:
        self._stopping.set()
        self.messaging_ready.clear()
        if self.relay is not None:
            await self.relay.stop()
        if self.relay_process is not None:
            await self.relay_process.stop()
        for runner in self.runners:
            runner.stop()
        for task in self._tasks:
            if task.get_name().endswith("-messaging"):
                task.cancel()  # may still be waiting for NATS
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=10)
        self._tasks.clear()
        self.runners.clear()
        self.relay = None
        self.relay_process = None
        if self.nats is not None:
            with contextlib.suppress(Exception):
                await self.nats.close()
            self.nats = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        log.info("service_stopped", service=self.name)

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Ready when the database answers: that is when a request can be accepted. NATS, the relay's
        backlog and the consumers' lag are details, so that a NATS restart does not take a healthy
        service out of its load balancer."""
        database = False
        if self._pool is not None:
            with contextlib.suppress(Exception):
                database = bool(await asyncio.wait_for(self._pool.fetchval("SELECT true"), timeout=2))
        details: dict[str, Any] = {"database": database, "nats": bool(self.nats and self.nats.is_connected)}
        if database and self.publishes:
            with contextlib.suppress(Exception):
                details["outbox_backlog"] = await self.pool.fetchval(
                    "SELECT count(*) FROM outbox WHERE published_at IS NULL"
                )
        if details["nats"] and self.runners:
            lags: dict[str, int | None] = {}
            for runner in self.runners:
                try:
                    lags[runner.consumer.name] = await asyncio.wait_for(runner.lag(), timeout=2)
                except Exception:
                    lags[runner.consumer.name] = None
            details["consumer_lag"] = lags
        return database, details

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Any = None) -> AsyncIterator[None]:
        configure_logging(self.name, self.settings.log_level, self.settings.log_json)
        await self.start()
        try:
            yield
        finally:
            await self.stop()
