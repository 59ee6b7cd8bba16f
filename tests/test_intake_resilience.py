"""Nothing accepted is lost when NATS or PostgreSQL goes away. These tests stop their own embedded
servers, never the shared ones."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import httpx
import nats
import pytest

from sprakvan_shared.contracts.subjects import HEADER_MSG_ID, INTAKE_STREAM, Namespace

from .conftest import eventually, fresh_database
from .factories import newcomer
from .streams import PARTICIPANT_AGGREGATES, stream_messages

pytestmark = pytest.mark.chaos


async def register(client: httpx.AsyncClient, index: int) -> str:
    response = await client.post("/participants", json=newcomer(first_name=f"Person{index}"))
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def test_registrations_succeed_while_nats_is_down_and_are_all_published_when_it_returns(
    start_intake,
    database_url: str,
    embedded_nats,  # noqa: ANN001
    ns: Namespace,
) -> None:
    async with start_intake(database_url, embedded_nats.url, relay_publish_timeout=1.0) as (_, client):
        before = [await register(client, i) for i in range(3)]

        embedded_nats.stop()
        during = await asyncio.gather(*(register(client, i) for i in range(3, 23)))
        ready = await client.get("/ready")  # still ready: it accepts writes into its outbox
        assert ready.status_code == 200
        assert ready.json()["checks"]["nats"] is False and ready.json()["checks"]["outbox_backlog"] >= 20

        embedded_nats.start()  # same port, same data
        nc = await nats.connect(embedded_nats.url)
        try:
            js = nc.jetstream()

            async def all_published() -> list | None:
                messages = await stream_messages(js, ns.stream(INTAKE_STREAM), aggregates=PARTICIPANT_AGGREGATES)
                return messages if len(messages) >= 23 else None

            messages = await eventually(all_published, timeout=40)
            await asyncio.sleep(1.5)  # any late duplicate would land by now
            messages = await stream_messages(js, ns.stream(INTAKE_STREAM), aggregates=PARTICIPANT_AGGREGATES)
        finally:
            await nc.close()
        assert (await client.get("/ready")).status_code == 200

    participant_ids = sorted(m.json["payload"]["participant_id"] for m in messages)
    assert participant_ids == sorted(before + during)  # every one, exactly once
    assert len({m.headers[HEADER_MSG_ID] for m in messages}) == 23
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
    finally:
        await conn.close()


async def test_postgres_restart_loses_no_accepted_registration(start_intake, tmp_path: Path, nats_url: str) -> None:  # noqa: ANN001
    from sprakvan_cli.embedded import EmbeddedPostgres

    with EmbeddedPostgres(tmp_path / "own-postgres") as postgres:
        async with fresh_database(postgres.url) as database_url:
            async with start_intake(database_url, nats_url) as (_, client):
                accepted = [await register(client, i) for i in range(5)]
                postgres.kill()  # a crash, not a clean shutdown
                refused = await client.post("/participants", json=newcomer())
                assert refused.status_code == 503  # refused, so never accepted
                assert refused.headers["retry-after"]
                unready = await client.get("/ready")  # readiness is the database's: out of service now
                assert unready.status_code == 503 and unready.json()["checks"]["database"] is False
                postgres.start()

                async def recovered() -> bool:
                    return (await client.post("/participants", json=newcomer())).status_code == 201

                await eventually(recovered, timeout=30, interval=0.2)
                assert (await client.get("/ready")).status_code == 200
                listed = (await client.get("/participants", params={"limit": 200})).json()["items"]
                assert set(accepted) <= {p["id"] for p in listed}


async def test_postgres_killed_under_concurrent_registrations_loses_and_doubles_none(
    start_intake,  # noqa: ANN001
    tmp_path: Path,
    nats_url: str,
    ns: Namespace,
) -> None:
    """Concurrent registrations share statements (``sprakvan_shared.coalesce``): a crash in the middle of
    one must still leave every 201 stored, and every stored one published exactly once."""
    from sprakvan_cli.embedded import EmbeddedPostgres

    accepted: list[str] = []
    answers: list[int] = []
    stop = asyncio.Event()

    def at_least(count: int):  # noqa: ANN202
        async def reached() -> bool:
            return len(accepted) >= count

        return reached

    async def keep_registering(client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            response = await client.post("/participants", json=newcomer())
            answers.append(response.status_code)
            if response.status_code == 201:
                accepted.append(response.json()["id"])
            else:
                await asyncio.sleep(0.05)

    with EmbeddedPostgres(tmp_path / "own-postgres") as postgres:
        async with fresh_database(postgres.url) as database_url:
            async with start_intake(database_url, nats_url) as (_, client):
                clients = [asyncio.ensure_future(keep_registering(client)) for _ in range(16)]
                try:
                    await eventually(at_least(100), timeout=30)
                    postgres.kill()  # a crash, mid-statement for some of them

                    async def outage_seen() -> bool:
                        return 503 in answers

                    await eventually(outage_seen, timeout=30)  # the clients meet the outage
                    before_restart = len(accepted)
                    await asyncio.to_thread(postgres.start)  # recovery, while the clients keep trying
                    await eventually(at_least(before_restart + 100), timeout=60, interval=0.2)
                finally:
                    stop.set()
                    await asyncio.gather(*clients)
                conn = await asyncpg.connect(database_url)
                try:
                    stored = {str(row["id"]) for row in await conn.fetch("SELECT id FROM participants")}

                    async def published() -> bool:
                        return await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0

                    await eventually(published, timeout=30)
                finally:
                    await conn.close()
    assert set(accepted) <= stored, f"{len(set(accepted) - stored)} accepted registrations were lost"
    assert set(answers) <= {201, 503}, sorted(set(answers))
    assert 503 in answers  # the crash was seen
    nc = await nats.connect(nats_url)
    try:
        messages = await stream_messages(nc.jetstream(), ns.stream(INTAKE_STREAM), aggregates=PARTICIPANT_AGGREGATES)
    finally:
        await nc.close()
    published_ids = [m.json["payload"]["participant_id"] for m in messages]
    assert sorted(published_ids) == sorted(stored)  # each stored one, once
