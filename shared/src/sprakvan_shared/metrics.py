"""Prometheus metrics of a service process, served on ``GET /metrics`` (``prometheus-client``).

* HTTP: ``sprakvan_http_requests_total`` and ``sprakvan_http_request_duration_seconds`` by method, route
  template (``/participants/{participant_id}``, never the id itself) and status, from an ASGI middleware.
* Outbox: backlog, age of the oldest unpublished row and parked rows, read from the database when
  Prometheus scrapes (so every replica reports them, leader or not); events published by this process;
  whether this process's relay leads.
* Consumers: ``record_consumer_lag(consumer, pending)`` and ``record_dead_letter(consumer)``, called by
  the consumer code; ``sample_consumer_lag`` reads a durable consumer's pending count from JetStream.

Every series carries the ``service`` label. Labels hold names and codes only, never personal data.
``install_metrics(app, runtime)`` adds the middleware and the endpoint; call it before the app starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import coalesce
from .outbox import outbox_status

if TYPE_CHECKING:
    from fastapi import FastAPI
    from nats.js import JetStreamContext

    from .runtime import ServiceRuntime

# One registry per process, and the metrics defined once: an app created twice in one process (tests)
# shares them, told apart by the service label.
REGISTRY = CollectorRegistry()

HTTP_REQUESTS = Counter(
    "sprakvan_http_requests", "HTTP requests answered", ["service", "method", "route", "status"], registry=REGISTRY
)
HTTP_LATENCY = Histogram(
    "sprakvan_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
OUTBOX_BACKLOG = Gauge("sprakvan_outbox_backlog", "Outbox rows not yet published (parked ones excluded)",
                       ["service"], registry=REGISTRY)  # fmt: skip
OUTBOX_OLDEST_AGE = Gauge(
    "sprakvan_outbox_oldest_unpublished_age_seconds", "Age of the oldest unpublished outbox row", ["service"],
    registry=REGISTRY,
)  # fmt: skip
OUTBOX_PARKED = Gauge("sprakvan_outbox_parked", "Outbox rows parked after failing to publish (need an operator)",
                      ["service"], registry=REGISTRY)  # fmt: skip
RELAY_PUBLISHED = Gauge("sprakvan_relay_published_events", "Events this process's relay published since it started",
                        ["service"], registry=REGISTRY)  # fmt: skip
RELAY_LEADING = Gauge("sprakvan_relay_leading", "1 when this process's outbox relay leads (publishes)", ["service"],
                      registry=REGISTRY)  # fmt: skip
CONSUMER_PENDING = Gauge(
    "sprakvan_consumer_pending_messages", "Messages a durable consumer has not yet acknowledged (its lag)",
    ["service", "consumer"], registry=REGISTRY,
)  # fmt: skip
DEAD_LETTERS = Counter("sprakvan_dead_letters", "Messages a consumer gave up on (dead-lettered)",
                       ["service", "consumer"], registry=REGISTRY)  # fmt: skip
COALESCED_STATEMENTS = Gauge(
    "sprakvan_db_coalesced_statements", "Statements that carried coalesced writes (sprakvan_shared.coalesce)",
    ["service"], registry=REGISTRY,
)  # fmt: skip
COALESCED_ROWS = Gauge(
    "sprakvan_db_coalesced_rows", "Rows those statements carried: rows / statements is the sharing achieved",
    ["service"], registry=REGISTRY,
)  # fmt: skip
METRICS_DATABASE_ERRORS = Counter(
    "sprakvan_metrics_database_errors", "Scrapes that could not read the outbox status", ["service"],
    registry=REGISTRY,
)  # fmt: skip

_service_name = "unknown"  # the process's service, for the consumer helpers (set by install_metrics)
_STATUS_TIMEOUT = 2.0


def record_consumer_lag(consumer: str, pending: int, *, service: str | None = None) -> None:
    CONSUMER_PENDING.labels(service or _service_name, consumer).set(pending)


def record_dead_letter(consumer: str, *, service: str | None = None) -> None:
    DEAD_LETTERS.labels(service or _service_name, consumer).inc()


async def sample_consumer_lag(js: JetStreamContext, stream: str, durable: str, *, service: str | None = None) -> int:
    """Read a durable consumer's lag from JetStream (not yet delivered + delivered, not yet acked)."""
    info = await js.consumer_info(stream, durable)
    pending = (info.num_pending or 0) + (info.num_ack_pending or 0)
    record_consumer_lag(durable, pending, service=service)
    return pending


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template (pure ASGI: no per-request task)."""

    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception that escapes the app is answered with a 500 by the server

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            # The router writes the matched route into the same scope dict.
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"]
            HTTP_LATENCY.labels(self.service, method, route).observe(time.perf_counter() - started)
            HTTP_REQUESTS.labels(self.service, method, route, str(status)).inc()


async def refresh(runtime: ServiceRuntime) -> None:
    """Bring the outbox and relay gauges up to date (at scrape time)."""
    service = runtime.name
    relay = runtime.relay or runtime.relay_process
    RELAY_LEADING.labels(service).set(1 if relay is not None and relay.leading else 0)
    RELAY_PUBLISHED.labels(service).set(relay.published_total if relay is not None else 0)
    for runner in runtime.runners:
        with contextlib.suppress(Exception):  # NATS away: the last sample stays
            record_consumer_lag(runner.consumer.name, await asyncio.wait_for(runner.lag(), _STATUS_TIMEOUT))
    statements, rows = coalesce.totals(runtime.pool)
    COALESCED_STATEMENTS.labels(service).set(statements)
    COALESCED_ROWS.labels(service).set(rows)
    try:
        status = await asyncio.wait_for(outbox_status(runtime.pool), _STATUS_TIMEOUT)
    except Exception:  # noqa: BLE001 - the database is away: report that, keep serving the rest
        METRICS_DATABASE_ERRORS.labels(service).inc()
        return
    OUTBOX_BACKLOG.labels(service).set(status.backlog)
    OUTBOX_OLDEST_AGE.labels(service).set(status.oldest_unpublished_age)
    OUTBOX_PARKED.labels(service).set(status.parked)


def install_metrics(app: FastAPI, runtime: ServiceRuntime) -> None:
    """Add the request metrics middleware and ``GET /metrics`` to a service's app (once; a second call
    does nothing)."""
    global _service_name
    if getattr(app.state, "metrics_installed", False):
        return
    app.state.metrics_installed = True
    _service_name = runtime.name
    app.add_middleware(MetricsMiddleware, service=runtime.name)

    async def metrics(_: Request) -> Response:
        with contextlib.suppress(RuntimeError):  # not started (no pool): HTTP metrics only
            await refresh(runtime)
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    app.add_route("/metrics", metrics, methods=["GET"], include_in_schema=False)


def exposition(service: str | None = None) -> dict[str, Any]:
    """The current samples as ``{name{labels}: value}`` (tests, debugging); only ``service`` when given."""
    found: dict[str, Any] = {}
    for family in REGISTRY.collect():
        for sample in family.samples:
            if service is not None and sample.labels.get("service") != service:
                continue
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}"] = sample.value
    return found
