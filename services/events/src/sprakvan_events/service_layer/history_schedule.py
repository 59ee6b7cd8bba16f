"""History import of venues, activities and occurrences (each a handler over one request's rows)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sprakvan_shared import outbox
from sprakvan_shared.contracts import events as contracts
from sprakvan_shared.imports import ErrorCode, KnownKey, ParsedRow, RowError, error

from ..adapters import history as store
from ..adapters import repository as repo
from ..domain.history import Meeting, capacity_problem, imported_occurrence, local_times, revised_occurrence
from ..domain.model import (
    Activity,
    ActivityDetails,
    ActivityKind,
    Occurrence,
    Venue,
    check_codes,
    check_details,
)
from ..domain.signups import SignupCancelReason
from ..entrypoints.import_rows import ActivityRow, OccurrenceRow, VenueRow
from . import signups
from .events import activity_event
from .history import ASSUMED, Course, Planned, rule, unknown_code, unknown_reference

_NOWHERE = uuid.UUID(int=0)  # a key that names nothing, or a venue a dry run would create
# What a broken activity rule is, by the field it names.
_DETAIL_CODES = {"capacity": ErrorCode.RULE, "type_code": ErrorCode.UNKNOWN_CODE, "district": ErrorCode.REQUIRED}


async def import_venues(course: Course[VenueRow], rows: Sequence[ParsedRow[VenueRow]]) -> None:
    scope = course.scope

    async def check(parsed: ParsedRow[VenueRow], was: KnownKey | None) -> list[RowError] | uuid.UUID:
        row, errors = parsed.value, []
        if scope.vocabulary is not None and row.district not in scope.vocabulary.districts:
            errors.append(unknown_code("district", "not a district of the programme's configuration"))
        if (why := capacity_problem(row.capacity)) is not None:
            errors.append(rule("capacity", why))
        return errors or (uuid.UUID(was.aggregate_id) if was else uuid.uuid4())

    async def apply(planned: Sequence[Planned[VenueRow, uuid.UUID]]) -> dict[str, str]:
        for p in planned:
            venue = Venue(p.plan, scope.organisation_id, **p.value.model_dump())
            before = await repo.load_venue(scope.conn, scope.organisation_id, venue.id) if p.known else None
            await repo.save_venue(scope.conn, venue)
            if before is not None and before.district != venue.district:
                await _follow_venue(course, venue)
        return {p.parsed.key: str(p.plan) for p in planned}

    await course.settle(rows, check, apply)


async def import_activities(course: Course[ActivityRow], rows: Sequence[ParsedRow[ActivityRow]]) -> None:
    scope = course.scope
    conn, org = scope.conn, scope.organisation_id
    venue_ids = await store.resolve(conn, org, "venues", [r.value.venue_key for r in rows if r.value.venue_key])
    venues = await repo.load_venues(conn, org, venue_ids.values())
    custom = await repo.custom_types(conn, org)

    async def check(
        parsed: ParsedRow[ActivityRow], was: KnownKey | None
    ) -> list[RowError] | tuple[ActivityDetails, repo.StoredActivity | None]:
        row = parsed.value
        venue = venues.get(venue_ids.get(row.venue_key or "", _NOWHERE))
        assumed = venue is None and scope.is_planned("venues", row.venue_key)  # made by the same dry run
        if row.venue_key and venue is None and not assumed:
            return [unknown_reference("venue_key", "venue")]
        details = ActivityDetails(
            title=row.title,
            type_code=row.type_code,
            venue_id=venue.id if venue else (_NOWHERE if assumed else None),
            district=venue.district if venue else row.district,
            capacity=row.capacity,
            programmes=row.programmes,
            description=row.description,
            campaign=row.campaign,
        )
        errors = [
            error(".".join(map(str, e.field)), _DETAIL_CODES.get(str(e.field[0]), ErrorCode.INVALID), e.message)
            for e in check_details(details, custom)
        ]
        if scope.vocabulary is not None:
            errors += [
                unknown_code(".".join(map(str, e.field)), e.message)
                for e in check_codes(
                    districts=scope.vocabulary.districts,
                    programmes=scope.vocabulary.programmes,
                    campaigns=scope.vocabulary.campaigns,
                    district=None if venue or assumed else details.district,
                    programme_codes=details.programmes,
                    campaign=details.campaign,
                )
            ]
        if errors or assumed:
            return errors or ASSUMED
        stored = await repo.load_activity(conn, org, uuid.UUID(was.aggregate_id), lock=True) if was else None
        return details, stored

    async def apply(planned: Sequence[Planned[ActivityRow, Any]]) -> dict[str, str]:
        made = {}
        for p in planned:
            details, stored = p.plan
            if stored is None:
                activity = Activity(
                    uuid.uuid4(), org, ActivityKind.SERIES, details, created_at=scope.now, updated_at=scope.now
                )
                await repo.insert_activity(conn, activity, None, None)
            else:
                activity = await _revise_activity(course, stored, details)
            made[p.parsed.key] = str(activity.id)
        return made

    await course.settle(rows, check, apply)


async def _revise_activity(course: Course[Any], stored: repo.StoredActivity, details: ActivityDetails) -> Activity:
    """The activity as the changed row says; its occurrences that took the activity's place or capacity
    follow it, and each announces its new full state."""
    scope, old = course.scope, stored.activity
    revised = replace(old, details=details, version=old.version + 1, updated_at=scope.now)
    await repo.update_activity(scope.conn, revised, stored.schedule, stored.materialised_to)
    before = old.details
    changed = []
    for occurrence in await repo.occurrences_of(scope.conn, scope.organisation_id, old.id):
        follows_place = (occurrence.venue_id, occurrence.district) == (before.venue_id, before.district)
        follows_capacity = occurrence.capacity == before.capacity
        occurrence = replace(
            occurrence,
            venue_id=details.venue_id if follows_place else occurrence.venue_id,
            district=details.district if follows_place else occurrence.district,
            capacity=details.capacity if follows_capacity else occurrence.capacity,
            version=occurrence.version + 1,
            updated_at=scope.now,
        )
        await repo.save_occurrence(scope.conn, occurrence)
        changed.append(activity_event(contracts.ActivityChanged, occurrence, revised, scope.correlation_id))
    if changed:
        await outbox.enqueue(scope.conn, *changed)
    return revised


async def _follow_venue(course: Course[Any], venue: Venue) -> None:
    """A venue's corrected district: its activities and occurrences are there too, and say so."""
    scope = course.scope
    conn, org = scope.conn, scope.organisation_id
    activities = {}
    for activity_id in await store.activities_at(conn, org, venue.id):
        stored = await repo.load_activity(conn, org, activity_id, lock=True)
        moved = replace(stored.activity.details, district=venue.district)
        activities[activity_id] = replace(
            stored.activity, details=moved, version=stored.activity.version + 1, updated_at=scope.now
        )
        await repo.update_activity(conn, activities[activity_id], stored.schedule, stored.materialised_to)
    announced = []
    for occurrence in await store.occurrences_at(conn, org, venue.id):
        occurrence = replace(occurrence, district=venue.district, version=occurrence.version + 1, updated_at=scope.now)
        await repo.save_occurrence(conn, occurrence)
        activity = (
            activities.get(occurrence.activity_id)
            or (await repo.load_activity(conn, org, occurrence.activity_id)).activity
        )
        announced.append(activity_event(contracts.ActivityChanged, occurrence, activity, scope.correlation_id))
    if announced:
        await outbox.enqueue(conn, *announced)


@dataclass(frozen=True)
class _OccurrencePlan:
    activity: repo.StoredActivity
    occurrence: Occurrence  # as it will be stored
    before: Occurrence | None  # as it is stored (an update)


async def import_occurrences(course: Course[OccurrenceRow], rows: Sequence[ParsedRow[OccurrenceRow]]) -> None:
    scope = course.scope
    conn, org = scope.conn, scope.organisation_id
    activity_ids = await store.resolve(conn, org, "activities", [r.value.activity_key for r in rows])
    venue_ids = await store.resolve(conn, org, "venues", [r.value.venue_key for r in rows if r.value.venue_key])
    venues = await repo.load_venues(conn, org, venue_ids.values())
    activities = {i: await repo.load_activity(conn, org, i) for i in sorted(set(activity_ids.values()))}

    async def check(parsed: ParsedRow[OccurrenceRow], was: KnownKey | None) -> list[RowError] | _OccurrencePlan:
        row, errors = parsed.value, []
        stored = activities.get(activity_ids.get(row.activity_key, _NOWHERE))
        venue = venues.get(venue_ids.get(row.venue_key or "", _NOWHERE))
        # Rows an earlier kind's dry run would create: checked as far as they can be without them.
        assumed = (stored is None and scope.is_planned("activities", row.activity_key)) or (
            row.venue_key is not None and venue is None and scope.is_planned("venues", row.venue_key)
        )
        if stored is None and not scope.is_planned("activities", row.activity_key):
            errors.append(unknown_reference("activity_key", "activity"))
        if row.venue_key and venue is None and not scope.is_planned("venues", row.venue_key):
            errors.append(unknown_reference("venue_key", "venue"))
        times = local_times(row.date, row.starts, row.ends)
        if isinstance(times[0], str):
            errors.append(rule(times[0], str(times[1])))
        if (why := capacity_problem(row.capacity)) is not None:
            errors.append(rule("capacity", why))
        if errors or assumed or stored is None:
            return errors or ASSUMED
        details = stored.activity.details
        venue_id, district = (venue.id, venue.district) if venue else (details.venue_id, details.district)
        capacity = row.capacity if row.capacity is not None else details.capacity
        told = Meeting(times[0], times[1], venue_id, district, capacity, row.cancelled)  # type: ignore[arg-type]
        if was is None:
            return _OccurrencePlan(stored, imported_occurrence(org, stored.activity.id, told, scope.now), None)
        before = (await repo.lock_occurrence(conn, org, uuid.UUID(was.aggregate_id))).occurrence
        if before.activity_id != stored.activity.id:
            return [rule("activity_key", "an occurrence stays with its activity: give the row a new key")]
        if row.cancelled and not before.cancelled and _has_attendance(await repo.load_attendance(conn, org, before.id)):
            return [rule("cancelled", "the occurrence has attendance recorded; a cancelled one has none")]
        revised = revised_occurrence(before, told, scope.now)
        return _OccurrencePlan(stored, revised, before)

    async def apply(planned: Sequence[Planned[OccurrenceRow, _OccurrencePlan]]) -> dict[str, str]:
        await repo.insert_occurrences(conn, [p.plan.occurrence for p in planned if p.plan.before is None])
        announced = []
        for p in planned:
            occurrence, before, activity = p.plan.occurrence, p.plan.before, p.plan.activity.activity
            if before is None:
                kind: Any = contracts.ActivityCancelled if occurrence.cancelled else contracts.ActivityScheduled
            else:
                await repo.save_occurrence(conn, occurrence)
                newly_cancelled = occurrence.cancelled and not before.cancelled
                kind = contracts.ActivityCancelled if newly_cancelled else contracts.ActivityChanged
                if newly_cancelled:
                    await _cancel_signups(course, occurrence)
            announced.append(activity_event(kind, occurrence, activity, scope.correlation_id))
        if announced:
            await outbox.enqueue(conn, *announced)
        return {p.parsed.key: str(p.plan.occurrence.id) for p in planned}

    await course.settle(rows, check, apply)


def _has_attendance(sheet: Any) -> bool:
    return bool(sheet.check_ins or sheet.walk_ins or sheet.anonymous or sheet.campaign_signups)


async def _cancel_signups(course: Course[Any], occurrence: Occurrence) -> None:
    scope = course.scope
    active = [s.id for s in await repo.signups_of(scope.conn, scope.organisation_id, occurrence.id) if s.active]
    if active:
        change = await signups.cancel_locked(
            scope.conn,
            scope.organisation_id,
            occurrence.id,
            active,
            SignupCancelReason.OCCURRENCE_CANCELLED,
            now=scope.now,
        )
        await signups.announce(scope.conn, replace(change, occurrence=occurrence), scope.correlation_id)
