"""Events in, figures out: the handlers on a real PostgreSQL, with late, duplicated and reordered events,
and an erasure that keeps the counts."""

from __future__ import annotations

import asyncio
import random
from datetime import date

import pytest
from reporting_events import (
    ORG,
    STOCKHOLM,
    attendance_event,
    configured,
    erased,
    erasure_statistics,
    occurrence_event,
    pair_event,
    participant_state,
    registered,
    signup_event,
    withdrawn,
)

from sprakvan_reporting.adapters.figures import Scope, period_figures
from sprakvan_reporting.domain.model import Period
from sprakvan_reporting.service_layer.consumers import apply_events, make_handler
from sprakvan_reporting.upstream import events as ev
from sprakvan_reporting.upstream import matching

pytestmark = pytest.mark.infra

PERIOD = Period(date(2019, 1, 1), date(2019, 10, 31))
ALL = Scope(ORG, None)


def history():
    anna = participant_state(date(2019, 1, 10))
    omar = participant_state(date(2019, 2, 1), gender="man", district="ryd")
    lena = participant_state(date(2019, 1, 5), "established", capacity=2)
    karl = participant_state(date(2019, 3, 1), "established", "man")
    formed = pair_event(matching.PairFormed, anna, lena, date(2019, 2, 10))
    active = pair_event(
        matching.PairActivated, anna, lena, date(2019, 2, 10), version=2, pair_id=formed.payload.pair_id,
        status="active", activated_on=date(2019, 2, 15),
    )  # fmt: skip
    second = pair_event(matching.PairFormed, omar, lena, date(2019, 4, 1))
    cafe = occurrence_event(date(2019, 3, 5))
    cancelled = ev.ActivityCancelled(
        organisation_id=ORG, aggregate_id=cafe.aggregate_id, version=3,
        payload=occurrence_event(date(2019, 3, 12), status="cancelled").payload.model_copy(
            update={"occurrence_id": cafe.payload.occurrence_id}),
    )  # fmt: skip
    walk = occurrence_event(date(2019, 5, 2), "walk_and_talk", "ryd")
    sheet = attendance_event(walk, [("newcomer", "man"), ("established", "woman")], [("newcomer", "woman", 2)])
    confirmed = signup_event(walk)
    changed_mind = signup_event(walk, "cancelled", version=2, signup_id=confirmed.payload.signup_id)
    events = [
        configured(),
        registered(anna), registered(omar), registered(lena), registered(karl), withdrawn(karl, date(2019, 6, 1)),
        formed, active, second, cafe, cancelled, walk, sheet, confirmed, changed_mind, signup_event(walk),
    ]  # fmt: skip
    return events, {"anna": anna}


async def figures(conn):
    return await period_figures(conn, ALL, PERIOD)


async def test_events_become_figures(conn):
    events, _ = history()
    await apply_events(conn, events, STOCKHOLM)
    now = await figures(conn)
    assert now["registrations"]["total_by_role"] == {"newcomer": 2, "established": 2}
    assert (now["pairs"]["new"], now["pairs"]["active_in_period"]) == (2, 1)  # omar's pair is not introduced
    assert now["pairs"]["waiting_days"] == {"measured": 2, "median": 31, "p90": 59}
    assert now["activities"]["sessions"] == 1  # the café was cancelled
    assert (now["activities"]["signups"], now["activities"]["attendance"]) == (1, 4)
    assert now["waiting_list"]["waiting"] == 0
    configured_labels = await conn.fetchval("SELECT configuration FROM organisations")
    assert configured_labels["districts"][1]["code"] == "ryd"


async def test_late_duplicated_and_reordered_events_change_nothing(conn, reporting_db):
    events, _ = history()
    await apply_events(conn, events, STOCKHOLM)
    expected = await figures(conn)
    await conn.execute("TRUNCATE participants, pairs, sessions, signups, organisations")

    handle = make_handler(STOCKHOLM)
    shuffled = events * 2
    random.Random(7).shuffle(shuffled)
    for event in shuffled:
        async with conn.transaction():
            await handle(conn, event)
    assert await figures(conn) == expected


async def test_erasure_keeps_the_counts(conn):
    events, people = history()
    await apply_events(conn, events, STOCKHOLM)
    before = await figures(conn)
    anna = people["anna"]
    await apply_events(
        conn, [erased(anna, date(2020, 2, 1), 3), erasure_statistics(2019, [anna], date(2020, 2, 1), 1)], STOCKHOLM
    )
    await apply_events(conn, [registered(anna, version=2)], STOCKHOLM)  # a late event of hers
    after = await figures(conn)
    assert after["registrations"] == before["registrations"]
    assert after["pairs"]["new"] == before["pairs"]["new"]
    assert await conn.fetchval("SELECT count(*) FROM participants WHERE record_id = $1", anna.participant_id) == 0
    assert await conn.fetchval("SELECT count(*) FROM pairs WHERE newcomer_id = $1", anna.participant_id) == 0


async def test_sign_ups_of_one_occurrence_applied_in_parallel_are_all_counted(reporting_db):
    from sprakvan_shared.db import create_pool

    cafe = occurrence_event(date(2019, 3, 5))
    signups = [signup_event(cafe) for _ in range(24)]
    pool = await create_pool(reporting_db, min_size=8, max_size=8)
    try:
        handle = make_handler(STOCKHOLM)

        async def apply(event):
            async with pool.acquire() as conn, conn.transaction():
                await handle(conn, event)

        await asyncio.gather(*(apply(e) for e in signups))
        assert await pool.fetchval("SELECT signups_confirmed FROM sessions") == 24
    finally:
        await pool.close()
