"""Issue 6 on real NATS and PostgreSQL: hostile input gets a 4xx naming the field and is never echoed or
logged; idempotency for every POST; If-Match on PATCH; honest 503s and 500s; the OpenAPI document."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid

import asyncpg
import httpx
import pytest

from sprakvan_shared import db as shared_db
from sprakvan_shared import text

from .conftest import ORG_B
from .factories import established, newcomer
from .kit import terminate_backend_running

MARKER = "Zq9xMarker"  # a name no log line or error may ever carry


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def fields(response: httpx.Response) -> set[tuple]:
    assert response.status_code == 422, response.text
    return {tuple(error["loc"]) for error in response.json()["detail"]}


async def count(db: asyncpg.Connection, table: str) -> int:
    return await db.fetchval(f"SELECT count(*) FROM {table}")


def raw(body: dict) -> dict:
    # json.dumps escapes a lone surrogate as \ud800, as a hostile client would send it.
    return {"content": json.dumps(body), "headers": {"Content-Type": "application/json"}}


def crafted_cursor(registered_at: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([registered_at, str(uuid.uuid4())]).encode()).decode().rstrip("=")


# -- hostile and malformed input --------------------------------------------------------------------
BAD_BODIES = [
    (newcomer(first_name=f"{MARKER}\x00"), ("body", "first_name")),
    (newcomer(last_name=f"{MARKER}\ud800"), ("body", "last_name")),
    (newcomer(district="Ryd\x00"), ("body", "district")),
    (newcomer(interests=["fika", f"{MARKER}\x07"]), ("body", "interests", 1)),
    (newcomer(first_name="\u200b"), ("body", "first_name")),  # only a zero-width space
    (newcomer(first_name="\u202eanimA"), ("body", "first_name")),  # right-to-left override
    (newcomer(first_name="\u2067Amina"), ("body", "first_name")),  # right-to-left isolate
    (newcomer(first_name="\x1b[31m"), ("body", "first_name")),  # a terminal escape
    (newcomer(first_name="1234"), ("body", "first_name")),  # no letter
    (newcomer(last_name="Haddad\nInjected: yes"), ("body", "last_name")),
    (newcomer(campaign="x\x85"), ("body", "campaign")),  # C1 next line
    (newcomer(consent={"data_processing": True, "given_at": 0}), ("body", "consent", "given_at")),
    (newcomer(consent={"data_processing": True, "given_at": "0001-01-01T00:00:00Z"}), ("body", "consent", "given_at")),
    (newcomer(**{f"{MARKER}\x00": 1}), ("body",)),  # a hostile property name is not echoed
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
async def test_hostile_text_is_a_422_naming_the_field_never_echoed_and_writes_nothing(
    intake: httpx.AsyncClient, db: asyncpg.Connection, body: dict, field: tuple
) -> None:
    response = await intake.post("/participants", **raw(body))
    assert field in fields(response)
    assert (
        MARKER not in response.text and "\\u0000" not in response.text and "input" not in response.json()["detail"][0]
    )
    assert await count(db, "participants") == 0


async def test_names_keep_their_letters_joiners_and_normalise(intake: httpx.AsyncClient) -> None:
    persian = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # keeps its zero-width non-joiner
    decomposed = "A\u030asa"  # Åsa with a combining ring: stored composed
    response = await intake.post("/participants", json=newcomer(first_name=f"\u200b {persian} ", last_name=decomposed))
    assert response.status_code == 201, response.text
    assert response.json()["first_name"] == persian
    assert response.json()["last_name"] == "\u00c5sa"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"district": "Ryd\x00"}, ("query", "district")),
        ({"registered_from": "0001-01-01"}, ("query", "registered_from")),
        ({"registered_to": "9999-12-31"}, ("query", "registered_to")),
        ({"registered_to": "0"}, ("query", "registered_to")),
        ({"registered_from": "20261101"}, ("query", "registered_from")),
        ({"cursor": crafted_cursor("0001-01-01T00:00:00+00:00")}, ("query", "cursor")),
        ({"cursor": crafted_cursor("9999-12-31T23:59:59")}, ("query", "cursor")),
        ({"cursor": "\x00"}, ("query", "cursor")),
        ({"limit": "1e9"}, ("query", "limit")),
    ],
)
async def test_hostile_query_parameters_are_a_422_naming_them(
    intake: httpx.AsyncClient, params: dict, field: tuple
) -> None:
    response = await intake.get("/participants", params=params)
    assert field in fields(response)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"held_on": 0}, ("body", "held_on")),
        ({"held_on": "0001-01-01"}, ("body", "held_on")),
        ({"held_on": "2026-11-20T10:00:00"}, ("body", "held_on")),
        ({"held_on": "2026-11-20", "notes": f"{MARKER}\x00"}, ("body", "notes")),
        ({"held_on": "2026-11-20", "notes": f"{MARKER}\ud800"}, ("body", "notes")),
        ({"held_on": "2026-11-20", "coordinator": "\u202e"}, ("body", "coordinator")),
    ],
)
async def test_hostile_interviews_are_a_422_naming_the_field(
    intake: httpx.AsyncClient, db: asyncpg.Connection, body: dict, field: tuple
) -> None:
    pid = (await intake.post("/participants", json=newcomer())).json()["id"]
    response = await intake.post(f"/participants/{pid}/interviews", **raw(body))
    assert field in fields(response)
    assert MARKER not in response.text
    assert await count(db, "interviews") == 0


async def test_multi_line_notes_are_kept(intake: httpx.AsyncClient) -> None:
    pid = (await intake.post("/participants", json=newcomer())).json()["id"]
    notes = "Tycker om att laga mat.\nVill fika på lördagar.\tGärna i Ryd."
    response = await intake.post(f"/participants/{pid}/interviews", json={"held_on": "2026-11-20", "notes": notes})
    assert response.status_code == 201 and response.json()["notes"] == notes


async def test_a_10_mb_body_is_a_413_without_an_echo(intake: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    huge = newcomer(first_name="A" * 10_000_000)
    response = await intake.post("/participants", json=huge)
    assert response.status_code == 413 and len(response.content) < 200

    async def chunks():  # no Content-Length: counted while reading
        yield b'{"first_name": "'
        for _ in range(100):
            yield b"A" * 100_000
        yield b'"}'

    streamed = await intake.post("/participants", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413 and len(streamed.content) < 200
    assert await count(db, "participants") == 0


async def test_no_log_line_carries_a_body_or_an_input_value(intake: httpx.AsyncClient, capfd) -> None:  # noqa: ANN001
    capfd.readouterr()
    personal = newcomer(first_name=MARKER, email=f"{MARKER.lower()}@example.org", phone="+46 70 555 01 01")
    for body in (
        {**personal, "last_name": "\ud800"},  # the lone surrogate that once wrote the whole body to the log
        {**personal, "last_name": "\x00"},
        {**personal, "capacity": "many"},
        {**personal, "birth_year": f"{MARKER}"},
        {**personal, "nickname": MARKER},
    ):
        assert (await intake.post("/participants", **raw(body))).status_code == 422
    assert (await intake.post("/participants", content=b'{"first_name": "' + MARKER.encode())).status_code == 422
    assert (await intake.post("/participants", json=newcomer())).status_code == 201
    logged = capfd.readouterr().err
    assert "request_invalid" in logged  # the capture does see the service's log lines
    assert MARKER not in logged and MARKER.lower() not in logged and "555 01 01" not in logged
    # The token's subject only as a pseudonym (an OIDC subject may be an email address).
    assert '"principal": "sub-' in logged and "coordinator-1" not in logged


# -- idempotency ----------------------------------------------------------------------------------
async def test_a_replay_returns_the_original_response_not_the_current_state(
    intake: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    key = {"Idempotency-Key": "form-1"}
    first = await intake.post("/participants", json=newcomer(), headers=key)
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    pid = first.json()["id"]
    edited = await intake.patch(f"/participants/{pid}", json={"district": "ryd"}, headers={"If-Match": '"1"'})
    assert edited.json()["version"] == 2

    again = await intake.post("/participants", json=newcomer(), headers=key)
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()  # version 1, district skaggetorp: what the first call answered
    assert again.headers["location"] == first.headers["location"] and again.headers["etag"] == '"1"'
    assert await count(db, "participants") == 1


async def test_interviews_and_withdrawals_are_idempotent(intake: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    pid = (await intake.post("/participants", json=newcomer())).json()["id"]
    interview = {"held_on": "2026-11-20", "notes": "Fika"}
    key = {"Idempotency-Key": "interview-1"}
    responses = await asyncio.gather(
        *(intake.post(f"/participants/{pid}/interviews", json=interview, headers=key) for _ in range(4))
    )
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await count(db, "interviews") == 1

    withdraw = {"Idempotency-Key": "withdraw-1"}
    first = await intake.post(f"/participants/{pid}/withdraw", json={"reason": "moved"}, headers=withdraw)
    again = await intake.post(f"/participants/{pid}/withdraw", json={"reason": "moved"}, headers=withdraw)
    assert first.status_code == again.status_code == 200 and again.json() == first.json()
    # Without a key the second one is a real second request: 409, it is withdrawn already.
    assert (await intake.post(f"/participants/{pid}/withdraw", json={"reason": "moved"})).status_code == 409


async def test_the_same_key_for_another_request_or_a_malformed_key_is_a_422_naming_the_header(
    intake: httpx.AsyncClient,
) -> None:
    key = {"Idempotency-Key": "k-1"}
    assert (await intake.post("/participants", json=newcomer(), headers=key)).status_code == 201
    other = await intake.post("/participants", json=established(), headers=key)
    assert fields(other) == {("header", "Idempotency-Key")}
    pid = str(uuid.uuid4())  # the same key on another path is another request too
    assert fields(await intake.post(f"/participants/{pid}/withdraw", json={"reason": "moved"}, headers=key)) == {
        ("header", "Idempotency-Key")
    }
    for bad in ("with space", "ä", "x" * 201):
        response = await intake.post("/participants", json=newcomer(), headers={"Idempotency-Key": bad.encode()})
        assert fields(response) == {("header", "Idempotency-Key")}


async def test_keys_are_scoped_per_organisation(intake: httpx.AsyncClient, mint) -> None:  # noqa: ANN001
    key = {"Idempotency-Key": "shared-key"}
    a = await intake.post("/participants", json=newcomer(), headers=key)
    b = await intake.post("/participants", json=newcomer(), headers={**key, **auth(mint(org=ORG_B))})
    assert a.status_code == b.status_code == 201 and a.json()["id"] != b.json()["id"]
    assert "idempotent-replayed" not in b.headers


async def test_a_key_of_an_erased_participant_answers_410_and_keeps_no_personal_data(
    intake: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    body = newcomer(first_name=MARKER)
    key = {"Idempotency-Key": "erased-1"}
    pid = (await intake.post("/participants", json=body, headers=key)).json()["id"]
    interview = {"Idempotency-Key": "erased-interview"}
    await intake.post(f"/participants/{pid}/interviews", json={"held_on": "2026-11-20"}, headers=interview)
    assert (await intake.delete(f"/participants/{pid}")).status_code == 204

    assert (await intake.post("/participants", json=body, headers=key)).status_code == 410
    assert (
        await intake.post(f"/participants/{pid}/interviews", json={"held_on": "2026-11-20"}, headers=interview)
    ).status_code == 410
    assert await count(db, "participants") == 1  # the tombstone only: not registered again
    stored = await db.fetch("SELECT t::text AS row FROM idempotent_requests t")
    assert len(stored) == 2 and not any(MARKER in r["row"] for r in stored)


async def test_keys_expire_and_may_then_be_used_anew(intake: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    key = {"Idempotency-Key": "old-form"}
    first = (await intake.post("/participants", json=newcomer(), headers=key)).json()["id"]
    expires_in = await db.fetchval("SELECT expires_at - created_at FROM idempotent_requests")
    assert expires_in.total_seconds() == 24 * 3600  # IDEMPOTENCY_TTL_HOURS, documented
    await db.execute("UPDATE idempotent_requests SET expires_at = now() - interval '1 second'")
    second = await intake.post("/participants", json=newcomer(), headers=key)
    assert second.status_code == 201 and second.json()["id"] != first and "idempotent-replayed" not in second.headers


# -- If-Match ---------------------------------------------------------------------------------------
async def test_a_patch_with_a_stale_version_is_a_412_and_changes_nothing(intake: httpx.AsyncClient) -> None:
    created = await intake.post("/participants", json=newcomer())
    pid, etag = created.json()["id"], created.headers["etag"]
    assert etag == '"1"' and (await intake.get(f"/participants/{pid}")).headers["etag"] == etag

    first = await intake.patch(f"/participants/{pid}", json={"district": "ryd"}, headers={"If-Match": etag})
    assert first.status_code == 200 and first.headers["etag"] == '"2"'
    second = await intake.patch(f"/participants/{pid}", json={"district": "berga"}, headers={"If-Match": etag})
    assert second.status_code == 412 and second.headers["etag"] == '"2"'
    assert (await intake.get(f"/participants/{pid}")).json()["district"] == "ryd"
    assert (await intake.patch(f"/participants/{pid}", json={"district": "berga"})).status_code == 428
    garbage = await intake.patch(f"/participants/{pid}", json={"district": "berga"}, headers={"If-Match": "abc"})
    assert fields(garbage) == {("header", "If-Match")}
    weak = await intake.patch(f"/participants/{pid}", json={"district": "berga"}, headers={"If-Match": 'W/"2"'})
    assert weak.status_code == 200 and weak.headers["etag"] == '"3"'


async def stop_relay(app) -> None:  # noqa: ANN001
    runtime = app.state.runtime
    await asyncio.wait_for(runtime.messaging_ready.wait(), timeout=30)
    await runtime.relay.stop()
    # Wait for the relay's loop itself to end, not for a guessed time.
    (relay_task,) = [task for task in runtime._tasks if task.get_name().endswith("-outbox-relay")]
    await asyncio.wait_for(relay_task, timeout=10)


# -- honest errors ----------------------------------------------------------------------------------
async def test_no_free_connection_is_a_503_not_saved(start_intake, database_url: str, nats_url: str) -> None:  # noqa: ANN001
    async with start_intake(database_url, nats_url, db_pool_max=2, db_acquire_timeout=0.3) as (app, client):
        await stop_relay(app)  # it would hold a connection at times
        pool = app.state.runtime.pool
        async with pool.acquire(), pool.acquire():  # every connection busy
            busy = await client.post("/participants", json=newcomer(), headers={"Idempotency-Key": "busy-1"})
            assert busy.status_code == 503 and busy.json()["code"] == "not_saved" and busy.headers["retry-after"]
        again = await client.post("/participants", json=newcomer(), headers={"Idempotency-Key": "busy-1"})
        assert again.status_code == 201 and "idempotent-replayed" not in again.headers


async def test_a_connection_lost_mid_statement_is_outcome_unknown_and_mid_transaction_not_saved(
    intake: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    # Registrations take a second now, so that the test can cut the connection while one runs.
    await db.execute(
        """CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS
               $$ BEGIN PERFORM pg_sleep(1); RETURN NEW; END $$;
           CREATE TRIGGER slow BEFORE INSERT ON participants FOR EACH ROW EXECUTE FUNCTION slow();"""
    )
    # Without a key: one auto-committed statement. Cut while it runs, it may or may not have committed.
    request = asyncio.create_task(intake.post("/participants", json=newcomer()))
    await terminate_backend_running(db, "INSERT INTO participants")
    unknown = await request
    assert unknown.status_code == 503 and unknown.json()["code"] == "outcome_unknown", unknown.text
    assert "Idempotency-Key" in unknown.json()["detail"] and unknown.headers["retry-after"]

    # With a key: a transaction. Cut before COMMIT, PostgreSQL rolls it back: certainly not saved.
    key = {"Idempotency-Key": "cut-1"}
    request = asyncio.create_task(intake.post("/participants", json=newcomer(), headers=key))
    await terminate_backend_running(db, "INSERT INTO participants")
    lost = await request
    assert lost.status_code == 503 and lost.json()["code"] == "not_saved", lost.text
    assert await count(db, "participants") == 0 and await count(db, "idempotent_requests") == 0
    await db.execute("DROP TRIGGER slow ON participants")
    retried = await intake.post("/participants", json=newcomer(), headers=key)
    assert retried.status_code == 201 and await count(db, "participants") == 1


async def test_a_row_lock_held_too_long_is_a_503_not_saved(start_intake, database_url: str, nats_url: str) -> None:  # noqa: ANN001
    async with start_intake(database_url, nats_url, db_lock_timeout=0.3) as (_, client):
        pid = (await client.post("/participants", json=newcomer())).json()["id"]
        holder = await asyncpg.connect(database_url)
        try:
            async with holder.transaction():
                await holder.execute("SELECT 1 FROM participants WHERE id = $1 FOR UPDATE", uuid.UUID(pid))
                blocked = await client.patch(
                    f"/participants/{pid}", json={"district": "ryd"}, headers={"If-Match": "*"}
                )
                assert blocked.status_code == 503 and blocked.json()["code"] == "not_saved"
        finally:
            await holder.close()
        done = await client.patch(f"/participants/{pid}", json={"district": "ryd"}, headers={"If-Match": "*"})
        assert done.status_code == 200 and done.json()["version"] == 2


async def test_asyncpgs_cannot_switch_to_state_is_an_outage_and_a_bug_is_a_500_without_input_values(
    intake: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, capfd
) -> None:  # noqa: ANN001
    from sprakvan_intake.service_layer import handlers

    pid = (await intake.post("/participants", json=newcomer())).json()["id"]

    async def dropped(*_: object, **__: object) -> None:
        raise asyncpg.InternalClientError("cannot switch to state 15; another operation (2) is in progress")

    monkeypatch.setattr(handlers, "get_participant", dropped)
    outage = await intake.get(f"/participants/{pid}")
    assert outage.status_code == 503 and outage.headers["retry-after"]

    async def bug(*_: object, **__: object) -> None:
        raise ValueError(f"unexpected value {MARKER}")

    monkeypatch.setattr(handlers, "get_participant", bug)
    capfd.readouterr()
    failed = await intake.get(f"/participants/{pid}")
    assert failed.status_code == 500 and MARKER not in failed.text and failed.json()["correlation_id"]
    logged = capfd.readouterr().err
    assert "unhandled_error" in logged and "ValueError" in logged and "test_api_safety.py" in logged
    assert MARKER not in logged


def test_outage_classification() -> None:
    assert shared_db.is_outage(asyncpg.InternalClientError("cannot switch to state 15; another operation"))
    assert not shared_db.is_outage(asyncpg.InternalClientError("something else"))
    assert shared_db.is_outage(ConnectionResetError()) and shared_db.is_outage(TimeoutError())
    assert not shared_db.is_outage(FileNotFoundError()) and not shared_db.is_outage(asyncpg.InterfaceError("x"))


async def test_pool_resets_session_state_on_release(start_intake, database_url: str, nats_url: str) -> None:  # noqa: ANN001
    async with start_intake(database_url, nats_url, db_pool_max=2) as (app, _):
        await stop_relay(app)
        pool = app.state.runtime.pool
        async with pool.acquire() as first, pool.acquire() as second:  # the whole pool
            for conn in (first, second):
                await conn.execute("SET application_name = 'leaked'")
                assert await conn.fetchval("SHOW lock_timeout") == "3s"
        async with pool.acquire() as first, pool.acquire() as second:
            for conn in (first, second):
                assert await conn.fetchval("SHOW application_name") != "leaked"
                assert await conn.fetchval("SHOW lock_timeout") == "3s"  # the pool's own setting survives


# -- the OpenAPI document ---------------------------------------------------------------------------
async def test_the_openapi_document_lists_every_error_a_route_gives(intake: httpx.AsyncClient) -> None:
    document = (await intake.get("/openapi.json")).json()
    paths = document["paths"]
    expected = {
        ("/participants", "post"): {"400", "401", "403", "409", "410", "413", "422", "503"},
        ("/participants", "get"): {"401", "403", "422", "503"},
        ("/participants/{participant_id}", "get"): {"401", "403", "404", "422", "503"},
        ("/participants/{participant_id}", "patch"): {"401", "403", "404", "409", "412", "413", "422", "428", "503"},
        ("/participants/{participant_id}", "delete"): {"401", "403", "404", "503"},
        ("/participants/{participant_id}/interviews", "post"): {"401", "403", "404", "409", "410", "413", "422"},
    }
    for (path, method), codes in expected.items():
        assert codes <= set(paths[path][method]["responses"]), (path, method)
    for path, operations in paths.items():
        for method, operation in operations.items():
            if method == "post":
                assert "Idempotency-Key" in {p["name"] for p in operation["parameters"]}, path
    schema = document["components"]["schemas"]["RegistrationRequest"]
    assert schema["anyOf"] and schema["if"] and schema["else"]["properties"]["capacity"]["maximum"] == 3
    assert schema["properties"]["consent"]["properties"]["data_processing"] == {"const": True}
    assert schema["properties"]["birth_year"]["minimum"] == 1900


def test_text_rules() -> None:
    assert text.problem("Åsa Öberg-Nilsson") is None
    assert text.problem("a\x00") and text.problem("\ud800") and text.problem("\u202e") and text.problem("\x9b")
    assert text.problem("line\nbreak\ttab") is None  # allowed in notes; single-line fields refuse them


async def test_a_post_written_without_db_transaction_is_still_replayed(intake_service, db: asyncpg.Connection) -> None:  # noqa: ANN001
    from fastapi import Depends

    from sprakvan_shared.auth import WRITERS
    from sprakvan_shared.http import require_role

    await db.execute("CREATE TABLE notes (id serial PRIMARY KEY, body text)")
    app = intake_service.app

    async def add_note(_=Depends(require_role(WRITERS))):  # noqa: ANN001, ANN202, B008 - no db.transaction
        note_id = await app.state.runtime.pool.fetchval("INSERT INTO notes (body) VALUES ('x') RETURNING id")
        return {"id": note_id}

    app.router.add_api_route("/notes", add_note, methods=["POST"], status_code=201)
    key = {"Idempotency-Key": "note-1"}
    first = await intake_service.client.post("/notes", headers=key)
    again = await intake_service.client.post("/notes", headers=key)
    assert first.status_code == again.status_code == 201 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await count(db, "notes") == 1


def test_raw_utf8_in_a_query_is_text_not_a_control_character() -> None:
    from sprakvan_shared.http import RequestGuardMiddleware

    # An en dash sent unencoded (E2 80 93; httpx cannot send it so): read as latin-1 its bytes are C1 controls.
    assert RequestGuardMiddleware._query_errors("district=Ryd–Berga".encode()) == []
    assert RequestGuardMiddleware._query_errors(b"district=Ryd%00")[0]["loc"] == ["query", "district"]


async def test_a_character_postgresql_cannot_store_is_a_422_wherever_it_slipped_in(intake_service) -> None:  # noqa: ANN001
    # A path parameter is not screened like a body or a query: the database's refusal is the input's fault.
    app = intake_service.app

    async def lookup(value: str):  # noqa: ANN202
        return {"found": await app.state.runtime.pool.fetchval("SELECT $1::text", value)}

    app.router.add_api_route("/lookup/{value}", lookup, methods=["GET"])
    response = await intake_service.client.get(f"/lookup/{MARKER}%00")
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["request"]
    assert MARKER not in response.text


async def test_a_statement_running_too_long_is_a_503_within_the_command_timeout(
    start_intake, database_url: str, nats_url: str, db: asyncpg.Connection
) -> None:  # noqa: ANN001
    async with start_intake(database_url, nats_url, db_command_timeout=0.5) as (_, client):
        await db.execute(
            """CREATE FUNCTION stuck() RETURNS trigger LANGUAGE plpgsql AS
                   $$ BEGIN PERFORM pg_sleep(30); RETURN NEW; END $$;
               CREATE TRIGGER stuck BEFORE INSERT ON participants FOR EACH ROW EXECUTE FUNCTION stuck();"""
        )
        started = asyncio.get_running_loop().time()
        slow = await client.post("/participants", json=newcomer(), headers={"Idempotency-Key": "stuck-1"})
        assert asyncio.get_running_loop().time() - started < 5
        assert slow.status_code == 503 and slow.json()["code"] == "not_saved" and slow.headers["retry-after"]
        assert await count(db, "participants") == 0  # cancelled on the server too, and rolled back
        await db.execute("DROP TRIGGER stuck ON participants")
        retried = await client.post("/participants", json=newcomer(), headers={"Idempotency-Key": "stuck-1"})
        assert retried.status_code == 201
