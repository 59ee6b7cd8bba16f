"""``GET /metrics`` on a running intake, on real NATS and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sprakvan_intake.service import SERVICE as INTAKE
from sprakvan_shared import metrics
from sprakvan_shared.contracts.subjects import INTAKE_STREAM, Namespace

from . import factories
from .conftest import PUBLIC_KEY, eventually
from .factories import newcomer


@contextlib.asynccontextmanager
async def intake_with_metrics(
    database_url: str, nats_url: str, ns: Namespace, token: str
) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    settings = INTAKE.settings(
        DATABASE_URL=database_url,
        NATS_URL=nats_url,
        NATS_NAMESPACE=ns.root,
        JWT_PUBLIC_KEY=PUBLIC_KEY,
        relay_poll_interval=0.1,
    )
    app = INTAKE.create_app(settings)
    metrics.install_metrics(app, app.state.runtime)  # idempotent: harmless once the kit installs it too
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake",
                                     headers={"Authorization": f"Bearer {token}"}) as client:  # fmt: skip
            yield app, client


async def scrape(client: httpx.AsyncClient, service: str = "intake") -> dict[str, float]:
    """``GET /metrics`` parsed: ``{name{label=value,...}: value}`` of ``service``'s series, without that label."""
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.labels.get("service") in (None, service):
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()) if k != "service")
                found[f"{sample.name}{{{labels}}}"] = sample.value
    return found


@pytest.fixture
async def served(
    database_url: str, nats_url: str, ns: Namespace, mint: Callable[..., str]
) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    async with intake_with_metrics(database_url, nats_url, ns, mint()) as running:
        await factories.configure(running[1], [mint(role="admin")])  # the codes the bodies use
        yield running


async def test_requests_are_counted_and_timed_by_route_template(served: tuple[Any, httpx.AsyncClient]) -> None:
    _, client = served
    before = await scrape(client)
    created = await client.post("/participants", json=newcomer())
    assert created.status_code == 201, created.text
    participant_id = created.json()["id"]
    assert (await client.get(f"/participants/{participant_id}")).status_code == 200
    assert (await client.post("/participants", json={"role": "nobody"})).status_code == 422
    after = await scrape(client)

    def delta(key: str) -> float:
        return after.get(key, 0) - before.get(key, 0)

    assert delta("sprakvan_http_requests_total{method=POST,route=/participants,status=201}") == 1
    assert delta("sprakvan_http_requests_total{method=POST,route=/participants,status=422}") == 1
    assert delta("sprakvan_http_requests_total{method=GET,route=/participants/{participant_id},status=200}") == 1
    assert delta("sprakvan_http_request_duration_seconds_count{method=POST,route=/participants}") == 2
    assert not any(participant_id in key for key in after)  # ids never become labels


async def test_concurrent_registrations_show_how_many_shared_a_statement(
    served: tuple[Any, httpx.AsyncClient],
) -> None:
    _, client = served
    before = await scrape(client)
    created = await asyncio.gather(*(client.post("/participants", json=newcomer()) for _ in range(10)))
    assert {response.status_code for response in created} == {201}
    after = await scrape(client)
    rows = after["sprakvan_db_coalesced_rows{}"] - before.get("sprakvan_db_coalesced_rows{}", 0)
    statements = after["sprakvan_db_coalesced_statements{}"] - before.get("sprakvan_db_coalesced_statements{}", 0)
    assert rows == 10
    assert 1 <= statements < rows


async def test_outbox_relay_and_consumer_metrics(served: tuple[Any, httpx.AsyncClient], nc, ns: Namespace) -> None:  # noqa: ANN001
    app, client = served
    for _ in range(3):
        assert (await client.post("/participants", json=newcomer())).status_code == 201

    async def drained() -> dict[str, float] | None:
        found = await scrape(client)
        return (
            found
            if found["sprakvan_outbox_backlog{}"] == 0 and found["sprakvan_relay_published_events{}"] >= 3
            else None
        )

    found = await eventually(drained)
    assert found["sprakvan_relay_leading{}"] == 1
    assert found["sprakvan_outbox_oldest_unpublished_age_seconds{}"] == 0
    assert found["sprakvan_outbox_parked{}"] == 0

    # A parked row and a backlog show up (the relay takes no row marked parked).
    rows = await app.state.runtime.pool.fetchval("SELECT count(*) FROM outbox")  # and the configuration event
    await app.state.runtime.pool.execute("UPDATE outbox SET published_at = NULL, parked_at = now()")
    found = await scrape(client)
    assert found["sprakvan_outbox_parked{}"] == rows

    # Consumer lag, sampled from JetStream, and dead letters, recorded by the consumer code.
    js = nc.jetstream()
    stream = ns.stream(INTAKE_STREAM)
    await js.add_consumer(stream, durable_name="metrics-probe")
    assert await metrics.sample_consumer_lag(js, stream, "metrics-probe") == rows
    metrics.record_dead_letter("metrics-probe")
    found = await scrape(client)
    assert found["sprakvan_consumer_pending_messages{consumer=metrics-probe}"] == rows
    assert found["sprakvan_dead_letters_total{consumer=metrics-probe}"] >= 1
