"""The intake HTTP API: validation, idempotency, listing, the participant's life, access control."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import httpx
import pytest

from sprakvan_shared.auth import Role

from .conftest import ORG_B, eventually
from .factories import established, newcomer

ANY = {"If-Match": "*"}
# The fixture's organisations are configured: their organisation.configured rows are not a participant's.
PARTICIPANT_OUTBOX_ROWS = "(SELECT count(*) FROM outbox WHERE event_type <> 'organisation.configured')"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def error_fields(response: httpx.Response) -> set[tuple]:
    assert response.status_code == 422, response.text
    return {tuple(error["loc"]) for error in response.json()["detail"]}


async def nothing_written(db: asyncpg.Connection) -> bool:
    return await db.fetchval(f"SELECT (SELECT count(*) FROM participants) + {PARTICIPANT_OUTBOX_ROWS}") == 0


# -- validation -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "field"),
    [
        (newcomer(languages=[{"code": "xx", "level": "native"}]), ("body", "languages", 0, "code")),
        (newcomer(birth_year=2031), ("body", "birth_year")),
        (
            newcomer(consent={"data_processing": False, "given_at": "2026-11-02T09:30:00Z"}),
            ("body", "consent", "data_processing"),
        ),
        (established(capacity=0), ("body", "capacity")),
        (established(capacity=4), ("body", "capacity")),
        (newcomer(swedish_level=None), ("body", "swedish_level")),
        (newcomer(email=None, phone=None), ("body", "email")),
        (newcomer(email="not-an-address"), ("body", "email")),
        (newcomer(wishes={"age_min": 60, "age_max": 30}), ("body", "wishes", "age_min")),
        (newcomer(gender="unknown"), ("body", "gender")),
        (newcomer(role="volunteer"), ("body", "role")),
        (newcomer(nickname="Mina"), ("body", "nickname")),
        (newcomer(capacity=2), ("body", "capacity")),
    ],
)
async def test_bad_input_is_a_422_naming_the_field_and_writes_nothing(
    intake: httpx.AsyncClient, db: asyncpg.Connection, body: dict, field: tuple
) -> None:
    response = await intake.post("/participants", json=body)
    assert field in error_fields(response)
    assert await nothing_written(db)


async def test_several_bad_fields_are_all_named(intake: httpx.AsyncClient) -> None:
    response = await intake.post(
        "/participants",
        json=established(
            capacity=0,
            birth_year=2999,
            languages=[{"code": "zz", "level": "native"}],
            consent={"data_processing": False, "given_at": "2026-11-02T09:30:00Z"},
        ),
    )
    assert error_fields(response) >= {
        ("body", "capacity"),
        ("body", "birth_year"),
        ("body", "languages", 0, "code"),
        ("body", "consent", "data_processing"),
    }


# -- idempotency -----------------------------------------------------------------------------------
async def test_a_retried_post_with_the_same_idempotency_key_returns_the_first_participant(
    intake: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    key = {"Idempotency-Key": "form-7f3a"}
    first = await intake.post("/participants", json=newcomer(), headers=key)
    again = await intake.post("/participants", json=newcomer(), headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert await db.fetchval("SELECT count(*) FROM participants") == 1
    assert await db.fetchval(f"SELECT {PARTICIPANT_OUTBOX_ROWS}") == 1

    other = await intake.post("/participants", json=newcomer(first_name="Someone"), headers=key)
    assert error_fields(other) == {("header", "Idempotency-Key")}


async def test_concurrent_retries_with_one_key_create_one_participant(
    intake: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    responses = await asyncio.gather(
        *(intake.post("/participants", json=newcomer(), headers={"Idempotency-Key": "double-click"}) for _ in range(6))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert await db.fetchval("SELECT count(*) FROM participants") == 1


async def test_the_same_key_in_another_organisation_is_another_request(intake: httpx.AsyncClient, mint) -> None:  # noqa: ANN001
    a = await intake.post("/participants", json=newcomer(), headers={"Idempotency-Key": "k"})
    b = await intake.post("/participants", json=newcomer(), headers={"Idempotency-Key": "k", **auth(mint(org=ORG_B))})
    assert a.json()["id"] != b.json()["id"]


# -- reading and listing ---------------------------------------------------------------------------
async def test_list_filters_and_pages_with_a_cursor(intake: httpx.AsyncClient) -> None:
    created = []
    for i in range(7):
        body = (
            newcomer(first_name=f"N{i}", district="berga" if i % 2 else "ryd")
            if i < 5
            else established(first_name=f"E{i}")
        )
        created.append((await intake.post("/participants", json=body)).json()["id"])

    seen, cursor = [], None
    while True:
        params = {"limit": 2, "role": "newcomer", **({"cursor": cursor} if cursor else {})}
        page = (await intake.get("/participants", params=params)).json()
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == created[:5]  # registration order, no gaps, no repeats

    berga = (await intake.get("/participants", params={"district": "berga"})).json()["items"]
    assert [p["first_name"] for p in berga] == ["N1", "N3"]
    today = (await intake.get("/participants", params={"registered_from": "2026-01-01", "status": "registered"})).json()
    assert len(today["items"]) == 7
    none = (await intake.get("/participants", params={"registered_to": "2020-12-31"})).json()
    assert none["items"] == []
    assert (await intake.get("/participants", params={"cursor": "garbage"})).status_code == 422
    assert (await intake.get("/participants", params={"limit": 0})).status_code == 422


async def test_a_participants_life_interview_update_withdraw(intake: httpx.AsyncClient) -> None:
    pid = (await intake.post("/participants", json=newcomer())).json()["id"]
    interview = await intake.post(
        f"/participants/{pid}/interviews", json={"held_on": "2026-11-20", "notes": "Tycker om att laga mat"}
    )
    assert interview.status_code == 201
    assert interview.json()["coordinator"] == "coordinator-1"  # the caller, by default

    patched = await intake.patch(
        f"/participants/{pid}", json={"district": "ekholmen", "phone": None}, headers={"If-Match": '"2"'}
    )
    assert patched.status_code == 200
    assert patched.json()["district"] == "ekholmen" and patched.json()["phone"] is None

    current = {"If-Match": patched.headers["etag"]}
    cleared = await intake.patch(f"/participants/{pid}", json={"email": None}, headers=current)  # no contact left
    assert error_fields(cleared) == {("body", "email")}
    bad = await intake.patch(f"/participants/{pid}", json={"birth_year": 2090}, headers=current)
    assert error_fields(bad) == {("body", "birth_year")}
    role = await intake.patch(f"/participants/{pid}", json={"role": "established"}, headers=current)
    assert error_fields(role) == {("body", "role")}

    got = (await intake.get(f"/participants/{pid}")).json()
    assert got["status"] == "interviewed" and got["interviewed_on"] == "2026-11-20"
    assert got["version"] == 3
    assert [i["notes"] for i in got["interviews"]] == ["Tycker om att laga mat"]

    withdrawn = await intake.post(f"/participants/{pid}/withdraw", json={"reason": "moved"})
    assert withdrawn.json()["status"] == "withdrawn"
    assert (await intake.patch(f"/participants/{pid}", json={"district": "ryd"}, headers=ANY)).status_code == 409
    assert (await intake.post(f"/participants/{pid}/withdraw", json={"reason": "moved"})).status_code == 409


async def test_future_interview_is_refused(intake: httpx.AsyncClient) -> None:
    pid = (await intake.post("/participants", json=newcomer())).json()["id"]
    response = await intake.post(f"/participants/{pid}/interviews", json={"held_on": "2999-01-01"})
    assert error_fields(response) == {("body", "held_on")}


# -- erasure ---------------------------------------------------------------------------------------
async def test_erasure_leaves_no_name_email_or_phone_in_the_intake_database(
    intake: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    personal = newcomer(
        first_name="Zainab", last_name="Qasimi", email="zainab.qasimi@example.org", phone="+46 73 999 88 77"
    )
    pid = (await intake.post("/participants", json=personal, headers={"Idempotency-Key": "zq"})).json()["id"]
    await intake.patch(f"/participants/{pid}", json={"last_name": "Qasimi-Karimi"}, headers={"If-Match": '"1"'})
    await intake.post(f"/participants/{pid}/interviews", json={"held_on": "2026-11-20", "notes": "Zainab vill fika"})
    keeper = (await intake.post("/participants", json=newcomer())).json()["id"]  # someone else stays

    assert (await intake.delete(f"/participants/{pid}")).status_code == 204

    dump = await whole_database_as_text(db)
    for trace in ("Zainab", "Qasimi", "zainab.qasimi@example.org", "73 999 88 77", "+46739998877"):
        assert trace not in dump, f"{trace!r} is still in the intake database"
    assert "Amina" in dump  # the scan does see personal data that should be there
    assert (await intake.get(f"/participants/{pid}")).status_code == 404
    assert (await intake.delete(f"/participants/{pid}")).status_code == 404
    assert [p["id"] for p in (await intake.get("/participants")).json()["items"]] == [keeper]
    tombstone = await db.fetchrow("SELECT role, status, erased_at FROM participants WHERE id = $1", uuid.UUID(pid))
    assert tombstone["status"] == "erased" and tombstone["role"] == "newcomer" and tombstone["erased_at"]


async def whole_database_as_text(db: asyncpg.Connection) -> str:
    tables = await db.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    parts = []
    for table in tables:
        rows = await db.fetch(f'SELECT t::text AS row, NULL FROM "{table["tablename"]}" t')
        parts += [row["row"] for row in rows]
        if table["tablename"] == "outbox":  # event bodies are bytea: decode them too
            parts += [bytes(r["body"]).decode() for r in await db.fetch("SELECT body FROM outbox")]
    return "\n".join(parts)


# -- access control --------------------------------------------------------------------------------
async def test_organisation_a_cannot_list_read_or_change_organisation_bs_participants(
    intake: httpx.AsyncClient,
    mint,  # noqa: ANN001
) -> None:
    theirs = (await intake.post("/participants", json=newcomer(), headers=auth(mint(org=ORG_B)))).json()["id"]
    ours = (await intake.post("/participants", json=established())).json()["id"]

    listed = (await intake.get("/participants")).json()["items"]
    assert [p["id"] for p in listed] == [ours]
    assert (await intake.get(f"/participants/{theirs}")).status_code == 404
    assert (await intake.patch(f"/participants/{theirs}", json={"district": "ryd"}, headers=ANY)).status_code == 404
    assert (await intake.post(f"/participants/{theirs}/interviews", json={"held_on": "2026-11-01"})).status_code == 404
    assert (await intake.post(f"/participants/{theirs}/withdraw", json={"reason": "other"})).status_code == 404
    assert (await intake.delete(f"/participants/{theirs}")).status_code == 404
    # Still untouched for its own organisation.
    own_view = await intake.get(f"/participants/{theirs}", headers=auth(mint(org=ORG_B)))
    assert own_view.status_code == 200 and own_view.json()["status"] == "registered" and own_view.json()["version"] == 1


async def test_tokens_and_roles(intake: httpx.AsyncClient, mint) -> None:  # noqa: ANN001
    no_token = await intake.get("/participants", headers={"Authorization": ""})
    assert no_token.status_code == 401 and no_token.headers["www-authenticate"] == "Bearer"
    forged = mint().rsplit(".", 1)[0] + ".c2lnbmF0dXJl"
    assert (await intake.get("/participants", headers=auth(forged))).status_code == 401
    assert (await intake.get("/participants", headers=auth("not-a-jwt"))).status_code == 401

    viewer = auth(mint(role=Role.VIEWER))
    assert (await intake.get("/participants", headers=viewer)).status_code == 200
    assert (await intake.post("/participants", json=newcomer(), headers=viewer)).status_code == 403
    pid = (await intake.post("/participants", json=newcomer(), headers=auth(mint(role=Role.ADMIN)))).json()["id"]
    assert (await intake.delete(f"/participants/{pid}", headers=viewer)).status_code == 403
    patched = await intake.patch(f"/participants/{pid}", json={"district": "ryd"}, headers={**viewer, **ANY})
    assert patched.status_code == 403


async def test_health_and_readiness(intake: httpx.AsyncClient) -> None:
    assert (await intake.get("/health", headers={})).json()["status"] == "ok"

    async def drained() -> httpx.Response | None:  # once the fixture's organisation.configured events are out
        response = await intake.get("/ready")
        return response if response.json()["checks"].get("outbox_backlog") == 0 else None

    ready = await eventually(drained)
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": True, "nats": True, "outbox_backlog": 0}
    assert ready.headers["x-correlation-id"]


async def test_the_asyncapi_document_lists_every_intake_event(intake: httpx.AsyncClient, intake_service) -> None:  # noqa: ANN001
    from sprakvan_shared.contracts.intake import INTAKE_EVENTS

    document = (await intake.get("/asyncapi.json")).json()
    addresses = {channel["address"] for channel in document["channels"].values()}
    namespace = intake_service.settings.namespace
    assert addresses == {namespace.subject(event.subject_filter()) for event in INTAKE_EVENTS}
    assert "ParticipantState" in document["components"]["schemas"]
