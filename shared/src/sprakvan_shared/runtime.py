"""A service process's connections and background work, started and stopped as one:
the asyncpg pool (migrated at start), the FastStream broker with its subscribers, and the outbox relay."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import asyncpg
import structlog
from faststream import FastStream
from faststream.nats import NatsBroker
from faststream.specification import AsyncAPI

from .contracts.envelope import IntegrationEvent
from .contracts.subjects import DEAD_LETTER_STREAM, StreamSpec
from .db import Migration, create_pool, migrate, shared_migrations
from .logging import configure_logging
from .messaging import RetryPolicy, ensure_streams, make_broker
from .outbox import OutboxRelay
from .settings import DEV_JWT_SECRET, ServiceSettings

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ServiceSpec:
    """How the ``sprakvan`` CLI finds and runs a service (registered as entry point ``sprakvan.services``)."""

    name: str
    app_factory: str  # "module:function" returning the ASGI app
    default_port: int
    description: str = ""


@dataclass
class ServiceRuntime:
    name: str
    settings: ServiceSettings
    migrations: Sequence[Migration]
    streams: Sequence[StreamSpec] = ()  # streams it publishes to or reads from
    publishes: Sequence[type[IntegrationEvent]] = ()  # documented in its AsyncAPI schema
    relay_outbox: bool = True
    broker: NatsBroker = field(init=False)
    _pool: asyncpg.Pool | None = field(default=None, init=False)
    relay: OutboxRelay | None = field(default=None, init=False)
    _relay_task: asyncio.Task[None] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.broker = make_broker(self.settings.nats_url, service=self.name)
        # The relay publishes through nats-py; these declarations only put the events in AsyncAPI.
        for event in self.publishes:
            self.broker.publisher(
                self.settings.namespace.subject(event.subject_filter()),
                schema=event,
                title=event.EVENT_TYPE,
                description=(event.__doc__ or event.EVENT_TYPE).strip(),
            )

    @functools.cached_property
    def asyncapi(self) -> dict[str, Any]:
        """The AsyncAPI document of what this service publishes and consumes."""
        app = FastStream(self.broker, specification=AsyncAPI(title=f"Språkvän {self.name}", version="1"))
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
        if s.jwt_secret.get_secret_value() == DEV_JWT_SECRET:
            log.warning("development_jwt_secret", hint="set JWT_SECRET: anyone can mint tokens for this one")
        self._pool = await create_pool(s.database_url, min_size=s.db_pool_min, max_size=s.db_pool_max)
        async with self._pool.acquire() as conn:
            await migrate(conn, [*shared_migrations(), *self.migrations])
        await self.broker.connect()
        await ensure_streams(
            self.broker.connection.jetstream(),
            [*self.streams, DEAD_LETTER_STREAM],
            s.namespace,
            replicas=s.nats_stream_replicas,
        )
        await self.broker.start()
        if self.relay_outbox:
            self.relay = OutboxRelay(
                self._pool,
                self.broker.connection,
                namespace=s.namespace,
                batch_size=s.relay_batch_size,
                poll_interval=s.relay_poll_interval,
                publish_timeout=s.relay_publish_timeout,
                linger=s.relay_linger,
                retention=timedelta(days=s.relay_retention_days),
            )
            self._relay_task = asyncio.create_task(self.relay.run(), name=f"{self.name}-outbox-relay")
        # Everything loaded at start-up lives as long as the process: move it out of the collector's
        # sight, and collect young objects less often. Measured: about 10% more registrations/s.
        gc.collect()
        gc.freeze()
        gc.set_threshold(20_000, 50, 1_000)
        log.info("service_started", service=self.name)

    async def stop(self) -> None:
        if self.relay is not None and self._relay_task is not None:
            await self.relay.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._relay_task, timeout=10)
        await self.broker.stop()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        log.info("service_stopped", service=self.name)

    async def readiness(self) -> dict[str, bool]:
        database = False
        if self._pool is not None:
            with contextlib.suppress(Exception):
                database = await asyncio.wait_for(self._pool.fetchval("SELECT true"), timeout=2)
        nats = False
        with contextlib.suppress(Exception):
            nats = bool(await self.broker.ping(timeout=2))
        return {"database": bool(database), "nats": nats}

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Any = None) -> AsyncIterator[None]:
        configure_logging(self.name, self.settings.log_level, self.settings.log_json)
        await self.start()
        try:
            yield
        finally:
            await self.stop()
