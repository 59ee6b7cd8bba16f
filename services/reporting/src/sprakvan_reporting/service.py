"""The reporting service, as the kit and the ``sprakvan`` CLI see it (entry point ``sprakvan.services``).

It publishes nothing (no outbox relay) and consumes intake's, matching's and the events service's
streams through one gated consumer each; every handler is the same full-state upsert the replay uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import asyncpg
from fastapi import FastAPI

from sprakvan_shared.consumer import EventConsumer
from sprakvan_shared.contracts.envelope import IntegrationEvent
from sprakvan_shared.contracts.subjects import EVENTS_STREAM, INTAKE_STREAM, MATCHING_STREAM
from sprakvan_shared.kit import Service
from sprakvan_shared.settings import ServiceSettings

from .entrypoints import imports
from .entrypoints.http import install_error_handlers, partnerships, reviews
from .service_layer.consumers import CONSUMED, apply_events, make_handler
from .service_layer.pdf import PdfRenderer
from .settings import ReportingSettings

NAME = "reporting"
T = TypeVar("T")


@functools.cache
def _zone() -> ZoneInfo:
    # Handlers are registered at import, before settings exist: read the zone once, from the environment.
    return ZoneInfo(ReportingSettings().timezone)


async def handle(conn: asyncpg.Connection, event: IntegrationEvent) -> None:
    await make_handler(_zone())(conn, event)


async def handle_many(conn: asyncpg.Connection, events: list[IntegrationEvent]) -> None:
    """A fetched batch's events in one ``Batch``: a statement per kind of row, not one per event."""
    await apply_events(conn, events, _zone())


def _consumers() -> tuple[EventConsumer, ...]:
    consumers = {spec.key: EventConsumer(NAME, spec) for spec in (INTAKE_STREAM, MATCHING_STREAM, EVENTS_STREAM)}
    for event_type in CONSUMED:
        consumers[event_type.PRODUCER.upper()].on(event_type)(handle)
    for consumer in consumers.values():
        consumer.on_batch(handle_many)
    return tuple(consumers.values())


CONSUMERS = _consumers()


@functools.cache
def _render_slots() -> asyncio.Semaphore:
    return asyncio.Semaphore(2)  # charts take CPU: two HTML renders at a time keep the loop answering


async def run_in_thread(function: Callable[..., T], *args: Any) -> T:
    async with _render_slots():
        return await asyncio.to_thread(functools.partial(function, *args))


async def _replay(settings: ServiceSettings) -> object:
    from .service_layer.replay import replay_from_streams

    assert isinstance(settings, ReportingSettings)
    result = await replay_from_streams(settings)
    return f"replayed {result.events} events ({result.skipped} skipped) in {result.seconds:.1f} s"


@contextlib.asynccontextmanager
async def pdf_worker(app: FastAPI) -> AsyncIterator[None]:
    """The PDF worker process, started and stopped with the service."""
    app.state.pdf = PdfRenderer(app.state.runtime.pool)
    app.state.run_in_thread = run_in_thread
    await app.state.pdf.start()
    try:
        yield
    finally:
        await app.state.pdf.stop()


SERVICE = Service(
    name=NAME,
    default_port=8004,
    description="The partnership review (IOP) for funders, computed from intake's, matching's and the events "
    "service's events; JSON, CSV, printable HTML and PDF",
    settings=ReportingSettings,
    routers=(reviews, partnerships, imports.router),
    consumers=CONSUMERS,
    error_handlers=install_error_handlers,
    replay=_replay,
    running=pdf_worker,
)
