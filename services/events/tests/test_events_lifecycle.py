"""Series, "from now on" splits, attendance, withdrawal and erasure on real PostgreSQL, with their events."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, time, timedelta

import asyncpg
import pytest

from sprakvan_events.adapters import repository as repo
from sprakvan_events.domain.attendance import CampaignCount, Headcount, Outcome
from sprakvan_events.domain.model import ActivityDetails, CancelReason, Conflict, InvalidInput, Venue
from sprakvan_events.domain.recurrence import LOCAL, Schedule
from sprakvan_events.domain.signups import KnownParticipant, ParticipantStanding, SignupCancelReason, SignupStatus
from sprakvan_events.service_layer import activities, attendance, participants, signups
from sprakvan_events.service_layer.activities import OccurrenceChange

pytestmark = pytest.mark.infra

ORG = "linkoping"
NOW = datetime(2026, 9, 1, 8, tzinfo=UTC)
MON_WED = Schedule(date(2026, 9, 7), time(18), time(20), "FREQ=WEEKLY;BYDAY=MO,WE", until=date(2027, 6, 30))


async def venue(conn: asyncpg.Connection, district: str = "skaggetorp") -> Venue:
    v = Venue(uuid.uuid4(), ORG, "Skäggetorps bibliotek", district, "Skäggetorps centrum 1", 40)
    await repo.save_venue(conn, v)
    return v


async def person(conn: asyncpg.Connection, role: str = "newcomer", gender: str = "woman") -> uuid.UUID:
    pid = uuid.uuid4()
    known = KnownParticipant(pid, ORG, role, gender, ParticipantStanding.REGISTERED, "vises")
    await repo.upsert_participant(conn, known, 1)
    return pid


async def events_of(conn: asyncpg.Connection, event_type: str) -> list[dict]:
    rows = await conn.fetch("SELECT body FROM outbox WHERE event_type = $1 ORDER BY id", event_type)
    return [json.loads(r["body"]) for r in rows]


def details(v: Venue, capacity: int | None = 15) -> ActivityDetails:
    return ActivityDetails("Språkcafé", "language_cafe", v.id, None, capacity)


async def test_series_materialises_once_per_slot_and_announces_each_occurrence(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        v = await venue(conn)
        activity, created = await activities.schedule_series(
            conn, ORG, details(v), MON_WED, now=NOW, horizon=timedelta(days=60)
        )
        assert len(created) == 16  # 7 Sept - 31 Oct: 8 Mondays and 8 Wednesdays
        assert {o.district for o in created} == {"skaggetorp"}  # from the venue
        again = await activities.materialise(conn, activity.id, ORG, now=NOW, horizon=timedelta(days=60))
        assert again == []
        later = await activities.materialise(conn, activity.id, ORG, now=NOW, horizon=timedelta(days=90))
        assert len(later) == 8
        scheduled = await events_of(conn, "activity.scheduled")
    assert len(scheduled) == 24
    first = scheduled[0]
    assert first["aggregate_id"] == first["payload"]["occurrence_id"] and first["version"] == 1
    assert first["payload"]["venue_id"] == str(v.id) and first["payload"]["type_code"] == "language_cafe"
    assert "title" not in first["payload"]


async def test_bad_series_and_unknown_venue_are_refused_with_the_field(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        v = await venue(conn)
        with pytest.raises(InvalidInput) as bad:
            await activities.schedule_series(
                conn,
                ORG,
                details(v, capacity=-1),
                Schedule(date(2026, 9, 8), time(18), time(17), "FREQ=WEEKLY"),
                now=NOW,
            )
        assert {e.field for e in bad.value.errors} == {("schedule", "ends")}
        with pytest.raises(InvalidInput) as bad:
            await activities.schedule_series(conn, ORG, details(v, capacity=-1), MON_WED, now=NOW)
        assert {e.field for e in bad.value.errors} == {("capacity",)}
        other_org_venue = Venue(uuid.uuid4(), "norrkoping", "x", "y", "")
        await repo.save_venue(conn, other_org_venue)
        with pytest.raises(InvalidInput, match="unknown venue"):
            await activities.schedule_series(conn, ORG, details(other_org_venue), MON_WED, now=NOW)


async def test_from_now_on_splits_the_series_and_carries_sign_ups_to_the_same_day(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        v = await venue(conn)
        old, created = await activities.schedule_series(
            conn, ORG, details(v), MON_WED, now=NOW, horizon=timedelta(days=60)
        )
        by_day = {o.starts_at.astimezone(LOCAL).date(): o for o in created}
        alice, bob = await person(conn), await person(conn, "established", "man")
        await signups.sign_up(conn, ORG, by_day[date(2026, 10, 5)].id, alice, now=NOW)
        await signups.sign_up(conn, ORG, by_day[date(2026, 9, 28)].id, bob, now=NOW)

        # From 1 October the café starts an hour earlier, on Mondays only.
        new_rule = Schedule(date(2026, 10, 1), time(17), time(19), "FREQ=WEEKLY;BYDAY=MO", until=date(2027, 6, 30))
        successor, new = await activities.change_series_from(
            conn, ORG, old.id, date(2026, 10, 1), details(v), new_rule, now=NOW, horizon=timedelta(days=60)
        )
        old_occurrences = await repo.occurrences_of(conn, ORG, old.id)
        kept = [o for o in old_occurrences if not o.cancelled]
        assert max(o.starts_at for o in kept).astimezone(LOCAL).date() == date(2026, 9, 30)
        replaced = [o for o in old_occurrences if o.cancelled]
        assert replaced and {o.cancel_reason for o in replaced} == {CancelReason.SERIES_CHANGED}
        assert successor.continues == old.id
        assert {o.starts_at.astimezone(LOCAL).time() for o in new} == {time(17)}

        carried = next(o for o in new if o.starts_at.astimezone(LOCAL).date() == date(2026, 10, 5))
        (moved_signup,) = await repo.signups_of(conn, ORG, carried.id)
        assert moved_signup.participant_id == alice and moved_signup.status is SignupStatus.CONFIRMED
        (untouched,) = await repo.signups_of(conn, ORG, by_day[date(2026, 9, 28)].id)
        assert untouched.participant_id == bob and untouched.active
        # The old series materialises no more.
        assert await activities.materialise(conn, old.id, ORG, now=NOW, horizon=timedelta(days=365)) == []
        cancelled = await events_of(conn, "activity.cancelled")
        assert {e["payload"]["cancel_reason"] for e in cancelled} == {"series_changed"}


async def test_moved_and_cancelled_occurrences_keep_their_identity_and_count_their_sequence(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        v = await venue(conn)
        _, created = await activities.schedule_series(
            conn, ORG, details(v), MON_WED, now=NOW, horizon=timedelta(days=30)
        )
        target = created[2]
        new_start = target.starts_at + timedelta(days=1)
        moved = await activities.change_occurrence(
            conn, ORG, target.id, OccurrenceChange(times=(new_start, new_start + timedelta(hours=2))), now=NOW
        )
        assert (moved.sequence, moved.version, moved.original_start) == (1, 2, target.original_start)
        with pytest.raises(InvalidInput, match="ends before"):
            await activities.change_occurrence(
                conn, ORG, target.id, OccurrenceChange(times=(new_start, new_start)), now=NOW
            )
        await activities.cancel_occurrence(conn, ORG, created[3].id, now=NOW)
        with pytest.raises(Conflict):
            await attendance.check_in(conn, ORG, created[3].id, await person(conn), Outcome.CAME, now=NOW)
        changed = await events_of(conn, "activity.changed")
        assert [e["payload"]["starts_at"][:16] for e in changed] == [new_start.isoformat()[:16]]


async def test_attendance_withdrawal_and_erasure(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        v = await venue(conn)
        _, created = await activities.schedule_series(
            conn, ORG, details(v, capacity=1), MON_WED, now=NOW, horizon=timedelta(days=30)
        )
        past, future = created[0], created[5]
        leaving, waiting, erased = await person(conn), await person(conn), await person(conn, "established", "man")
        await signups.sign_up(conn, ORG, future.id, leaving, now=NOW)
        await signups.sign_up(conn, ORG, future.id, waiting, now=NOW)
        await signups.sign_up(conn, ORG, past.id, erased, now=NOW)

        after = past.ends_at + timedelta(hours=1)
        await attendance.check_in(conn, ORG, past.id, erased, Outcome.CAME, now=after)
        await attendance.check_in(conn, ORG, past.id, leaving, Outcome.NO_SHOW, now=after)
        await attendance.record_walk_ins(
            conn, ORG, past.id, [Headcount("newcomer", "woman", 3)], expected_counts=None, now=after
        )
        sheet = await attendance.record_campaign_signups(
            conn,
            ORG,
            past.id,
            [CampaignCount("tartkalas", 2)],
            frozenset({"tartkalas"}),
            expected_counts=None,
            now=after,
        )
        before = sheet.totals()
        assert before == {"came": 1, "no_show": 1, "cancelled_late": 0, "walk_ins": 3, "campaign_signups": 2}

        # Withdrawal: the future sign-up is cancelled and the one waiting takes the seat.
        withdrawn = KnownParticipant(leaving, ORG, "newcomer", "woman", ParticipantStanding.WITHDRAWN, "vises")
        async with conn.transaction():
            assert await participants.apply_state(conn, withdrawn, 2, now=NOW) == 1
        future_rows = {s.participant_id: s for s in await repo.signups_of(conn, ORG, future.id)}
        assert future_rows[leaving].cancel_reason is SignupCancelReason.WITHDRAWN
        assert future_rows[waiting].status is SignupStatus.CONFIRMED

        # Erasure: no row names the person any more; the attendance figures stay.
        async with conn.transaction():
            await participants.erase(conn, ORG, erased, now=after)
        assert await conn.fetchval("SELECT count(*) FROM signups WHERE participant_id = $1", erased) == 0
        assert await conn.fetchval("SELECT count(*) FROM check_ins WHERE participant_id = $1", erased) == 0
        assert await repo.load_participant(conn, ORG, erased) is None
        assert (await repo.load_attendance(conn, ORG, past.id)).totals() == before
        await conn.execute("UPDATE outbox SET published_at = now()")  # as if the relay had run
        await attendance.check_in(conn, ORG, past.id, leaving, Outcome.CAME, now=after)
        async with conn.transaction():
            await participants.erase(conn, ORG, leaving, now=after)
        published = await conn.fetch("SELECT body FROM outbox WHERE published_at IS NOT NULL")
        assert not any(
            str(leaving) in bytes(r["body"]).decode() for r in published if b"attendance" in bytes(r["body"])
        )
        tombstones = await events_of(conn, "signup.erased")
        assert len(tombstones) == 2 and str(erased) not in json.dumps(tombstones)
        latest = (await events_of(conn, "attendance.recorded"))[-1]
        assert str(erased) not in json.dumps(latest)
        assert latest["payload"]["anonymous"] == [
            {"outcome": "came", "role": "established", "gender": "man", "count": 1},
            {"outcome": "came", "role": "newcomer", "gender": "woman", "count": 1},
        ]
        assert latest["payload"]["walk_ins"] == [{"role": "newcomer", "gender": "woman", "count": 3}]
        assert latest["payload"]["campaign_signups"] == [{"campaign": "tartkalas", "count": 2}]
        versions = [e["version"] for e in await events_of(conn, "attendance.recorded")]
        assert versions == sorted(versions) and len(set(versions)) == len(versions)


async def test_feeds_by_token_show_moves_and_cancellations_and_keep_their_uids(pool: asyncpg.Pool) -> None:
    import icalendar
    import recurring_ical_events

    from sprakvan_events.service_layer import feeds

    async with pool.acquire() as conn:
        v, elsewhere = await venue(conn), await venue(conn, "berga")
        _, created = await activities.schedule_series(
            conn, ORG, details(v), MON_WED, now=NOW, horizon=timedelta(days=30)
        )
        await activities.schedule_series(conn, ORG, details(elsewhere), MON_WED, now=NOW, horizon=timedelta(days=30))
        moved_to = datetime(2026, 9, 15, 17, tzinfo=LOCAL)
        moving = OccurrenceChange(times=(moved_to, moved_to + timedelta(hours=2)))
        await activities.change_occurrence(conn, ORG, created[2].id, moving, now=NOW)
        await activities.cancel_occurrence(conn, ORG, created[3].id, now=NOW)
        _, token = await feeds.create_feed(conn, ORG, "district", "skaggetorp", "Skäggetorp", now=NOW)
        first = await feeds.render(conn, token, now=NOW)
        second = await feeds.render(conn, token, now=NOW + timedelta(minutes=5))
        assert await feeds.render(conn, token + "x", now=NOW) is None
        with pytest.raises(InvalidInput, match="unknown venue"):
            await feeds.create_feed(conn, ORG, "venue", str(uuid.uuid4()), "x", now=NOW)
    assert first is not None and first == second
    calendar = icalendar.Calendar.from_ical(first)
    events = recurring_ical_events.of(calendar).between(date(2026, 9, 1), date(2026, 10, 10))
    assert len(events) == len(created)  # only Skäggetorp's series
    by_uid = {str(e["UID"]).split("@")[0]: e for e in events}
    assert by_uid[str(created[2].id)].start == moved_to
    assert str(by_uid[str(created[3].id)]["STATUS"]) == "CANCELLED"
    assert {str(e["STATUS"]) for e in events} == {"CONFIRMED", "CANCELLED"}


async def test_programme_and_venue_feeds_and_the_occurrence_filters_show_what_they_name(pool: asyncpg.Pool) -> None:
    import icalendar

    from sprakvan_events.service_layer import feeds

    async with pool.acquire() as conn:
        library, hall = await venue(conn), await venue(conn, "berga")
        two = Schedule(date(2026, 9, 7), time(18), time(20), "FREQ=WEEKLY;BYDAY=MO", count=2)

        async def series(v: Venue, programmes: tuple[str, ...]) -> list:
            plan = ActivityDetails("Café", "language_cafe", v.id, None, 15, programmes)
            return (await activities.schedule_series(conn, ORG, plan, two, now=NOW))[1]

        for_all, ours = await series(library, ()), await series(library, ("sprakvan",))
        theirs = await series(hall, ("vises",))
        # One of the library's cafés meets in the hall once: it shows where it meets.
        await activities.change_occurrence(conn, ORG, ours[1].id, OccurrenceChange(venue_id=hall.id), now=NOW)

        async def feed(scope: str, value: str | None) -> set:
            _, token = await feeds.create_feed(conn, ORG, scope, value, scope, now=NOW)
            calendar = icalendar.Calendar.from_ical(await feeds.render(conn, token, now=NOW))
            return {uuid.UUID(str(e["UID"]).split("@")[0]) for e in calendar.events}

        def ids(*groups: list) -> set:
            return {o.id for group in groups for o in group}

        assert await feed("programme", "sprakvan") == ids(for_all, ours)
        assert await feed("programme", "vises") == ids(for_all, theirs)
        assert await feed("venue", str(library.id)) == ids(for_all, ours[:1])
        assert await feed("venue", str(hall.id)) == ids(ours[1:], theirs)
        assert await feed("organisation", None) == ids(for_all, ours, theirs)
        assert await feed("district", "berga") == ids(ours[1:], theirs)
        with pytest.raises(InvalidInput, match="give a value"):
            await feeds.create_feed(conn, ORG, "programme", None, "x", now=NOW)

        start, end = datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC)

        async def listed(**where: object) -> set:
            return {o.occurrence.id for o in await repo.list_occurrences(conn, ORG, start, end, **where)}

        assert await listed(programme="sprakvan") == ids(for_all, ours)
        assert await listed(district="skaggetorp") == ids(for_all, ours[:1])
        assert await listed(venue_id=hall.id) == ids(ours[1:], theirs)
        assert await listed(district="berga", programme="vises") == ids(theirs)
        assert await repo.list_occurrences(conn, "norrkoping", start, end) == []
