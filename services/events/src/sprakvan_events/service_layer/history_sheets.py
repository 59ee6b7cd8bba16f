"""History import of sign-ups, attendance, walk-in headcounts and campaign sign-ups. Rows name their
occurrence by key and participants by intake's id; each occurrence touched is locked (in id order, the lock
order of sign-up) and announces its new state once per request."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sprakvan_shared import outbox
from sprakvan_shared.contracts import events as contracts
from sprakvan_shared.imports import KnownKey, ParsedRow, RowError

from ..adapters import history as store
from ..adapters import repository as repo
from ..domain.attendance import AttendanceSheet, CampaignCount, CheckIn, Headcount
from ..domain.history import count_problem, moment
from ..domain.model import Occurrence
from ..domain.signups import KnownParticipant, Signup, SignupCancelReason, SignupStatus
from ..entrypoints.import_rows import AttendanceRow, CampaignSignupRow, SignupRow, WalkInRow
from .events import attendance_event, signup_event
from .history import ASSUMED, Course, Planned, Scope, compound, rule, unknown_code, unknown_reference

_SIGNUP_EVENTS: dict[SignupStatus, Any] = {
    SignupStatus.CONFIRMED: contracts.SignupConfirmed,
    SignupStatus.WAITLISTED: contracts.SignupWaitlisted,
    SignupStatus.CANCELLED: contracts.SignupCancelled,
}
_NOWHERE = uuid.UUID(int=0)


@dataclass(frozen=True)
class _Refs:
    """The request's occurrences (by key) and participants (by id), read once."""

    occurrence_ids: dict[str, uuid.UUID]
    occurrences: dict[uuid.UUID, Occurrence]
    participants: dict[uuid.UUID, KnownParticipant]

    def occurrence(self, key: str) -> Occurrence | None:
        return self.occurrences.get(self.occurrence_ids.get(key, _NOWHERE))


async def _refs(course: Course[Any], rows: Sequence[ParsedRow[Any]]) -> _Refs:
    conn, org = course.scope.conn, course.scope.organisation_id
    ids = await store.resolve(conn, org, "occurrences", [r.value.occurrence_key for r in rows])
    people = [r.value.participant_id for r in rows if hasattr(r.value, "participant_id")]
    return _Refs(
        ids,
        await store.occurrences_by_id(conn, org, ids.values()),
        # Shared locks, before any occurrence's: an erasure waits for this import, or the import for it.
        await repo.load_participants(conn, org, people, share_lock=True) if people else {},
    )


def _where_and_who(scope: Scope, refs: _Refs, occurrence_key: str, participant_id: uuid.UUID | None) -> list[RowError]:
    errors = []
    if refs.occurrence(occurrence_key) is None and not scope.is_planned("occurrences", occurrence_key):
        errors.append(unknown_reference("occurrence_key", "occurrence"))
    if participant_id is not None and participant_id not in refs.participants:
        errors.append(unknown_reference("participant_id", "participant known to this service (yet)"))
    return errors


def _stays(was: KnownKey | None, aggregate_id: str, field_name: str) -> list[RowError]:
    if was is not None and was.aggregate_id != aggregate_id:
        return [rule(field_name, "a changed row keeps its occurrence and who or what it counts: give it a new key")]
    return []


# -- sign-ups ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _SignupPlan:
    occurrence: Occurrence
    signed_up_at: datetime
    cancelled_at: datetime | None
    before: Signup | None


async def import_signups(course: Course[SignupRow], rows: Sequence[ParsedRow[SignupRow]]) -> None:
    scope = course.scope
    conn, org = scope.conn, scope.organisation_id
    refs = await _refs(course, rows)
    pairs = [
        (refs.occurrence_ids[r.value.occurrence_key], r.value.participant_id)
        for r in rows
        if r.value.occurrence_key in refs.occurrence_ids
    ]
    holders = await store.active_signup_holders(conn, org, pairs)
    taken: set[tuple[uuid.UUID, uuid.UUID]] = set()

    async def check(parsed: ParsedRow[SignupRow], was: KnownKey | None) -> list[RowError] | _SignupPlan:
        row = parsed.value
        errors = _where_and_who(scope, refs, row.occurrence_key, row.participant_id)
        occurrence = refs.occurrence(row.occurrence_key)
        if errors or occurrence is None:
            return errors or ASSUMED  # an occurrence the dry run of its sheet would create
        before = await repo.load_signup(conn, org, uuid.UUID(was.aggregate_id)) if was else None
        if before is not None and (before.occurrence_id, before.participant_id) != (occurrence.id, row.participant_id):
            return [rule("participant_id", "a changed row keeps its occurrence and participant: give it a new key")]
        active = row.status is not SignupStatus.CANCELLED
        pair = (occurrence.id, row.participant_id)
        if active and occurrence.cancelled:
            errors.append(rule("status", "the occurrence was cancelled: its sign-ups are cancelled"))
        holder = holders.get(pair)
        if active and (pair in taken or (holder is not None and (before is None or holder != before.id))):
            errors.append(rule("participant_id", "the participant is already signed up to this occurrence"))
        # Times the sheet does not give: made when the meeting began (or when it was cancelled, if earlier).
        cancelled_at = None
        if not active:
            cancelled_at = moment(row.cancelled_at) if row.cancelled_at else occurrence.starts_at
        signed_up_at = (
            moment(row.signed_up_at)
            if row.signed_up_at
            else min(occurrence.starts_at, cancelled_at or occurrence.starts_at)
        )
        if cancelled_at is not None and cancelled_at < signed_up_at:
            errors.append(rule("cancelled_at", "cancelled before it was made"))
        if errors:
            return errors
        if active:
            taken.add(pair)
        return _SignupPlan(occurrence, signed_up_at, cancelled_at, before)

    async def apply(planned: Sequence[Planned[SignupRow, _SignupPlan]]) -> dict[str, str]:
        made: dict[str, str] = {}
        for occurrence_id, group in _by_occurrence(planned, lambda p: p.plan.occurrence.id):
            locked = await repo.lock_occurrence(conn, org, occurrence_id)
            seats = {"confirmed": locked.confirmed, "waitlisted": locked.waitlisted, "arrivals": locked.arrivals}
            for p in group:
                signup = _signup_as_told(p, org, locked.occurrence, seats)
                event = signup_event(_SIGNUP_EVENTS[signup.status], signup, locked.occurrence, scope.correlation_id)
                if p.plan.before is None:
                    await repo.add_signup_announced(conn, signup, seats["confirmed"], seats["waitlisted"], event)
                else:
                    await store.update_signup(conn, signup)
                    await outbox.enqueue(conn, event)
                made[p.parsed.key] = str(signup.id)
            await repo.set_seat_counters(
                conn, occurrence_id, seats["confirmed"], seats["waitlisted"], seats["arrivals"]
            )
        return made

    await course.settle(rows, check, apply)


def _signup_as_told(
    p: Planned[SignupRow, _SignupPlan], org: str, occurrence: Occurrence, seats: dict[str, int]
) -> Signup:
    """The sign-up as it ended, counted into ``seats``: a confirmation beyond the capacity says so."""
    row, plan, before = p.value, p.plan, p.plan.before
    if before is not None:
        seats[before.status.value] = seats.get(before.status.value, 0) - 1
    else:
        seats["arrivals"] += 1
    full = occurrence.capacity is not None and seats["confirmed"] >= occurrence.capacity
    seats[row.status.value] = seats.get(row.status.value, 0) + 1
    confirmed = row.status is SignupStatus.CONFIRMED
    fields: dict[str, Any] = {
        "status": row.status,
        "signed_up_at": plan.signed_up_at,
        "confirmed_at": plan.signed_up_at if confirmed else None,
        "promoted_at": None,
        "cancelled_at": plan.cancelled_at,
        "cancel_reason": SignupCancelReason.PARTICIPANT if plan.cancelled_at else None,
        "over_capacity": confirmed and full,
    }
    if before is not None:
        return replace(before, **fields, version=before.version + 1)
    return Signup(
        id=uuid.uuid4(),
        organisation_id=org,
        occurrence_id=occurrence.id,
        participant_id=row.participant_id,
        arrival=seats["arrivals"],
        **fields,
    )


def _by_occurrence(
    planned: Sequence[Any], occurrence_of: Callable[[Any], uuid.UUID]
) -> list[tuple[uuid.UUID, list[Any]]]:
    groups: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for p in planned:
        groups[occurrence_of(p)].append(p)
    return sorted(groups.items())  # id order: the lock order


# -- attendance sheets -----------------------------------------------------------------------------------
SheetChange = Callable[[Occurrence, AttendanceSheet, Sequence[Planned[Any, Any]]], AttendanceSheet]


async def _on_sheets(course: Course[Any], planned: Sequence[Planned[Any, Any]], change: SheetChange) -> None:
    """Each occurrence's sheet changed by its rows, stored and announced once (the occurrence's new version)."""
    scope = course.scope
    conn, org = scope.conn, scope.organisation_id
    announced = []
    for occurrence_id, group in _by_occurrence(planned, lambda p: uuid.UUID(p.plan.split("/")[0])):
        locked = await repo.lock_occurrence(conn, org, occurrence_id)
        sheet = change(locked.occurrence, await repo.load_attendance(conn, org, occurrence_id), group)
        occurrence = locked.occurrence.touched(scope.now)
        await repo.save_occurrence(conn, occurrence)
        await repo.save_attendance(conn, org, sheet)
        activity = (await repo.load_activity(conn, org, occurrence.activity_id)).activity
        announced.append(attendance_event(sheet, occurrence, activity, scope.correlation_id))
    if announced:
        await outbox.enqueue(conn, *announced)


async def _settle_sheets(
    course: Course[Any],
    rows: Sequence[ParsedRow[Any]],
    check_row: Callable[[Any], tuple[tuple[str, ...], list[RowError]]],
    change: SheetChange,
    duplicate_field: str,
    refs: _Refs | None = None,
) -> None:
    """The course of the three sheet kinds: ``check_row`` tells what the row counts (a person, a role and
    gender, a campaign: with the occurrence, the aggregate id remembered) and its own errors. ``refs``: the
    references already read, when ``change`` needs them too (one read for both, or a participant learnt of
    in between would pass the check and be missing in the change)."""
    scope = course.scope
    refs = refs or await _refs(course, rows)
    seen: set[tuple[str, ...]] = set()

    async def check(parsed: ParsedRow[Any], was: KnownKey | None) -> Any:
        row = parsed.value
        counted, errors = check_row(row)
        errors = _where_and_who(scope, refs, row.occurrence_key, getattr(row, "participant_id", None)) + errors
        if (row.occurrence_key, *counted) in seen:
            errors.append(rule(duplicate_field, "counted twice in this request"))
        occurrence = refs.occurrence(row.occurrence_key)
        if occurrence is not None:
            if occurrence.cancelled:
                errors.append(rule("occurrence_key", "the occurrence was cancelled: there is no attendance to record"))
            errors += _stays(was, compound(occurrence.id, *counted), duplicate_field)
        if errors:
            return errors
        seen.add((row.occurrence_key, *counted))
        return compound(occurrence.id, *counted) if occurrence is not None else ASSUMED

    async def apply(planned: Sequence[Planned[Any, str]]) -> dict[str, str]:
        await _on_sheets(course, planned, change)
        return {p.parsed.key: p.plan for p in planned}

    await course.settle(rows, check, apply)


async def import_attendance(course: Course[AttendanceRow], rows: Sequence[ParsedRow[AttendanceRow]]) -> None:
    def check_row(row: AttendanceRow) -> tuple[tuple[str, ...], list[RowError]]:
        return (str(row.participant_id),), []

    def change(occurrence: Occurrence, sheet: AttendanceSheet, group: Sequence[Planned[Any, Any]]) -> AttendanceSheet:
        for p in group:
            person = refs.participants[p.value.participant_id]
            # Checked in at the meeting: its end is the real date of the record.
            entry = CheckIn(person.participant_id, p.value.outcome, person.role, person.gender, occurrence.ends_at)
            sheet = sheet.check_in(occurrence, entry)
        return sheet

    refs = await _refs(course, rows)
    await _settle_sheets(course, rows, check_row, change, "participant_id", refs)


async def import_walk_ins(course: Course[WalkInRow], rows: Sequence[ParsedRow[WalkInRow]]) -> None:
    def check_row(row: WalkInRow) -> tuple[tuple[str, ...], list[RowError]]:
        why = count_problem(row.count)
        return (row.role.value, row.gender.value), [rule("count", why)] if why else []

    def change(occurrence: Occurrence, sheet: AttendanceSheet, group: Sequence[Planned[Any, Any]]) -> AttendanceSheet:
        counts = {(c.role, c.gender): c.count for c in sheet.walk_ins}
        counts.update({(p.value.role.value, p.value.gender.value): p.value.count for p in group})
        return sheet.with_walk_ins(occurrence, [Headcount(r, g, n) for (r, g), n in counts.items()])

    await _settle_sheets(course, rows, check_row, change, "gender")


async def import_campaign_signups(
    course: Course[CampaignSignupRow], rows: Sequence[ParsedRow[CampaignSignupRow]]
) -> None:
    vocabulary = course.scope.vocabulary
    known = vocabulary.campaigns if vocabulary is not None else None

    def check_row(row: CampaignSignupRow) -> tuple[tuple[str, ...], list[RowError]]:
        errors = []
        if known is not None and row.campaign not in known:
            errors.append(unknown_code("campaign", "not a campaign of the programme's configuration"))
        if why := count_problem(row.count):
            errors.append(rule("count", why))
        return (row.campaign,), errors

    def change(occurrence: Occurrence, sheet: AttendanceSheet, group: Sequence[Planned[Any, Any]]) -> AttendanceSheet:
        counts = {c.campaign: c.count for c in sheet.campaign_signups}
        counts.update({p.value.campaign: p.value.count for p in group})
        return sheet.with_campaign_signups(occurrence, [CampaignCount(c, n) for c, n in counts.items()], known)

    await _settle_sheets(course, rows, check_row, change, "campaign")


HANDLERS: dict[str, Callable[[Course[Any], Sequence[ParsedRow[Any]]], Awaitable[None]]] = {
    "signups": import_signups,
    "attendance": import_attendance,
    "walk_ins": import_walk_ins,
    "campaign_signups": import_campaign_signups,
}
