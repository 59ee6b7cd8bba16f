"""The events domain: venues, partners, activity types, activities and their occurrences.

Plain objects and rules, no I/O. An *activity* is what a coordinator plans (a one-off, or a series with a
recurrence rule); an *occurrence* is one concrete meeting of it, with a time, a place and a capacity, on
which sign-ups and attendance hang.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from sprakvan_shared.contracts.events import ActivityKind, OccurrenceStatus
from sprakvan_shared.contracts.events import BuiltInActivityType as BuiltInType
from sprakvan_shared.contracts.events import OccurrenceCancelReason as CancelReason

# Occurrence ids derive from the series and the rule's original start, so materialising twice (or on two
# replicas) makes the same rows, and a calendar sees the same UID for ever.
_OCCURRENCE_NAMESPACE = uuid.UUID("8f6a3c0e-4f55-4a43-9d1e-5b8f8a6b1e01")


class FieldError(NamedTuple):
    field: tuple[str | int, ...]
    message: str


class InvalidInput(Exception):
    """Input that breaks a rule, with one reason per field."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, e.field))}: {e.message}" for e in errors))
        self.errors = errors

    @classmethod
    def one(cls, message: str, *field_path: str | int) -> InvalidInput:
        return cls([FieldError(field_path, message)])


class Conflict(Exception):
    """The request is well formed but the current state refuses it (sign-up twice, closed occurrence)."""


@dataclass(frozen=True)
class ActivityType:
    """A built-in type, or one a programme added (``programme`` set: only that programme's activities)."""

    code: str
    labels: dict[str, str]
    programme: str | None = None
    version: int = 0  # 0: built in (never written); a programme's own type starts at 1


_BUILT_IN_LABELS = {
    BuiltInType.LANGUAGE_CAFE: ("Språkcafé", "Language café"),
    BuiltInType.POPUP_CAFE: ("Pop up-café", "Pop-up café"),
    BuiltInType.WALK_AND_TALK: ("Walk and talk", "Walk and talk"),
    BuiltInType.SPORT: ("Idrott", "Sport"),
    BuiltInType.GUIDED_TOUR: ("Guidad tur på lätt svenska", "Guided tour in easy Swedish"),
    BuiltInType.GARDENING: ("Odling", "Gardening"),
    BuiltInType.SOCIAL: ("Social aktivitet", "Social evening"),
    BuiltInType.KICKOFF: ("Kickoff", "Kickoff"),
    BuiltInType.GROUP_MATCHING: ("Gruppmatchning", "Group-matching meetup"),
    BuiltInType.FAIR_STAND: ("Monter på mässa", "Fair or marketing stand"),
}
BUILT_IN_TYPES: dict[str, ActivityType] = {
    code.value: ActivityType(code.value, {"sv": sv, "en": en}) for code, (sv, en) in _BUILT_IN_LABELS.items()
}


def check_type(code: str, programmes: tuple[str, ...], custom: dict[str, ActivityType]) -> str | None:
    """Why ``code`` cannot be the type of an activity open to ``programmes`` (empty: all), or None."""
    if code in BUILT_IN_TYPES:
        return None
    defined = custom.get(code)
    if defined is None:
        return f"unknown activity type {code!r}"
    if defined.programme is not None and programmes != (defined.programme,):
        return f"type {code!r} belongs to programme {defined.programme!r}; open the activity to that programme alone"
    return None


class PartnerKind(StrEnum):
    MUNICIPALITY = "municipality"
    RED_CROSS = "red_cross"
    CHURCH = "church"
    LIBRARY = "library"
    GUIDE_CLUB = "guide_club"
    ASSOCIATION = "association"
    COMPANY = "company"
    OTHER = "other"


@dataclass(frozen=True)
class Partner:
    id: uuid.UUID
    organisation_id: str
    name: str
    kind: PartnerKind


@dataclass(frozen=True)
class Venue:
    id: uuid.UUID
    organisation_id: str
    name: str
    district: str
    address: str
    capacity: int | None = None
    accessibility: str = ""
    version: int = 1


def check_capacity(capacity: int | None, *field_path: str | int) -> list[FieldError]:
    """Capacity: None means no limit, 0 means closed for sign-up; below zero is refused."""
    if capacity is not None and capacity < 0:
        return [FieldError(field_path, "capacity cannot be below zero (0 closes sign-up)")]
    if capacity is not None and capacity > 100_000:
        return [FieldError(field_path, "capacity is at most 100000")]
    return []


def check_times(starts_at: datetime, ends_at: datetime, *prefix: str) -> list[FieldError]:
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        return [FieldError((*prefix, "starts_at"), "give times with a UTC offset")]
    if ends_at <= starts_at:
        return [FieldError((*prefix, "ends_at"), "ends before (or when) it starts")]
    return []


def occurrence_id(series_id: uuid.UUID, original_start: datetime) -> uuid.UUID:
    return uuid.uuid5(_OCCURRENCE_NAMESPACE, f"{series_id}/{original_start.timestamp():.0f}")


@dataclass(frozen=True)
class Occurrence:
    """One meeting. ``original_start`` is where the rule put it (None for a one-off); a move changes only
    ``starts_at``/``ends_at``. ``sequence`` counts changes a calendar must show (RFC 5545 SEQUENCE);
    ``version`` counts every change (events)."""

    id: uuid.UUID
    organisation_id: str
    activity_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    venue_id: uuid.UUID | None
    district: str | None
    capacity: int | None
    original_start: datetime | None = None
    status: OccurrenceStatus = OccurrenceStatus.SCHEDULED
    cancel_reason: CancelReason | None = None
    sequence: int = 0
    version: int = 1
    created_at: datetime | None = None
    updated_at: datetime | None = None
    cancelled_at: datetime | None = None

    @property
    def cancelled(self) -> bool:
        return self.status is OccurrenceStatus.CANCELLED

    @property
    def moved(self) -> bool:
        return self.original_start is not None and self.starts_at != self.original_start

    def _changed(self, now: datetime, *, visible: bool, **changes: object) -> Occurrence:
        return replace(
            self, **changes, sequence=self.sequence + (1 if visible else 0), version=self.version + 1, updated_at=now
        )

    def move(self, starts_at: datetime, ends_at: datetime, now: datetime) -> Occurrence:
        self._require_scheduled("move")
        errors = check_times(starts_at, ends_at)
        if errors:
            raise InvalidInput(errors)
        return self._changed(now, visible=True, starts_at=starts_at, ends_at=ends_at)

    def relocate(self, venue_id: uuid.UUID | None, district: str | None, now: datetime) -> Occurrence:
        self._require_scheduled("move")
        return self._changed(now, visible=True, venue_id=venue_id, district=district)

    def resize(self, capacity: int | None, now: datetime) -> Occurrence:
        errors = check_capacity(capacity, "capacity")
        if errors:
            raise InvalidInput(errors)
        self._require_scheduled("change")
        return self._changed(now, visible=False, capacity=capacity)

    def cancel(self, now: datetime, reason: CancelReason = CancelReason.CANCELLED) -> Occurrence:
        if self.cancelled:
            return self
        return self._changed(
            now, visible=True, status=OccurrenceStatus.CANCELLED, cancel_reason=reason, cancelled_at=now
        )

    def touched(self, now: datetime) -> Occurrence:
        """A new version without a visible change (attendance recorded, sign-up counts moved)."""
        return self._changed(now, visible=False)

    def _require_scheduled(self, what: str) -> None:
        if self.cancelled:
            raise Conflict(f"cannot {what} a cancelled occurrence")


@dataclass(frozen=True)
class ActivityDetails:
    """What a coordinator says about an activity; shared by its occurrences unless one is changed."""

    title: str
    type_code: str
    venue_id: uuid.UUID | None
    district: str | None
    capacity: int | None
    programmes: tuple[str, ...] = ()  # empty: open to every programme of the organisation
    partner_ids: tuple[uuid.UUID, ...] = ()
    description: str = ""
    campaign: str | None = None  # a fair or campaign stand's campaign code


def check_details(details: ActivityDetails, custom_types: dict[str, ActivityType]) -> list[FieldError]:
    errors = check_capacity(details.capacity, "capacity")
    if not details.title.strip():
        errors.append(FieldError(("title",), "give a title"))
    reason = check_type(details.type_code, details.programmes, custom_types)
    if reason:
        errors.append(FieldError(("type_code",), reason))
    if len(set(details.programmes)) != len(details.programmes):
        errors.append(FieldError(("programmes",), "a programme is listed twice"))
    if len(set(details.partner_ids)) != len(details.partner_ids):
        errors.append(FieldError(("partner_ids",), "a partner is listed twice"))
    if details.venue_id is None and details.district is None:
        errors.append(FieldError(("district",), "give a venue or a district"))
    return errors


def check_codes(
    *,
    districts: frozenset[str] | None,
    programmes: frozenset[str] | None,
    campaigns: frozenset[str] | None,
    district: str | None = None,
    programme_codes: tuple[str, ...] = (),
    campaign: str | None = None,
) -> list[FieldError]:
    """Codes must come from the organisation's vocabularies (None: not known yet, not checked)."""
    errors = []
    if districts is not None and district is not None and district not in districts:
        errors.append(FieldError(("district",), f"unknown district {district!r}"))
    for index, code in enumerate(programme_codes):
        if programmes is not None and code not in programmes:
            errors.append(FieldError(("programmes", index), f"unknown programme {code!r}"))
    if campaigns is not None and campaign is not None and campaign not in campaigns:
        errors.append(FieldError(("campaign",), f"unknown campaign {campaign!r}"))
    return errors


class ActivityStatus(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"  # a series split ("from now on"), its rest continued by another
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Activity:
    id: uuid.UUID
    organisation_id: str
    kind: ActivityKind
    details: ActivityDetails
    status: ActivityStatus = ActivityStatus.ACTIVE
    continues: uuid.UUID | None = None  # the series this one took over from, after a split
    version: int = 1
    created_at: datetime | None = None
    updated_at: datetime | None = None
