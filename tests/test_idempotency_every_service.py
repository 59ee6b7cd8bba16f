"""Idempotency-Key on the POSTs of every service, not only intake's, on real NATS and PostgreSQL: concurrent
retries run once, the key is recorded in the same transaction as the change (never "after commit"), and a
replay returns the ORIGINAL response even after the resource changed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sprakvan_events.service import SERVICE as EVENTS
from sprakvan_matching.service import SERVICE as MATCHING
from sprakvan_reporting.service import SERVICE as REPORTING

from .factories import MATCHING_PROGRAMME, PARTNERSHIP
from .kit import ServiceStarter, mint_token

ADMIN = {"Authorization": f"Bearer {mint_token(role='admin')}"}
# service, path, body, the table the POST adds a row to, what the database needs first
CASES = [
    pytest.param(EVENTS, "/partners", {"name": "Ryds bibliotek", "kind": "library"}, "partners", None, id="events"),
    pytest.param(EVENTS, "/venues", {"name": "Ryds bibliotek", "district": "ryd"}, "venues", None, id="events-venue"),
    pytest.param(REPORTING, "/partnerships", PARTNERSHIP, "partnerships", None, id="reporting"),
    pytest.param(MATCHING, "/programmes/sprakvan/rounds", {"locks": []}, "rounds", MATCHING_PROGRAMME, id="matching"),
    # A render job: the key is claimed in the transaction that stores the job, so retries queue one render.
    pytest.param(REPORTING, "/reviews/pdf?from=2026-01-01&to=2026-06-30", None, "pdf_renders", None, id="pdf"),
]


@pytest.mark.parametrize(("service", "path", "body", "table", "setup"), CASES)
async def test_concurrent_retries_run_once_and_the_key_commits_with_the_change(
    service: Any,
    path: str,
    body: dict,
    table: str,
    setup: str | None,
    start_service: ServiceStarter,
    capfd: pytest.CaptureFixture[str],
) -> None:
    async with start_service(service, wait_for_messaging=False) as svc:
        if setup:
            await svc.pool.execute(setup)
        capfd.readouterr()
        key = {**ADMIN, "Idempotency-Key": f"{service.name}-1"}
        responses = await asyncio.gather(*(svc.client.post(path, json=body, headers=key) for _ in range(4)))
        statuses = {r.status_code for r in responses}
        assert len(statuses) == 1 and statuses < {200, 201, 202}, [r.text for r in responses]
        assert len({r.content for r in responses}) == 1
        assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 3
        assert await svc.pool.fetchval(f"SELECT count(*) FROM {table}") == 1  # noqa: S608 - a constant
        assert await svc.pool.fetchval("SELECT count(*) FROM idempotent_requests WHERE status_code IS NOT NULL") == 1
        # Without a key, the same POST is a new request.
        assert (await svc.client.post(path, json=body, headers=ADMIN)).status_code in (200, 201, 202)
        assert await svc.pool.fetchval(f"SELECT count(*) FROM {table}") == 2  # noqa: S608
        logged = capfd.readouterr().err
    assert "idempotency_key_recorded_after_commit" not in logged


async def test_a_replay_returns_the_original_response_after_a_change(start_service: ServiceStarter) -> None:
    async with start_service(REPORTING, wait_for_messaging=False) as svc:
        key = {**ADMIN, "Idempotency-Key": "partnership-1"}
        first = await svc.client.post("/partnerships", json=PARTNERSHIP, headers=key)
        assert first.status_code == 201, first.text
        created = first.json()
        changed = await svc.client.put(
            f"/partnerships/{created['id']}",
            json={**PARTNERSHIP, "title": "Nytt namn"},
            headers={**ADMIN, "If-Match": first.headers.get("etag", '"1"')},
        )
        assert changed.status_code == 200 and changed.json()["title"] == "Nytt namn"
        again = await svc.client.post("/partnerships", json=PARTNERSHIP, headers=key)
        assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
        assert again.json() == created


async def test_a_request_rolled_back_leaves_no_key_and_its_retry_runs(start_service: ServiceStarter) -> None:
    # The claim is part of the handler's transaction: a write that fails rolls the key back with it.
    async with start_service(EVENTS, wait_for_messaging=False) as svc:
        await svc.pool.execute("ALTER TABLE partners ADD CONSTRAINT no_ryd CHECK (name <> 'Ryd')")
        key = {**ADMIN, "Idempotency-Key": "partner-ryd"}
        refused = await svc.client.post("/partners", json={"name": "Ryd", "kind": "library"}, headers=key)
        assert refused.status_code == 500
        assert await svc.pool.fetchval("SELECT count(*) FROM idempotent_requests") == 0
        await svc.pool.execute("ALTER TABLE partners DROP CONSTRAINT no_ryd")
        retried = await svc.client.post("/partners", json={"name": "Ryd", "kind": "library"}, headers=key)
        assert retried.status_code == 201 and "idempotent-replayed" not in retried.headers


async def test_a_saved_request_whose_response_was_lost_says_so_instead_of_retry_later(
    start_service: ServiceStarter,
) -> None:
    # The response is stored after the commit; here storing it fails, as when the process dies in between.
    async with start_service(EVENTS, wait_for_messaging=False) as svc:
        await svc.pool.execute(
            """CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE 'lost'; END $$;
               CREATE TRIGGER lose_responses BEFORE UPDATE ON idempotent_requests
                   FOR EACH ROW EXECUTE FUNCTION refuse();"""
        )
        key = {**ADMIN, "Idempotency-Key": "partner-lost"}
        body = {"name": "Ryds bibliotek", "kind": "library"}
        created = await svc.client.post("/partners", json=body, headers=key)
        assert created.status_code == 201
        await svc.pool.execute("DROP TRIGGER lose_responses ON idempotent_requests")
        assert await svc.pool.fetchval("SELECT status_code FROM idempotent_requests") is None
        await svc.pool.execute("UPDATE idempotent_requests SET expires_at = expires_at - interval '2 minutes'")

        retried = await svc.client.post("/partners", json=body, headers=key)
        assert retried.status_code == 409 and "retry-after" not in retried.headers
        assert retried.json()["code"] == "response_lost"
        assert await svc.pool.fetchval("SELECT count(*) FROM partners") == 1  # saved once, not run again


async def test_a_feed_url_is_shown_once_and_never_kept_for_a_replay(start_service: ServiceStarter) -> None:
    # Only the token's hash is stored; the idempotency record must not keep the URL either.
    async with start_service(EVENTS, wait_for_messaging=False) as svc:
        key = {**ADMIN, "Idempotency-Key": "feed-1"}
        body = {"scope": "organisation", "name": "Alla aktiviteter"}
        made = await svc.client.post("/feeds", json=body, headers=key)
        assert made.status_code == 201, made.text
        token = made.json()["url"].removeprefix("/feeds/").removesuffix(".ics")
        stored = await svc.pool.fetchrow("SELECT status_code, response_body, resource_id FROM idempotent_requests")
        assert (stored["status_code"], stored["response_body"]) == (201, None)
        assert stored["resource_id"] == made.json()["id"]
        dumped = await svc.pool.fetchval("SELECT string_agg(t::text, '') FROM idempotent_requests t")
        assert token not in dumped

        again = await svc.client.post("/feeds", json=body, headers=key)
        assert again.status_code == 409 and again.json()["code"] == "response_shown_once", again.text
        assert again.json()["resource_id"] == made.json()["id"] and token not in again.text
        assert await svc.pool.fetchval("SELECT count(*) FROM feeds") == 1  # made once
        assert (await svc.client.get(made.json()["url"])).status_code == 200  # and the URL works
