"""Honest 503s for every service, not only intake's, on real NATS and PostgreSQL (issue 6): a write whose
connection is cut before its COMMIT was sent answers 503 ``not_saved`` (PostgreSQL rolls back what never
committed), and its retry with the same Idempotency-Key runs anew; one cut while its COMMIT is in flight
answers ``outcome_unknown`` (it may or may not have committed: retry with the same key); an auto-committed
write cut while it runs is ``outcome_unknown``, a read is ``not_saved``. The classification is ``db.py``'s,
whichever way a service opens its transaction (``db.transaction`` or ``conn.transaction()``)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from sprakvan_events.service import SERVICE as EVENTS
from sprakvan_matching.service import SERVICE as MATCHING
from sprakvan_reporting.service import SERVICE as REPORTING
from sprakvan_shared import db as shared_db

from .factories import MATCHING_PROGRAMME, PARTNERSHIP
from .kit import ServiceStarter, mint_token, terminate_backend_running

ADMIN = {"Authorization": f"Bearer {mint_token(role='admin')}"}
# service, path, body, the table the POST adds a row to, what the database needs first
CASES = [
    pytest.param(EVENTS, "/partners", {"name": "Ryds bibliotek", "kind": "library"}, "partners", None, id="events"),
    pytest.param(REPORTING, "/partnerships", PARTNERSHIP, "partnerships", None, id="reporting"),
    pytest.param(MATCHING, "/programmes/sprakvan/rounds", {"locks": []}, "rounds", MATCHING_PROGRAMME, id="matching"),
]


async def _slow(db: asyncpg.Connection, table: str, *, at_commit: bool) -> None:
    """Inserts into ``table`` take a second: while the INSERT runs, or (``at_commit``) while COMMIT runs
    (a deferred constraint trigger fires inside COMMIT)."""
    await db.execute(
        "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(1); RETURN NEW; END $$"
    )
    if at_commit:
        await db.execute(
            f"CREATE CONSTRAINT TRIGGER slow AFTER INSERT ON {table} DEFERRABLE INITIALLY DEFERRED"
            " FOR EACH ROW EXECUTE FUNCTION slow()"
        )
    else:
        await db.execute(f"CREATE TRIGGER slow BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION slow()")


async def _unslow(db: asyncpg.Connection, table: str) -> None:
    await db.execute(f"DROP TRIGGER slow ON {table}; DROP FUNCTION slow()")


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("service", "path", "body", "table", "setup"), CASES)
async def test_a_write_cut_before_commit_is_not_saved_and_one_cut_during_commit_is_outcome_unknown(
    service: Any,
    path: str,
    body: dict,
    table: str,
    setup: str | None,
    start_service: ServiceStarter,
    capfd: pytest.CaptureFixture[str],
) -> None:
    async with start_service(service, wait_for_messaging=False) as svc:
        db = await asyncpg.connect(svc.settings.database_url)
        try:
            if setup:
                await db.execute(setup)
            capfd.readouterr()

            # Cut while the INSERT runs, inside the transaction: PostgreSQL rolls it back, key and all.
            await _slow(db, table, at_commit=False)
            key = {**ADMIN, "Idempotency-Key": f"{service.name}-cut"}
            request = asyncio.create_task(svc.client.post(path, json=body, headers=key))
            await terminate_backend_running(db, f"INSERT INTO {table}")
            lost = await request
            assert lost.status_code == 503 and lost.json()["code"] == "not_saved", lost.text
            assert lost.headers["retry-after"]
            assert await db.fetchval(f"SELECT count(*) FROM {table}") == 0  # noqa: S608 - a constant
            assert await db.fetchval("SELECT count(*) FROM idempotent_requests") == 0
            await _unslow(db, table)
            retried = await svc.client.post(path, json=body, headers=key)
            assert retried.status_code in (200, 201) and "idempotent-replayed" not in retried.headers, retried.text
            assert await db.fetchval(f"SELECT count(*) FROM {table}") == 1  # noqa: S608

            # Cut while COMMIT runs: whether it committed, the service cannot know.
            await _slow(db, table, at_commit=True)
            request = asyncio.create_task(
                svc.client.post(path, json=body, headers={**ADMIN, "Idempotency-Key": f"{service.name}-commit"})
            )
            await terminate_backend_running(db, "COMMIT")
            unknown = await request
            assert unknown.status_code == 503 and unknown.json()["code"] == "outcome_unknown", unknown.text
            assert "Idempotency-Key" in unknown.json()["detail"] and unknown.headers["retry-after"]
            await _unslow(db, table)
        finally:
            await db.close()
        logged = capfd.readouterr().err
    assert "unhandled_error" not in logged  # an outage, not a bug


async def test_outside_a_transaction_a_write_cut_while_it_runs_is_outcome_unknown_and_a_read_not_saved(
    database_url: str,
) -> None:
    """The pool's connections note, per request, whether anything may have reached the database outside a
    transaction; the answer to an outage follows it (``db.request_outcome``)."""
    pool = await shared_db.create_pool(database_url, min_size=1, max_size=2)
    db = await asyncpg.connect(database_url)
    try:
        await db.execute("CREATE TABLE notes (id int)")
        # Nothing sent yet: nothing saved.
        with shared_db.tracking_writes():
            assert shared_db.request_outcome() is shared_db.NotSaved
            assert await pool.fetchval("SELECT count(*) FROM notes") == 0  # a read leaves it so
            assert shared_db.request_outcome() is shared_db.NotSaved
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("INSERT INTO notes VALUES (0)")
                assert shared_db.request_outcome() is shared_db.NotSaved  # not committed yet
            assert shared_db.request_outcome() is shared_db.OutcomeUnknown  # committed: a later failure is partial
        # A read cut while it runs: certainly nothing saved.
        with shared_db.tracking_writes():
            reading = asyncio.create_task(pool.fetchval("SELECT pg_sleep(1)"))
            await terminate_backend_running(db, "pg_sleep")
            with pytest.raises((asyncpg.PostgresError, OSError, asyncpg.InterfaceError)):
                await reading
            assert shared_db.request_outcome() is shared_db.NotSaved
        # A write cut while it runs: it may have committed.
        with shared_db.tracking_writes():
            writing = asyncio.create_task(pool.execute("INSERT INTO notes SELECT 1 FROM pg_sleep(1)"))
            await terminate_backend_running(db, "INSERT INTO notes")
            with pytest.raises((asyncpg.PostgresError, OSError, asyncpg.InterfaceError)):
                await writing
            assert shared_db.request_outcome() is shared_db.OutcomeUnknown
        # A write PostgreSQL refused: nothing saved.
        with shared_db.tracking_writes():
            with pytest.raises(asyncpg.UndefinedColumnError):
                await pool.execute("INSERT INTO notes (nope) VALUES (1)")
            assert shared_db.request_outcome() is shared_db.NotSaved
    finally:
        await db.close()
        await pool.close()
