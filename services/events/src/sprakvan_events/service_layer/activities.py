"""Scheduling: one-offs, series and their materialised occurrences, moves, cancellations, capacity, and
"from now on" changes by splitting a series (a calendar client may ignore RANGE=THISANDFUTURE; two
series never confuse one).

Each handler is one transaction: load, apply the domain rules, store, enqueue the events.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

import asyncpg

from sprakvan_shared import outbox
from sprakvan_shared.contracts import events as contracts
from sprakvan_shared.http import PreconditionFailed

from ..adapters import repository as repo
from ..domain.model import (
    Activity,
    ActivityDetails,
    ActivityKind,
    ActivityStatus,
    CancelReason,
    Conflict,
    FieldError,
    InvalidInput,
    Occurrence,
    check_codes,
    check_details,
    check_times,
    occurrence_id,
)
from ..domain.recurrence import LOCAL, Schedule, localise
from ..domain.signups import Signup, SignupCancelReason
from . import signups
from .events import activity_event

DEFAULT_HORIZON = timedelta(days=180)


async def _checked(conn: asyncpg.Connection, organisation_id: str, details: ActivityDetails) -> ActivityDetails:
    """Validate against the organisation's types, venues, partners and vocabularies; the district comes from
    the venue."""
    errors = check_details(details, await repo.custom_types(conn, organisation_id))
    partners = set(details.partner_ids)
    if partners and await repo.known_partners(conn, organisation_id, details.partner_ids) != partners:
        errors.append(FieldError(("partner_ids",), "unknown partner"))
    if details.venue_id is not None:
        venue = await repo.load_venue(conn, organisation_id, details.venue_id)
        if venue is None:
            raise InvalidInput.one("unknown venue", "venue_id")
        details = replace(details, district=venue.district)
    vocabulary = await repo.load_vocabulary(conn, organisation_id)
    if vocabulary is not None:
        errors += check_codes(
            districts=vocabulary.districts,
            programmes=vocabulary.programmes,
            campaigns=vocabulary.campaigns,
            district=None if details.venue_id else details.district,
            programme_codes=details.programmes,
            campaign=details.campaign,
        )
    if errors:
        raise InvalidInput(errors)
    return details


async def schedule_one_off(
    conn: asyncpg.Connection,
    organisation_id: str,
    details: ActivityDetails,
    starts_at: datetime,
    ends_at: datetime,
    *,
    now: datetime,
    correlation_id: str | None = None,
) -> tuple[Activity, Occurrence]:
    errors = check_times(starts_at, ends_at)
    if errors:
        raise InvalidInput(errors)
    async with conn.transaction():
        details = await _checked(conn, organisation_id, details)
        activity = Activity(
            uuid.uuid4(), organisation_id, ActivityKind.ONE_OFF, details, created_at=now, updated_at=now
        )
        occurrence = Occurrence(
            uuid.uuid4(),
            organisation_id,
            activity.id,
            starts_at,
            ends_at,
            details.venue_id,
            details.district,
            details.capacity,
            created_at=now,
            updated_at=now,
        )
        await repo.insert_activity(conn, activity, None, None)
        await repo.insert_occurrences(conn, [occurrence])
        await outbox.enqueue(conn, activity_event(contracts.ActivityScheduled, occurrence, activity, correlation_id))
    return activity, occurrence


async def schedule_series(
    conn: asyncpg.Connection,
    organisation_id: str,
    details: ActivityDetails,
    schedule: Schedule,
    *,
    now: datetime,
    horizon: timedelta = DEFAULT_HORIZON,
    continues: uuid.UUID | None = None,
    correlation_id: str | None = None,
) -> tuple[Activity, list[Occurrence]]:
    errors = [FieldError(("schedule", *e.field), e.message) for e in schedule.check()]
    if errors:
        raise InvalidInput(errors)
    async with conn.transaction():
        details = await _checked(conn, organisation_id, details)
        activity = Activity(
            uuid.uuid4(),
            organisation_id,
            ActivityKind.SERIES,
            details,
            continues=continues,
            created_at=now,
            updated_at=now,
        )
        await repo.insert_activity(conn, activity, schedule, None)
        created = await _materialise(conn, activity, schedule, now + horizon, now, correlation_id)
    return activity, created


async def materialise(
    conn: asyncpg.Connection, activity_id: uuid.UUID, organisation_id: str, *, now: datetime, horizon: timedelta
) -> list[Occurrence]:
    """Make the series' occurrences up to ``now + horizon`` exist (a periodic task calls this)."""
    async with conn.transaction():
        stored = await repo.load_activity(conn, organisation_id, activity_id, lock=True)
        if stored.activity.status is not ActivityStatus.ACTIVE or stored.schedule is None:
            return []
        return await _materialise(conn, stored.activity, stored.schedule, now + horizon, now, None)


async def _materialise(
    conn: asyncpg.Connection,
    activity: Activity,
    schedule: Schedule,
    until: datetime,
    now: datetime,
    correlation_id: str | None,
) -> list[Occurrence]:
    first = localise(datetime.combine(schedule.first_day, time.min))
    details = activity.details
    candidates = [
        Occurrence(
            occurrence_id(activity.id, slot.original_start),
            activity.organisation_id,
            activity.id,
            slot.starts_at,
            slot.ends_at,
            details.venue_id,
            details.district,
            details.capacity,
            original_start=slot.original_start,
            created_at=now,
            updated_at=now,
        )
        for slot in schedule.slots_between(first, until)
    ]
    inserted = set(await repo.insert_occurrences(conn, candidates))
    created = [o for o in candidates if o.id in inserted]
    await repo.set_materialised_to(conn, activity.id, until)
    if created:
        await outbox.enqueue(
            conn, *(activity_event(contracts.ActivityScheduled, o, activity, correlation_id) for o in created)
        )
    return created


@dataclass(frozen=True)
class OccurrenceChange:
    """What one change of an occurrence asks for: other times (a holiday), another venue, another capacity
    (``resize``; ``capacity`` None is unlimited). What it does not name stays."""

    times: tuple[datetime, datetime] | None = None
    venue_id: uuid.UUID | None = None
    resize: bool = False
    capacity: int | None = None


async def change_occurrence(
    conn: asyncpg.Connection,
    organisation_id: str,
    occurrence_id_: uuid.UUID,
    change: OccurrenceChange,
    *,
    expected: int | None = None,
    now: datetime,
    correlation_id: str | None = None,
) -> Occurrence:
    """All of a change or nothing, in one transaction, published as ONE ``activity.changed`` with the
    occurrence's final state: a refused part leaves the occurrence as it was. ``expected``: the version the
    caller read (None: any), else ``PreconditionFailed``. A larger capacity promotes the first in line at
    once; a smaller one demotes nobody."""
    async with conn.transaction():
        locked = await repo.lock_occurrence(conn, organisation_id, occurrence_id_)
        before = locked.occurrence
        if expected is not None and before.version != expected:
            raise PreconditionFailed(before.version)
        changed = before
        if change.times is not None:
            changed = changed.move(*change.times, now)
        if change.venue_id is not None:
            venue = await repo.load_venue(conn, organisation_id, change.venue_id)
            if venue is None:
                raise InvalidInput.one("unknown venue", "venue_id")
            changed = changed.relocate(venue.id, venue.district, now)
        if change.resize:
            changed = changed.resize(change.capacity, now)
        if changed is before:
            return before
        await _store_changed(conn, changed, contracts.ActivityChanged, correlation_id)
        if change.resize:
            seats = await signups.fill_free_seats(conn, organisation_id, occurrence_id_, now=now)
            await signups.announce(conn, seats, correlation_id)
    return changed


async def cancel_occurrence(
    conn: asyncpg.Connection,
    organisation_id: str,
    occurrence_id_: uuid.UUID,
    *,
    now: datetime,
    reason: CancelReason = CancelReason.CANCELLED,
    correlation_id: str | None = None,
) -> Occurrence:
    async with conn.transaction():
        return await _cancel_locked(conn, organisation_id, occurrence_id_, now, reason, correlation_id)


async def _cancel_locked(
    conn: asyncpg.Connection,
    organisation_id: str,
    occurrence_id_: uuid.UUID,
    now: datetime,
    reason: CancelReason,
    correlation_id: str | None,
) -> Occurrence:
    locked = await repo.lock_occurrence(conn, organisation_id, occurrence_id_)
    if locked.occurrence.cancelled:
        return locked.occurrence
    cancelled = locked.occurrence.cancel(now, reason)
    await _store_changed(conn, cancelled, contracts.ActivityCancelled, correlation_id)
    active = [s.id for s in await repo.signups_of(conn, organisation_id, occurrence_id_) if s.active]
    change = await signups.cancel_locked(
        conn, organisation_id, occurrence_id_, active, SignupCancelReason.OCCURRENCE_CANCELLED, now=now
    )
    await signups.announce(conn, replace(change, occurrence=cancelled), correlation_id)
    return cancelled


async def _store_changed(
    conn: asyncpg.Connection,
    occurrence: Occurrence,
    event_type: type[contracts.ActivityChanged] | type[contracts.ActivityCancelled],
    correlation_id: str | None,
) -> None:
    await repo.save_occurrence(conn, occurrence)
    activity = (await repo.load_activity(conn, occurrence.organisation_id, occurrence.activity_id)).activity
    await outbox.enqueue(conn, activity_event(event_type, occurrence, activity, correlation_id))


async def change_series_from(
    conn: asyncpg.Connection,
    organisation_id: str,
    activity_id: uuid.UUID,
    from_day: date,
    details: ActivityDetails,
    schedule: Schedule,
    *,
    now: datetime,
    horizon: timedelta = DEFAULT_HORIZON,
    correlation_id: str | None = None,
) -> tuple[Activity, list[Occurrence]]:
    """ "From now on": end the series the day before ``from_day`` and continue it as a new series.

    The old series' occurrences from that day on are cancelled (``series_changed``) with their
    sign-ups, which move to the new series' occurrence of the same day when it has one, in their
    arrival order and through the same capacity rule.
    """
    if schedule.first_day < from_day:
        raise InvalidInput.one("the new series starts on or after the day of the change", "schedule", "first_day")
    if from_day < now.astimezone(LOCAL).date():
        raise InvalidInput.one("a change from now on cannot start in the past", "from_day")
    async with conn.transaction():
        stored = await repo.load_activity(conn, organisation_id, activity_id, lock=True)
        if stored.activity.kind is not ActivityKind.SERIES or stored.schedule is None:
            raise Conflict("only a series changes from now on")
        if stored.activity.status is not ActivityStatus.ACTIVE:
            raise Conflict("the series has already ended")
        old = stored.activity
        ended = replace(old, status=ActivityStatus.ENDED, version=old.version + 1, updated_at=now)
        await repo.update_activity(conn, ended, stored.schedule.cut_before(from_day), stored.materialised_to)
        replaced = await repo.occurrences_of(conn, organisation_id, activity_id, starting_from=_day_start(from_day))
        carried: dict[date, list[Signup]] = {}
        for occurrence in replaced:
            day = (occurrence.original_start or occurrence.starts_at).astimezone(LOCAL).date()
            # Lock before reading who is signed up: a sign-up committing meanwhile is carried too.
            await repo.lock_occurrence(conn, organisation_id, occurrence.id)
            carried[day] = [s for s in await repo.signups_of(conn, organisation_id, occurrence.id) if s.active]
            await _cancel_locked(conn, organisation_id, occurrence.id, now, CancelReason.SERIES_CHANGED, correlation_id)
        successor, created = await schedule_series(
            conn,
            organisation_id,
            details,
            schedule,
            now=now,
            horizon=horizon,
            continues=activity_id,
            correlation_id=correlation_id,
        )
        for occurrence in created:
            for signup in carried.get(occurrence.starts_at.astimezone(LOCAL).date(), []):
                with contextlib.suppress(Conflict):  # withdrawn since, or not open to them any more
                    await signups.sign_up(
                        conn,
                        organisation_id,
                        occurrence.id,
                        signup.participant_id,
                        now=now,
                        over_capacity=signup.over_capacity,
                        correlation_id=correlation_id,
                    )
    return successor, created


def _day_start(day: date) -> datetime:
    return localise(datetime.combine(day, time.min))


async def cancel_activity(
    conn: asyncpg.Connection,
    organisation_id: str,
    activity_id: uuid.UUID,
    *,
    now: datetime,
    correlation_id: str | None = None,
) -> Activity:
    """Cancel a one-off or the rest of a series: its occurrences still to come are cancelled with their
    sign-ups; past ones keep their attendance."""
    async with conn.transaction():
        stored = await repo.load_activity(conn, organisation_id, activity_id, lock=True)
        if stored.activity.status is ActivityStatus.CANCELLED:
            return stored.activity
        reason = CancelReason.SERIES_ENDED if stored.activity.kind is ActivityKind.SERIES else CancelReason.CANCELLED
        for occurrence in await repo.occurrences_of(conn, organisation_id, activity_id):
            if occurrence.starts_at > now and not occurrence.cancelled:
                await _cancel_locked(conn, organisation_id, occurrence.id, now, reason, correlation_id)
        cancelled = replace(
            stored.activity, status=ActivityStatus.CANCELLED, version=stored.activity.version + 1, updated_at=now
        )
        await repo.update_activity(conn, cancelled, stored.schedule, stored.materialised_to)
    return cancelled


async def extend_all(pool: asyncpg.Pool, *, now: datetime, horizon: timedelta) -> int:
    """Materialise every active series (of every organisation) to ``now + horizon``; a series is
    extended once it is a week short of it. Each series in its own transaction. Returns how many
    occurrences were made."""
    async with pool.acquire() as conn:
        due = await repo.series_to_materialise(conn, now + horizon - timedelta(days=7))
        made = 0
        for stored in due:
            made += len(
                await materialise(conn, stored.activity.id, stored.activity.organisation_id, now=now, horizon=horizon)
            )
    return made
