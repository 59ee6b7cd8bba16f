"""The seed report (``shared/seeds/003_*.txt``), Jan-Oct 2019, through the real services: the programme's
history imported from one spreadsheet through intake's, matching's, the events service's and reporting's
import APIs (``sprakvan_importer``, as ``sprakvan import`` sends it), on real NATS and PostgreSQL; every
figure of the review comes from the events those services published. Checked again after intake erases
one counted, paired newcomer (tombstone, anonymous statistics, purge of the stream), and after a replay
from the streams, which must give the same JSON byte for byte.

The seed's figures: 199 newcomers (89 women, 110 men) and 89 established residents (65 women, 24 men)
registered Jan-Oct 2019; 71 pairs formed then; 83 active (the 71 and 12 formed in 2018, still going);
the municipality's 600 000 kr and the Red Cross's 477 600 kr a year. Around them, hand-counted: a
language café in Skäggetorp every Monday (43 sessions), 15 sign-ups and check-ins and 12 walk-ins a
session, so Skäggetorp has a weekly activity and Ryd, a goal for 2020, has none.
"""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta
from typing import Any

import pytest

from sprakvan_events.service import SERVICE as EVENTS
from sprakvan_importer import Services, plan_for, read_file, run_import
from sprakvan_importer.writing import Table, xlsx_bytes
from sprakvan_intake.service import SERVICE as INTAKE
from sprakvan_matching.service import SERVICE as MATCHING
from sprakvan_reporting.adapters.read_models import READ_MODEL_TABLES
from sprakvan_reporting.service import SERVICE as REPORTING
from sprakvan_reporting.service_layer.replay import replay_from_streams
from tests.factories import PARTICIPANT_HEADERS, configure, participant_row
from tests.kit import eventually, mint_token

pytestmark = pytest.mark.infra

PERIOD = {"from": "2019-01-01", "to": "2019-10-31"}
PARTNERSHIP = {
    "title": "Vi ses! Språkvänner i Linköping",
    "valid_from": "2019-01-01",
    "valid_to": "2021-12-31",
    "purpose": "Att gemensamt verka för ett mer inkluderande Linköping genom mellanmänskliga möten.",
    "partners": [
        {"name": "Linköpings kommun", "yearly_contribution_sek": 600000, "covers": "Tjänsten som projektledare"},
        {
            "name": "Linköping Södra Röda Korskrets",
            "yearly_contribution_sek": 477600,
            "covers": "OH-kostnader, lokaler och resor för projektmedarbetarna",
        },
    ],
    "goals": [
        {"kind": "more_new_pairs", "text": "Öka antalet matchade språkvänner jämfört med 2019."},
        {"kind": "regular_activity_in_district", "district": "ryd"},
        {"kind": "keep_mean_attendance", "text": "Bibehålla antalet deltagare vid aktiviteterna."},
    ],
}
DISTRICTS = ["Skäggetorp", "Innerstaden", "Berga", "Ekholmen", "Ryd"]
ERASED = "n010"  # the only newcomer registered on 2019-01-16; paired on 2019-02-14, in no activity


def _day(index: int, of: int) -> date:
    """The index-th of ``of`` people registered evenly over Jan-Oct 2019."""
    return date(2019, 1, 1) + timedelta(days=index * 303 // of)


def programme_2019() -> list[Table]:
    rng = random.Random(2019)
    genders = {"nyanländ": ["kvinna"] * 89 + ["man"] * 110, "etablerad": ["kvinna"] * 65 + ["man"] * 24}
    for listed in genders.values():
        rng.shuffle(listed)
    people, registered = [], {}
    for role, prefix in (("nyanländ", "n"), ("etablerad", "e")):
        for i, gender in enumerate(genders[role]):
            key, registered[f"{prefix}{i:03}"] = f"{prefix}{i:03}", _day(i, len(genders[role]))
            people.append(participant_row(key, role, gender, 1960 + i % 40, DISTRICTS[i % 5], str(registered[key])))
    for i in range(12):  # the pairs of 2018 that are still active in 2019
        people.append(participant_row(f"o{i:02}", "nyanländ", "man", 1990, "Berga", "2018-05-02"))
        people.append(participant_row(f"v{i:02}", "etablerad", "kvinna", 1970, "Berga", "2018-05-02"))
    pairs = [[f"p2018-{i}", "sprakvan", f"o{i:02}", f"v{i:02}", "2018-06-01", "2018-06-08"] for i in range(12)]
    for i in range(71):
        formed = max(registered[f"n{i:03}"], registered[f"e{i:03}"]) + timedelta(days=10)
        pairs.append([f"p{i}", "sprakvan", f"n{i:03}", f"e{i:03}", str(formed), str(formed)])
    mondays = [date(2019, 1, 7) + timedelta(weeks=w) for w in range(43)]
    cafe = [f"o{i:02}" for i in range(43)]
    regulars = [(o, p) for o in cafe[:5] for p in ("n000", "n001", "e000")]
    return [
        Table("deltagare", PARTICIPANT_HEADERS, people),
        Table("par", ["nyckel", "program", "nyanländ", "etablerad", "bildat", "matchningssamtal"], pairs),
        Table("lokaler", ["nyckel", "namn", "stadsdel"], [["agora", "Agorahuset", "Skäggetorp"]]),
        Table("aktiviteter", ["nyckel", "titel", "typ", "lokal"], [["cafe", "Språkcafé", "language_cafe", "agora"]]),
        Table("tillfällen", ["nyckel", "aktivitet", "datum", "börjar", "slutar"],
              [[key, "cafe", str(day), "18:00", "20:00"] for key, day in zip(cafe, mondays, strict=True)]),
        Table("anmälningar", ["nyckel", "tillfälle", "deltagare", "status"],
              [[f"s-{o}-{p}", o, p, "bekräftad"] for o, p in regulars]),
        Table("närvaro", ["nyckel", "tillfälle", "deltagare", "utfall"],
              [[f"c-{o}-{p}", o, p, "kom"] for o, p in regulars]),
        Table("drop-in", ["nyckel", "tillfälle", "roll", "kön", "antal"],
              [[f"w-{o}-{role}", o, role, gender, count] for o in cafe
               for role, gender, count in (("nyanländ", "kvinna", 8), ("etablerad", "man", 4))]),
    ]  # fmt: skip


def seed_figures(current: dict[str, Any]) -> tuple:
    registrations, pairs, activities = current["registrations"], current["pairs"], current["activities"]
    return (registrations["by_role_and_gender"], pairs["new"], pairs["active_in_period"], activities["sessions"],
            activities["signups"], activities["attendance"])  # fmt: skip


SEED = (
    {"newcomer": {"woman": 89, "man": 110, "non_binary": 0, "undisclosed": 0},
     "established": {"woman": 65, "man": 24, "non_binary": 0, "undisclosed": 0}},
    71, 83, 43, 15, 15 + 43 * 12,
)  # fmt: skip


async def test_jan_oct_2019_of_the_seed_report_through_the_services(start_service):
    async with (
        start_service(INTAKE) as intake,
        start_service(MATCHING) as matching,
        start_service(EVENTS) as events,
        start_service(REPORTING) as reporting,
    ):
        await configure(intake.client, [mint_token(role="admin", sub="admin-1")])
        clients = {"intake": intake.client, "matching": matching.client, "events": events.client,
                   "reporting": reporting.client}  # fmt: skip
        services = Services(clients, intake.as_(role="admin", sub="admin-1"))
        plan = await plan_for(read_file("vi-ses-2019.xlsx", xlsx_bytes(programme_2019())), services)
        imported = await run_import(plan, services, dry_run=False)
        assert imported.refused == 0 and not plan.unmapped, imported.to_dict()
        admin = reporting.as_(role="admin", sub="admin-1")
        assert (await reporting.client.post("/partnerships", json=PARTNERSHIP, headers=admin)).status_code == 201
        viewer = reporting.as_(role="viewer")

        async def review():
            response = await reporting.client.get("/reviews", params=PERIOD, headers=viewer)
            assert response.status_code == 200, response.text
            return response

        async def counted():
            response = await review()
            return response if seed_figures(response.json()["figures"]["current"]) == SEED else None

        live = (await eventually(counted, timeout=60)).json()
        current, previous = live["figures"]["current"], live["figures"]["previous"]
        assert current["registrations"]["total_by_role"] == {"newcomer": 199, "established": 89}
        assert current["pairs"]["active_at_end"] == 83
        assert current["activities"]["weekly_districts"] == ["skaggetorp"]
        assert [(p["name"], p["yearly_contribution_sek"]) for p in live["economy"]["partners"]] == [
            ("Linköpings kommun", 600000), ("Linköping Södra Röda Korskrets", 477600),
        ]  # fmt: skip
        assert live["economy"]["yearly_total_sek"] == 1077600
        # intake's organisation.configured reached reporting: the districts' names for the printed report
        assert live["labels"]["districts"]["skaggetorp"] == {"sv": "Skäggetorp", "en": "Skäggetorp"}
        # Jan-Oct 2018 beside it: the 12 pairs of 2018 and their 24 people.
        assert (sum(previous["registrations"]["total_by_role"].values()), previous["pairs"]["new"]) == (24, 12)
        goals = {g["kind"]: g["status"] for g in live["goals"]}
        assert goals["regular_activity_in_district"] == "not_met"  # no café in Ryd

        # Intake erases a counted, paired newcomer: the person leaves every service, the counts stay.
        day = str(_day(int(ERASED[1:]), 199))
        found = await intake.client.get("/participants", params={"role": "newcomer", "registered_from": day,
                                                                  "registered_to": day})  # fmt: skip
        [person] = found.json()["items"]
        assert person["last_name"] == ERASED.upper()
        erased_id = uuid.UUID(person["id"])
        assert (await intake.client.delete(f"/participants/{erased_id}")).status_code == 204

        async def erasure_applied():
            async with reporting.pool.acquire() as conn:
                gone = not await conn.fetchval("SELECT count(*) FROM participants WHERE record_id = $1", erased_id)
                anonymous = await conn.fetchval("SELECT count(*) FROM participants WHERE anonymous")
            return gone and anonymous == 1

        await eventually(erasure_applied, timeout=60)
        after_erasure = await review()
        assert seed_figures(after_erasure.json()["figures"]["current"]) == SEED
        async with reporting.pool.acquire() as conn:
            assert not await conn.fetchval("SELECT count(*) FROM pairs WHERE newcomer_id = $1", erased_id)

        # Rebuilt from the streams (the erased person's registration is purged from them): the same bytes.
        result = await replay_from_streams(reporting.settings)
        assert result.events > 288 + 24 + 83 + 43
        async with reporting.pool.acquire() as conn:  # the planner knows the new rows
            analyzed = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_user_tables WHERE relname = ANY($1) AND last_analyze IS NOT NULL",
                list(READ_MODEL_TABLES),
            )
        assert analyzed == len(READ_MODEL_TABLES)
        assert (await review()).content == after_erasure.content
