"""The history import and export of the events service (issue 13) on real NATS and PostgreSQL, with intake
(the participants) and reporting (the 2024 review) running beside it: one stack, one journey through a
language café of 2024 and a fair stand."""

from __future__ import annotations

from typing import Any

import httpx
import nats
import pytest

from sprakvan_events.service import SERVICE as EVENTS
from sprakvan_intake.service import SERVICE as INTAKE
from sprakvan_reporting.service import SERVICE as REPORTING
from sprakvan_shared.contracts.subjects import EVENTS_STREAM, Namespace
from tests import factories
from tests.factories import established, newcomer
from tests.kit import ORG_A, ORG_B, ServiceStarter, eventually, mint_token
from tests.streams import stream_messages

pytestmark = pytest.mark.infra
ADMIN = {"Authorization": f"Bearer {mint_token(ORG_A, 'admin', 'admin-1')}"}
YEAR_2024 = {"from": "2024-01-01", "to": "2024-12-31"}


def rows(*given: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"row": n, **r} for n, r in enumerate(given, start=2)]


async def send(api: httpx.AsyncClient, kind: str, body_rows: list[dict], **extra: Any) -> dict:
    response = await api.post(f"/imports/{kind}", json={"rows": body_rows, **extra}, headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()


def outcomes(result: dict) -> dict[str, str]:
    return {r["key"]: r["outcome"] for r in result["results"]}


def errors(result: dict) -> dict[str, set[tuple[str, str]]]:
    return {r["key"]: {(e["field"], e["code"]) for e in r["errors"]} for r in result["results"] if r["errors"]}


def café(people: list[str]) -> dict[str, list[dict]]:
    """A weekly café at Skäggetorp library in March 2024 (one evening cancelled) and a fair stand in August."""
    p1, p2, p3, p4 = people
    return {
        "venues": rows(
            {"key": "v-library", "name": "Skäggetorps bibliotek", "district": "skaggetorp", "capacity": 20},
        ),
        "activities": rows(
            {
                "key": "a-cafe",
                "title": "Språkcafé",
                "type_code": "language_cafe",
                "venue_key": "v-library",
                "capacity": 2,
            },
            {
                "key": "a-stand",
                "title": "Stadsfesten",
                "type_code": "fair_stand",
                "district": "innerstaden",
                "campaign": "cake-party-city-hall-2019",
            },
        ),  # fmt: skip
        "occurrences": rows(
            {"key": "o-1", "activity_key": "a-cafe", "date": "2024-03-04", "starts": "18:00", "ends": "20:00"},
            {"key": "o-2", "activity_key": "a-cafe", "date": "2024-03-11", "starts": "18:00", "ends": "20:00"},
            {
                "key": "o-3",
                "activity_key": "a-cafe",
                "date": "2024-03-18",
                "starts": "18:00",
                "ends": "20:00",
                "cancelled": True,
            },
            {"key": "o-4", "activity_key": "a-stand", "date": "2024-08-24", "starts": "11:00", "ends": "16:00"},
        ),  # fmt: skip
        "signups": rows(
            {
                "key": "s-1",
                "occurrence_key": "o-1",
                "participant_id": p1,
                "status": "confirmed",
                "signed_up_at": "2024-02-28",
            },
            {"key": "s-2", "occurrence_key": "o-1", "participant_id": p2, "status": "confirmed"},
            {
                "key": "s-3",
                "occurrence_key": "o-1",
                "participant_id": p3,
                "status": "cancelled",
                "cancelled_at": "2024-03-01T09:00:00+01:00",
            },
            {"key": "s-4", "occurrence_key": "o-2", "participant_id": p1, "status": "confirmed"},
            {"key": "s-5", "occurrence_key": "o-2", "participant_id": p4, "status": "waitlisted"},
        ),  # fmt: skip
        "attendance": rows(
            {"key": "c-1", "occurrence_key": "o-1", "participant_id": p1, "outcome": "came"},
            {"key": "c-2", "occurrence_key": "o-1", "participant_id": p2, "outcome": "no_show"},
            {"key": "c-3", "occurrence_key": "o-2", "participant_id": p1, "outcome": "came"},
            {"key": "c-4", "occurrence_key": "o-2", "participant_id": p4, "outcome": "came"},
        ),
        "walk_ins": rows(
            {"key": "w-1", "occurrence_key": "o-1", "role": "newcomer", "gender": "man", "count": 2},
            {"key": "w-2", "occurrence_key": "o-4", "role": "established", "gender": "woman", "count": 5},
        ),
        "campaign_signups": rows(
            {"key": "k-1", "occurrence_key": "o-4", "campaign": "cake-party-city-hall-2019", "count": 12},
        ),
    }


KINDS = ("venues", "activities", "occurrences", "signups", "attendance", "walk_ins", "campaign_signups")


async def test_a_year_of_cafés_imports_with_its_real_dates_once(start_service: ServiceStarter, nc: nats.NATS) -> None:
    async with (
        start_service(INTAKE) as intake,
        start_service(EVENTS, consumer_backoff_seconds=(0.1, 0.2)) as events,
        start_service(REPORTING) as reporting,
    ):
        await factories.configure(intake.client, [mint_token(org, "admin") for org in (ORG_A, ORG_B)])
        people = []
        for body in (newcomer(), newcomer(gender="man"), established(), established(gender="man")):
            response = await intake.client.post("/participants", json=body)
            assert response.status_code == 201, response.text
            people.append(response.json()["id"])

        async def learnt() -> bool:
            known = await events.pool.fetchval("SELECT count(*) FROM participants")
            configured = await events.pool.fetchval("SELECT count(*) FROM organisations")
            return known == 4 and configured == 2

        await eventually(learnt)
        api, sheets = events.client, café(people)

        # Only admins import; a dry run answers as for real and leaves nothing behind.
        for role in ("coordinator", "viewer"):
            refused = await api.post("/imports/venues", json={"rows": sheets["venues"]}, headers=events.as_(role=role))
            assert refused.status_code == 403
        trial = await send(api, "venues", sheets["venues"], dry_run=True)
        assert (trial["dry_run"], trial["created"]) == (True, 1)
        assert await events.pool.fetchval("SELECT count(*) FROM venues") == 0
        assert await events.pool.fetchval("SELECT count(*) FROM import_keys") == 0

        ids: dict[str, str] = {}
        for kind in KINDS:
            result = await send(api, kind, sheets[kind])
            assert result["created"] == len(sheets[kind]) and result["refused"] == 0, (kind, result)
            ids.update({r["key"]: r["id"] for r in result["results"]})
        outbox_after_import = await events.pool.fetchval("SELECT count(*) FROM outbox")

        # The API shows the past occurrences where and when they were, with their seats and attendance.
        listed = {o["id"]: o for o in (await api.get("/occurrences", params=YEAR_2024)).json()}
        first, second = listed[ids["o-1"]], listed[ids["o-2"]]
        assert (first["starts_at"], first["ends_at"]) == ("2024-03-04T18:00:00+01:00", "2024-03-04T20:00:00+01:00")
        assert (first["district"], listed[ids["o-4"]]["district"]) == ("skaggetorp", "innerstaden")
        assert (first["confirmed"], second["confirmed"], second["waitlisted"]) == (2, 1, 1)
        assert [listed[ids[k]]["status"] for k in ("o-1", "o-3")] == ["scheduled", "cancelled"]
        cafe = (await api.get(f"/activities/{ids['a-cafe']}")).json()
        assert (cafe["kind"], cafe["schedule"], len(cafe["occurrences"])) == ("series", None, 3)
        sheet = (await api.get(f"/occurrences/{ids['o-1']}/attendance")).json()["totals"]
        assert (sheet["came"], sheet["no_show"], sheet["walk_ins"]) == (1, 1, 2)

        # The ordinary events, with the real dates; no titles.
        ns: Namespace = events.settings.namespace

        async def published() -> list:
            messages = await stream_messages(nc.jetstream(), ns.stream(EVENTS_STREAM))
            sheets = {
                m.json["aggregate_id"]: m.json["payload"] for m in messages if m.json["type"] == "attendance.recorded"
            }
            complete = sheets.get(ids["o-1"], {}).get("walk_ins") and sheets.get(ids["o-4"], {}).get("campaign_signups")
            return messages if complete and len({m.subject for m in messages}) == 4 + 5 + 3 else []

        messages = await eventually(published)
        kinds = sorted(
            m.subject.split(".", 2)[2].split(".", 1)[0] + "." + m.subject.rsplit(".", 1)[1] for m in messages
        )
        assert kinds.count("activity.scheduled") == 3 and kinds.count("activity.cancelled") == 1
        assert sorted(k for k in kinds if k.startswith("signup")) == sorted(
            ["signup.confirmed"] * 3 + ["signup.waitlisted", "signup.cancelled"]
        )
        by_aggregate = {(m.json["type"], m.json["aggregate_id"]): m.json for m in messages}
        scheduled = by_aggregate["activity.scheduled", ids["o-1"]]["payload"]
        assert (scheduled["starts_at"], scheduled["type_code"]) == ("2024-03-04T17:00:00Z", "language_cafe")
        attendance = by_aggregate["attendance.recorded", ids["o-1"]]["payload"]
        assert sorted(c["outcome"] for c in attendance["check_ins"]) == ["came", "no_show"]
        assert attendance["walk_ins"] == [{"role": "newcomer", "gender": "man", "count": 2}]
        assert all("Språkcafé" not in m.data.decode() and "bibliotek" not in m.data.decode() for m in messages)

        # Reporting counts the 2024 sessions and their attendance in 2024, and as the year before in 2025.
        async def review(year: int) -> dict:
            period = {"from": f"{year}-01-01", "to": f"{year}-12-31"}
            answer = await reporting.client.get("/reviews", params=period, headers=reporting.as_(role="viewer"))
            assert answer.status_code == 200, answer.text
            return answer.json()["figures"]

        expected = {"activities": 2, "sessions": 3, "signups": 3, "attended_registered": 3, "attended_walk_in": 7,
                    "attendance": 10, "stand_signups_by_campaign": {"cake-party-city-hall-2019": 12}}  # fmt: skip

        async def counted() -> dict:
            figures = (await review(2024))["current"]["activities"]
            return {k: figures[k] for k in expected}

        # Reporting learns in order: once it has the last event of the import (the stand's count), it has all.
        async def complete() -> dict | None:
            found = await counted()
            return found if found["stand_signups_by_campaign"] else None

        await eventually(complete, timeout=30)
        assert await counted() == expected
        after = await review(2025)
        assert (after["current"]["activities"]["sessions"], after["previous"]["activities"]["sessions"]) == (0, 3)

        # The same file again changes nothing and publishes nothing.
        for kind in KINDS:
            again = await send(api, kind, sheets[kind])
            assert again["unchanged"] == len(sheets[kind]), (kind, again)
            assert [r["id"] for r in again["results"]] == [ids[r["key"]] for r in sheets[kind]]
        assert await events.pool.fetchval("SELECT count(*) FROM outbox") == outbox_after_import

        # A changed row updates its aggregate and announces the new full state, version + 1.
        corrected = [{**sheets["attendance"][1], "outcome": "came"}]
        changed = await send(api, "attendance", corrected)
        assert (changed["updated"], changed["results"][0]["id"]) == (1, ids["o-1"])
        moved = [{**sheets["occurrences"][1], "starts": "17:30"}]
        assert (await send(api, "occurrences", moved))["updated"] == 1
        assert (await api.get(f"/occurrences/{ids['o-2']}")).json()["starts_at"] == "2024-03-11T17:30:00+01:00"

        async def corrected_published() -> dict | None:
            messages = await stream_messages(nc.jetstream(), ns.stream(EVENTS_STREAM))
            found = {(m.json["type"], m.json["aggregate_id"]): m.json for m in messages}
            # The stream keeps the newest message of a subject: one read may fall between the old and the new.
            sheet = found.get(("attendance.recorded", ids["o-1"]), {"payload": {"check_ins": []}})
            both = ("activity.changed", ids["o-2"]) in found
            return found if both and [c["outcome"] for c in sheet["payload"]["check_ins"]] == ["came"] * 2 else None

        latest = await eventually(corrected_published)
        assert latest["attendance.recorded", ids["o-1"]]["version"] > attendance_version(by_aggregate, ids["o-1"])
        assert latest["activity.changed", ids["o-2"]]["payload"]["starts_at"] == "2024-03-11T16:30:00Z"

        # A venue's corrected district moves its activities' occurrences with it.
        relocated = [{**sheets["venues"][0], "district": "berga"}]
        assert (await send(api, "venues", relocated))["updated"] == 1
        assert (await api.get(f"/occurrences/{ids['o-3']}")).json()["district"] == "berga"
        assert (await api.get(f"/occurrences/{ids['o-4']}")).json()["district"] == "innerstaden"

        await refused_rows_are_named_and_hold_back_their_dependants(api, people, ids)
        await another_organisation_sees_nothing(api)
        await a_dry_run_checks_later_kinds_against_what_it_would_create(api, events, people)
        await exports_give_the_rows_back(api, events, sheets)

        # An erased participant's imported sign-ups and check-ins lose their keys (the counts stay).
        assert (await intake.client.delete(f"/participants/{people[3]}")).status_code == 204

        async def forgotten() -> bool:
            keys = await events.pool.fetch("SELECT key FROM import_keys WHERE kind IN ('signups', 'attendance')")
            return {"s-5", "c-4"}.isdisjoint(r["key"] for r in keys) and {"s-1", "c-1"} <= {r["key"] for r in keys}

        await eventually(forgotten)
        sheet = (await api.get(f"/occurrences/{ids['o-2']}/attendance")).json()["totals"]
        assert sheet["came"] == 2


def attendance_version(by_aggregate: dict, occurrence_id: str) -> int:
    return by_aggregate["attendance.recorded", occurrence_id]["version"]


async def refused_rows_are_named_and_hold_back_their_dependants(
    api: httpx.AsyncClient, people: list[str], ids: dict[str, str]
) -> None:
    stranger = "00000000-0000-4000-8000-000000000001"
    activities = await send(
        api,
        "activities",
        rows(
            {"key": "a-good", "title": "Promenad", "type_code": "walk_and_talk", "district": "ryd"},
            {"key": "a-nowhere", "title": "Promenad", "type_code": "walk_and_talk", "district": "atlantis"},
            {"key": "a-odd", "title": "Boule", "type_code": "boule", "venue_key": "v-missing", "capacity": -1},
            {"key": "a-true", "title": "Fika", "type_code": "social", "district": "ryd", "capacity": True},
        ),
    )
    assert outcomes(activities) == {
        "a-good": "created",
        "a-nowhere": "refused",
        "a-odd": "refused",
        "a-true": "refused",
    }
    assert errors(activities) == {
        "a-nowhere": {("district", "unknown_code")},
        "a-odd": {("venue_key", "unknown_reference")},
        "a-true": {("capacity", "invalid")},  # a spreadsheet's TRUE is not one place
    }
    occurrences = await send(
        api,
        "occurrences",
        rows(
            {"key": "o-good", "activity_key": "a-good", "date": "2024-05-02", "starts": "10:00", "ends": "11:30"},
            {"key": "o-held", "activity_key": "a-nowhere", "date": "2024-05-02", "starts": "10:00", "ends": "11:00"},
            {"key": "o-backwards", "activity_key": "a-good", "date": "2024-05-09", "starts": "11:00", "ends": "10:00"},
            {"key": "o-gap", "activity_key": "a-good", "date": "2024-03-31", "starts": "02:30", "ends": "04:00"},
            {
                "key": "o-odd",
                "activity_key": "a-good",
                "date": "2024-05-16",
                "starts": "10:00",
                "ends": "11:00",
                "capacity": True,
                "cancelled": "yes",
            },
        ),
        refused_keys={"activities": ["a-nowhere", "a-odd"]},
    )
    assert outcomes(occurrences) == {
        "o-good": "created",
        "o-held": "refused",
        "o-backwards": "refused",
        "o-gap": "refused",
        "o-odd": "refused",
    }
    assert errors(occurrences) == {
        "o-held": {("activity_key", "depends_on_refused")},
        "o-backwards": {("ends", "rule")},
        "o-gap": {("starts", "rule")},
        "o-odd": {("capacity", "invalid"), ("cancelled", "invalid")},
    }
    refused_occurrences = ["o-held", "o-backwards", "o-gap"]
    signups = await send(
        api,
        "signups",
        rows(
            {"key": "s-good", "occurrence_key": "o-good", "participant_id": people[0], "status": "confirmed"},
            {"key": "s-held", "occurrence_key": "o-held", "participant_id": people[0], "status": "confirmed"},
            {"key": "s-stranger", "occurrence_key": "o-good", "participant_id": stranger, "status": "confirmed"},
            {"key": "s-cancelled", "occurrence_key": "o-3", "participant_id": people[1], "status": "confirmed"},
            {"key": "s-twice", "occurrence_key": "o-good", "participant_id": people[0], "status": "waitlisted"},
            {"key": "s-bad", "occurrence_key": "o-good", "participant_id": "x", "status": "maybe", "secret": 1},
        ),
        refused_keys={"occurrences": refused_occurrences},
    )
    assert outcomes(signups)["s-good"] == "created" and signups["refused"] == 5
    assert errors(signups) == {
        "s-held": {("occurrence_key", "depends_on_refused")},
        "s-stranger": {("participant_id", "unknown_reference")},
        "s-cancelled": {("status", "rule")},
        "s-twice": {("participant_id", "rule")},
        "s-bad": {("participant_id", "invalid"), ("status", "invalid"), ("secret", "invalid")},
    }
    sheets = [
        ("attendance", {"participant_id": people[2], "outcome": "came"}),
        ("walk_ins", {"role": "newcomer", "gender": "woman", "count": 3}),
    ]
    for kind, cells in sheets:
        result = await send(
            api,
            kind,
            rows(
                {"key": f"{kind}-cancelled", "occurrence_key": "o-3", **cells},
                {"key": f"{kind}-held", "occurrence_key": "o-held", **cells},
                {"key": f"{kind}-good", "occurrence_key": "o-good", **cells},
            ),
            refused_keys={"occurrences": refused_occurrences},
        )
        assert errors(result) == {
            f"{kind}-cancelled": {("occurrence_key", "rule")},
            f"{kind}-held": {("occurrence_key", "depends_on_refused")},
        }
        assert result["created"] == 1
    counts = await send(
        api,
        "walk_ins",
        rows(
            {"key": "w-many", "occurrence_key": "o-good", "role": "established", "gender": "man", "count": 10_001},
            {"key": "w-true", "occurrence_key": "o-good", "role": "established", "gender": "woman", "count": True},
            {"key": "w-half", "occurrence_key": "o-good", "role": "newcomer", "gender": "man", "count": 1.5},
        ),
    )
    assert errors(counts) == {
        "w-many": {("count", "rule")},
        "w-true": {("count", "invalid")},
        "w-half": {("count", "invalid")},
    }
    campaign = await send(
        api, "campaign_signups", rows({"key": "k-x", "occurrence_key": "o-good", "campaign": "nope", "count": 1})
    )
    assert errors(campaign) == {"k-x": {("campaign", "unknown_code")}}


async def a_dry_run_checks_later_kinds_against_what_it_would_create(
    api: httpx.AsyncClient, events: Any, people: list[str]
) -> None:
    written = (
        "SELECT (SELECT count(*) FROM outbox) + (SELECT count(*) FROM import_keys) + (SELECT count(*) FROM venues)"
    )
    before = await events.pool.fetchval(written)
    planned = {"venues": ["v-new"], "activities": ["a-new"], "occurrences": ["o-new"]}

    async def dry(kind: str, *cells: dict[str, Any]) -> dict:
        return await send(api, kind, rows(*cells), dry_run=True, planned_keys=planned)

    venue = await dry("venues", {"key": "v-new", "name": "Ryds bibliotek", "district": "ryd"})
    activity = await dry(
        "activities", {"key": "a-new", "title": "Café", "type_code": "language_cafe", "venue_key": "v-new"}
    )
    occurrences = await dry(
        "occurrences",
        {"key": "o-new", "activity_key": "a-new", "date": "2024-09-02", "starts": "18:00", "ends": "20:00"},
        {"key": "o-late", "activity_key": "a-new", "date": "2024-09-09", "starts": "20:00", "ends": "18:00"},
    )
    walk_in = {"key": "w-new", "occurrence_key": "o-new", "role": "newcomer", "gender": "woman", "count": 4}
    walk_ins = await dry("walk_ins", walk_in, {**walk_in, "key": "w-huge", "gender": "man", "count": -1})
    signups = await dry(
        "signups", {"key": "s-new", "occurrence_key": "o-new", "participant_id": people[0], "status": "confirmed"}
    )
    assert [outcomes(r) for r in (venue, activity, signups)] == [
        {"v-new": "created"},
        {"a-new": "created"},
        {"s-new": "created"},
    ]
    assert outcomes(occurrences) == {"o-new": "created", "o-late": "refused"}
    assert errors(walk_ins) == {"w-huge": {("count", "rule")}} and walk_ins["created"] == 1
    assert await events.pool.fetchval(written) == before
    # Without the dry run's word, the same rows name nothing.
    alone = await send(api, "walk_ins", rows(walk_in), dry_run=True)
    assert errors(alone) == {"w-new": {("occurrence_key", "unknown_reference")}}


async def another_organisation_sees_nothing(api: httpx.AsyncClient) -> None:
    other = {"Authorization": f"Bearer {mint_token(ORG_B, 'admin', 'admin-2')}"}
    assert (await api.get("/occurrences", params=YEAR_2024, headers=other)).json() == []
    for kind in KINDS:
        page = await api.get(f"/exports/{kind}", headers=other)
        assert page.status_code == 200 and page.json()["rows"] == []
    # Its own import of the same keys is its own: nothing of ORG_A's is found or changed.
    theirs = await api.post(
        "/imports/occurrences",
        json={
            "rows": rows(
                {"key": "o-1", "activity_key": "a-cafe", "date": "2024-03-04", "starts": "18:00", "ends": "20:00"}
            )
        },
        headers=other,
    )
    assert errors(theirs.json()) == {"o-1": {("activity_key", "unknown_reference")}}


async def exports_give_the_rows_back(api: httpx.AsyncClient, events: Any, sheets: dict[str, list[dict]]) -> None:
    pages, cursor = [], None
    while True:
        page = (
            await api.get("/exports/occurrences", params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        ).json()
        pages.append(page["rows"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    exported = {r["key"]: r for page in pages for r in page}
    assert len(pages) >= 3 and all(len(p) <= 2 for p in pages)
    assert exported["o-3"] == {
        "key": "o-3", "activity_key": "a-cafe", "date": "2024-03-18", "starts": "18:00", "ends": "20:00",
        "capacity": None, "venue_key": None, "cancelled": True,
    }  # fmt: skip
    signups = {r["key"]: r for r in (await api.get("/exports/signups")).json()["rows"]}
    assert signups["s-1"]["participant_id"] == sheets["signups"][0]["participant_id"]
    assert signups["s-1"]["signed_up_at"] == "2024-02-28T11:00:00+00:00"
    hidden = (await api.get("/exports/attendance", headers=events.as_(role="viewer"))).json()["rows"]
    assert hidden and all(r["participant_id"] is None for r in hidden)
    walk_ins = {r["key"]: r for r in (await api.get("/exports/walk_ins")).json()["rows"]}
    assert walk_ins["w-1"] == {"key": "w-1", "occurrence_key": "o-1", "role": "newcomer", "gender": "man", "count": 2}
