#!/usr/bin/env python
"""Workspace pages: server time per page (p50, p95) for a logged-in coordinator, with the demo programme
(``sprakvan up --demo``'s: 288 participants, Linköping's vocabularies) and with 10,000 participants (the
participants list paged, filtered and searched by name), each list page beside intake's own
``GET /participants`` for the same page, as a ratio in the same run. A benchmark, not a test: it reports,
it never fails on a number (the target is p95 under 200 ms).

Intake runs in-process behind a real HTTP server (the web front calls it as it would in production);
the web front is driven in-process over ASGI, one request at a time, so a request's time is its server
time plus intake's. PostgreSQL and NATS from ``DATABASE_URL`` / ``NATS_URL``, else embedded ones.

    .venv/bin/python bench/web_pages.py [--requests 200] [--participants 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvicorn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sprakvan_cli.demo import load_demo, split_size  # noqa: E402
from sprakvan_cli.embedded import servers_from_env_or_embedded  # noqa: E402
from sprakvan_events.service import SERVICE as EVENTS  # noqa: E402
from sprakvan_intake.service import SERVICE as INTAKE  # noqa: E402
from sprakvan_matching.service import SERVICE as MATCHING  # noqa: E402
from sprakvan_reporting.service import SERVICE as REPORTING  # noqa: E402
from sprakvan_shared.auth import Role  # noqa: E402
from sprakvan_web.service import SERVICE as WEB  # noqa: E402
from sprakvan_web.service_layer.accounts import create_local_user  # noqa: E402
from tests.kit import PRIVATE_KEY, PUBLIC_KEY, fresh_database, mint_token  # noqa: E402

DEMO, BIG = "demo", "big"


@contextlib.asynccontextmanager
async def started(service: Any, database_url: str, nats_url: str, **settings: Any) -> AsyncIterator[Any]:
    app = service.create_app(
        service.settings(DATABASE_URL=database_url, NATS_URL=nats_url, NATS_NAMESPACE="benchweb",
                         JWT_PUBLIC_KEY=PUBLIC_KEY, LOG_LEVEL="WARNING", **settings)
    )  # fmt: skip
    async with app.router.lifespan_context(app):
        yield app


@contextlib.asynccontextmanager
async def served(app: Any) -> AsyncIterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    # Inherited by every accepted connection: uvicorn sets no TCP_NODELAY on sockets it is handed, and a
    # response written in two parts then waits ~40 ms for the client's delayed ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_config=None, access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task


async def timed(call: Callable[[], Awaitable[httpx.Response]], requests: int) -> tuple[float, float]:
    """(p50, p95) in ms of ``requests`` calls one after the other, after a warm-up."""
    for _ in range(10):
        assert (await call()).status_code == 200
    times = []
    for _ in range(requests):
        begun = time.perf_counter()
        response = await call()
        times.append((time.perf_counter() - begun) * 1000)
        assert response.status_code == 200, response.status_code
    times.sort()
    return times[len(times) // 2], times[int(len(times) * 0.95) - 1]


async def logged_in(web_app: Any, organisation: str) -> httpx.AsyncClient:
    await create_local_user(web_app.state.runtime.pool, organisation_id=organisation, username=f"c-{organisation}",
                            password="benchmark password", role=Role.COORDINATOR)  # fmt: skip
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=web_app), base_url="http://web", timeout=30)
    page = await client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    login = {"csrf_token": csrf, "username": f"c-{organisation}", "password": "benchmark password"}
    assert (await client.post("/login", data=login)).status_code == 303
    return client


async def main(requests: int, participants: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, servers_from_env_or_embedded(Path(tmp)) as (nats, postgres, source):
        async with contextlib.AsyncExitStack() as stack:
            urls, databases = {}, {}
            # Every service the workspace calls, behind a real HTTP server each, as in production.
            for name, spec in (
                ("intake", INTAKE),
                ("matching", MATCHING),
                ("events", EVENTS),
                ("reporting", REPORTING),
            ):
                databases[name] = await stack.enter_async_context(fresh_database(postgres))
                app = await stack.enter_async_context(started(spec, databases[name], nats))
                urls[f"{name}_url"] = await stack.enter_async_context(served(app))
            web_db = await stack.enter_async_context(fresh_database(postgres))
            web_app = await stack.enter_async_context(started(WEB, web_db, nats, signing_key=PRIVATE_KEY, **urls))
            web_app.state.intake_db = databases["intake"]
            await run(web_app, urls["intake_url"], requests, participants, source)


async def grow(intake_db: str, organisation: str, participants: int) -> int:
    """Copies of the organisation's participants (registered through the API) up to ``participants``: each
    with its own id, a last name of its own and an earlier registration time, straight into intake's table
    (registering 10,000 through the API takes a quarter of an hour on a shared machine)."""
    conn = await asyncpg.connect(intake_db)
    try:
        await conn.execute(
            """WITH originals AS (SELECT *, row_number() OVER (ORDER BY id) - 1 AS n, count(*) OVER () AS total
                                  FROM participants WHERE organisation_id = $1)
               INSERT INTO participants (id, organisation_id, role, status, first_name, last_name, email, phone,
                   district, details, registered_at, updated_at, version, interviewed_on, withdrawn_at,
                   withdrawal_reason, erased_at, name_search)
               SELECT gen_random_uuid(), organisation_id, role, status, first_name, last_name || '-' || copy,
                   email, phone, district, details, registered_at - copy * interval '37 minutes', updated_at,
                   version, interviewed_on, withdrawn_at, withdrawal_reason, erased_at,
                   lower(first_name || ' ' || last_name || '-' || copy)
               FROM originals, generate_series(1, ($2::int - 1) / originals.total) AS copy
               WHERE copy * originals.total + n < $2""",
            organisation,
            participants,
        )
        await conn.execute("ANALYZE participants")
        return await conn.fetchval("SELECT count(*) FROM participants WHERE organisation_id = $1", organisation)
    finally:
        await conn.close()


# The other parts' main pages, with the demo programme (its 288 participants reach matching and reporting
# through NATS; a weekly language café is scheduled for the activity pages).
OTHER_PARTS = (
    ("matching: proposals", "/workspace/matching"),
    ("matching: pairs", "/workspace/matching/pairs"),
    ("matching: waiting list and chart", "/workspace/matching/waiting"),
    ("activities", "/workspace/activities"),
    ("activities: calendar (month)", "/workspace/activities/calendar?view=month"),
    ("partnership review", "/workspace/review"),
)


def urls_of(web_app: Any) -> dict[str, str]:
    settings = web_app.state.settings
    return {"events_url": settings.events_url}


async def a_language_cafe(web_app: Any, events_url: str) -> None:
    """A weekly café for the next months, through the events service's API (materialised occurrences)."""
    from datetime import date, timedelta

    token = {"Authorization": f"Bearer {mint_token(DEMO, 'coordinator')}"}
    start = date.today()
    body = {
        "title": "Språkcafé",
        "type_code": "language_cafe",
        "district": "skaggetorp",
        "capacity": 20,
        "schedule": {"first_day": start.isoformat(), "until": (start + timedelta(days=120)).isoformat(),
                     "rule": "FREQ=WEEKLY;BYDAY=MO,WE", "starts": "18:00", "ends": "20:00"},
    }  # fmt: skip
    async with httpx.AsyncClient(base_url=events_url, trust_env=False, timeout=30) as events:
        response = await events.post("/series", json=body, headers=token)
        if response.status_code != 201:
            print(f"(no café scheduled: the events service answered {response.status_code}: {response.text[:200]})")


async def run(web_app: Any, intake_url: str, requests: int, participants: int, source: str) -> None:
    begun = time.perf_counter()
    await load_demo(intake_url, mint_token(DEMO, "admin"))
    newcomers, established = split_size(min(participants, 500))
    await load_demo(intake_url, mint_token(BIG, "admin"), newcomers=newcomers, established=established, concurrency=16)
    participants = await grow(web_app.state.intake_db, BIG, participants)
    print(f"seeded the demo programme and {participants} participants in {time.perf_counter() - begun:.0f} s "
          f"({source} PostgreSQL and NATS); {requests} requests per page, one at a time")  # fmt: skip
    intake = httpx.AsyncClient(base_url=intake_url, trust_env=False, timeout=30)
    rows = []
    for organisation in (DEMO, BIG):
        web = await logged_in(web_app, organisation)
        token = {"Authorization": f"Bearer {mint_token(organisation, 'coordinator')}"}
        first = (await intake.get("/participants", params={"limit": 1, "newest_first": "true"}, headers=token)).json()
        someone = first["items"][0]["id"]
        second_page = (await intake.get("/participants", params={"limit": 50, "newest_first": "true"},
                                        headers=token)).json()["next_cursor"]  # fmt: skip
        lists = {
            "participants list": {},
            "list, page 2": {"cursor": second_page},
            "list, newcomers in a district": {"role": "newcomer", "district": first["items"][0]["district"]},
            "list, search by name": {"name": first["items"][0]["first_name"][:3]},
        }
        for name, query in lists.items():
            page = {"lang": "sv", **query}
            ours = await timed(lambda q=page, w=web: w.get("/workspace/participants", params=q), requests)
            params = {"limit": 50, "newest_first": "true", **query}
            bare = await timed(lambda p=params, h=token: intake.get("/participants", params=p, headers=h), requests)
            rows.append((organisation, name, ours, bare))
        if organisation == DEMO:
            for name, path in (("overview", "/workspace"), ("profile", f"/workspace/participants/{someone}"),
                               ("edit form", f"/workspace/participants/{someone}/edit"),
                               ("erase confirmation", f"/workspace/participants/{someone}/erase"),
                               ("settings", "/workspace/settings")):  # fmt: skip
                rows.append((organisation, name, await timed(lambda p=path, w=web: w.get(p), requests), None))
            await a_language_cafe(web_app, urls_of(web_app)["events_url"])
            for name, path in OTHER_PARTS:
                rows.append((organisation, name, await timed(lambda p=path, w=web: w.get(p), requests), None))
        await web.aclose()
    await intake.aclose()
    print(f"{'organisation':<12} {'page':<32} {'web p50':>8} {'web p95':>8} {'intake p95':>11} {'ratio p95':>9}")
    for organisation, name, (p50, p95), bare in rows:
        baseline = f"{bare[1]:>9.1f}ms {p95 / bare[1]:>9.2f}" if bare else f"{'':>11} {'':>9}"
        print(f"{organisation:<12} {name:<32} {p50:>6.1f}ms {p95:>6.1f}ms {baseline}")
    print("target: p95 under 200 ms per page")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--participants", type=int, default=10_000)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.participants))
