"""The seed report's figures, end to end: participants registered through intake's real HTTP API, its
events consumed by the running reporting service over real NATS, the partnership written over
reporting's API. Checked again after one counted participant is erased, and after a replay that must
give the same JSON byte for byte.

Pairs are published on the matching stream in matching's contract (the matching service reached main
after this test was written; forming 71 pairs through its API is the next step). Intake dates a registration when it is
made, so the period is this year rather than Jan-Oct 2019 (``test_reporting_seed_2019`` replays that
period through the streams).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from reporting_events import at

from sprakvan_intake.service import SERVICE as INTAKE
from sprakvan_reporting.service import SERVICE as REPORTING
from sprakvan_reporting.service_layer.replay import replay_from_streams
from sprakvan_reporting.upstream import matching
from sprakvan_shared.contracts.subjects import HEADER_MSG_ID
from tests.factories import configure, established, newcomer
from tests.kit import eventually, mint_token

pytestmark = pytest.mark.infra

PARTNERSHIP = {
    "title": "Vi ses! Språkvänner i Linköping",
    "valid_from": "2019-01-01",
    "valid_to": "2030-12-31",
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


async def register_all(client, bodies) -> list[str]:
    ids: list[str] = []
    for start in range(0, len(bodies), 16):
        responses = await asyncio.gather(*(client.post("/participants", json=b) for b in bodies[start : start + 16]))
        for response in responses:
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
    return ids


def pair(newcomer_id, established_id, formed: datetime, version: int = 3) -> matching.PairActivated:
    """A pair formed and introduced (its matching conversation held) that day."""
    state = matching.PairState(
        pair_id=uuid.uuid4(), programme="sprakvan", newcomer_id=newcomer_id, established_id=established_id,
        origin="proposal", status="active", proposed_at=formed, formed_at=formed, activated_at=formed,
        activated_on=formed.date(),
    )  # fmt: skip
    return matching.PairActivated(
        organisation_id="linkoping", aggregate_id=str(state.pair_id), version=version, payload=state
    )


async def publish(nc, ns, events) -> None:
    js = nc.jetstream()
    for event in events:
        await js.publish(
            ns.subject(event.subject), event.model_dump_json().encode(), headers={HEADER_MSG_ID: str(event.event_id)}
        )


async def test_seed_figures_through_the_services(start_service, ns, nc):
    today = datetime.now(ZoneInfo("Europe/Stockholm")).date()
    period = {"from": date(today.year, 1, 1).isoformat(), "to": date(today.year, 12, 31).isoformat()}
    async with start_service(INTAKE) as intake, start_service(REPORTING) as reporting:
        await configure(intake.client, [mint_token(role="admin", sub="admin-1")])
        newcomers = await register_all(
            intake.client, [newcomer(gender="woman")] * 89 + [newcomer(gender="man", wishes={})] * 110
        )
        volunteers = await register_all(
            intake.client, [established(gender="woman")] * 65 + [established(gender="man", wishes={})] * 24
        )
        # 71 pairs formed this year; 12 formed last year and still active (their newcomers came earlier).
        now = datetime.now(ZoneInfo("UTC"))
        new_pairs = [pair(uuid.UUID(n), uuid.UUID(volunteers[i % 89]), now) for i, n in enumerate(newcomers[:71])]
        old_pairs = [pair(uuid.uuid4(), uuid.UUID(volunteers[i]), at(date(today.year - 1, 6, 1))) for i in range(12)]
        await publish(nc, ns, new_pairs + old_pairs)
        admin = reporting.as_(role="admin", sub="admin-1")
        assert (await reporting.client.post("/partnerships", json=PARTNERSHIP, headers=admin)).status_code == 201

        async def review():
            response = await reporting.client.get("/reviews", params=period, headers=reporting.as_(role="viewer"))
            return response

        async def counted():
            whole = (await review()).json()
            body = whole["figures"]["current"]
            done = (
                sum(body["registrations"]["total_by_role"].values()) == 288
                and body["pairs"]["active_in_period"] == 83
                and whole["labels"]["districts"]
            )
            return body if done else None

        figures = await eventually(counted, timeout=60)
        assert figures["registrations"]["by_role_and_gender"]["newcomer"] == {
            "woman": 89, "man": 110, "non_binary": 0, "undisclosed": 0,
        }  # fmt: skip
        assert figures["registrations"]["by_role_and_gender"]["established"] == {
            "woman": 65, "man": 24, "non_binary": 0, "undisclosed": 0,
        }  # fmt: skip
        assert (figures["pairs"]["new"], figures["pairs"]["active_in_period"]) == (71, 83)
        live = await review()
        body = live.json()
        assert [p["yearly_contribution_sek"] for p in body["economy"]["partners"]] == [600000, 477600]
        assert body["economy"]["yearly_total_sek"] == 1077600
        # intake's organisation.configured reached reporting: the districts' names for the printed report
        assert body["labels"]["districts"]["skaggetorp"] == {"sv": "Skäggetorp", "en": "Skäggetorp"}

        # Erase a counted, paired newcomer: the person goes, the counts stay.
        erased_id = newcomers[0]
        assert (await intake.client.delete(f"/participants/{erased_id}")).status_code == 204

        async def erasure_applied():
            async with reporting.pool.acquire() as conn:
                gone = not await conn.fetchval(
                    "SELECT count(*) FROM participants WHERE record_id = $1", uuid.UUID(erased_id)
                )
                anonymous = await conn.fetchval("SELECT count(*) FROM participants WHERE anonymous")
            return gone and anonymous == 1

        await eventually(erasure_applied, timeout=60)
        after_erasure = await review()
        now_figures = after_erasure.json()["figures"]["current"]
        assert now_figures["registrations"] == figures["registrations"]
        assert (now_figures["pairs"]["new"], now_figures["pairs"]["active_in_period"]) == (71, 83)
        async with reporting.pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM pairs WHERE newcomer_id = $1", uuid.UUID(erased_id)) == 0

        # Rebuild from the streams: the same document, byte for byte.
        result = await replay_from_streams(reporting.settings)
        assert result.events >= 288 + 83
        replayed = await review()
        assert replayed.content == after_erasure.content
