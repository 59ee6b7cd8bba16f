"""Jan-Oct 2019 as the seed report counts it, through the streams: intake's, matching's and the events
service's events (dated 2019, as those services would have published them) on real NATS, consumed by
the running reporting service; an erasure as intake performs it (tombstone, statistics, purge); and a
replay that gives the same JSON byte for byte."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from reporting_events import (
    attendance_event,
    configured,
    erased,
    erasure_statistics,
    occurrence_event,
    pair_event,
    participant_state,
    registered,
    signup_event,
)
from test_reporting_seed import PARTNERSHIP, publish

from sprakvan_reporting.service import SERVICE as REPORTING
from sprakvan_reporting.service_layer.replay import replay_from_streams
from sprakvan_reporting.upstream import matching
from sprakvan_shared.contracts.subjects import INTAKE_STREAM
from tests.kit import eventually

pytestmark = pytest.mark.infra

PERIOD = {"from": "2019-01-01", "to": "2019-10-31"}


def programme_2019():
    rng = random.Random(2019)
    days = [date(2019, 1, 1) + timedelta(days=d) for d in range(304)]
    districts = ["skaggetorp", "innerstaden", "lambohov", "berga", "ekholmen", "ryd"]
    newcomers = [
        participant_state(rng.choice(days), gender=g, district=rng.choice(districts), programme="sprakvan")
        for g in ["woman"] * 89 + ["man"] * 110
    ]
    volunteers = [
        participant_state(rng.choice(days), "established", g, capacity=2, programme="sprakvan")
        for g in ["woman"] * 65 + ["man"] * 24
    ]
    earlier = [participant_state(date(2018, 5, 1), gender="man", programme="sprakvan") for _ in range(12)]
    old_volunteer = participant_state(date(2018, 4, 1), "established", capacity=3, programme="sprakvan")
    pairs = []
    for i, n in enumerate(newcomers[:71]):
        formed_on = max(n.registered_at.date() + timedelta(days=14), date(2019, 1, 15))
        formed_on = min(formed_on, date(2019, 10, 31))
        pairs.append(pair_event(matching.PairActivated, n, volunteers[i % 89], formed_on, programme="sprakvan",
                                status="active", activated_on=formed_on))  # fmt: skip
    pairs += [
        pair_event(matching.PairActivated, n, old_volunteer, date(2018, 6, 1), programme="sprakvan", status="active",
                   activated_on=date(2018, 6, 8))
        for n in earlier
    ]  # fmt: skip
    cafes = [occurrence_event(date(2019, 1, 7) + timedelta(weeks=w)) for w in range(43)]  # Mondays in Skäggetorp
    sheets = [attendance_event(o, [("newcomer", "woman")] * 8 + [("established", "man")] * 4, [("newcomer", "man", 2)])
              for o in cafes]  # fmt: skip
    signups = [signup_event(o) for o in cafes[:5] for _ in range(3)]
    people = [*newcomers, *volunteers, *earlier, old_volunteer]
    return people, pairs, [*cafes, *sheets, *signups]


async def test_jan_oct_2019_through_the_streams(start_service, ns, nc):
    people, pairs, activities = programme_2019()
    async with start_service(REPORTING) as reporting:
        await publish(nc, ns, [configured(), *(registered(p) for p in people), *pairs, *activities])
        admin = reporting.as_(role="admin", sub="admin-1")
        assert (await reporting.client.post("/partnerships", json=PARTNERSHIP, headers=admin)).status_code == 201
        viewer = reporting.as_(role="viewer")

        async def review():
            return await reporting.client.get("/reviews", params=PERIOD, headers=viewer)

        async def counted():
            response = await review()
            now = response.json()["figures"]["current"]
            complete = (
                sum(now["registrations"]["total_by_role"].values()) == 288
                and now["pairs"]["active_in_period"] == 83
                and now["activities"]["sessions"] == 43
                and now["activities"]["signups"] == 15
            )
            return response if complete else None

        live = await eventually(counted, timeout=90)
        now = live.json()["figures"]["current"]
        assert now["registrations"]["by_role_and_gender"]["newcomer"] == {
            "woman": 89, "man": 110, "non_binary": 0, "undisclosed": 0,
        }  # fmt: skip
        assert now["registrations"]["by_role_and_gender"]["established"] == {
            "woman": 65, "man": 24, "non_binary": 0, "undisclosed": 0,
        }  # fmt: skip
        assert (now["pairs"]["new"], now["pairs"]["active_in_period"]) == (71, 83)
        assert now["activities"]["attendance"] == 43 * 14
        assert now["activities"]["weekly_districts"] == ["skaggetorp"]
        assert [p["yearly_contribution_sek"] for p in live.json()["economy"]["partners"]] == [600000, 477600]

        # An erasure as intake performs it: the tombstone, the year's anonymous records, the purge.
        person = people[0]
        tombstone = erased(person, date(2020, 3, 1), version=2)
        await publish(nc, ns, [tombstone, erasure_statistics(2019, [person], date(2020, 3, 1), version=1)])
        await nc.jetstream().purge_stream(
            ns.stream(INTAKE_STREAM), subject=ns.subject(f"intake.participant.{person.participant_id}.registered")
        )

        async def erasure_applied():
            async with reporting.pool.acquire() as conn:
                return await conn.fetchval("SELECT count(*) FROM participants WHERE anonymous") == 1 and not (
                    await conn.fetchval("SELECT count(*) FROM participants WHERE record_id = $1", person.participant_id)
                )

        await eventually(erasure_applied, timeout=60)
        after = await review()
        assert after.json()["figures"]["current"]["registrations"] == now["registrations"]
        assert after.json()["figures"]["current"]["pairs"]["new"] == 71

        result = await replay_from_streams(reporting.settings)
        assert result.events > 288 + 83 + 43
        assert (await review()).content == after.content
