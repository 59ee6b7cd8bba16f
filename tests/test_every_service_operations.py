"""Issue 7 for every service the kit runs (intake, matching, events, reporting, web), not just intake:
each starts while NATS is not there, serves HTTP and is ready on its database alone (NATS, the outbox
backlog and consumer lag are details), serves ``/metrics``, prunes expired Idempotency-Key records on its
schedule, and connects once NATS appears."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from sprakvan_cli.embedded import EmbeddedNats
from sprakvan_cli.main import load_services
from sprakvan_shared import runtime as runtime_module
from sprakvan_shared.auth import generate_private_key_pem
from sprakvan_shared.contracts.subjects import INTAKE_STREAM, Namespace

from . import factories
from .kit import ORG_A, ServiceStarter, eventually, mint_token
from .streams import PARTICIPANT_AGGREGATES, stream_messages
from .test_metrics import scrape

SERVICES = {service.name: service for service in load_services()}


def _extra_settings(name: str) -> dict[str, Any]:
    return {"signing_key": generate_private_key_pem()} if name == "web" else {}  # the web front issues tokens


def test_every_service_of_the_project_is_covered() -> None:
    assert {"intake", "matching", "events", "reporting", "web"} <= set(SERVICES)


@pytest.mark.parametrize("name", sorted(SERVICES))
async def test_starts_ready_and_measured_without_nats_then_connects_when_nats_comes(
    name: str, start_service: ServiceStarter, tmp_path: Path, ns: Namespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = SERVICES[name]
    monkeypatch.setattr(runtime_module, "IDEMPOTENCY_PRUNE_INTERVAL", 0.2)  # hourly in production
    late = EmbeddedNats(tmp_path / "late-nats")  # its port is chosen, nothing listens there yet
    try:
        async with start_service(service, nats_url=late.url, wait_for_messaging=False, **_extra_settings(name)) as svc:
            assert (await svc.client.get("/health")).json()["status"] == "ok"
            ready = await svc.client.get("/ready")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"]["database"] is True and ready.json()["checks"]["nats"] is False
            accepted = []
            if name == "intake":  # writes are accepted into the outbox while NATS is away
                await factories.configure(svc.client, [mint_token(ORG_A, "admin")])
                created = await svc.client.post("/participants", json=factories.newcomer())
                assert created.status_code == 201, created.text
                accepted.append(created.json()["id"])

            backlog = 2 if accepted else 0  # configured, registered

            async def measured() -> dict[str, float] | None:
                # A scrape whose outbox query times out (a loaded machine) keeps the gauge's last sample,
                # which in a test process may be another test's: scrape until the outbox is read.
                found = await scrape(svc.client, name)
                return found if not service.publishes or found["sprakvan_outbox_backlog{}"] == backlog else None

            found = await eventually(measured)
            assert found["sprakvan_http_requests_total{method=GET,route=/ready,status=200}"] >= 1
            assert found["sprakvan_http_request_duration_seconds_count{method=GET,route=/ready}"] >= 1
            if service.publishes:
                assert found["sprakvan_relay_leading{}"] == 0  # no NATS, no relay yet
                assert found["sprakvan_outbox_backlog{}"] == backlog
                assert found["sprakvan_outbox_parked{}"] == 0
                if accepted:
                    assert found["sprakvan_outbox_oldest_unpublished_age_seconds{}"] > 0
            assert not svc.runtime.messaging_ready.is_set()

            # Expired Idempotency-Key records go on the runtime's schedule, live ones stay.
            await svc.pool.execute(
                """INSERT INTO idempotent_requests (organisation_id, key, expires_at)
                   VALUES ($1, 'expired', now() - interval '1 second'), ($1, 'live', now() + interval '1 hour')""",
                ORG_A,
            )
            keys = "SELECT array_agg(key ORDER BY key) FROM idempotent_requests WHERE key IN ('expired', 'live')"
            await eventually(lambda: _equal(svc.pool.fetchval(keys), ["live"]))

            late.start()
            await asyncio.wait_for(svc.runtime.messaging_ready.wait(), timeout=30)
            ready = (await svc.client.get("/ready")).json()["checks"]
            assert ready["nats"] is True
            consumers = [consumer.name for consumer in service.consumers]
            assert sorted(ready.get("consumer_lag", {})) == sorted(consumers)

            async def settled() -> dict[str, float] | None:
                found = await scrape(svc.client, name)
                # The count rises when the relay's COMMIT has answered: a scrape may run between the commit
                # (the backlog already empty) and that answer, so the count is waited for too.
                done = not service.publishes or (
                    found["sprakvan_relay_leading{}"] == 1
                    and found["sprakvan_outbox_backlog{}"] == 0
                    and found["sprakvan_relay_published_events{}"] >= backlog  # what waited before NATS came
                )
                return found if done else None

            found = await eventually(settled, timeout=20)
            for consumer in consumers:
                assert found[f"sprakvan_consumer_pending_messages{{consumer={consumer}}}"] >= 0
            if accepted:
                assert found["sprakvan_relay_published_events{}"] == 2
                js = svc.runtime.nats.jetstream()  # type: ignore[union-attr]
                messages = await stream_messages(js, ns.stream(INTAKE_STREAM), aggregates=PARTICIPANT_AGGREGATES)
                assert [m.json["payload"]["participant_id"] for m in messages] == accepted
    finally:
        late.stop()


async def _equal(value: Any, expected: Any) -> bool:
    return await value == expected
