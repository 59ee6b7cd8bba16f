"""The partnership and its review period, as plain objects and rules (no I/O).

A partnership (IOP) is data this service owns: partners with a yearly contribution, a validity period,
a purpose, and goals. Goals a machine can check are evaluated against the review's figures; free-text
goals are shown as written.
"""

from __future__ import annotations

import calendar
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sprakvan_shared import text

# A district "has a weekly activity" when sessions were held there in at least this share of the
# period's calendar weeks: a summer break or a holiday week does not make a weekly café irregular.
WEEKLY_SHARE = 0.75

ROLES = ("newcomer", "established")
GENDERS = ("woman", "man", "non_binary", "undisclosed")
# Walk-in counts are stored as one integer array in this order (role major, gender minor).
WALK_IN_SLOTS = tuple((role, gender) for role in ROLES for gender in GENDERS)

Code = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[a-z0-9][a-z0-9_-]*$")]


class InvalidPeriod(ValueError):
    pass


FIRST_YEAR, LAST_YEAR = 1901, 2199  # the shared date rules' years, with a year before to compare


@dataclass(frozen=True)
class Period:
    """Whole days, both ends inclusive, in the organisation's time zone."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise InvalidPeriod("the period ends before it starts")
        if (self.end - self.start).days > 366 * 5:
            raise InvalidPeriod("a review period is at most five years")
        if self.start.year < FIRST_YEAR or self.end.year > LAST_YEAR:
            # The year before must exist too: no review of year 1 (or of 9999's successor).
            raise InvalidPeriod(f"a review period lies within {FIRST_YEAR}-{LAST_YEAR}")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def year_earlier(self) -> Period:
        return Period(_minus_a_year(self.start), _minus_a_year(self.end))

    def month_ends(self) -> list[date]:
        """The last day of each month the period touches, the period's end for the last one."""
        ends, day = [], self.start
        while day <= self.end:
            last = date(day.year, day.month, calendar.monthrange(day.year, day.month)[1])
            ends.append(min(last, self.end))
            day = last + timedelta(days=1)
        return ends

    def week_count(self) -> int:
        """Calendar weeks (Monday-Sunday) the period touches."""
        first_monday = self.start - timedelta(days=self.start.weekday())
        last_monday = self.end - timedelta(days=self.end.weekday())
        return (last_monday - first_monday).days // 7 + 1


def _minus_a_year(day: date) -> date:
    if day.month == 2 and day.day == 29:
        return date(day.year - 1, 2, 28)
    return day.replace(year=day.year - 1)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Partner(_Frozen):
    name: text.name(200) = Field(description="The partner organisation, e.g. Linköpings kommun.")
    yearly_contribution_sek: int = Field(ge=0, le=10**10, description="Whole kronor per year.")
    covers: str = Field("", max_length=500, description="What the contribution pays for.")


class GoalKind(StrEnum):
    MORE_NEW_PAIRS = "more_new_pairs"  # more new pairs than in the same period a year earlier
    REGULAR_ACTIVITY_IN_DISTRICT = "regular_activity_in_district"  # a weekly activity in `district`
    KEEP_MEAN_ATTENDANCE = "keep_mean_attendance"  # mean attendance per session at least last year's
    TEXT = "text"  # shown as written, not checked


class Goal(_Frozen):
    kind: GoalKind
    text: str = Field("", max_length=500, description="How the partnership wrote the goal.")
    district: Code | None = Field(None, description="For regular_activity_in_district.")

    @model_validator(mode="after")
    def _check(self) -> Goal:
        if self.kind is GoalKind.REGULAR_ACTIVITY_IN_DISTRICT and not self.district:
            raise ValueError("a regular_activity_in_district goal names its district")
        if self.kind is GoalKind.TEXT and not self.text:
            raise ValueError("a text goal has a text")
        return self


class PartnershipTerms(_Frozen):
    """What an admin writes: the whole partnership, replaced as a whole."""

    title: text.line(300)
    programme: Code | None = Field(None, description="One programme, or none for all of the organisation's.")
    valid_from: text.Day
    valid_to: text.Day
    purpose: str = Field("", max_length=4000)
    partners: tuple[Partner, ...] = Field(min_length=1, max_length=20)
    goals: tuple[Goal, ...] = Field((), max_length=30)

    @model_validator(mode="after")
    def _check(self) -> PartnershipTerms:
        if self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        return self


@dataclass(frozen=True)
class Partnership:
    id: uuid.UUID
    organisation_id: str
    terms: PartnershipTerms
    version: int


class Narrative(_Frozen):
    """The parts of a review a coordinator writes, per partnership and period."""

    background: str = Field("", max_length=20000)
    future: str = Field("", max_length=20000)
    summary: str = Field("", max_length=20000)


def contribution_for_period(yearly_sek: int, valid_from: date, valid_to: date, period: Period) -> int:
    """A yearly contribution pro rata: for each calendar year, the share of its days that lie in both the
    period and the validity. Whole kronor, rounded half up."""
    first, last = max(period.start, valid_from), min(period.end, valid_to)
    if last < first:
        return 0
    total = 0.0
    for year in range(first.year, last.year + 1):
        year_days = 366 if calendar.isleap(year) else 365
        overlap = (min(last, date(year, 12, 31)) - max(first, date(year, 1, 1))).days + 1
        total += yearly_sek * overlap / year_days
    return int(total + 0.5)


GoalStatus = Literal["met", "not_met", "not_checkable", "text"]


@dataclass(frozen=True)
class GoalFigures:
    """What goals are checked against, for the period and the same period a year earlier."""

    new_pairs: int
    new_pairs_before: int
    weekly_districts: frozenset[str]
    mean_attendance: float | None
    mean_attendance_before: float | None


def evaluate_goal(goal: Goal, figures: GoalFigures) -> GoalStatus:
    match goal.kind:
        case GoalKind.MORE_NEW_PAIRS:
            return "met" if figures.new_pairs > figures.new_pairs_before else "not_met"
        case GoalKind.REGULAR_ACTIVITY_IN_DISTRICT:
            return "met" if goal.district in figures.weekly_districts else "not_met"
        case GoalKind.KEEP_MEAN_ATTENDANCE:
            if figures.mean_attendance_before is None:
                return "not_checkable"
            current = figures.mean_attendance or 0.0
            return "met" if current >= figures.mean_attendance_before else "not_met"
        case GoalKind.TEXT:
            return "text"


def is_weekly(weeks_with_sessions: int, period: Period) -> bool:
    return weeks_with_sessions >= WEEKLY_SHARE * period.week_count()


def ratio(numerator: float, denominator: float, digits: int = 2) -> float | None:
    """A rounded quotient, or None when there is nothing to divide by (shown as "-")."""
    if not denominator:
        return None
    return round(numerator / denominator, digits)
