"""Rules for facts of the past that a programme imports from its spreadsheets (issue 13): plain functions.

An imported activity is a series without a recurrence rule: its occurrences are the rows given, nothing is
materialised from it. Imported facts keep their real dates; a time the spreadsheet does not give is taken
from the occurrence (a sign-up made, an occurrence planned: by its start; a check-in: at its end).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time

from .attendance import MAX_HEADCOUNT
from .model import CancelReason, Occurrence, OccurrenceStatus, check_capacity
from .recurrence import exists_locally, localise

NOON = time(12, 0)


def moment(when: date | datetime) -> datetime:
    """A date alone is 12:00 Europe/Stockholm (the import contract); a datetime keeps its offset."""
    if isinstance(when, datetime):
        return when.astimezone(UTC)
    return localise(datetime.combine(when, NOON))


def capacity_problem(capacity: int | None) -> str | None:
    errors = check_capacity(capacity)
    return errors[0].message if errors else None


def count_problem(count: int) -> str | None:
    return None if 0 <= count <= MAX_HEADCOUNT else f"a count is 0-{MAX_HEADCOUNT}"


def local_times(day: date, starts: time, ends: time) -> tuple[datetime, datetime] | tuple[str, str]:
    """The instants of a meeting given in local time, or (field, why not)."""
    for field, wall in (("starts", starts), ("ends", ends)):
        if not exists_locally(datetime.combine(day, wall)):
            return field, "that time does not exist in Europe/Stockholm (the clocks go forward that night)"
    if ends <= starts:
        return "ends", "ends before (or when) it starts"
    return localise(datetime.combine(day, starts)), localise(datetime.combine(day, ends))


@dataclass(frozen=True)
class Meeting:
    """An occurrence as a spreadsheet row tells it (its place and capacity already resolved)."""

    starts_at: datetime
    ends_at: datetime
    venue_id: uuid.UUID | None
    district: str | None
    capacity: int | None
    cancelled: bool

    @property
    def status(self) -> OccurrenceStatus:
        return OccurrenceStatus.CANCELLED if self.cancelled else OccurrenceStatus.SCHEDULED

    def fields(self) -> dict[str, object]:
        """What it sets on an occurrence."""
        return {
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "venue_id": self.venue_id,
            "district": self.district,
            "capacity": self.capacity,
            "status": self.status,
        }


def imported_occurrence(organisation_id: str, activity_id: uuid.UUID, told: Meeting, now: datetime) -> Occurrence:
    """A meeting as it was: planned (at the latest) when it began, cancelled or held."""
    planned = min(now, told.starts_at)
    return Occurrence(
        id=uuid.uuid4(),
        organisation_id=organisation_id,
        activity_id=activity_id,
        **told.fields(),  # type: ignore[arg-type]
        cancel_reason=CancelReason.CANCELLED if told.cancelled else None,
        created_at=planned,
        updated_at=now,
        cancelled_at=planned if told.cancelled else None,
    )


def revised_occurrence(old: Occurrence, told: Meeting, now: datetime) -> Occurrence:
    """The same meeting as a changed spreadsheet row tells it (a correction, not a move: the past is not
    rescheduled, it was recorded wrongly)."""
    where_when = (told.starts_at, told.ends_at, told.venue_id, told.district, told.status)
    visible = where_when != (old.starts_at, old.ends_at, old.venue_id, old.district, old.status)
    return replace(
        old,
        **told.fields(),
        cancel_reason=(old.cancel_reason or CancelReason.CANCELLED) if told.cancelled else None,
        cancelled_at=(old.cancelled_at or min(now, told.starts_at)) if told.cancelled else None,
        sequence=old.sequence + (1 if visible else 0),
        version=old.version + 1,
        updated_at=now,
    )
