"""Matching's history import and export (issue 13) on real NATS and PostgreSQL: pairs of 2024 with their
real dates in matching's API and in the events, refused rows named by row and field, idempotence, dry
runs, organisations and roles. Intake's events come from the stand-in publisher, which can say that people
registered in 2023 (intake's own history import is another part of the issue)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import nats
import pytest

from services.matching.tests.matching_events import Intake, configured, known, pair_events
from sprakvan_reporting.service import SERVICE as REPORTING
from sprakvan_shared.contracts.subjects import Namespace
from tests.kit import ORG_B, RunningService, ServiceStarter, eventually, mint_token

pytestmark = pytest.mark.infra
REGISTERED = datetime(2023, 6, 1, 10, tzinfo=UTC)
STOCKHOLM = ZoneInfo("Europe/Stockholm")
ADMIN = {"Authorization": f"Bearer {mint_token(role='admin')}"}


async def post(svc: RunningService, kind: str, *rows: dict, dry_run: bool = False, headers: dict = ADMIN) -> dict:
    response = await svc.client.post(f"/imports/{kind}", json={"dry_run": dry_run, "rows": list(rows)}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def by_row(result: dict) -> dict[int, dict]:
    return {r["row"]: r for r in result["results"]}


async def outbox_rows(svc: RunningService) -> int:
    return await svc.pool.fetchval("SELECT count(*) FROM outbox")


async def people(svc: RunningService, intake: Intake, newcomers: int, volunteers: int) -> tuple[list, list]:
    await configured(svc, intake)
    found = [await intake.person("newcomer", registered_at=REGISTERED) for _ in range(newcomers)]
    helpers = [await intake.person("established", registered_at=REGISTERED, capacity=1) for _ in range(volunteers)]
    await known(svc, *found, *helpers)
    return found, helpers


def pair(key: str, row: int, newcomer: uuid.UUID, volunteer: uuid.UUID, **fields: object) -> dict:
    return {
        "row": row,
        "key": key,
        "programme": "sprakvan",
        "newcomer_id": str(newcomer),
        "established_id": str(volunteer),
        **fields,
    }


async def test_pairs_of_2024_arrive_with_their_dates_and_bad_rows_are_named(
    matching: RunningService, intake: Intake, nc: nats.NATS, ns: Namespace
) -> None:
    (n1, n2, n3, n4), (e1, e2) = await people(matching, intake, 4, 2)
    whole_life = pair(
        "P1", 2, n1, e1, proposed_on="2024-02-20", formed_on="2024-03-01", matched_on="2024-03-05",
        ended_on="2024-09-30", end_reason="completed", notes="Träffades på biblioteket",
    )  # fmt: skip
    rows = [
        whole_life,
        # e1 offers one place today, but in 2024 had two newcomers at once: history made by hand stands.
        pair("P2", 3, n2, e1, matched_on="2024-04-10"),
        pair("P3", 4, n3, e2, formed_on="2024-05-01"),
        pair("P4", 5, n4, e2, matched_on="2024-06-01", ended_on="2024-05-01", end_reason="moved"),
        pair("P5", 6, uuid.uuid4(), e2, matched_on="2024-06-01"),
        pair("P6", 7, n4, n3, matched_on="2024-06-01"),
        pair("P7", 8, n4, e2, matched_on="2199-01-01"),
        pair("P8", 9, n1, e2, matched_on="2024-06-01"),
        pair("P9", 10, n4, e2, matched_on="2024-06-01", end_reason="completed"),
        pair("P10", 11, n4, e2, matched_on="20240601"),
    ]
    result = await post(matching, "pairs", *rows)
    assert (result["created"], result["refused"], result["unchanged"]) == (3, 7, 0)
    found = by_row(result)
    errors = {row: {(e["field"], e["code"]) for e in r["errors"]} for row, r in found.items() if r["errors"]}
    assert errors == {
        5: {("ended_on", "rule")},
        6: {("newcomer_id", "unknown_reference")},
        7: {("established_id", "rule")},
        8: {("matched_on", "rule")},
        9: {("newcomer_id", "rule")},  # n1 was with e1 from March to September
        10: {("ended_on", "required")},
        11: {("matched_on", "invalid")},
    }
    assert all("2024" not in e["message"] for r in result["results"] for e in r["errors"])

    first = (await matching.client.get(f"/pairs/{found[2]['id']}")).json()
    assert first["status"] == "ended" and first["origin"] == "proposal"
    assert (first["activated_on"], first["ended_on"], first["end_reason"]) == ("2024-03-05", "2024-09-30", "completed")
    assert first["formed_at"].startswith("2024-03-01T11:00:00")  # 12:00 in Stockholm
    assert first["notes"] == "Träffades på biblioteket"
    assert (await matching.client.get(f"/pairs/{found[3]['id']}")).json()["status"] == "active"
    assert (await matching.client.get(f"/pairs/{found[4]['id']}")).json()["status"] == "formed"

    events = sorted(await pair_events_of(nc, ns, found[2]["id"], 4), key=lambda e: e["version"])
    assert [e["type"] for e in events] == ["pair.proposed", "pair.formed", "pair.activated", "pair.ended"]
    assert events[0]["payload"]["proposed_at"].startswith("2024-02-20")
    assert events[1]["payload"]["formed_at"].startswith("2024-03-01")
    assert events[2]["payload"]["activated_on"] == "2024-03-05"
    assert (events[3]["payload"]["ended_on"], events[3]["payload"]["follow_ups"]) == ("2024-09-30", [])
    assert "biblioteket" not in str(events)

    # The same file again changes nothing and announces nothing.
    before = await outbox_rows(matching)
    again = await post(matching, "pairs", *rows)
    assert (again["created"], again["updated"], again["unchanged"], again["refused"]) == (0, 0, 3, 7)
    assert [r["id"] for r in again["results"] if r["outcome"] == "unchanged"] == [found[r]["id"] for r in (2, 3, 4)]
    assert await outbox_rows(matching) == before

    # A changed row updates its pair: one pair.updated with the new full state.
    ended = pair("P2", 3, n2, e1, matched_on="2024-04-10", ended_on="2024-12-01", end_reason="moved")
    changed = await post(matching, "pairs", ended)
    assert (changed["updated"], changed["results"][0]["id"]) == (1, found[3]["id"])
    [update] = [e for e in await pair_events_of(nc, ns, found[3]["id"], 3) if e["type"] == "pair.updated"]
    payload = update["payload"]
    assert (update["version"], payload["ended_on"], payload["end_reason"]) == (3, "2024-12-01", "moved")
    assert (await matching.client.get(f"/pairs/{found[3]['id']}")).json()["status"] == "ended"


async def pair_events_of(nc: nats.NATS, ns: Namespace, pair_id: str, version: int) -> list[dict]:
    """The pair's events once its ``version`` is out (the stream keeps the latest of each subject)."""

    async def published() -> list[dict]:
        found = await pair_events(nc, ns, pair_id)
        return found if any(e["version"] >= version for e in found) else []

    return await eventually(published)


async def test_dry_runs_organisations_roles_and_the_export(matching: RunningService, intake: Intake) -> None:
    (n1, n2), (e1, e2) = await people(matching, intake, 2, 2)
    row = pair("P1", 2, n1, e1, matched_on="2024-03-05", notes="Ringer varje fredag")
    before = await outbox_rows(matching)
    dry = await post(matching, "pairs", row, dry_run=True)
    assert (dry["dry_run"], dry["created"]) == (True, 1)
    assert await matching.pool.fetchval("SELECT count(*) FROM pairs") == 0
    assert await matching.pool.fetchval("SELECT count(*) FROM import_keys") == 0
    assert await outbox_rows(matching) == before

    for role in ("coordinator", "viewer"):
        refused = await matching.client.post(
            "/imports/pairs", json={"rows": [row]}, headers={"Authorization": f"Bearer {mint_token(role=role)}"}
        )
        assert refused.status_code == 403
    created = await post(matching, "pairs", row)
    assert created["created"] == 1
    # Notes alone changed: the pair's notes change, no event (notes never leave matching).
    before = await outbox_rows(matching)
    row = {**row, "notes": "Ringer varje fredag, fikar på Agora"}
    assert (await post(matching, "pairs", row))["updated"] == 1
    assert await outbox_rows(matching) == before
    notes = (await matching.client.get(f"/pairs/{created['results'][0]['id']}")).json()["notes"]
    assert notes == "Ringer varje fredag, fikar på Agora"
    moved = await post(matching, "pairs", {**row, "newcomer_id": str(n2)})
    assert [(e["field"], e["code"]) for e in moved["results"][0]["errors"]] == [("newcomer_id", "rule")]

    # Another organisation knows neither the people nor the pair.
    other = {"Authorization": f"Bearer {mint_token(ORG_B, 'admin')}"}
    theirs = await post(matching, "pairs", row, headers=other)
    assert {e["code"] for e in theirs["results"][0]["errors"]} == {"unknown_reference"}
    assert (await matching.client.get("/exports/pairs", headers=other)).json()["rows"] == []

    made_here = (await matching.client.post("/programmes/sprakvan/pairs", json={
        "newcomer_id": str(n2), "established_id": str(e2)})).json()  # fmt: skip
    page = (await matching.client.get("/exports/pairs", params={"limit": 1}, headers=ADMIN)).json()
    rest = (await matching.client.get("/exports/pairs", params={"cursor": page["next_cursor"]}, headers=ADMIN)).json()
    exported = {r["key"]: r for r in page["rows"] + rest["rows"]}
    assert set(exported) == {"P1", made_here["pair_id"]}
    assert exported["P1"]["matched_on"] == "2024-03-05" and exported["P1"]["notes"] == notes
    viewer = {"Authorization": f"Bearer {mint_token(role='viewer')}"}
    seen = (await matching.client.get("/exports/pairs", headers=viewer)).json()["rows"]
    assert {r["notes"] for r in seen} == {None}


async def test_follow_ups_of_imported_pairs(
    matching: RunningService, intake: Intake, nc: nats.NATS, ns: Namespace
) -> None:
    (n1,), (e1,) = await people(matching, intake, 1, 1)
    row = pair("P1", 2, n1, e1, matched_on="2024-03-05", ended_on="2024-10-01", end_reason="did_not_click")
    pair_id = (await post(matching, "pairs", row))["results"][0]["id"]
    follow_ups = [
        {"row": 2, "key": "F1", "pair_key": "P1", "done_on": "2024-04-10", "outcome": "going_well", "notes": "Bra"},
        {"row": 3, "key": "F2", "pair_key": "P1", "done_on": "2024-09-01", "outcome": "not_meeting"},
        {"row": 4, "key": "F3", "pair_key": "P404", "done_on": "2024-09-01", "outcome": "not_meeting"},
        {"row": 5, "key": "F4", "pair_key": "P1", "done_on": "2024-11-01", "outcome": "going_well"},
    ]
    result = await post(matching, "follow-ups", *follow_ups)
    assert (result["created"], result["refused"]) == (2, 2)
    errors = {r["row"]: [(e["field"], e["code"]) for e in r["errors"]] for r in result["results"] if r["errors"]}
    assert errors == {4: [("pair_key", "unknown_reference")], 5: [("done_on", "rule")]}
    stored = (await matching.client.get(f"/pairs/{pair_id}")).json()["follow_ups"]
    assert [(f["done_on"], f["outcome"], f["notes"]) for f in stored] == [
        ("2024-04-10", "going_well", "Bra"),
        ("2024-09-01", "not_meeting", ""),
    ]
    events = await pair_events_of(nc, ns, pair_id, 5)  # formed, activated, ended, followed up twice
    last = max(events, key=lambda e: e["version"])
    assert last["type"] == "pair.followed_up"
    assert [f["done_on"] for f in last["payload"]["follow_ups"]] == ["2024-04-10", "2024-09-01"]
    assert "Bra" not in str(events)

    before = await outbox_rows(matching)
    assert (await post(matching, "follow-ups", *follow_ups[:2]))["unchanged"] == 2
    assert await outbox_rows(matching) == before
    corrected = {**follow_ups[1], "outcome": "needs_support"}
    assert (await post(matching, "follow-ups", corrected))["updated"] == 1
    stored = (await matching.client.get(f"/pairs/{pair_id}")).json()["follow_ups"]
    assert [f["outcome"] for f in stored] == ["going_well", "needs_support"]

    exported = (await matching.client.get("/exports/follow-ups", headers=ADMIN)).json()["rows"]
    assert [(r["key"], r["pair_key"], r["done_on"]) for r in exported] == [
        ("F1", "P1", "2024-04-10"),
        ("F2", "P1", "2024-09-01"),
    ]


async def test_an_export_imports_again_as_it_was(matching: RunningService, intake: Intake) -> None:
    """Imported history and a pair made here, out and in again after matching forgot its pairs."""
    (n1, n2), (e1, e2) = await people(matching, intake, 2, 2)
    row = pair("P1", 2, n1, e1, proposed_on="2024-02-01", matched_on="2024-03-05", ended_on="2024-10-01",
               end_reason="no_contact", notes="Flyttade till Norrköping")  # fmt: skip
    await post(matching, "pairs", row)
    done = {"row": 2, "key": "F1", "pair_key": "P1", "done_on": "2024-04-10", "outcome": "not_reached"}
    await post(matching, "follow-ups", done)
    made = (await matching.client.post("/programmes/sprakvan/pairs", json={
        "newcomer_id": str(n2), "established_id": str(e2)})).json()  # fmt: skip
    today = str(datetime.now(STOCKHOLM).date())
    here = f"/pairs/{made['pair_id']}"
    await matching.client.post(f"{here}/conversation", json={"held_on": today, "attended": ["newcomer"]})
    await matching.client.post(f"{here}/follow-ups/done", json={"done_on": today, "outcome": "going_well"})

    async def exported() -> tuple[list[dict], list[dict]]:
        pairs = (await matching.client.get("/exports/pairs", headers=ADMIN)).json()["rows"]
        follow_ups = (await matching.client.get("/exports/follow-ups", headers=ADMIN)).json()["rows"]
        return sorted(pairs, key=lambda r: r["key"]), sorted(follow_ups, key=lambda r: r["key"])

    pairs, follow_ups = await exported()
    assert [r["key"] for r in pairs] == sorted(["P1", made["pair_id"]]) and len(follow_ups) == 2
    await matching.pool.execute("TRUNCATE pairs, import_keys")
    numbered = lambda rows: [{"row": i + 2, **r} for i, r in enumerate(rows)]  # noqa: E731
    assert (await post(matching, "pairs", *numbered(pairs)))["created"] == 2
    assert (await post(matching, "follow-ups", *numbered(follow_ups)))["created"] == 2
    assert await exported() == (pairs, follow_ups)


async def test_the_2024_review_counts_the_imported_pairs_of_2024(
    matching: RunningService, intake: Intake, start_service: ServiceStarter
) -> None:
    """Hand-counted: A formed in 2023 and ended in February 2024, B lived March-September 2024, C and D
    began in 2024 and still run; one follow-up of C in 2024."""
    async with start_service(REPORTING) as reporting:
        (n1, n2, n3), (e1, e2) = await people(matching, intake, 3, 2)
        rows = [
            pair(
                "A",
                2,
                n1,
                e1,
                formed_on="2023-11-01",
                matched_on="2023-11-15",
                ended_on="2024-02-01",
                end_reason="moved",
            ),  # fmt: skip
            pair("B", 3, n2, e1, matched_on="2024-03-05", ended_on="2024-09-30", end_reason="completed"),
            pair("C", 4, n3, e2, matched_on="2024-06-01"),
            pair("D", 5, n1, e2, proposed_on="2024-03-20", matched_on="2024-04-01"),
        ]
        assert (await post(matching, "pairs", *rows))["created"] == 4
        follow_up = {"row": 2, "key": "F1", "pair_key": "C", "done_on": "2024-08-01", "outcome": "going_well"}
        assert (await post(matching, "follow-ups", follow_up))["created"] == 1
        viewer = {"Authorization": f"Bearer {mint_token(role='viewer')}"}

        async def caught_up() -> bool:
            """Reporting holds every pair at the version matching has."""
            versions = "SELECT pair_id, version FROM pairs"
            made = {r["pair_id"]: r["version"] for r in await matching.pool.fetch(versions)}
            return {r["pair_id"]: r["version"] for r in await reporting.pool.fetch(versions)} == made

        async def review(year: int) -> dict:
            period = {"from": f"{year}-01-01", "to": f"{year}-12-31"}
            return (await reporting.client.get("/reviews", params=period, headers=viewer)).json()

        await eventually(caught_up)
        figures = (await review(2024))["figures"]
        now, before = figures["current"]["pairs"], figures["previous"]["pairs"]
        assert (now["new"], now["active_in_period"], now["active_at_end"], now["ended"]) == (3, 4, 2, 2)
        assert now["ended_by_reason"] == {"completed": 1, "moved": 1}
        assert now["new_by_origin"] == {"manual": 2, "proposal": 1}
        assert (before["new"], before["active_at_end"]) == (1, 1)
        after = (await review(2025))["figures"]["current"]["pairs"]
        assert (after["new"], after["active_in_period"], after["ended"]) == (0, 2, 0)

    # e2 offers one place and has two pairs (C, D): a round proposes nobody to e2, nor n2 to e1 again.
    round_ = await matching.client.post("/programmes/sprakvan/rounds", json={})
    assert round_.status_code == 201 and round_.json()["proposals"] == []
    waiting = (await matching.client.get("/programmes/sprakvan/waiting")).json()
    assert waiting["total"] == 1 and {b["free_places"] for b in waiting["balance"]} == {1}  # e1's, not e2's -1


async def test_an_imported_pair_that_ended_when_one_withdrew_is_not_proposed_again(
    matching: RunningService, intake: Intake
) -> None:
    """A "withdrawn" end also ends a proposal nobody decided on, which may be proposed again later; a pair that
    met and then ended so is a past pair like any other."""
    (n1,), (e1,) = await people(matching, intake, 1, 1)
    row = pair("P1", 2, n1, e1, matched_on="2024-03-05", ended_on="2024-05-01", end_reason="withdrawn")
    assert (await post(matching, "pairs", row))["created"] == 1
    round_ = await matching.client.post("/programmes/sprakvan/rounds", json={})
    assert round_.status_code == 201 and round_.json()["proposals"] == []
    waiting = (await matching.client.get("/programmes/sprakvan/waiting")).json()
    assert waiting["total"] == 1  # n1 still waits: for someone else


async def test_odd_cells_are_refused_by_field_and_an_erasure_takes_the_notes(
    matching: RunningService, intake: Intake
) -> None:
    (n1,), (e1,) = await people(matching, intake, 1, 1)
    row = pair("P1", 2, n1, e1, matched_on="2024-03-05", notes="Ringer varje fredag")
    odd = [
        {**row, "row": 3, "key": "P2", "matched_on": "0001-01-01"},
        {**row, "row": 4, "key": "P3", "newcomer_id": 12},
        {**row, "row": 5, "key": "P4", "colour": "blå"},
        {**row, "row": 6, "key": "P5", "notes": "x" * 4001},
        {**row, "row": 7, "key": "P6", "end_reason": "erased", "ended_on": "2024-04-01"},
    ]
    result = by_row(await post(matching, "pairs", row, *odd))
    fields = {r: [(e["field"], e["code"]) for e in result[r]["errors"]] for r in range(3, 8)}
    assert fields == {
        3: [("matched_on", "invalid")],
        4: [("newcomer_id", "invalid")],
        5: [("colour", "invalid")],
        6: [("notes", "invalid")],
        7: [("end_reason", "invalid")],
    }
    assert result[2]["outcome"] == "created"
    for cell in ("\u0000", "\ud800"):
        body = json.dumps({"rows": [{**row, "notes": f"Ring{cell}er"}]})  # ASCII: the surrogate travels as \ud800
        headers = {**ADMIN, "Content-Type": "application/json"}
        response = await matching.client.post("/imports/pairs", content=body, headers=headers)
        assert "Ring" not in response.text
        if response.status_code == 422:  # the HTTP guard screens the whole body...
            assert response.json()["detail"][0]["loc"][-1] == "notes"
        else:  # ...or (imp-intake's change to shared/) lets imports screen each row alone
            [refusal] = response.json()["results"]
            assert [(e["field"], e["code"]) for e in refusal["errors"]] == [("notes", "invalid")]
    cursor = await matching.client.get("/exports/pairs", params={"cursor": "x" * 40}, headers=ADMIN)
    assert cursor.status_code == 422

    await intake.erase(n1)

    async def notes_gone() -> bool:
        return (await matching.client.get(f"/pairs/{result[2]['id']}")).json()["notes"] == ""

    await eventually(notes_gone)
