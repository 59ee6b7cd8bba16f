"""Recurrence: an RFC 5545 rule in Europe/Stockholm wall-clock time, expanded into concrete occurrences.

The rule is expanded on *naive local* datetimes (dateutil's arithmetic is then pure wall-clock, so a
weekly 18:00 stays 18:00 across the October and March changes) and each result is localised once.

Times that do not exist (02:30 on the spring-forward night):
- given by a person (the first occurrence of a series, a one-off, a move) they are refused, with the reason;
- produced by a rule on a later date they are read as RFC 5545 section 3.3.5 says, with the UTC offset
  before the gap (02:30 becomes 03:30 CEST). Either way only real instants are stored (UTC).
Ambiguous times (02:30 on the October night, twice) are the first of the two, as RFC 5545 says.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

from .model import FieldError, InvalidInput

LOCAL = ZoneInfo("Europe/Stockholm")
MAX_COUNT = 1000
_ALLOWED_FREQUENCIES = {"DAILY", "WEEKLY", "MONTHLY", "YEARLY"}
_TIME_OF_DAY_PARTS = {"BYHOUR", "BYMINUTE", "BYSECOND"}
_PARTS_GIVEN_SEPARATELY = {"DTSTART": "first_day and starts", "UNTIL": "until", "COUNT": "count"}


def exists_locally(wall: datetime) -> bool:
    """False for a wall-clock time skipped by a daylight-saving change."""
    aware = wall.replace(tzinfo=LOCAL, fold=0)
    return aware.astimezone(UTC).astimezone(LOCAL).replace(tzinfo=None) == wall


def localise(wall: datetime) -> datetime:
    """The instant of a local wall-clock time (RFC 5545 reading of skipped and repeated times), as UTC."""
    return wall.replace(tzinfo=LOCAL, fold=0).astimezone(UTC)


def local_instant(wall: datetime, *field_path: str | int) -> datetime:
    """A time a person gave in local wall-clock time: refused when it does not exist."""
    if not exists_locally(wall):
        raise InvalidInput.one(
            f"{wall:%Y-%m-%d %H:%M} does not exist in Europe/Stockholm (the clocks go forward that night)",
            *field_path,
        )
    return localise(wall)


@dataclass(frozen=True)
class Slot:
    """Where a rule puts one occurrence: ``original_start`` identifies it (RECURRENCE-ID), for ever."""

    original_start: datetime
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class Schedule:
    """Every Monday and Wednesday 18:00-20:00 from ``first_day`` (to ``until``, inclusive, or ``count`` times)."""

    first_day: date
    starts: time
    ends: time
    rule: str  # the RRULE value without DTSTART/UNTIL/COUNT, e.g. "FREQ=WEEKLY;BYDAY=MO,WE"
    until: date | None = None
    count: int | None = None

    def check(self) -> list[FieldError]:
        errors: list[FieldError] = []
        if self.ends <= self.starts:
            errors.append(FieldError(("ends",), "ends before (or when) it starts"))
        if self.until is not None and self.until < self.first_day:
            errors.append(FieldError(("until",), "until is before the first day"))
        if self.count is not None and not 1 <= self.count <= MAX_COUNT:
            errors.append(FieldError(("count",), f"count is 1-{MAX_COUNT}"))
        if self.until is not None and self.count is not None:
            errors.append(FieldError(("count",), "give until or count, not both"))
        try:
            rule = _expander(self)
        except InvalidInput as bad:
            return errors + bad.errors
        if errors:
            return errors
        first = rule.after(datetime.combine(self.first_day, time.min), inc=True)
        if first is None:
            errors.append(FieldError(("rule",), "the rule yields no occurrence from the first day to until"))
        elif not exists_locally(first):
            errors.append(
                FieldError(
                    ("starts",),
                    f"{first:%Y-%m-%d %H:%M}, the first occurrence, does not exist in Europe/Stockholm "
                    "(the clocks go forward that night)",
                )
            )
        return errors

    def slots_between(self, start: datetime, end: datetime) -> list[Slot]:
        """The occurrences whose original start lies in [start, end) (aware datetimes)."""
        rule = _expander(self)
        # Local bounds with a day's margin either side; the exact filter is on instants below.
        low = start.astimezone(LOCAL).replace(tzinfo=None) - timedelta(days=1)
        high = end.astimezone(LOCAL).replace(tzinfo=None) + timedelta(days=1)
        duration = datetime.combine(date.min, self.ends) - datetime.combine(date.min, self.starts)
        slots = []
        for wall in rule.between(low, high, inc=True):
            starts_at = localise(wall)
            if start <= starts_at < end:
                ends_at = localise(wall + duration)
                if ends_at <= starts_at:  # both ends fell in the same skipped hour
                    ends_at = starts_at + duration
                slots.append(Slot(starts_at, starts_at, ends_at))
        return slots

    def cut_before(self, day: date) -> Schedule:
        """This schedule's occurrences before ``day`` only (the first half of a split)."""
        if self.count is not None:
            before = self.slots_between(localise(datetime.combine(self.first_day, time.min)), _day_start(day))
            return replace(self, count=None, until=before[-1].starts_at.astimezone(LOCAL).date() if before else None)
        return replace(self, until=day - timedelta(days=1))


def _day_start(day: date) -> datetime:
    return localise(datetime.combine(day, time.min))


@functools.lru_cache(maxsize=4096)
def _expander(schedule: Schedule) -> rrule:
    text = schedule.rule.strip().upper()
    text = text.removeprefix("RRULE:")
    if not text or "\n" in text:
        raise InvalidInput.one("give one RRULE value such as FREQ=WEEKLY;BYDAY=MO,WE", "rule")
    parts = dict(part.partition("=")[::2] for part in text.split(";"))
    for name in parts:
        if name in _PARTS_GIVEN_SEPARATELY:
            raise InvalidInput.one(f"{name} is given as {_PARTS_GIVEN_SEPARATELY[name]}, not in the rule", "rule")
        if name in _TIME_OF_DAY_PARTS:
            raise InvalidInput.one("the time of day is given as starts; leave BYHOUR/BYMINUTE/BYSECOND out", "rule")
    if parts.get("FREQ") not in _ALLOWED_FREQUENCIES:
        raise InvalidInput.one("FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY", "rule")
    dtstart = datetime.combine(schedule.first_day, schedule.starts)
    try:
        rule = rrulestr(f"RRULE:{text}", dtstart=dtstart, forceset=False)
    except (ValueError, TypeError, KeyError, IndexError) as bad:
        raise InvalidInput.one(f"not an RFC 5545 rule: {str(bad)[:80]}", "rule") from None
    assert isinstance(rule, rrule)  # forceset=False and one RRULE line
    until = datetime.combine(schedule.until, schedule.starts) if schedule.until else None
    return rule.replace(until=until, count=schedule.count)
