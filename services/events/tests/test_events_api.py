"""The events API on real NATS and PostgreSQL, with intake running beside it: participants learnt from
intake's events, sign-up and the waiting list, withdrawal and erasure, feeds, validation, and probes
across organisations."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import icalendar
import nats
import pytest

from sprakvan_events.service import SERVICE as EVENTS
from sprakvan_intake.service import SERVICE as INTAKE
from sprakvan_shared.auth import Role
from sprakvan_shared.contracts.events import EVENTS_EVENTS
from sprakvan_shared.contracts.subjects import EVENTS_STREAM, Namespace
from tests import factories
from tests.factories import established, newcomer
from tests.kit import ORG_A, ORG_B, RunningService, ServiceStarter, eventually, mint_token
from tests.streams import stream_messages

pytestmark = pytest.mark.infra


@dataclass
class Stack:
    intake: RunningService
    events: RunningService

    @property
    def api(self) -> httpx.AsyncClient:
        return self.events.client

    async def register(self, body: dict | None = None) -> str:
        response = await self.intake.client.post("/participants", json=body or newcomer())
        assert response.status_code == 201, response.text
        participant_id = response.json()["id"]
        await self.known(participant_id)
        return participant_id

    async def known(self, participant_id: str, status: str = "registered") -> None:
        async def arrived() -> bool:
            found = await self.events.pool.fetchval(
                "SELECT status FROM participants WHERE participant_id = $1", uuid.UUID(participant_id)
            )
            return found == status

        await eventually(arrived)

    async def configured(self, organisation_id: str, district: str) -> None:
        async def learnt() -> bool:
            districts = await self.events.pool.fetchval(
                "SELECT districts FROM organisations WHERE organisation_id = $1", organisation_id
            )
            return district in (districts or [])

        await eventually(learnt)


@pytest.fixture
async def stack(start_service: ServiceStarter) -> AsyncIterator[Stack]:
    async with start_service(INTAKE) as intake, start_service(EVENTS, consumer_backoff_seconds=(0.1, 0.2)) as events:
        await factories.configure(intake.client, [mint_token(org, "admin") for org in (ORG_A, ORG_B)])
        stack = Stack(intake, events)
        await stack.configured(ORG_A, "skaggetorp")
        yield stack


def soon(days: int = 3, hour: int = 18) -> str:
    day = (datetime.now(UTC) + timedelta(days=days)).date()
    return f"{day.isoformat()}T{hour:02d}:00:00"


async def one_off(api: httpx.AsyncClient, capacity: int | None = 2, **extra: object) -> dict:
    body = {
        "title": "Stadsvandring på lätt svenska",
        "type_code": "guided_tour",
        "district": "innerstaden",
        "capacity": capacity,
        "starts_at": soon(),
        "ends_at": soon(hour=20),
        **extra,
    }
    response = await api.post("/activities", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def fields(response: httpx.Response) -> set[tuple]:
    assert response.status_code == 422, response.text
    return {tuple(e["loc"]) for e in response.json()["detail"]}


async def test_sign_up_waiting_list_promotion_and_events_on_the_stream(stack: Stack, nc: nats.NATS) -> None:
    first, second, third = [await stack.register() for _ in range(3)]
    occurrence = (await one_off(stack.api, capacity=2))["occurrences"][0]
    url = f"/occurrences/{occurrence['id']}/signups"

    statuses = []
    for pid in (first, second, third):
        response = await stack.api.post(url, json={"participant_id": pid})
        assert response.status_code == 201, response.text
        statuses.append(response.json()["status"])
    assert statuses == ["confirmed", "confirmed", "waitlisted"]
    twice = await stack.api.post(url, json={"participant_id": first})
    assert twice.status_code == 409 and "already" in twice.json()["detail"]

    held = (await stack.api.get(url)).json()
    cancelled = await stack.api.post(f"/signups/{held[0]['id']}/cancel", json={"reason": "participant"})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    now = {s["participant_id"]: s for s in (await stack.api.get(url)).json()}
    assert now[third]["status"] == "confirmed" and now[third]["promoted_at"]
    seats = (await stack.api.get(f"/occurrences/{occurrence['id']}")).json()
    assert (seats["confirmed"], seats["waitlisted"]) == (2, 0)

    ns: Namespace = stack.events.settings.namespace

    async def published() -> list:
        messages = await stream_messages(nc.jetstream(), ns.stream(EVENTS_STREAM))
        return messages if len(messages) >= 6 else []

    messages = await published() or await eventually(published)
    types = sorted(m.subject.rsplit(".", 1)[1] for m in messages)
    assert types == ["cancelled", "confirmed", "confirmed", "promoted", "scheduled", "waitlisted"]
    promoted = next(m.json for m in messages if m.subject.endswith(".promoted"))
    assert promoted["payload"]["participant_id"] == third and promoted["aggregate_id"] == now[third]["id"]
    assert all("Stadsvandring" not in m.data.decode() for m in messages)  # titles stay here


async def test_withdrawal_cancels_future_sign_ups_and_erasure_forgets_the_person(stack: Stack, nc: nats.NATS) -> None:
    leaving, waiting, erased = [await stack.register(b) for b in (newcomer(), newcomer(), established())]
    occurrence = (await one_off(stack.api, capacity=1))["occurrences"][0]
    url = f"/occurrences/{occurrence['id']}/signups"
    for pid in (leaving, waiting):
        assert (await stack.api.post(url, json={"participant_id": pid})).status_code == 201
    checked = await stack.api.put(f"/occurrences/{occurrence['id']}/check-ins/{erased}", json={"outcome": "came"})
    assert checked.status_code == 200, checked.text
    walk_ins = await stack.api.put(
        f"/occurrences/{occurrence['id']}/walk-ins",
        json={"counts": [{"role": "newcomer", "gender": "man", "count": 4}]},
        headers={"If-Match": "*"},
    )
    assert walk_ins.json()["totals"]["walk_ins"] == 4

    assert (
        await stack.intake.client.post(f"/participants/{leaving}/withdraw", json={"reason": "moved"})
    ).status_code == 200
    await stack.known(leaving, "withdrawn")
    signups = {s["participant_id"]: s for s in (await stack.api.get(url)).json()}
    assert signups[leaving]["status"] == "cancelled" and signups[leaving]["cancel_reason"] == "withdrawn"
    assert signups[waiting]["status"] == "confirmed"
    refused = await stack.api.post(url, json={"participant_id": leaving})
    assert refused.status_code == 409 and "withdrawn" in refused.json()["detail"]

    assert (await stack.intake.client.delete(f"/participants/{erased}")).status_code == 204

    async def forgotten() -> bool:
        attendance = (await stack.api.get(f"/occurrences/{occurrence['id']}/attendance")).json()
        return not attendance["check_ins"] and attendance

    attendance = await eventually(forgotten)
    assert attendance["totals"]["came"] == 1 and attendance["totals"]["walk_ins"] == 4
    assert attendance["anonymous"] == [{"outcome": "came", "role": "established", "gender": "woman", "count": 1}]
    unknown = await stack.api.post(url, json={"participant_id": erased})
    assert unknown.status_code == 409 and "unknown" in unknown.json()["detail"]

    ns: Namespace = stack.events.settings.namespace

    async def clean_stream() -> bool:
        messages = await stream_messages(nc.jetstream(), ns.stream(EVENTS_STREAM))
        recorded = [m for m in messages if m.subject.endswith(".recorded")]
        return bool(recorded) and all(erased not in m.data.decode() for m in messages)

    await eventually(clean_stream)


async def test_bad_input_is_a_4xx_naming_the_field(stack: Stack) -> None:
    api = stack.api
    base = {"title": "Kör", "type_code": "social", "district": "berga", "capacity": 5}
    assert ("body", "ends_at") in fields(
        await api.post("/activities", json={**base, "starts_at": soon(hour=20), "ends_at": soon(hour=18)})
    )
    assert ("body", "capacity") in fields(
        await api.post("/activities", json={**base, "capacity": -1, "starts_at": soon(), "ends_at": soon(hour=20)})
    )
    assert ("body", "starts_at") in fields(
        await api.post(
            "/activities", json={**base, "starts_at": "2027-03-28T02:30:00", "ends_at": "2027-03-28T04:00:00"}
        )
    )
    series = {
        **base,
        "schedule": {
            "first_day": "2026-12-08",
            "starts": "18:00",
            "ends": "20:00",
            "rule": "FREQ=WEEKLY;BYDAY=MO",
            "until": "2026-12-13",
        },
    }
    assert ("body", "schedule", "rule") in fields(await api.post("/series", json=series))
    series["schedule"] = {**series["schedule"], "rule": "FREQ=WEEKLY;BYDAY=ZZ", "until": None}
    assert ("body", "schedule", "rule") in fields(await api.post("/series", json=series))
    assert ("body", "type_code") in fields(
        await api.post(
            "/activities", json={**base, "type_code": "juggling", "starts_at": soon(), "ends_at": soon(hour=20)}
        )
    )
    hostile = "<script>" + "x" * 5000
    assert ("body", "title") in fields(
        await api.post("/activities", json={**base, "title": hostile, "starts_at": soon(), "ends_at": soon(hour=20)})
    )
    assert (
        await api.post("/activities", content=b"{not json", headers={"Content-Type": "application/json"})
    ).status_code == 422
    assert (await api.get("/occurrences/not-a-uuid")).status_code == 422

    occurrence = (await one_off(api))["occurrences"][0]
    assert (await api.post(f"/occurrences/{occurrence['id']}/cancel")).json()["status"] == "cancelled"
    pid = await stack.register()
    check_in = await api.put(f"/occurrences/{occurrence['id']}/check-ins/{pid}", json={"outcome": "came"})
    assert check_in.status_code == 409 and "cancelled" in check_in.json()["detail"]
    unknown = await api.post(
        f"/occurrences/{(await one_off(api))['occurrences'][0]['id']}/signups",
        json={"participant_id": str(uuid.uuid4())},
    )
    assert unknown.status_code == 409 and "unknown" in unknown.json()["detail"]
    closed = (await one_off(api, capacity=0))["occurrences"][0]
    forced = await api.post(f"/occurrences/{closed['id']}/signups", json={"participant_id": pid, "over_capacity": True})
    assert forced.status_code == 409 and "closed" in forced.json()["detail"]


async def test_other_organisations_see_nothing_and_roles_are_enforced(stack: Stack) -> None:
    api, other = stack.api, stack.events.as_(org=ORG_B)
    venue = (await api.post("/venues", json={"name": "Ekholmens bibliotek", "district": "ekholmen"})).json()
    activity = await one_off(api, venue_id=venue["id"])
    occurrence = activity["occurrences"][0]
    pid = await stack.register()
    signup = (await api.post(f"/occurrences/{occurrence['id']}/signups", json={"participant_id": pid})).json()

    for path in (
        f"/activities/{activity['id']}",
        f"/occurrences/{occurrence['id']}",
        f"/occurrences/{occurrence['id']}/signups",
        f"/occurrences/{occurrence['id']}/attendance",
    ):
        assert (await api.get(path, headers=other)).status_code == 404, path
    assert (await api.get("/venues", headers=other)).json() == []
    assert (await api.get("/activities", headers=other)).json() == []
    assert (await api.get("/occurrences", headers=other)).json() == []
    writes = [
        ("post", f"/occurrences/{occurrence['id']}/signups", {"participant_id": pid}),
        ("post", f"/signups/{signup['id']}/cancel", {"reason": "participant"}),
        ("post", f"/occurrences/{occurrence['id']}/cancel", None),
        ("patch", f"/occurrences/{occurrence['id']}", {"capacity": 50}),
        ("put", f"/occurrences/{occurrence['id']}/check-ins/{pid}", {"outcome": "came"}),
        ("put", f"/occurrences/{occurrence['id']}/walk-ins", {"counts": []}),
        ("post", f"/activities/{activity['id']}/cancel", None),
        (
            "post",
            "/activities",
            {
                "title": "x",
                "type_code": "social",
                "venue_id": venue["id"],
                "starts_at": soon(),
                "ends_at": soon(hour=20),
            },
        ),
    ]
    for method, path, body in writes:
        # If-Match "*": a version would be refused as stale before anyone looked for the occurrence.
        response = await api.request(method, path, json=body, headers={**other, "If-Match": "*"})
        assert response.status_code in (404, 422), (path, response.status_code)
        if response.status_code == 422:
            assert ("body", "venue_id") in fields(response)
    # Nothing of it happened.
    assert (await api.get(f"/occurrences/{occurrence['id']}")).json()["status"] == "scheduled"
    assert (await api.get(f"/occurrences/{occurrence['id']}/signups")).json()[0]["status"] == "confirmed"

    viewer = stack.events.as_(role=Role.VIEWER)
    assert (await api.get(f"/occurrences/{occurrence['id']}", headers=viewer)).status_code == 200
    assert (await api.post(f"/occurrences/{occurrence['id']}/cancel", headers=viewer)).status_code == 403
    assert (await api.get("/occurrences", headers={"Authorization": "Bearer nonsense"})).status_code == 401
    async with httpx.AsyncClient(transport=api._transport, base_url="http://events") as anonymous:
        assert (await anonymous.get("/venues")).status_code == 401


async def test_feed_by_token_is_stable_and_scoped(stack: Stack) -> None:
    api = stack.api
    venue = (
        await api.post("/venues", json={"name": "Agora", "district": "skaggetorp", "address": "Södra Stationsgatan"})
    ).json()
    schedule = {
        "first_day": (datetime.now(UTC) + timedelta(days=1)).date().isoformat(),
        "starts": "10:00",
        "ends": "12:00",
        "rule": "FREQ=WEEKLY",
        "count": 6,
    }
    series = await api.post(
        "/series",
        json={
            "title": "Morgoncafé",
            "type_code": "language_cafe",
            "venue_id": venue["id"],
            "capacity": 20,
            "schedule": schedule,
        },
    )
    assert series.status_code == 201, series.text
    occurrences = series.json()["occurrences"]
    assert len(occurrences) == 6
    await api.post(f"/occurrences/{occurrences[1]['id']}/cancel")
    # Another organisation's café in the same district code does not leak into this feed.
    other = stack.events.as_(org=ORG_B)
    await api.post(
        "/activities",
        headers=other,
        json={
            "title": "Annat",
            "type_code": "social",
            "district": "skaggetorp",
            "starts_at": soon(),
            "ends_at": soon(hour=20),
        },
    )

    feed = await api.post("/feeds", json={"scope": "district", "value": "skaggetorp", "name": "Skäggetorp"})
    assert feed.status_code == 201
    url = feed.json()["url"]
    async with httpx.AsyncClient(transport=api._transport, base_url="http://events") as phone:
        first, second = await phone.get(url), await phone.get(url)
        assert (await phone.get(url.replace(".ics", "x.ics"))).status_code == 404
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/calendar")
    assert first.content == second.content
    calendar = icalendar.Calendar.from_ical(first.content)
    events = list(calendar.events)
    assert len(events) == 6 and {str(e["SUMMARY"]) for e in events} == {"Morgoncafé"}
    assert {str(e["UID"]) for e in events} == {f"{o['id']}@events.sprakvan" for o in occurrences}
    assert [str(e["STATUS"]) for e in events].count("CANCELLED") == 1

    revoked = await api.delete(f"/feeds/{feed.json()['id']}")
    assert revoked.status_code == 204
    async with httpx.AsyncClient(transport=api._transport, base_url="http://events") as phone:
        assert (await phone.get(url)).status_code == 404


async def test_codes_are_checked_against_the_organisation_configuration(stack: Stack) -> None:
    campaigns = [{"code": "tartkalas", "labels": {"sv": "Tårtkalas", "en": "Cake party"}}]
    body = factories.configuration(campaigns=campaigns)
    await factories.configure(stack.intake.client, [mint_token(ORG_A, "admin")], body)

    async def learnt() -> bool:
        found = await stack.events.pool.fetchval(
            "SELECT campaigns FROM organisations WHERE organisation_id = $1", ORG_A
        )
        return "tartkalas" in (found or [])

    await eventually(learnt)
    api = stack.api
    assert ("body", "district") in fields(await api.post("/venues", json={"name": "x", "district": "atlantis"}))
    bad = {
        "title": "x",
        "type_code": "fair_stand",
        "district": "atlantis",
        "programmes": ["nope"],
        "campaign": "nope",
        "starts_at": soon(),
        "ends_at": soon(hour=20),
    }
    assert fields(await api.post("/activities", json=bad)) >= {
        ("body", "district"),
        ("body", "programmes", 0),
        ("body", "campaign"),
    }
    stand = (await one_off(api, district="skaggetorp", type_code="fair_stand", campaign="tartkalas"))["occurrences"][0]
    path = f"/occurrences/{stand['id']}/campaign-signups"
    assert ("body", "campaign_signups", 0, "campaign") in fields(
        await api.put(path, json={"counts": [{"campaign": "other", "count": 3}]}, headers={"If-Match": "*"})
    )
    assert ("body", "programme") in fields(
        await api.put("/activity-types/kor", json={"labels": {"sv": "Kör"}, "programme": "x"})
    )
    choir = await api.put("/activity-types/kor", json={"labels": {"sv": "Kör"}, "programme": "sprakvan"})
    assert choir.status_code == 201 and choir.headers["etag"] == '"1"'  # a new type: no If-Match needed
    open_to_all = {"title": "Kör", "type_code": "kor", "district": "ryd", "starts_at": soon(), "ends_at": soon(hour=20)}
    assert ("body", "type_code") in fields(await api.post("/activities", json=open_to_all))
    assert (await api.post("/activities", json={**open_to_all, "programmes": ["sprakvan"]})).status_code == 201
    assert (await api.put("/activity-types/language_cafe", json={"labels": {"sv": "x"}})).status_code == 409
    types = {t["code"]: t for t in (await api.get("/activity-types")).json()}
    assert types["kor"] == {
        "code": "kor",
        "labels": {"sv": "Kör"},
        "programme": "sprakvan",
        "built_in": False,
        "version": 1,
    }
    assert sum(t["built_in"] for t in types.values()) == 10 and types["group_matching"]["built_in"]
    assert "kor" not in {
        t["code"] for t in (await api.get("/activity-types", headers=stack.events.as_(org=ORG_B))).json()
    }
    recorded = await api.put(
        path, json={"counts": [{"campaign": "tartkalas", "count": 50}]}, headers={"If-Match": '"1"'}
    )
    assert recorded.status_code == 200 and recorded.json()["totals"]["campaign_signups"] == 50
    assert json.loads(recorded.content)["campaign_signups"] == [{"campaign": "tartkalas", "count": 50}]


async def test_series_keeps_local_time_across_dst_moves_relocates_and_changes_from_a_day(stack: Stack) -> None:
    api = stack.api
    venue = (await api.post("/venues", json={"name": "Skäggetorps bibliotek", "district": "skaggetorp"})).json()
    elsewhere = (await api.post("/venues", json={"name": "Berga", "district": "berga"})).json()
    skipped = {"first_day": "2027-03-28", "starts": "02:30", "ends": "04:00", "rule": "FREQ=WEEKLY;BYDAY=SU"}
    body = {"title": "Språkcafé", "type_code": "language_cafe", "venue_id": venue["id"], "capacity": 15}
    assert ("body", "schedule", "starts") in fields(await api.post("/series", json={**body, "schedule": skipped}))

    start = datetime.now(UTC).date() + timedelta(days=1)
    weekly = {"first_day": start.isoformat(), "starts": "18:00", "ends": "20:00", "rule": "FREQ=WEEKLY;BYDAY=MO,WE"}
    created = await api.post("/series", json={**body, "schedule": weekly})
    assert created.status_code == 201, created.text
    series = created.json()
    occurrences = series["occurrences"]
    assert len(occurrences) >= 40  # half a year ahead
    # Local time with the offset of its day (the fixed-date DST cases are in test_events_recurrence.py).
    assert {o["starts_at"][-6:] for o in occurrences} <= {"+01:00", "+02:00"}
    assert {o["starts_at"][11:16] for o in occurrences} == {"18:00"}

    target = occurrences[3]
    read = {"If-Match": f'"{target["version"]}"'}
    move = {"starts_at": target["starts_at"][:10] + "T17:00:00", "ends_at": target["starts_at"][:10] + "T19:00:00"}
    assert (await api.patch(f"/occurrences/{target['id']}", json=move)).status_code == 428  # If-Match required
    moved = await api.patch(f"/occurrences/{target['id']}", json=move, headers=read)
    assert moved.status_code == 200 and moved.json()["starts_at"][11:16] == "17:00" and moved.json()["sequence"] == 1
    assert moved.headers["etag"] == f'"{moved.json()["version"]}"' != read["If-Match"]
    # A second coordinator who read the same version: 412 with the current ETag, and nothing of it is saved.
    stale = await api.patch(f"/occurrences/{target['id']}", json={"venue_id": elsewhere["id"], **move}, headers=read)
    assert stale.status_code == 412 and stale.headers["etag"] == moved.headers["etag"]
    assert (await api.get(f"/occurrences/{target['id']}")).json()["district"] != "berga"
    relocated = await api.patch(
        f"/occurrences/{target['id']}", json={"venue_id": elsewhere["id"]}, headers={"If-Match": moved.headers["etag"]}
    )
    assert relocated.json()["district"] == "berga" and relocated.json()["original_start"] == target["original_start"]
    # Times, venue and capacity in one PATCH: one activity.changed, carrying the final state of all three.
    published = "SELECT body FROM outbox WHERE event_type = 'activity.changed' AND aggregate_id = $1 ORDER BY id"
    before = len(await stack.events.pool.fetch(published, target["id"]))
    everything = {**move, "starts_at": move["starts_at"][:11] + "16:00:00", "venue_id": venue["id"], "capacity": 4}
    combined = await api.patch(
        f"/occurrences/{target['id']}", json=everything, headers={"If-Match": relocated.headers["etag"]}
    )
    assert combined.status_code == 200, combined.text
    bodies = [json.loads(row["body"]) for row in await stack.events.pool.fetch(published, target["id"])]
    assert len(bodies) == before + 1
    state = bodies[-1]["payload"]
    assert (state["district"], state["capacity"], combined.json()["starts_at"][11:16]) == ("skaggetorp", 4, "16:00")
    assert datetime.fromisoformat(state["starts_at"]) == datetime.fromisoformat(combined.json()["starts_at"])
    assert bodies[-1]["version"] == combined.json()["version"]
    assert ("body", "ends_at") in fields(
        await api.patch(
            f"/occurrences/{target['id']}", json={"starts_at": target["starts_at"]}, headers={"If-Match": "*"}
        )
    )

    pid = await stack.register()
    later = occurrences[10]
    assert (await api.post(f"/occurrences/{later['id']}/signups", json={"participant_id": pid})).status_code == 201
    from_day = later["starts_at"][:10]
    change = {
        **body,
        "from_day": from_day,
        "schedule": {**weekly, "first_day": from_day, "starts": "17:30", "ends": "19:30"},
    }
    successor = await api.post(f"/series/{series['id']}/change-from", json=change)
    assert successor.status_code == 200, successor.text
    continued = successor.json()
    assert continued["continues"] == series["id"] and {o["starts_at"][11:16] for o in continued["occurrences"]} == {
        "17:30"
    }
    same_day = next(o for o in continued["occurrences"] if o["starts_at"][:10] == from_day)
    carried = (await api.get(f"/occurrences/{same_day['id']}/signups")).json()
    assert [(s["participant_id"], s["status"]) for s in carried] == [(pid, "confirmed")]
    old = (await api.get(f"/activities/{series['id']}")).json()
    assert old["status"] == "ended"
    assert {o["cancel_reason"] for o in old["occurrences"] if o["starts_at"][:10] >= from_day} == {"series_changed"}
    assert (await api.get(f"/occurrences/{target['id']}")).json()["status"] == "scheduled"  # before the change


async def test_series_grow_to_the_horizon_as_time_passes_and_the_kit_documents_the_events(
    start_service: ServiceStarter,
) -> None:
    async with start_service(EVENTS, horizon_days=14, extend_every_seconds=60) as events:
        api = events.client
        start = datetime.now(UTC).date() + timedelta(days=1)
        schedule = {"first_day": start.isoformat(), "starts": "18:00", "ends": "20:00", "rule": "FREQ=DAILY"}
        body = {"title": "Läxhjälp", "type_code": "social", "district": "ryd", "capacity": 10, "schedule": schedule}
        series = (await api.post("/series", json=body)).json()
        assert 13 <= len(series["occurrences"]) <= 14

        later = datetime.now(UTC) + timedelta(days=30)
        events.app.state.clock = lambda: later
        assert (await api.get("/occurrences")).status_code == 200  # a read extends the series
        grown = (await api.get(f"/activities/{series['id']}")).json()["occurrences"]
        assert 43 <= len(grown) <= 44
        assert [o["id"] for o in grown[: len(series["occurrences"])]] == [o["id"] for o in series["occurrences"]]

        asyncapi = (await api.get("/asyncapi.json")).json()
        documented = json.dumps(asyncapi)
        for event_type in EVENTS_EVENTS:
            assert event_type.subject_filter() in documented, event_type.EVENT_TYPE


async def test_a_venue_is_changed_in_place_and_feeds_are_listed_without_their_urls(stack: Stack) -> None:
    api, other = stack.api, stack.events.as_(org=ORG_B)
    venue = (await api.post("/venues", json={"name": "Agora", "district": "skaggetorp", "capacity": 20})).json()
    body = {"name": "Agora, stora salen", "district": "berga", "capacity": 35, "accessibility": "Hörselslinga"}
    changed = await api.put(f"/venues/{venue['id']}", json=body, headers={"If-Match": '"1"'})
    assert changed.status_code == 200 and changed.json() == {"id": venue["id"], "address": "", "version": 2, **body}
    assert (await api.get("/venues")).json() == [changed.json()]
    anyhow = {"If-Match": "*"}
    atlantis = await api.put(f"/venues/{venue['id']}", json=body | {"district": "atlantis"}, headers=anyhow)
    assert ("body", "district") in fields(atlantis)
    for capacity in (-1, False, "12"):
        assert ("body", "capacity") in fields(
            await api.put(f"/venues/{venue['id']}", json=body | {"capacity": capacity}, headers=anyhow)
        )
    theirs = await api.put(f"/venues/{venue['id']}", json=body | {"name": "x"}, headers=other | anyhow)
    assert theirs.status_code == 404
    assert (await api.put(f"/venues/{uuid.uuid4()}", json=body, headers=anyhow)).status_code == 404
    viewer = stack.events.as_(role=Role.VIEWER)
    assert (await api.put(f"/venues/{venue['id']}", json=body, headers=viewer)).status_code == 403
    assert (await api.get("/venues")).json()[0]["name"] == "Agora, stora salen"

    kept = (await api.post("/feeds", json={"scope": "venue", "value": venue["id"], "name": "Agora"})).json()
    gone = (await api.post("/feeds", json={"scope": "organisation", "name": "Allt"})).json()
    assert (await api.delete(f"/feeds/{gone['id']}")).status_code == 204
    listed = (await api.get("/feeds", headers=viewer)).json()
    assert listed == [{"id": kept["id"], "scope": "venue", "value": venue["id"], "name": "Agora"}]
    assert (await api.get("/feeds", headers=other)).json() == []


async def test_concurrent_walk_in_steps_all_count_and_never_go_below_zero(stack: Stack) -> None:
    api = stack.api
    occurrence = (await one_off(api, capacity=None))["occurrences"][0]
    url = f"/occurrences/{occurrence['id']}/walk-ins/step"
    woman = {"role": "newcomer", "gender": "woman", "step": 1}
    answers = await asyncio.gather(*(api.post(url, json=woman) for _ in range(12)))
    assert [a.status_code for a in answers] == [200] * 12
    await api.post(url, json={"role": "established", "gender": "man", "step": -1})  # nothing to take away
    sheet = (await api.post(url, json=woman | {"step": -1})).json()
    assert sheet["walk_ins"] == [{"role": "newcomer", "gender": "woman", "count": 11}]
    assert sheet["totals"]["walk_ins"] == 11
    for odd in ({"step": 2}, {"step": True}, {"step": 0}, {"gender": "x"}):
        assert (await api.post(url, json=woman | odd)).status_code == 422, odd
    assert (await api.post(url, json=woman, headers=stack.events.as_(org=ORG_B))).status_code == 404
    assert (await api.post(url, json=woman, headers=stack.events.as_(role=Role.VIEWER))).status_code == 403
    await api.post(f"/occurrences/{occurrence['id']}/cancel")
    assert (await api.post(url, json=woman)).status_code == 409


async def test_partners_strict_numbers_and_an_occurrence_change_that_is_all_or_nothing(stack: Stack) -> None:
    api, other = stack.api, stack.events.as_(org=ORG_B)
    library = (await api.post("/partners", json={"name": "Skäggetorps bibliotek", "kind": "library"})).json()
    red_cross = await api.post("/partners", json={"name": "Röda Korset Linköping", "kind": "red_cross"})
    assert red_cross.status_code == 201, red_cross.text
    red_cross = red_cross.json()
    assert ("body", "kind") in fields(await api.post("/partners", json={"name": "Banken", "kind": "bank"}))
    assert [p["id"] for p in (await api.get("/partners")).json()] == [red_cross["id"], library["id"]]
    assert (await api.get("/partners", headers=other)).json() == []
    theirs = (await api.post("/partners", json={"name": "Annat AB", "kind": "company"}, headers=other)).json()

    # An activity names partners of its own organisation, each once.
    body = {"title": "Språkcafé", "type_code": "language_cafe", "district": "skaggetorp", "capacity": 10}
    one_off_body = {**body, "starts_at": soon(), "ends_at": soon(hour=20)}
    for partner_ids in ([theirs["id"]], [str(uuid.uuid4())], [library["id"], library["id"]]):
        refused = await api.post("/activities", json={**one_off_body, "partner_ids": partner_ids})
        assert ("body", "partner_ids") in fields(refused), partner_ids
    weekly = {"first_day": soon(days=1)[:10], "starts": "18:00", "ends": "20:00", "rule": "FREQ=WEEKLY", "count": 2}
    series = await api.post("/series", json={**body, "schedule": weekly, "partner_ids": [theirs["id"]]})
    assert ("body", "partner_ids") in fields(series)
    hosted = await one_off(api, capacity=10, partner_ids=[library["id"], red_cross["id"]])
    assert hosted["partner_ids"] == [library["id"], red_cross["id"]]
    occurrence = hosted["occurrences"][0]
    scheduled = await stack.events.pool.fetchval(
        "SELECT body FROM outbox WHERE event_type = 'activity.scheduled' AND aggregate_id = $1", occurrence["id"]
    )
    assert json.loads(scheduled)["payload"]["partner_ids"] == [library["id"], red_cross["id"]]

    # Numbers and switches are strict: JSON's true is not one place, a count or an override.
    url = f"/occurrences/{occurrence['id']}"
    pid = await stack.register()
    for odd in (True, 1.5, "3"):
        assert ("body", "capacity") in fields(await api.post("/activities", json={**one_off_body, "capacity": odd}))
        assert ("body", "capacity") in fields(await api.patch(url, json={"capacity": odd}))
        assert ("body", "schedule", "count") in fields(
            await api.post("/series", json={**body, "schedule": {**weekly, "count": odd}})
        )
        walk_in = {"role": "newcomer", "gender": "man", "count": odd}
        anyhow = {"If-Match": "*"}
        walk_ins = await api.put(f"{url}/walk-ins", json={"counts": [walk_in]}, headers=anyhow)
        assert ("body", "counts", 0, "count") in fields(walk_ins)
        campaign = {"campaign": "cake-party-city-hall-2019", "count": odd}
        assert ("body", "counts", 0, "count") in fields(
            await api.put(f"{url}/campaign-signups", json={"counts": [campaign]}, headers=anyhow)
        )
    for odd in (1, "yes", "true"):
        forced = await api.post(f"{url}/signups", json={"participant_id": pid, "over_capacity": odd})
        assert ("body", "over_capacity") in fields(forced)
        group = await api.post(f"{url}/signups/group", json={"participant_ids": [pid], "over_capacity": odd})
        assert ("body", "over_capacity") in fields(group)
        assert ("body", "capacity_unlimited") in fields(await api.patch(url, json={"capacity_unlimited": odd}))
    assert (await api.get(f"{url}/signups")).json() == []
    seats = (await api.get(url)).json()
    assert (seats["capacity"], seats["version"]) == (10, 1)

    # One PATCH is one change: a refused part leaves the move undone too.
    read = {"If-Match": f'"{seats["version"]}"'}
    day = occurrence["starts_at"][:10]
    move = {"starts_at": f"{day}T17:00:00", "ends_at": f"{day}T19:00:00"}
    nowhere = {**move, "venue_id": str(uuid.uuid4())}
    assert ("body", "venue_id") in fields(await api.patch(url, json=nowhere, headers=read))
    assert (await api.get(url)).json() == seats
    assert ("body", "capacity") in fields(await api.patch(url, json={**move, "capacity": -1}, headers=read))
    assert (await api.get(url)).json() == seats
    changed = await api.patch(url, json={**move, "capacity": 12}, headers=read)
    assert changed.status_code == 200 and changed.json()["starts_at"][11:16] == "17:00"
    assert changed.json()["capacity"] == 12


async def test_whole_puts_take_the_version_they_read_and_a_stale_one_changes_nothing(stack: Stack) -> None:
    """Venues, a programme's types and an occurrence's count tables: 428 without If-Match, 412 (with the
    current ETag) on a stale one and nothing saved, the right one saves and moves the ETag."""
    api = stack.api
    venue = (await api.post("/venues", json={"name": "Agora", "district": "skaggetorp"})).json()
    read = await api.get(f"/venues/{venue['id']}")
    assert read.headers["etag"] == '"1"' == f'"{read.json()["version"]}"'
    first = {"name": "Agora, lilla salen", "district": "skaggetorp"}
    assert (await api.put(f"/venues/{venue['id']}", json=first)).status_code == 428
    saved = await api.put(f"/venues/{venue['id']}", json=first, headers={"If-Match": read.headers["etag"]})
    assert saved.status_code == 200 and saved.headers["etag"] == '"2"'
    second = {"name": "Agora, stora salen", "district": "berga"}
    stale = await api.put(f"/venues/{venue['id']}", json=second, headers={"If-Match": read.headers["etag"]})
    assert stale.status_code == 412 and stale.headers["etag"] == '"2"'
    now = await api.get(f"/venues/{venue['id']}")
    assert now.json()["name"] == "Agora, lilla salen" and now.headers["etag"] == '"2"'
    assert (await api.get(f"/venues/{uuid.uuid4()}")).status_code == 404
    assert (await api.get(f"/venues/{venue['id']}", headers=stack.events.as_(org=ORG_B))).status_code == 404

    labels = {"labels": {"sv": "Kör"}}
    created = await api.put("/activity-types/kor", json=labels)
    assert created.status_code == 201 and created.headers["etag"] == '"1"'
    assert (await api.put("/activity-types/kor", json={"labels": {"sv": "Sång"}})).status_code == 428
    assert (await api.put("/activity-types/ny", json=labels, headers={"If-Match": '"1"'})).status_code == 412
    renamed = await api.put("/activity-types/kor", json={"labels": {"sv": "Sång"}}, headers={"If-Match": '"1"'})
    assert renamed.status_code == 200 and renamed.headers["etag"] == '"2"'
    late = await api.put("/activity-types/kor", json={"labels": {"sv": "Kör"}}, headers={"If-Match": '"1"'})
    assert late.status_code == 412 and late.headers["etag"] == '"2"'
    types = {t["code"]: t for t in (await api.get("/activity-types")).json()}
    assert types["kor"]["labels"] == {"sv": "Sång"} and types["kor"]["version"] == 2 and "ny" not in types

    occurrence = (await one_off(api, capacity=None))["occurrences"][0]
    url = f"/occurrences/{occurrence['id']}"
    sheet = await api.get(f"{url}/attendance")
    assert sheet.headers["etag"] == '"1"' == f'"{sheet.json()["counts_version"]}"'
    table = {"counts": [{"role": "newcomer", "gender": "man", "count": 4}]}
    assert (await api.put(f"{url}/walk-ins", json=table)).status_code == 428
    assert (await api.put(f"{url}/campaign-signups", json={"counts": []})).status_code == 428
    # Another phone's step in between makes the table this one read stale: the step is not overwritten.
    stepped = await api.post(f"{url}/walk-ins/step", json={"role": "newcomer", "gender": "woman", "step": 1})
    assert stepped.headers["etag"] == '"2"'
    stale = await api.put(f"{url}/walk-ins", json=table, headers={"If-Match": sheet.headers["etag"]})
    assert stale.status_code == 412 and stale.headers["etag"] == '"2"'
    kept = await api.get(f"{url}/attendance")
    assert kept.json()["walk_ins"] == [{"role": "newcomer", "gender": "woman", "count": 1}]
    # A check-in is one person's line, not the tables: it leaves their version.
    pid = await stack.register()
    assert (await api.put(f"{url}/check-ins/{pid}", json={"outcome": "came"})).status_code == 200
    assert (await api.get(f"{url}/attendance")).headers["etag"] == '"2"'
    replaced = await api.put(f"{url}/walk-ins", json=table, headers={"If-Match": kept.headers["etag"]})
    assert replaced.status_code == 200 and replaced.headers["etag"] == '"3"'
    assert replaced.json()["walk_ins"] == table["counts"]
    late = await api.put(f"{url}/campaign-signups", json={"counts": []}, headers={"If-Match": '"2"'})
    assert late.status_code == 412
    assert (await api.get(f"{url}/attendance")).json()["walk_ins"] == table["counts"]

    document = (await api.get("/openapi.json")).json()["paths"]
    for path in ("/venues/{venue_id}", "/activity-types/{code}", "/occurrences/{occurrence_id}/walk-ins"):
        operation = document[path]["put"]
        assert {"412", "428"} <= set(operation["responses"]), path
        assert "If-Match" in {p["name"] for p in operation["parameters"]}, path


async def test_two_concurrent_whole_table_puts_at_one_version_one_wins_the_other_is_a_412(stack: Stack) -> None:
    """The campaign counter (and the walk-in table) replace the whole table at the version read: two phones
    that read the same version and save at once must not both win (the second would erase the first's count)."""
    api = stack.api
    stand = (await one_off(api, type_code="fair_stand", campaign="cake-party-city-hall-2019"))["occurrences"][0]
    url = f"/occurrences/{stand['id']}"
    read = (await api.get(f"{url}/attendance")).headers["etag"]
    for table, path in (
        (lambda n: {"counts": [{"campaign": "cake-party-city-hall-2019", "count": n}]}, "campaign-signups"),
        (lambda n: {"counts": [{"role": "newcomer", "gender": "woman", "count": n}]}, "walk-ins"),
    ):
        puts = await asyncio.gather(
            *(api.put(f"{url}/{path}", json=table(n), headers={"If-Match": read}) for n in (3, 5, 7, 11))
        )
        assert sorted(p.status_code for p in puts) == [200, 412, 412, 412], [p.text for p in puts]
        (won,) = [p for p in puts if p.status_code == 200]
        assert all(p.headers["etag"] == won.headers["etag"] for p in puts)  # the losers learn the version now
        sheet = (await api.get(f"{url}/attendance")).json()
        assert sheet[kept_key(path)] == won.json()[kept_key(path)] == table(sheet[kept_key(path)][0]["count"])["counts"]
        read = won.headers["etag"]


def kept_key(path: str) -> str:
    return "campaign_signups" if path == "campaign-signups" else "walk_ins"
