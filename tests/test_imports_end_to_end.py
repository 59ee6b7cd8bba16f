"""A programme year imported from one XLSX file through every service's import endpoint, on real NATS and
PostgreSQL (intake, matching, events and reporting started as their own tests start them), and the
partnership review that reporting computes from the events those imports published.

Hand-counted: in 2024, 6 newcomers (4 women, 2 men) and 5 established residents (3 women, 2 men)
registered; 3 pairs were formed (p2 ended in October); a language café met 4 times in March, with 3
check-ins that came and 3 walk-ins. In 2025 one more newcomer (a woman) and one established man
registered, no pair was formed and p1 and p3 are still active. The file with errors adds one good
check-in (of a participant of the first file) beside its refused rows.
"""

from __future__ import annotations

from typing import Any

import pytest

from sprakvan_events.service import SERVICE as EVENTS
from sprakvan_importer import Services, plan_for, read_file, run_import
from sprakvan_importer.export import export_tables
from sprakvan_importer.writing import Table, xlsx_bytes
from sprakvan_intake.service import SERVICE as INTAKE
from sprakvan_matching.service import SERVICE as MATCHING
from sprakvan_reporting.service import SERVICE as REPORTING
from tests.factories import PARTICIPANT_HEADERS, configure, participant_row
from tests.kit import ORG_A, ORG_B, eventually, mint_token

pytestmark = pytest.mark.infra

_PEOPLE = [  # key, role, gender, birth year, district, registered
    ("n1", "nyanländ", "kvinna", 1990, "Skäggetorp", "2024-01-15"),
    ("n2", "nyanländ", "kvinna", 1985, "skaggetorp", "2024-02-01"),
    ("n3", "nyanländ", "Kvinna", 1995, "Ryd", "2024-03-05 18:00"),
    ("n4", "nyanländ", "kvinna", 1979, "Berga", "2024-04-10"),
    ("n5", "nyanländ", "man", 1992, "RYD", "2024-05-20"),
    ("n6", "nyanländ", "man", 2000, "Innerstaden", "2024-09-01"),
    ("e1", "etablerad", "kvinna", 1960, "Skäggetorp", "2024-01-10"),
    ("e2", "etablerad", "kvinna", 1970, "Ryd", "2024-01-20"),
    ("e3", "etablerad", "kvinna", 1955, "Berga", "2024-02-15"),
    ("e4", "etablerad", "man", 1965, "City centre", "2024-03-01"),
    ("e5", "etablerad", "man", 1980, "Ekholmen", "2024-06-01"),
    ("n7", "nyanländ", "kvinna", 1998, "Ryd", "2025-02-03"),
    ("e6", "etablerad", "man", 1975, "Ryd", "2025-03-01"),
]


def programme_year() -> list[Table]:
    cafe = [f"o{i}" for i in range(1, 5)]
    return [
        Table("Deltagare", PARTICIPANT_HEADERS, [participant_row(*p) for p in _PEOPLE]),
        Table("par", ["nyckel", "program", "nyanländ", "etablerad", "matchningssamtal", "avslutat", "avslutsorsak"], [
            ["p1", "sprakvan", "n1", "e1", "2024-02-10", None, None],
            ["p2", "sprakvan", "n2", "e2", "2024-03-20", "2024-10-01", "flyttat"],
            ["p3", "sprakvan", "n3", "e3", "2024-06-01", None, None],
        ]),
        Table("partnerskap", ["nyckel", "radtyp", "partnerskap", "titel", "giltig från", "giltig till", "part",
                              "årligt bidrag kr", "täcker", "mål"], [
            ["ip", "partnerskap", None, "Vi ses! Språkvänner", "2024-01-01", "2026-12-31", None, None, None, None],
            ["ip-kommun", "bidrag", "ip", None, None, None, "Kommunen", "600 000", "Projektledare", None],
            ["ip-rk", "bidrag", "ip", None, None, None, "Röda Korset", 477600, "Lokaler och resor", None],
            ["ip-mal", "mål", "ip", None, None, None, None, None, None, "Fler nya par"],
        ]),
        Table("lokaler", ["nyckel", "namn", "stadsdel"], [["v1", "Skäggetorps bibliotek", "Skäggetorp"]]),
        Table("aktiviteter", ["nyckel", "titel", "typ", "lokal"], [["a1", "Språkcafé", "language_cafe", "v1"]]),
        Table("tillfällen", ["nyckel", "aktivitet", "datum", "börjar", "slutar"],
              [[key, "a1", f"2024-03-{5 + 7 * i:02}", "18:00", "20:00"] for i, key in enumerate(cafe)]),
        Table("anmälningar", ["nyckel", "tillfälle", "deltagare", "status"],
              [[f"s-{o}-{p}", o, p, "bekräftad"] for o in cafe[:2] for p in ("n1", "e1")]),
        Table("närvaro", ["nyckel", "tillfälle", "deltagare", "utfall"], [
            ["c1", "o1", "n1", "kom"], ["c2", "o1", "e1", "kom"],
            ["c3", "o2", "n1", "kom"], ["c4", "o2", "e1", "uteblev"],
        ]),
        Table("drop-in", ["nyckel", "tillfälle", "roll", "kön", "antal"],
              [["w1", "o1", "nyanländ", "kvinna", 2], ["w2", "o3", "etablerad", "man", 1]]),
    ]  # fmt: skip


def errors_file() -> list[Table]:
    person = ["newcomer", "sprakvan", "A", "B", "a@example.org", "woman"]
    return [
        Table("participants", ["key", "role", "programme", "first name", "last name", "email", "gender", "birth year",
                               "district", "swedish level", "registered", "interviewed"], [
            ["bad1", *person, 1990, "Gottfridsberg", "A1", "2024-05-01", None],
            ["bad2", *person, "nittio", "ryd", "A1", "2024-05-01", None],
            ["bad3", *person, 1990, "ryd", "A1", "2024-05-01", "2024-04-01"],
        ]),
        Table("pairs", ["key", "programme", "newcomer", "established", "matching conversation"],
              [["badpair", "sprakvan", "bad1", "e4", "2024-06-01"]]),
        # n4 was imported by the earlier file: the good row finds her through intake
        Table("attendance", ["key", "occurrence", "participant", "outcome"],
              [["badcheck", "o3", "n4", "maybe"], ["goodcheck", "o4", "n4", "came"]]),
    ]  # fmt: skip


def outcome_counts(report) -> dict[str, tuple[int, int, int, int]]:
    return {k.kind: (k.created, k.updated, k.unchanged, k.refused) for k in report.kinds}


async def test_a_programme_year_imported_from_a_spreadsheet_gives_its_review(start_service):
    async with (
        start_service(INTAKE) as intake,
        start_service(MATCHING) as matching,
        start_service(EVENTS) as events,
        start_service(REPORTING) as reporting,
    ):
        await configure(intake.client, [mint_token(org, "admin", "admin-1") for org in (ORG_A, ORG_B)])
        clients = {"intake": intake.client, "matching": matching.client, "events": events.client,
                   "reporting": reporting.client}  # fmt: skip
        services = Services(clients, intake.as_(role="admin", sub="admin-1"))
        data = xlsx_bytes(programme_year())

        async def review(year: int, org: str = ORG_A) -> dict[str, Any]:
            period = {"from": f"{year}-01-01", "to": f"{year}-12-31"}
            response = await reporting.client.get("/reviews", params=period, headers=reporting.as_(org, "viewer"))
            assert response.status_code == 200, response.text
            return response.json()

        plan = await plan_for(read_file("history.xlsx", data), services)
        assert not plan.unmapped
        dry = await run_import(plan, services, dry_run=True)
        created = {"participants": 13, "partnership": 4, "venues": 1, "activities": 1, "occurrences": 4, "signups": 4,
                   "attendance": 4, "walk_ins": 2, "pairs": 3}  # fmt: skip
        expected = {kind: (count, 0, 0, 0) for kind, count in created.items()}
        assert outcome_counts(dry) == expected, dry.to_dict()
        # New participants have no ids in a dry run: what names them is checked only as far as it can be.
        assert {k.kind: k.assumed for k in dry.kinds if k.assumed} == {"signups": 4, "attendance": 4, "pairs": 3}
        real = await run_import(plan, services, dry_run=False)
        assert outcome_counts(real) == expected, real.to_dict()

        def figures_of(body: dict[str, Any]) -> tuple:
            now = body["figures"]["current"]
            return (now["registrations"]["total_by_role"], now["pairs"]["new"], now["pairs"]["active_in_period"],
                    now["pairs"]["ended"], now["activities"]["sessions"], now["activities"]["attendance"])  # fmt: skip

        async def counted_2024():
            body = await review(2024)
            # Every figure the test reads after this, the ended pair's too: a pair's events come one by one.
            return body if figures_of(body) == ({"newcomer": 6, "established": 5}, 3, 3, 1, 4, 6) else None

        year_2024 = (await eventually(counted_2024, timeout=60))["figures"]["current"]
        assert year_2024["registrations"]["by_role_and_gender"] == {
            "newcomer": {"woman": 4, "man": 2, "non_binary": 0, "undisclosed": 0},
            "established": {"woman": 3, "man": 2, "non_binary": 0, "undisclosed": 0},
        }
        assert year_2024["registrations"]["by_district"]["newcomer"] == {"berga": 1, "innerstaden": 1, "ryd": 2,
                                                                         "skaggetorp": 2}  # fmt: skip
        assert (year_2024["pairs"]["ended"], year_2024["pairs"]["ended_by_reason"]) == (1, {"moved": 1})
        assert (await review(2024))["economy"]["yearly_total_sek"] == 1077600
        activities = year_2024["activities"]
        assert (activities["attended_registered"], activities["attended_walk_in"]) == (3, 3)
        assert activities["walk_ins_by_role_and_gender"]["newcomer"]["woman"] == 2
        year_2025 = await review(2025)
        assert figures_of(year_2025) == ({"newcomer": 1, "established": 1}, 0, 2, 0, 0, 0)
        assert year_2025["figures"]["previous"]["pairs"]["new"] == 3  # 2024 beside it

        # The same file again changes nothing.
        again = await run_import(await plan_for(read_file("history.xlsx", data), services), services, dry_run=False)
        assert {k.kind: (k.created, k.updated, k.refused) for k in again.kinds} == {k: (0, 0, 0) for k in expected}

        # A file with errors imports none of its bad rows, and names each with its sheet, row and column;
        # its good row is imported.
        bad = await plan_for(read_file("errors.xlsx", xlsx_bytes(errors_file())), services)
        report = await run_import(bad, services, dry_run=False)
        refused = {(p.sheet, p.row, p.column, p.code) for k in report.kinds for p in k.problems}
        assert refused == {
            ("participants", 2, "district", "unknown_code"),
            ("participants", 3, "birth year", "invalid"),
            ("participants", 4, "interviewed", "rule"),
            ("pairs", 2, "newcomer", "depends_on_refused"),
            ("attendance", 2, "outcome", "unknown_code"),
        }
        assert [(u.value, u.rows) for u in report.unmapped] == [("Gottfridsberg", [2]), ("maybe", [2])]
        assert outcome_counts(report)["attendance"] == (1, 0, 0, 1)

        async def one_more_check_in():
            body = await review(2024)
            return figures_of(body) == ({"newcomer": 6, "established": 5}, 3, 3, 1, 4, 7) and body

        await eventually(one_more_check_in, timeout=60)

        # Export, then import into an empty organisation (configured alike): the same review.
        exported = xlsx_bytes(await export_tables(services))
        services_b = Services(clients, intake.as_(org=ORG_B, role="admin", sub="admin-1"))
        into_b = await run_import(await plan_for(read_file("export.xlsx", exported), services_b), services_b,
                                  dry_run=False)  # fmt: skip
        assert into_b.refused == 0, into_b.to_dict()
        for year in (2024, 2025):
            original = await review(year)

            async def same_in_b(year=year, original=original):
                copy = await review(year, ORG_B)
                return copy["figures"] == original["figures"] and copy

            copy = await eventually(same_in_b, timeout=60)
            assert without_ids(copy) == without_ids(original)


def without_ids(review: dict[str, Any]) -> dict[str, Any]:
    """The review but for what differs between two organisations by necessity: their ids."""
    partnership = {k: v for k, v in (review.get("partnership") or {}).items() if k != "id"}
    return {**{k: v for k, v in review.items() if k != "organisation_id"}, "partnership": partnership}
