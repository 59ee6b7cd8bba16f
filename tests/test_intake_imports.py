"""Intake's history import (issue 13): registrations as they happened, with their real dates, idempotent by
import key; bad rows refused with row and field while the good ones go in; the export in the same rows."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import httpx

from sprakvan_shared.auth import Role

from .conftest import ORG_B, mint_token
from .factories import established, newcomer

ADMIN = {"Authorization": f"Bearer {mint_token(role=Role.ADMIN, sub='admin-1')}"}
PARTICIPANT_EVENTS = """SELECT event_type, (e->>'version')::int AS version, e->'payload' AS payload
                        FROM (SELECT event_type, id, convert_from(body, 'UTF8')::jsonb AS e FROM outbox) o
                        WHERE event_type LIKE 'participant.%' ORDER BY id"""


def row(number: int, key: str, body: dict[str, Any], **dates: Any) -> dict[str, Any]:
    """A registration body as an import row: its consent becomes the programme's, dates come in."""
    fields = {k: v for k, v in body.items() if k != "consent"}
    return {"row": number, "key": key, **fields, "registered_on": "2024-03-05", **dates}


def year_2024() -> list[dict[str, Any]]:
    return [
        row(2, "amina", newcomer(), interviewed_on="2024-03-12", interview_notes="Vill laga mat."),
        row(3, "karin", established(), registered_on="2024-04-01T18:30:00+02:00"),
        row(
            4,
            "samir",
            newcomer(gender="man", wishes={}),
            registered_on="2024-05-02",
            withdrawn_on="2024-06-01",
            withdrawal_reason="moved",
        ),
        row(5, "bad-district", newcomer(district="atlantis")),
        row(6, "early-withdrawal", newcomer(), withdrawn_on="2024-03-01", withdrawal_reason="moved"),
        row(7, "nul-name", newcomer(first_name="Am\u0000ina")),
        row(8, "from-the-future", newcomer(), registered_on="2199-01-01"),
    ]


async def participant_events(db: asyncpg.Connection) -> list[tuple[str, int, dict[str, Any]]]:
    return [(r["event_type"], r["version"], json.loads(r["payload"])) for r in await db.fetch(PARTICIPANT_EVENTS)]


async def post(client: httpx.AsyncClient, rows: list[dict[str, Any]], *, dry_run: bool = False, **kw: Any):
    return await client.post("/imports/participants", json={"dry_run": dry_run, "rows": rows}, **kw)


def outcomes(body: dict[str, Any]) -> dict[str, str]:
    return {r["key"]: r["outcome"] for r in body["results"]}


async def test_an_import_brings_the_history_in_with_its_dates_once(intake: httpx.AsyncClient, db: asyncpg.Connection):
    dry = await post(intake, year_2024(), dry_run=True, headers=ADMIN)
    assert dry.status_code == 200, dry.text
    assert (dry.json()["created"], dry.json()["refused"]) == (3, 4)
    assert await db.fetchval("SELECT count(*) FROM participants") == 0
    assert await db.fetchval("SELECT count(*) FROM import_keys") == 0

    first = await post(intake, year_2024(), headers=ADMIN)
    body = first.json()
    assert (body["created"], body["updated"], body["unchanged"], body["refused"]) == (3, 0, 0, 4)
    refused = {r["row"]: [(e["field"], e["code"]) for e in r["errors"]] for r in body["results"] if r["errors"]}
    assert refused == {
        5: [("district", "unknown_code")],
        6: [("withdrawn_on", "rule")],
        7: [("first_name", "invalid")],
        8: [("registered_on", "rule")],
    }
    assert "\u0000" not in first.text and "atlantis" not in first.text

    events = await participant_events(db)
    by_id = {r["key"]: r["id"] for r in body["results"]}
    amina = [(t, v, p["registered_at"], p["interviewed_on"]) for t, v, p in events
             if p["participant_id"] == by_id["amina"]]  # fmt: skip
    assert amina == [
        ("participant.registered", 1, "2024-03-05T12:00:00+01:00", None),
        ("participant.interviewed", 2, "2024-03-05T12:00:00+01:00", "2024-03-12"),
    ]
    samir = [(t, p["status"], p["withdrawn_at"]) for t, v, p in events if p["participant_id"] == by_id["samir"]]
    assert samir == [
        ("participant.registered", "registered", None),
        ("participant.withdrawn", "withdrawn", "2024-06-01T12:00:00+02:00"),
    ]
    karin = (await intake.get(f"/participants/{by_id['karin']}")).json()
    assert karin["registered_at"] == "2024-04-01T16:30:00Z" and karin["consent"]["data_processing"] is True

    again = await post(intake, year_2024()[:3], headers=ADMIN)
    assert set(outcomes(again.json()).values()) == {"unchanged"}
    assert [r["event_type"] for r in await db.fetch(PARTICIPANT_EVENTS)] == [t for t, _, _ in events]

    changed = year_2024()[:3]
    changed[1]["district"] = "berga"
    changed[0]["withdrawn_on"], changed[0]["withdrawal_reason"] = "2024-09-01", "found_contacts"
    result = (await post(intake, changed, headers=ADMIN)).json()
    assert outcomes(result) == {"amina": "updated", "karin": "updated", "samir": "unchanged"}
    newer = (await participant_events(db))[len(events) :]
    assert sorted((t, v, p["participant_id"]) for t, v, p in newer) == sorted(
        [("participant.withdrawn", 3, by_id["amina"]), ("participant.updated", 2, by_id["karin"])]
    )
    assert next(p for t, _, p in newer if t == "participant.updated")["district"] == "berga"


async def test_only_admins_import_and_viewers_export_no_personal_data(intake: httpx.AsyncClient):
    assert (await post(intake, year_2024()[:1])).status_code == 403  # a coordinator
    viewer = {"Authorization": f"Bearer {mint_token(role=Role.VIEWER)}"}
    assert (await post(intake, year_2024()[:1], headers=viewer)).status_code == 403
    assert (await post(intake, year_2024()[:3], headers=ADMIN)).json()["created"] == 3
    registered_here = await intake.post("/participants", json=newcomer())
    assert registered_here.status_code == 201

    exported = (await intake.get("/exports/participants", params={"limit": 2}, headers=ADMIN)).json()
    rest = (await intake.get("/exports/participants", params={"cursor": exported["next_cursor"]})).json()
    rows = exported["rows"] + rest["rows"]
    assert [r["key"] for r in rows] == ["amina", "karin", "samir", registered_here.json()["id"]]
    # Each row carries intake's id beside its key: the other services' exports name participants by id.
    assert rows[3]["id"] == registered_here.json()["id"]
    for row in rows[:3]:
        assert (await intake.get(f"/participants/{row['id']}", headers=ADMIN)).json()["id"] == row["id"]
    assert (rows[0]["first_name"], rows[0]["interview_notes"]) == ("Amina", "Vill laga mat.")
    assert rest["next_cursor"] is None
    as_viewer = (await intake.get("/exports/participants", headers=viewer)).json()["rows"]
    assert len(as_viewer) == 4
    personal = ("first_name", "last_name", "email", "phone", "interview_notes")
    assert all(r[field] is None for r in as_viewer for field in personal)
    assert as_viewer[0]["district"] == "skaggetorp"

    other = {"Authorization": f"Bearer {mint_token(org=ORG_B, role=Role.ADMIN)}"}
    assert (await intake.get("/exports/participants", headers=other)).json()["rows"] == []
    assert (await intake.get(f"/participants/{rows[0]['key']}", headers=other)).status_code in (404, 422)
    # The same keys in another organisation are its own people.
    assert (await post(intake, year_2024()[:1], headers=other)).json()["created"] == 1


async def test_export_then_import_gives_the_same_rows_and_erasure_forgets_the_key(intake: httpx.AsyncClient):
    created = (await post(intake, year_2024()[:3], headers=ADMIN)).json()
    exported = (await intake.get("/exports/participants", headers=ADMIN)).json()["rows"]
    other = {"Authorization": f"Bearer {mint_token(org=ORG_B, role=Role.ADMIN)}"}
    # The id is not an import field (a file names participants by key): the other organisation gives new ones.
    rows = [{"row": n, **{k: v for k, v in r.items() if k != "id"}} for n, r in enumerate(exported, start=2)]
    assert (await post(intake, rows, headers=other)).json()["created"] == 3
    again = (await intake.get("/exports/participants", headers=other)).json()["rows"]
    assert [{**r, "id": None} for r in again] == [{**r, "id": None} for r in exported]
    assert not {r["id"] for r in again} & {r["id"] for r in exported}

    amina = next(r["id"] for r in created["results"] if r["key"] == "amina")
    assert (await intake.delete(f"/participants/{amina}")).status_code == 204
    reimported = (await post(intake, year_2024()[:1], headers=ADMIN)).json()["results"][0]
    assert reimported["outcome"] == "created" and reimported["id"] != amina
