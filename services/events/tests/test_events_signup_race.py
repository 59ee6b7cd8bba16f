"""Race-free sign-up on real PostgreSQL: the occurrence row is locked and the decision taken inside."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from sprakvan_events.adapters import repository as repo
from sprakvan_events.domain.model import ActivityDetails, Conflict
from sprakvan_events.domain.signups import KnownParticipant, ParticipantStanding, SignupCancelReason, SignupStatus
from sprakvan_events.service_layer import activities, signups
from sprakvan_events.service_layer.activities import OccurrenceChange

pytestmark = pytest.mark.infra

ORG = "linkoping"
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


async def register(conn: asyncpg.Connection, count: int, programme: str = "vises") -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(count)]
    for pid in ids:
        known = KnownParticipant(pid, ORG, "newcomer", "woman", ParticipantStanding.REGISTERED, programme)
        await repo.upsert_participant(conn, known, 1)
    return ids


async def one_off(conn: asyncpg.Connection, capacity: int | None, programmes: tuple[str, ...] = ()) -> uuid.UUID:
    details = ActivityDetails("Promenad", "walk_and_talk", None, "ryd", capacity, programmes)
    starts = NOW + timedelta(days=3)
    _, occurrence = await activities.schedule_one_off(conn, ORG, details, starts, starts + timedelta(hours=2), now=NOW)
    return occurrence.id


async def sign_up_all(pool: asyncpg.Pool, occurrence_id: uuid.UUID, participants: list[uuid.UUID]) -> list[object]:
    async def one(pid: uuid.UUID) -> object:
        async with pool.acquire() as conn:
            return await signups.sign_up(conn, ORG, occurrence_id, pid, now=NOW)

    return await asyncio.gather(*(one(p) for p in participants))


async def state(conn: asyncpg.Connection, occurrence_id: uuid.UUID) -> tuple[list, asyncpg.Record]:
    rows = await repo.signups_of(conn, ORG, occurrence_id)
    counters = await conn.fetchrow(
        "SELECT confirmed, waitlisted, arrivals FROM occurrences WHERE id = $1", occurrence_id
    )
    return rows, counters


@pytest.fixture
async def wide_pool(database_url: str, pool: asyncpg.Pool):  # noqa: ARG001 - pool migrates the database
    """Enough connections for 100 transactions to queue on the row lock at once."""
    from sprakvan_shared.db import create_pool

    wide = await create_pool(database_url, min_size=10, max_size=60)
    yield wide
    await wide.close()


async def test_100_concurrent_sign_ups_for_the_last_places_confirm_exactly_capacity(
    pool: asyncpg.Pool, wide_pool: asyncpg.Pool
) -> None:
    async with pool.acquire() as conn:
        occurrence_id = await one_off(conn, capacity=10)
        early = await register(conn, 7)
        crowd = await register(conn, 100)
    await sign_up_all(pool, occurrence_id, early)  # 7 of 10 places taken: 3 left

    await sign_up_all(wide_pool, occurrence_id, crowd)

    async with pool.acquire() as conn:
        rows, counters = await state(conn, occurrence_id)
        outbox = Counter(r["event_type"] for r in await conn.fetch("SELECT event_type FROM outbox"))
    statuses = Counter(s.status for s in rows)
    assert statuses == {SignupStatus.CONFIRMED: 10, SignupStatus.WAITLISTED: 97}
    assert (counters["confirmed"], counters["waitlisted"], counters["arrivals"]) == (10, 97, 107)
    # Arrival numbers are one gap-free sequence, and the confirmed ones arrived first.
    assert sorted(s.arrival for s in rows) == list(range(1, 108))
    confirmed = sorted(s.arrival for s in rows if s.status is SignupStatus.CONFIRMED)
    assert confirmed == list(range(1, 11))
    assert not any(s.over_capacity for s in rows)
    assert outbox == {"activity.scheduled": 1, "signup.confirmed": 10, "signup.waitlisted": 97}

    # The waiting list is served in arrival order: each cancellation promotes the next arrival.
    waiting = sorted((s for s in rows if s.status is SignupStatus.WAITLISTED), key=lambda s: s.arrival)
    async with pool.acquire() as conn:
        for expected in waiting[:3]:
            holder = next(s for s in await repo.signups_of(conn, ORG, occurrence_id) if s.status == "confirmed")
            await signups.cancel_signup(conn, ORG, holder.id, SignupCancelReason.PARTICIPANT, now=NOW)
            promoted = await repo.load_signup(conn, ORG, expected.id)
            assert promoted.status is SignupStatus.CONFIRMED and promoted.promoted_at == NOW


async def test_concurrent_cancellations_and_sign_ups_promote_exactly_the_oldest_waiting(
    pool: asyncpg.Pool, wide_pool: asyncpg.Pool
) -> None:
    async with pool.acquire() as conn:
        occurrence_id = await one_off(conn, capacity=10)
        first = await register(conn, 30)
        late = await register(conn, 30)
        for pid in first:  # one at a time: arrivals 1-10 confirmed, 11-30 waiting
            await signups.sign_up(conn, ORG, occurrence_id, pid, now=NOW)
        rows, _ = await state(conn, occurrence_id)
    by_arrival = {s.arrival: s for s in rows}
    leaving_confirmed = [by_arrival[a].id for a in (1, 3, 4, 7, 8, 10)]
    leaving_waiting = [by_arrival[a].id for a in (11, 13, 20, 29)]

    async def cancel(signup_id: uuid.UUID) -> None:
        async with wide_pool.acquire() as conn:
            await signups.cancel_signup(conn, ORG, signup_id, SignupCancelReason.PARTICIPANT, now=NOW)

    async def join(pid: uuid.UUID) -> None:
        async with wide_pool.acquire() as conn:
            await signups.sign_up(conn, ORG, occurrence_id, pid, now=NOW)

    work = [cancel(s) for s in leaving_confirmed + leaving_waiting] + [join(p) for p in late]
    random.Random(5).shuffle(work)
    await asyncio.gather(*work)

    async with pool.acquire() as conn:
        rows, counters = await state(conn, occurrence_id)
        promoted_events = await conn.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'signup.promoted'")
    confirmed = sorted(s.arrival for s in rows if s.status is SignupStatus.CONFIRMED)
    # The 4 who stayed, and the 6 oldest of those still waiting (11 and 13 left the queue).
    assert confirmed == [2, 5, 6, 9, 12, 14, 15, 16, 17, 18]
    waiting = sorted(s.arrival for s in rows if s.status is SignupStatus.WAITLISTED)
    assert waiting == [19, 21, 22, 23, 24, 25, 26, 27, 28, 30, *range(31, 61)]
    assert (counters["confirmed"], counters["waitlisted"]) == (10, 40)
    promoted = {s.arrival for s in rows if s.promoted_at is not None}
    # A queued person who cancelled may have been promoted just before: promotions cover 12, 14-18 at least.
    assert {12, 14, 15, 16, 17, 18} <= promoted <= set(range(11, 19))
    assert promoted_events == len(promoted)


async def test_capacity_zero_closed_capacity_change_and_cancelled_occurrence(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        closed = await one_off(conn, capacity=0)
        people = await register(conn, 5)
        with pytest.raises(Conflict, match="closed"):
            await signups.sign_up(conn, ORG, closed, people[0], now=NOW, over_capacity=True)

        occurrence_id = await one_off(conn, capacity=1)
        for pid in people:
            await signups.sign_up(conn, ORG, occurrence_id, pid, now=NOW)
        with pytest.raises(Conflict, match="already signed up"):
            await signups.sign_up(conn, ORG, occurrence_id, people[0], now=NOW)
        forced = (await register(conn, 1))[0]
        extra = await signups.sign_up(conn, ORG, occurrence_id, forced, now=NOW, over_capacity=True)
        assert extra.status is SignupStatus.CONFIRMED and extra.over_capacity

        await activities.change_occurrence(conn, ORG, occurrence_id, OccurrenceChange(resize=True, capacity=4), now=NOW)
        rows, counters = await state(conn, occurrence_id)
        # 2 confirmed (one forced) of 4: the next two in line are promoted, the last still waits.
        assert [s.status.value for s in rows] == [
            "confirmed",
            "confirmed",
            "confirmed",
            "waitlisted",
            "waitlisted",
            "confirmed",
        ]
        assert (counters["confirmed"], counters["waitlisted"]) == (4, 2)

        await activities.cancel_occurrence(conn, ORG, occurrence_id, now=NOW)
        rows, counters = await state(conn, occurrence_id)
        assert {s.status for s in rows} == {SignupStatus.CANCELLED}
        assert {s.cancel_reason for s in rows} == {SignupCancelReason.OCCURRENCE_CANCELLED}
        assert (counters["confirmed"], counters["waitlisted"]) == (0, 0)
        with pytest.raises(Conflict, match="cancelled"):
            await signups.sign_up(conn, ORG, occurrence_id, (await register(conn, 1))[0], now=NOW)


async def test_unknown_withdrawn_and_other_programme_participants_are_refused(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        occurrence_id = await one_off(conn, capacity=5)
        with pytest.raises(Conflict, match="unknown"):
            await signups.sign_up(conn, ORG, occurrence_id, uuid.uuid4(), now=NOW)
        (gone,) = await register(conn, 1)
        withdrawn = KnownParticipant(gone, ORG, "newcomer", "man", ParticipantStanding.WITHDRAWN, "vises")
        await repo.upsert_participant(conn, withdrawn, 2)
        with pytest.raises(Conflict, match="withdrawn"):
            await signups.sign_up(conn, ORG, occurrence_id, gone, now=NOW)
        # Another organisation's occurrence is not found, whoever asks.
        with pytest.raises(repo.NotFound):
            await signups.sign_up(conn, "norrkoping", occurrence_id, gone, now=NOW)

        # An activity open to named programmes takes their people alone; one open to all takes everyone.
        (friend,) = await register(conn, 1, programme="sprakvan")
        (neighbour,) = await register(conn, 1, programme="vises")
        theirs = await one_off(conn, capacity=5, programmes=("sprakvan", "kompis"))
        with pytest.raises(Conflict, match="not open to the participant's programme"):
            await signups.sign_up(conn, ORG, theirs, neighbour, now=NOW)
        assert (await signups.sign_up(conn, ORG, theirs, friend, now=NOW)).status is SignupStatus.CONFIRMED
        with pytest.raises(Conflict, match=r"participant_ids\[1\]: the activity is not open"):
            await signups.sign_up_group(conn, ORG, await one_off(conn, 5, ("sprakvan",)), [friend, neighbour], now=NOW)
        for pid in (friend, neighbour):
            assert (await signups.sign_up(conn, ORG, occurrence_id, pid, now=NOW)).status is SignupStatus.CONFIRMED
        assert [s.participant_id for s in await repo.signups_of(conn, ORG, theirs)] == [friend]


async def test_a_group_sign_up_follows_the_capacity_rule_and_is_all_or_nothing(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        occurrence_id = await one_off(conn, capacity=3)
        family = await register(conn, 5)
        with pytest.raises(Conflict, match=r"participant_ids\[2\]: unknown"):
            await signups.sign_up_group(conn, ORG, occurrence_id, [*family[:2], uuid.uuid4()], now=NOW)
        assert await repo.signups_of(conn, ORG, occurrence_id) == []
        added = await signups.sign_up_group(conn, ORG, occurrence_id, family, now=NOW)
        assert [s.status.value for s in added] == ["confirmed"] * 3 + ["waitlisted"] * 2
        assert [s.participant_id for s in added] == family
        more = await register(conn, 1)
        forced = await signups.sign_up_group(conn, ORG, occurrence_id, more, now=NOW, over_capacity=True)
        assert forced[0].status is SignupStatus.CONFIRMED and forced[0].over_capacity


async def test_a_withdrawal_racing_sign_ups_leaves_no_active_sign_up_of_the_withdrawn(
    pool: asyncpg.Pool, wide_pool: asyncpg.Pool
) -> None:
    from sprakvan_events.service_layer import participants

    async with pool.acquire() as conn:
        occurrences = [await one_off(conn, capacity=3) for _ in range(4)]
        people = await register(conn, 12)

    async def join(pid: uuid.UUID, occurrence_id: uuid.UUID) -> None:
        async with wide_pool.acquire() as conn:
            with contextlib.suppress(Conflict):  # withdrawn first: refused, as it should be
                await signups.sign_up(conn, ORG, occurrence_id, pid, now=NOW)

    async def withdraw(pid: uuid.UUID) -> None:
        gone = KnownParticipant(pid, ORG, "newcomer", "woman", ParticipantStanding.WITHDRAWN, "vises")
        async with wide_pool.acquire() as conn, conn.transaction():
            await participants.apply_state(conn, gone, 2, now=NOW)

    leaving = people[::3]
    work = [join(p, o) for p in people for o in occurrences] + [withdraw(p) for p in leaving]
    random.Random(11).shuffle(work)
    await asyncio.gather(*work)

    async with pool.acquire() as conn:
        for occurrence_id in occurrences:
            rows, counters = await state(conn, occurrence_id)
            active = [s for s in rows if s.active]
            assert not {s.participant_id for s in active} & set(leaving)
            confirmed = sum(s.status is SignupStatus.CONFIRMED for s in rows)
            assert counters["confirmed"] == confirmed == min(3, len(active))
            assert counters["waitlisted"] == len(active) - confirmed


async def server_waits_on_a_lock(conn: asyncpg.Connection, pid: int) -> None:
    for _ in range(500):
        if await conn.fetchval("SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", pid) == "Lock":
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the transaction never waited on a lock")


async def test_a_check_in_racing_an_erasure_is_anonymised_or_refused_never_left_naming_the_person(
    pool: asyncpg.Pool,
) -> None:
    """The check-in has read the person and waits on the occurrence (another check-in holds it) when the
    erasure comes: the erasure must wait for it and anonymise it, not finish first and leave it behind."""
    from sprakvan_events.domain.attendance import Outcome
    from sprakvan_events.service_layer import attendance, participants

    async with pool.acquire() as conn:
        occurrence_id = await one_off(conn, capacity=None)
        (person,) = await register(conn, 1)
    async with pool.acquire() as holder, pool.acquire() as checking, pool.acquire() as erasing, pool.acquire() as look:
        blocker = holder.transaction()
        await blocker.start()
        await holder.execute("SELECT 1 FROM occurrences WHERE id = $1 FOR UPDATE", occurrence_id)
        check_in = asyncio.create_task(attendance.check_in(checking, ORG, occurrence_id, person, Outcome.CAME, now=NOW))
        await server_waits_on_a_lock(look, checking.get_server_pid())

        async def erase() -> None:
            async with erasing.transaction():
                await participants.erase(erasing, ORG, person, now=NOW)

        erasure = asyncio.create_task(erase())
        done, _ = await asyncio.wait([erasure], timeout=1.0)
        assert not done, "the erasure finished while a check-in of the person was on its way"
        await blocker.commit()
        await check_in
        await erasure

        assert await look.fetchval("SELECT count(*) FROM check_ins WHERE participant_id = $1", person) == 0
        sheet = await repo.load_attendance(look, ORG, occurrence_id)
        assert sheet.check_ins == () and sheet.totals()["came"] == 1  # kept as an anonymous count

        # Erased first: the check-in of someone no longer known is refused.
        with pytest.raises(Conflict, match="unknown participant"):
            await attendance.check_in(checking, ORG, occurrence_id, person, Outcome.CAME, now=NOW)


async def test_an_imported_sign_up_racing_an_erasure_is_refused_never_left_naming_the_person(
    pool: asyncpg.Pool,
) -> None:
    """The erasure has deleted the person but not committed when a history import names them: the import
    must wait and then refuse the row, not read the old row and leave a sign-up behind the erasure."""
    from sprakvan_events.entrypoints.import_rows import SignupRow
    from sprakvan_events.service_layer import importing, participants
    from sprakvan_shared.imports import RawRow, parse_rows, remember

    async with pool.acquire() as conn:
        occurrence_id = await one_off(conn, capacity=None)
        await remember(conn, ORG, "occurrences", "o-1", str(occurrence_id), "hash")
        (person,) = await register(conn, 1)
    raw = RawRow(row=2, key="s-1", occurrence_key="o-1", participant_id=str(person), status="confirmed")
    parsed, failed = parse_rows(SignupRow, [raw])
    assert not failed
    async with pool.acquire() as erasing, pool.acquire() as importing_conn, pool.acquire() as look:
        erasure = erasing.transaction()
        await erasure.start()
        await participants.erase(erasing, ORG, person, now=NOW)
        imported = asyncio.create_task(
            importing.import_rows(importing_conn, ORG, "signups", parsed, dry_run=False, now=NOW)
        )
        done, _ = await asyncio.wait([imported], timeout=1.0)
        assert not done, "the import read a participant whose erasure was on its way"
        await erasure.commit()
        (result,) = await imported
        assert result.outcome == "refused" and [e.field for e in result.errors] == ["participant_id"]
        assert await look.fetchval("SELECT count(*) FROM signups WHERE participant_id = $1", person) == 0
