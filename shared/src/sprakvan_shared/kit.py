"""The service kit: a service declares what it is, the kit derives the rest.

A service writes, in ``sprakvan_<name>/service.py``::

    consumer = EventConsumer("matching", INTAKE_STREAM)

    @consumer.on(ParticipantRegistered)
    async def on_registered(conn, event): ...      # runs behind the version gate, in its transaction

    SERVICE = Service(
        name="matching",
        default_port=8002,
        description="Pairs newcomers with established residents",
        settings=MatchingSettings,                # a ServiceSettings subclass (env prefix MATCHING_)
        routers=(proposals.router, pairs.router),
        publishes=MATCHING_EVENTS,                # relayed from its outbox; documented in AsyncAPI
        consumers=(consumer,),
        error_handlers=install_error_handlers,    # optional: domain exceptions -> HTTP
    )

and registers it in its ``pyproject.toml``::

    [project.entry-points."sprakvan.services"]
    matching = "sprakvan_matching.service:SERVICE"

The kit derives the rest: migrations (shared ones, then ``sprakvan_<name>/migrations/NNNN_*.sql``), the
FastAPI app with auth, correlation ids, health, readiness and AsyncAPI (``http.install``), the NATS
connection in the background, the streams, the outbox relay (when it publishes), one ordered, gated
durable consumer per source stream, and the ``sprakvan serve/up`` integration. ``sprakvan up`` gives
each service its own database named after it; compose needs a ``<<: *service`` block and a database
line in ``deploy/postgres-init.sql`` (``tests/test_compose.py`` checks both exist for every service).
Tests start any service with the ``start_service`` fixture (``tests/kit.py``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources

from fastapi import APIRouter, FastAPI
from fastapi.telemetry import TelemetryConfig

from . import http
from .consumer import EventConsumer
from .contracts.envelope import IntegrationEvent
from .db import Migration, load_migrations
from .metrics import install_metrics
from .runtime import ServiceRuntime
from .settings import ServiceSettings


def telemetry_config(settings: ServiceSettings) -> TelemetryConfig:
    """``FastAPI(telemetry=...)`` as ``settings.http_native_telemetry`` says: all of it, or none."""
    enabled = settings.http_native_telemetry
    return {"tracing": enabled, "metrics": enabled, "logs": enabled}


@dataclass(frozen=True)
class Service:
    name: str
    default_port: int
    description: str
    settings: type[ServiceSettings] = ServiceSettings
    routers: Sequence[APIRouter] = ()
    publishes: Sequence[type[IntegrationEvent]] = ()
    consumers: Sequence[EventConsumer] = ()
    error_handlers: Callable[[FastAPI], None] | None = None
    # ``sprakvan replay <name>``: drop the service's read models and rebuild them from the streams.
    replay: Callable[[ServiceSettings], Awaitable[object]] | None = None
    # The package whose ``migrations/`` directory holds the service's SQL; ``sprakvan_<name>`` by default.
    package: str = ""
    tags: Sequence[dict[str, str]] = field(default_factory=tuple)
    # What the service runs beside the kit's parts (a worker, a registry of background jobs): entered once the
    # kit has started (the pool is in ``app.state.runtime``), left before the kit stops.
    running: Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]] | None = None

    def __post_init__(self) -> None:
        for consumer in self.consumers:
            if consumer.service != self.name:
                raise ValueError(f"{consumer.name} is not a consumer of {self.name}")
        sources = [consumer.source.key for consumer in self.consumers]
        if len(set(sources)) != len(sources):
            raise ValueError(f"{self.name} has two consumers on one stream: merge them (one durable per stream)")

    @property
    def package_name(self) -> str:
        return self.package or f"sprakvan_{self.name}"

    def migrations(self) -> list[Migration]:
        directory = resources.files(self.package_name) / "migrations"
        return load_migrations(self.name, directory) if directory.is_dir() else []

    def runtime(self, settings: ServiceSettings) -> ServiceRuntime:
        return ServiceRuntime(
            name=self.name,
            settings=settings,
            migrations=self.migrations(),
            publishes=self.publishes,
            consumers=self.consumers,
        )

    def create_app(self, settings: ServiceSettings | None = None) -> FastAPI:
        settings = settings or self.settings()
        runtime = self.runtime(settings)
        app = FastAPI(
            title=f"Språkvän {self.name}",
            description=self.description,
            version="1",
            lifespan=self._lifespan(runtime),
            openapi_tags=list(self.tags) or None,
            telemetry=telemetry_config(settings),
        )
        app.state.settings = settings
        http.install(app, runtime)  # the token verifier comes from the settings (a public key, no default)
        install_metrics(app, runtime)
        if self.error_handlers is not None:
            self.error_handlers(app)
        for router in self.routers:
            app.include_router(router)
        return app

    def _lifespan(self, runtime: ServiceRuntime) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
        running = self.running
        if running is None:
            return runtime.lifespan

        @contextlib.asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            async with runtime.lifespan(app), running(app):
                yield

        return lifespan
