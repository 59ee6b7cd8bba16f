"""The review's figures from read models loaded by hand, on a real PostgreSQL. Every expected number is
counted from the rows below (period Jan-Oct 2019, compared with Jan-Oct 2018)."""

from __future__ import annotations

from datetime import date

import pytest
from reporting_builders import ORG, load_sample, participant

from sprakvan_reporting.adapters import read_models as rm
from sprakvan_reporting.adapters.figures import Scope, period_figures
from sprakvan_reporting.domain.model import Period

pytestmark = pytest.mark.infra

PERIOD = Period(date(2019, 1, 1), date(2019, 10, 31))
ALL = Scope(ORG, None)


@pytest.fixture
async def loaded(conn):
    return await load_sample(conn)


async def test_registrations_by_role_gender_district_and_referral(conn, loaded):
    now = (await period_figures(conn, ALL, PERIOD))["registrations"]
    # n1, n2, anon and the other programme's newcomer are women
    assert now["by_role_and_gender"]["newcomer"] == {"woman": 4, "man": 2, "non_binary": 0, "undisclosed": 0}
    assert now["by_role_and_gender"]["established"] == {"woman": 1, "man": 0, "non_binary": 0, "undisclosed": 0}
    assert now["total_by_role"] == {"newcomer": 6, "established": 1}
    assert now["by_district"]["newcomer"] == {"berga": 1, "ryd": 1, "skaggetorp": 4}
    assert now["by_referral_source"]["newcomer"] == {"campaign": 1, "red_cross": 1, "self": 4}
    assert now["by_campaign"]["newcomer"] == {"-": 5, "bussreklam": 1}
    assert now["by_month"]["2019-01"]["newcomer"]["woman"] == 1
    assert now["by_month"]["2019-01"]["established"]["woman"] == 1
    assert list(now["by_month"]) == [f"2019-{m:02}" for m in range(1, 11)]
    before = (await period_figures(conn, ALL, PERIOD.year_earlier()))["registrations"]
    assert before["total_by_role"] == {"newcomer": 1, "established": 1}


async def test_one_programme_only(conn, loaded):
    now = (await period_figures(conn, Scope(ORG, "guide"), PERIOD))["registrations"]
    assert now["total_by_role"] == {"newcomer": 1, "established": 0}


async def test_pairs_new_active_ended_follow_ups_and_waiting_time(conn, loaded):
    now = (await period_figures(conn, ALL, PERIOD))["pairs"]
    assert (now["new"], now["active_in_period"], now["active_at_end"], now["ended"]) == (2, 2, 1, 1)
    assert now["ended_by_reason"] == {"moved": 1}
    assert now["new_by_origin"] == {"group_meetup": 1, "proposal": 1}
    assert now["follow_ups_done"] == 1
    # p1: 10 Jan -> 10 Feb = 31 days; p4: 1 Apr -> 31 Oct = 213 days
    assert now["waiting_days"] == {"measured": 2, "median": 31, "p90": 213}
    assert now["over_time"]["2019-01"] == {"active_at_month_end": 1, "new": 0}  # p2 only
    assert now["over_time"]["2019-02"] == {"active_at_month_end": 2, "new": 1}  # p1 from its introduction
    assert now["over_time"]["2019-03"] == {"active_at_month_end": 1, "new": 0}  # p2 ended 1 March
    assert now["over_time"]["2019-10"] == {"active_at_month_end": 1, "new": 1}  # p4 is not introduced yet
    before = (await period_figures(conn, ALL, PERIOD.year_earlier()))["pairs"]
    assert (before["new"], before["active_in_period"], before["active_at_end"], before["ended"]) == (2, 2, 2, 0)


async def test_waiting_list_and_missing_volunteers(conn, loaded):
    waiting = (await period_figures(conn, ALL, PERIOD))["waiting_list"]
    # n2 withdrew, n1 and n3 are paired; n2018 waits again in Ryd (e2018 is free), n4 waits in Berga alone.
    assert waiting["by_district"] == {
        "berga": {"waiting": 1, "free_places": 0, "volunteers_missing": 1},
        "ryd": {"waiting": 1, "free_places": 1, "volunteers_missing": 0},
        "skaggetorp": {"waiting": 0, "free_places": 0, "volunteers_missing": 0},
    }
    assert (waiting["waiting"], waiting["volunteers_missing"]) == (2, 1)


async def test_activities_sessions_attendance_and_weekly_districts(conn, loaded):
    now = (await period_figures(conn, ALL, PERIOD))["activities"]
    # 44 cafés + 3 walks + 1 stand; the cancelled café is not counted
    assert (now["activities"], now["sessions"], now["signups"]) == (3, 48, 44 * 12 + 15)
    assert (now["attended_registered"], now["attended_walk_in"], now["attendance"]) == (455, 88, 543)
    assert now["mean_attendance_per_session"] == 11.31  # 543 / 48
    assert now["weeks_in_period"] == 44
    assert now["weekly_districts"] == ["skaggetorp"]
    assert now["by_district"]["ryd"]["sessions"] == 3
    assert now["by_district"]["skaggetorp"]["mean_attendance_per_session"] == 12.0
    assert now["attended_by_role_and_gender"]["established"]["woman"] == 44 * 4
    assert now["walk_ins_by_role_and_gender"]["newcomer"] == {"woman": 44, "man": 44, "non_binary": 0, "undisclosed": 0}
    assert now["stand_signups_by_campaign"] == {"stadsfesten": 4}
    assert [(r["activity_type"], r["district"], r["sessions"]) for r in now["by_type_and_district"]] == [
        ("fair_stand", "innerstaden", 1),
        ("language_cafe", "skaggetorp", 44),
        ("walk_and_talk", "ryd", 3),
    ]
    before = (await period_figures(conn, ALL, PERIOD.year_earlier()))["activities"]
    assert (before["sessions"], before["mean_attendance_per_session"]) == (10, 8.0)


async def test_activities_of_one_programme_include_those_open_to_all(conn, loaded):
    vises = (await period_figures(conn, Scope(ORG, "vises"), PERIOD))["activities"]
    assert vises["sessions"] == 47  # the stand is the guide programme's only
    guide = (await period_figures(conn, Scope(ORG, "guide"), PERIOD))["activities"]
    assert guide["sessions"] == 48


async def test_signups_are_recounted_when_one_changes_or_is_erased(conn, loaded):
    occurrence_id = await conn.fetchval("SELECT occurrence_id FROM sessions WHERE signups_confirmed = 5 LIMIT 1")
    ids = [
        r["signup_id"]
        for r in await conn.fetch("SELECT signup_id FROM signups WHERE occurrence_id = $1", occurrence_id)
    ]
    await rm.upsert_signups(conn, [rm.SignupFacts(ORG, ids[0], occurrence_id, "cancelled", 2)])
    await rm.erase_signups(conn, ORG, [ids[1]])
    assert await conn.fetchval("SELECT signups_confirmed FROM sessions WHERE occurrence_id = $1", occurrence_id) == 3


async def test_erasure_keeps_counts_through_the_anonymous_record(conn, loaded):
    before = await period_figures(conn, ALL, PERIOD)
    n1 = loaded["n1"]
    await rm.erase_participants(conn, ORG, [n1.record_id])
    await rm.upsert_participants(conn, [participant(n1.registered_on, anonymous=True, referral_source="self")])
    await rm.upsert_participants(conn, [n1.__class__(**{**n1.__dict__, "version": 2})])  # a late event of theirs
    after = await period_figures(conn, ALL, PERIOD)
    assert after["registrations"] == before["registrations"]
    assert after["pairs"]["new"] == before["pairs"]["new"]
    # The pair no longer links to the person, so their waiting time is not on record any more.
    assert after["pairs"]["waiting_days"] == {"measured": 1, "median": 213, "p90": 213}
    assert await conn.fetchval("SELECT count(*) FROM pairs WHERE newcomer_id = $1", n1.record_id) == 0


async def test_stale_and_duplicate_rows_change_nothing(conn, loaded):
    before = await period_figures(conn, ALL, PERIOD)
    p1 = loaded["p1"]
    stale = p1.__class__(**{**p1.__dict__, "ended_on": date(2019, 3, 3), "status": "ended", "version": 0})
    await rm.upsert_pairs(conn, [stale, p1, p1])
    assert await period_figures(conn, ALL, PERIOD) == before
