"""Imported history in the review (issue 13): registrations of 2024 imported through intake's real API reach
reporting over real NATS and count in 2024, not in the year of the import; a partnership of earlier years
imported through reporting's API gives 2024's review its contributions and goals."""

from __future__ import annotations

from typing import Any

import pytest
from reporting_events import STOCKHOLM, configured

from sprakvan_intake.service import SERVICE as INTAKE
from sprakvan_reporting.service import SERVICE as REPORTING
from sprakvan_reporting.service_layer.consumers import apply_events
from sprakvan_reporting.service_layer.replay import replay_from_streams
from tests.factories import configure, established, newcomer
from tests.kit import eventually, mint_token

pytestmark = pytest.mark.infra
ADMIN = {"Authorization": f"Bearer {mint_token(role='admin', sub='admin-1')}"}
YEAR_2024 = {"from": "2024-01-01", "to": "2024-12-31"}
YEAR_2025 = {"from": "2025-01-01", "to": "2025-12-31"}


def registration(number: int, body: dict[str, Any], registered_on: str, **more: Any) -> dict[str, Any]:
    fields = {k: v for k, v in body.items() if k != "consent"}
    return {"row": number, "key": f"p{number}", **fields, "registered_on": registered_on, **more}


def people() -> list[dict[str, Any]]:
    """2024: newcomers 3 women and 2 men (one withdrew), established 2 women; 2025: one man, one woman."""
    man = {"gender": "man", "wishes": {}}
    return [
        registration(2, newcomer(), "2024-01-15"),
        registration(3, newcomer(), "2024-03-05", interviewed_on="2024-03-20"),
        registration(4, newcomer(), "2024-12-31T23:30:00+01:00"),  # 2024 in Stockholm, 2024-12-31 22:30 UTC
        registration(5, newcomer(**man), "2024-06-01", withdrawn_on="2024-08-01", withdrawal_reason="moved"),
        registration(6, newcomer(**man), "2024-09-10"),
        registration(7, established(), "2024-02-01"),
        registration(8, established(), "2024-10-01"),
        registration(9, newcomer(**man), "2025-01-01T00:30:00+01:00"),
        registration(10, established(gender="woman"), "2025-05-05"),
    ]


PARTNERSHIP_ROWS = [
    {"row": 2, "key": "iop-2024", "type": "partnership", "title": "Vi ses! 2024", "valid_from": "2024-01-01",
     "valid_to": "2024-12-31", "purpose": "Mellanmänskliga möten."},
    {"row": 3, "key": "iop-2024-kommun", "type": "contribution", "partnership_key": "iop-2024",
     "partner": "Linköpings kommun", "yearly_contribution_sek": 600000, "covers": "Projektledare"},
    {"row": 4, "key": "iop-2024-rk", "type": "contribution", "partnership_key": "iop-2024",
     "partner": "Röda Korset", "yearly_contribution_sek": 477600, "covers": "OH, lokaler och resor"},
    {"row": 5, "key": "iop-2024-ryd", "type": "goal", "partnership_key": "iop-2024",
     "goal": "regular_activity_in_district", "district": "ryd"},
    {"row": 6, "key": "iop-2024-atlantis", "type": "goal", "partnership_key": "iop-2024",
     "goal": "regular_activity_in_district", "district": "atlantis"},
    {"row": 7, "key": "iop-2024-nameless", "type": "contribution", "partnership_key": "iop-2024",
     "yearly_contribution_sek": 1000},
    {"row": 8, "key": "iop-2023", "type": "partnership", "title": "Vi ses! 2023", "valid_from": "2023-01-01",
     "valid_to": "2022-12-31"},
    {"row": 9, "key": "iop-2023-kommun", "type": "contribution", "partnership_key": "iop-2023",
     "partner": "Linköpings kommun", "yearly_contribution_sek": 550000},
    {"row": 10, "key": "iop-2022-kommun", "type": "contribution", "partnership_key": "iop-2022",
     "partner": "Linköpings kommun", "yearly_contribution_sek": 500000},
]  # fmt: skip


def by_gender(registrations: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {role: {g: n for g, n in genders.items() if n} for role, genders in
            registrations["by_role_and_gender"].items()}  # fmt: skip


async def test_imported_registrations_count_in_their_own_year(start_service):
    async with start_service(INTAKE) as intake, start_service(REPORTING) as reporting:
        await configure(intake.client, [mint_token(role="admin", sub="admin-1")])
        imported = await intake.client.post("/imports/participants", json={"rows": people()}, headers=ADMIN)
        assert imported.json()["created"] == 9, imported.text

        async def review(period: dict[str, str]) -> dict[str, Any]:
            return (await reporting.client.get("/reviews", params=period, headers=reporting.as_(role="viewer"))).json()

        async def all_counted():
            body = await review(YEAR_2025)
            previous = body["figures"]["previous"]["registrations"]["total_by_role"]
            return body if sum(previous.values()) == 7 and body["labels"]["districts"] else None

        year_2025 = await eventually(all_counted, timeout=60)
        year_2024 = await review(YEAR_2024)
        assert by_gender(year_2024["figures"]["current"]["registrations"]) == {
            "newcomer": {"woman": 3, "man": 2},
            "established": {"woman": 2},
        }
        assert sum(year_2024["figures"]["previous"]["registrations"]["total_by_role"].values()) == 0
        assert by_gender(year_2025["figures"]["current"]["registrations"]) == {
            "newcomer": {"man": 1},
            "established": {"woman": 1},
        }
        assert year_2025["figures"]["previous"]["registrations"] == year_2024["figures"]["current"]["registrations"]

        # A second import of the same rows changes nothing, in intake or in the review.
        again = await intake.client.post("/imports/participants", json={"rows": people()}, headers=ADMIN)
        assert again.json()["unchanged"] == 9
        async with intake.pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM outbox WHERE event_type LIKE 'participant.%'") == 9 + 2

        # A corrected row moves its person: registered in 2025 after all.
        corrected = people()
        corrected[0]["registered_on"] = "2025-03-01"
        moved = await intake.client.post("/imports/participants", json={"rows": corrected}, headers=ADMIN)
        assert [r["outcome"] for r in moved.json()["results"]].count("updated") == 1

        async def moved_to_2025():
            current = (await review(YEAR_2025))["figures"]["current"]["registrations"]
            return current if sum(current["total_by_role"].values()) == 3 else None

        assert by_gender(await eventually(moved_to_2025, timeout=60)) == {
            "newcomer": {"woman": 1, "man": 1},
            "established": {"woman": 1},
        }
        assert by_gender((await review(YEAR_2024))["figures"]["current"]["registrations"])["newcomer"] == {
            "woman": 2,
            "man": 2,
        }

        # The same after a replay, byte for byte.
        before_replay = await reporting.client.get("/reviews", params=YEAR_2024)
        await replay_from_streams(reporting.settings)
        assert (await reporting.client.get("/reviews", params=YEAR_2024)).content == before_replay.content


async def test_a_partnership_of_earlier_years_is_imported_once(start_service, token):
    async with start_service(REPORTING) as reporting:
        client = reporting.client
        async with reporting.pool.acquire() as conn, conn.transaction():
            await apply_events(conn, [configured()], STOCKHOLM)  # intake's districts, as if it had sent them
        assert (await client.post("/imports/partnership", json={"rows": PARTNERSHIP_ROWS})).status_code == 403
        dry = (await client.post("/imports/partnership", json={"dry_run": True, "rows": PARTNERSHIP_ROWS},
                                 headers=token("admin"))).json()  # fmt: skip
        assert (dry["created"], dry["refused"]) == (4, 5)
        assert (await client.get("/partnerships", headers=token("admin"))).json() == []

        result = (
            await client.post("/imports/partnership", json={"rows": PARTNERSHIP_ROWS}, headers=token("admin"))
        ).json()
        assert result == {**dry, "dry_run": False, "results": result["results"]}
        errors = {r["row"]: [(e["field"], e["code"]) for e in r["errors"]] for r in result["results"] if r["errors"]}
        assert errors == {
            7: [("partner", "required")],
            8: [("valid_to", "rule")],
            9: [("partnership_key", "depends_on_refused")],
            10: [("partnership_key", "unknown_reference")],
            6: [("district", "unknown_code")],
        }
        review = (await client.get("/reviews", params=YEAR_2024, headers=token("viewer"))).json()
        assert review["partnership"]["title"] == "Vi ses! 2024"
        assert [p["yearly_contribution_sek"] for p in review["economy"]["partners"]] == [600000, 477600]
        assert [(g["district"], g["status"]) for g in review["goals"]] == [("ryd", "not_met")]
        assert (await client.get("/reviews", params=YEAR_2025, headers=token("viewer"))).json()["partnership"] is None

        again = (
            await client.post("/imports/partnership", json={"rows": PARTNERSHIP_ROWS}, headers=token("admin"))
        ).json()
        assert (again["created"], again["unchanged"], again["updated"]) == (0, 4, 0)
        changed = [dict(r) for r in PARTNERSHIP_ROWS[:4]]
        changed[1]["yearly_contribution_sek"] = 650000
        changed[2]["partner"] = "Linköping Södra Röda Korskrets"
        updated = (await client.post("/imports/partnership", json={"rows": changed}, headers=token("admin"))).json()
        assert [r["outcome"] for r in updated["results"]] == ["unchanged", "updated", "updated", "unchanged"]
        [partnership] = (await client.get("/partnerships", headers=token("viewer"))).json()
        assert partnership["version"] == 2
        assert [(p["name"], p["yearly_contribution_sek"]) for p in partnership["partners"]] == [
            ("Linköpings kommun", 650000),
            ("Linköping Södra Röda Korskrets", 477600),
        ]

        exported = (await client.get("/exports/partnership", headers=token("viewer"))).json()
        assert [r["key"] for r in exported["rows"]][:4] == [
            "iop-2024",
            "iop-2024-kommun",
            "iop-2024-rk",
            "iop-2024-ryd",
        ]
        rows = [{"row": n, **r} for n, r in enumerate(exported["rows"], start=2)]
        other = token("admin", org="norrkoping")
        assert (await client.get("/exports/partnership", headers=other)).json()["rows"] == []
        assert (await client.post("/imports/partnership", json={"rows": rows}, headers=other)).json()["refused"] == 0
        assert (await client.get("/exports/partnership", headers=other)).json()["rows"] == exported["rows"]
