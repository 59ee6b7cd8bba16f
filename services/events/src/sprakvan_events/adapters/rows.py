"""Rows <-> domain objects, shared by the repository modules."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

import asyncpg

from ..domain.model import (
    Activity,
    ActivityDetails,
    ActivityKind,
    ActivityStatus,
    CancelReason,
    Occurrence,
    OccurrenceStatus,
)
from ..domain.recurrence import Schedule
from ..domain.signups import Signup, SignupCancelReason, SignupStatus

OCCURRENCE_COLUMNS = (
    "id, organisation_id, activity_id, original_start, starts_at, ends_at, venue_id, district, capacity, status, "
    "cancel_reason, sequence, version, created_at, updated_at, cancelled_at"
)


O_COLUMNS = ", ".join("o." + c.strip() for c in OCCURRENCE_COLUMNS.split(","))  # with a table alias
SIGNUP_COLUMNS = (
    "id, organisation_id, occurrence_id, participant_id, status, arrival, signed_up_at, confirmed_at, promoted_at, "
    "cancelled_at, cancel_reason, cancelled_late, over_capacity, version"
)


class NotFound(Exception):
    pass


def from_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def schedule_to_json(schedule: Schedule | None) -> dict[str, Any] | None:
    if schedule is None:
        return None
    return {
        "first_day": schedule.first_day.isoformat(),
        "starts": schedule.starts.isoformat(),
        "ends": schedule.ends.isoformat(),
        "rule": schedule.rule,
        "until": schedule.until.isoformat() if schedule.until else None,
        "count": schedule.count,
    }


def schedule_from_json(raw: Any) -> Schedule | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = json.loads(raw)
    return Schedule(
        first_day=date.fromisoformat(raw["first_day"]),
        starts=time.fromisoformat(raw["starts"]),
        ends=time.fromisoformat(raw["ends"]),
        rule=raw["rule"],
        until=date.fromisoformat(raw["until"]) if raw["until"] else None,
        count=raw["count"],
    )


@dataclass(frozen=True)
class StoredActivity:
    activity: Activity
    schedule: Schedule | None
    materialised_to: datetime | None


def activity_from_row(row: asyncpg.Record) -> StoredActivity:
    details = ActivityDetails(
        title=row["title"],
        type_code=row["type_code"],
        venue_id=row["venue_id"],
        district=row["district"],
        capacity=row["capacity"],
        programmes=tuple(row["programmes"]),
        partner_ids=tuple(row["partner_ids"]),
        description=row["description"],
        campaign=row["campaign"],
    )
    activity = Activity(
        id=row["id"],
        organisation_id=row["organisation_id"],
        kind=ActivityKind(row["kind"]),
        details=details,
        status=ActivityStatus(row["status"]),
        continues=row["continues"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
    return StoredActivity(activity, schedule_from_json(row["schedule"]), row["materialised_to"])


def occurrence_from_row(row: asyncpg.Record) -> Occurrence:
    return Occurrence(
        id=row["id"],
        organisation_id=row["organisation_id"],
        activity_id=row["activity_id"],
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        venue_id=row["venue_id"],
        district=row["district"],
        capacity=row["capacity"],
        original_start=row["original_start"],
        status=OccurrenceStatus(row["status"]),
        cancel_reason=CancelReason(row["cancel_reason"]) if row["cancel_reason"] else None,
        sequence=row["sequence"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        cancelled_at=row["cancelled_at"],
    )


def occurrence_values(o: Occurrence) -> tuple[Any, ...]:
    return (
        o.id,
        o.organisation_id,
        o.activity_id,
        o.original_start,
        o.starts_at,
        o.ends_at,
        o.venue_id,
        o.district,
        o.capacity,
        o.status.value,
        o.cancel_reason.value if o.cancel_reason else None,
        o.sequence,
        o.version,
        o.created_at,
        o.updated_at,
        o.cancelled_at,
    )


@dataclass(frozen=True)
class LockedOccurrence:
    """An occurrence under its row lock, with its seat counters and the activity's programmes."""

    occurrence: Occurrence
    confirmed: int
    waitlisted: int
    arrivals: int
    programmes: tuple[str, ...]


def signup_from_row(row: asyncpg.Record) -> Signup:
    fields = {k: row[k] for k in SIGNUP_COLUMNS.replace(" ", "").split(",")}
    fields["status"] = SignupStatus(fields["status"])
    fields["cancel_reason"] = SignupCancelReason(fields["cancel_reason"]) if fields["cancel_reason"] else None
    return Signup(**fields)


def signup_values(s: Signup) -> tuple[Any, ...]:
    return (
        s.id,
        s.organisation_id,
        s.occurrence_id,
        s.participant_id,
        s.status.value,
        s.arrival,
        s.signed_up_at,
        s.confirmed_at,
        s.promoted_at,
        s.cancelled_at,
        s.cancel_reason.value if s.cancel_reason else None,
        s.cancelled_late,
        s.over_capacity,
        s.version,
    )
