"""How reporting is assembled and found by the ``sprakvan`` CLI (entry point ``sprakvan.services``)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from importlib import resources
from typing import Any, TypeVar

from fastapi import FastAPI

from sprakvan_shared.db import load_migrations
from sprakvan_shared.logging import configure_logging
from sprakvan_shared.runtime import ServiceRuntime, ServiceSpec

from .service_layer.pdf import PdfRenderer
from .service_layer.replay import READ_STREAMS
from .settings import ReportingSettings

NAME = "reporting"
T = TypeVar("T")

SERVICE = ServiceSpec(
    name=NAME,
    app_factory="sprakvan_reporting.entrypoints.http:create_app",
    default_port=8004,
    description="The partnership review from intake's, matching's and events' events",
)


def make_runtime(settings: ReportingSettings) -> ServiceRuntime:
    migrations = load_migrations(NAME, resources.files("sprakvan_reporting") / "migrations")
    # Reporting publishes nothing: no outbox relay.
    return ServiceRuntime(
        name=NAME, settings=settings, migrations=migrations, streams=list(READ_STREAMS), relay_outbox=False
    )


def wrap_lifespan(app: FastAPI, runtime: ServiceRuntime) -> Callable[[Any], contextlib.AbstractAsyncContextManager]:
    """The runtime's lifespan, plus the PDF worker and a bounded pool of threads for HTML renders."""
    renders = asyncio.Semaphore(2)  # charts take CPU: two at a time keep the event loop answering

    async def run_in_thread(function: Callable[..., T], *args: Any) -> T:
        async with renders:
            return await asyncio.to_thread(functools.partial(function, *args))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        configure_logging(runtime.name, runtime.settings.log_level, runtime.settings.log_json)
        await runtime.start()
        app.state.pdf = PdfRenderer(runtime.pool)
        app.state.run_in_thread = run_in_thread
        await app.state.pdf.start()
        try:
            yield
        finally:
            await app.state.pdf.stop()
            await runtime.stop()

    return lifespan
