"""Integration events published by the events service (activities, sign-ups, attendance).

Every payload is the aggregate's full state after the change, as ids, codes, numbers and times: no
titles, descriptions, notes, venue names or addresses (free text stays in the events service), and no
names of people. Three aggregates:

* ``activity`` (aggregate id: the *occurrence* id): one concrete meeting of an activity, a one-off's only
  meeting or one of a series. ``activity.scheduled`` when it is first planned or materialised,
  ``activity.changed`` (moved, another venue, capacity), ``activity.cancelled``.
* ``signup`` (aggregate id: the sign-up id): ``signup.confirmed``, ``signup.waitlisted``,
  ``signup.promoted`` (from the waiting list), ``signup.cancelled``; ``signup.erased`` is a tombstone
  published when the participant is erased, and purges the sign-up's earlier messages.
* ``attendance`` (aggregate id: the occurrence id): ``attendance.recorded``, the occurrence's whole
  attendance sheet: registered participants' outcomes, erased participants' outcomes as counts, walk-in
  headcounts by role and gender, and sign-ups taken at a fair or campaign stand per campaign code.

``activity`` and ``attendance`` of one occurrence share its version counter (so each sees gaps, which
"highest version wins" allows).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import ClassVar, Generic

from pydantic import Field

from .envelope import IntegrationEvent, Payload, PayloadT
from .intake import Code, Gender, ParticipantRole
from .subjects import EVENTS_STREAM

SERVICE = "events"
STREAM = EVENTS_STREAM


class BuiltInActivityType(StrEnum):
    """The types every organisation has; a programme may add its own codes (``type_code`` is a Code)."""

    LANGUAGE_CAFE = "language_cafe"
    POPUP_CAFE = "popup_cafe"
    WALK_AND_TALK = "walk_and_talk"
    SPORT = "sport"
    GUIDED_TOUR = "guided_tour"
    GARDENING = "gardening"
    SOCIAL = "social"
    KICKOFF = "kickoff"
    GROUP_MATCHING = "group_matching"
    FAIR_STAND = "fair_stand"


class ActivityKind(StrEnum):
    ONE_OFF = "one_off"
    SERIES = "series"


class OccurrenceStatus(StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


class OccurrenceCancelReason(StrEnum):
    CANCELLED = "cancelled"  # by a coordinator (a holiday, an ill host)
    SERIES_CHANGED = "series_changed"  # replaced by a "from now on" change of its series
    SERIES_ENDED = "series_ended"  # the series was cut short or cancelled


class SignupStatus(StrEnum):
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"


class SignupCancelReason(StrEnum):
    PARTICIPANT = "participant"
    COORDINATOR = "coordinator"
    OCCURRENCE_CANCELLED = "occurrence_cancelled"
    WITHDRAWN = "withdrawn"  # the participant left the programme (intake's participant.withdrawn)


class AttendanceOutcome(StrEnum):
    CAME = "came"
    NO_SHOW = "no_show"
    CANCELLED_LATE = "cancelled_late"


class OccurrenceState(Payload):
    """One meeting of an activity, in full."""

    occurrence_id: uuid.UUID
    activity_id: uuid.UUID
    kind: ActivityKind
    # The series this occurrence's series continues after a "from now on" change (None otherwise).
    continues: uuid.UUID | None = None
    programmes: tuple[Code, ...] = Field((), description="Programme codes it is open to; empty: all of them.")
    type_code: Code
    district: Code | None = None
    venue_id: uuid.UUID | None = None
    partner_ids: tuple[uuid.UUID, ...] = ()
    campaign: Code | None = None
    starts_at: datetime
    ends_at: datetime
    original_start: datetime | None = Field(None, description="Where the series' rule put it (None: a one-off).")
    capacity: int | None = Field(None, ge=0, description="None: no limit; 0: closed for sign-up.")
    status: OccurrenceStatus
    cancel_reason: OccurrenceCancelReason | None = None
    scheduled_at: datetime
    changed_at: datetime
    cancelled_at: datetime | None = None


class SignupState(Payload):
    signup_id: uuid.UUID
    occurrence_id: uuid.UUID
    activity_id: uuid.UUID
    participant_id: uuid.UUID
    status: SignupStatus
    arrival: int = Field(description="Order of arrival among the occurrence's sign-ups; the waiting list follows it.")
    signed_up_at: datetime
    confirmed_at: datetime | None = None
    promoted_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancel_reason: SignupCancelReason | None = None
    cancelled_late: bool = False
    over_capacity: bool = Field(False, description="Confirmed beyond the capacity by a coordinator, on purpose.")
    occurrence_starts_at: datetime


class SignupErasedPayload(Payload):
    """A tombstone: the sign-up of an erased participant is gone (no participant id here)."""

    signup_id: uuid.UUID
    occurrence_id: uuid.UUID
    erased_at: datetime


class CheckInState(Payload):
    participant_id: uuid.UUID
    outcome: AttendanceOutcome
    role: ParticipantRole
    gender: Gender
    recorded_at: datetime


class AnonymousAttendance(Payload):
    """Outcomes of participants since erased: kept as counts so that past figures do not change."""

    outcome: AttendanceOutcome
    role: ParticipantRole
    gender: Gender
    count: int = Field(ge=1)


class WalkInCount(Payload):
    role: ParticipantRole
    gender: Gender
    count: int = Field(ge=1)


class CampaignSignupCount(Payload):
    """People who signed up at this stand, by the campaign that brought them there."""

    campaign: Code
    count: int = Field(ge=1)


class AttendanceState(Payload):
    occurrence_id: uuid.UUID
    activity_id: uuid.UUID
    programmes: tuple[Code, ...] = ()
    type_code: Code
    district: Code | None = None
    venue_id: uuid.UUID | None = None
    starts_at: datetime
    status: OccurrenceStatus
    check_ins: tuple[CheckInState, ...] = ()
    anonymous: tuple[AnonymousAttendance, ...] = ()
    walk_ins: tuple[WalkInCount, ...] = ()
    campaign_signups: tuple[CampaignSignupCount, ...] = ()
    recorded_at: datetime


class _EventsEvent(IntegrationEvent[PayloadT], Generic[PayloadT]):
    PRODUCER: ClassVar[str] = SERVICE


class ActivityScheduled(_EventsEvent[OccurrenceState]):
    """An occurrence was planned: a one-off, or one meeting of a series materialised for the horizon."""

    EVENT_TYPE: ClassVar[str] = "activity.scheduled"


class ActivityChanged(_EventsEvent[OccurrenceState]):
    """An occurrence moved, got another venue or another capacity."""

    EVENT_TYPE: ClassVar[str] = "activity.changed"


class ActivityCancelled(_EventsEvent[OccurrenceState]):
    """An occurrence was cancelled (its series goes on unless the reason says it ended or changed)."""

    EVENT_TYPE: ClassVar[str] = "activity.cancelled"


class SignupConfirmed(_EventsEvent[SignupState]):
    """A participant has a seat."""

    EVENT_TYPE: ClassVar[str] = "signup.confirmed"


class SignupWaitlisted(_EventsEvent[SignupState]):
    """The occurrence was full: the participant waits, in arrival order."""

    EVENT_TYPE: ClassVar[str] = "signup.waitlisted"


class SignupPromoted(_EventsEvent[SignupState]):
    """A seat came free and the first in line took it."""

    EVENT_TYPE: ClassVar[str] = "signup.promoted"


class SignupCancelled(_EventsEvent[SignupState]):
    """The sign-up was cancelled (by the participant, a coordinator, the occurrence, or a withdrawal)."""

    EVENT_TYPE: ClassVar[str] = "signup.cancelled"


class SignupErased(_EventsEvent[SignupErasedPayload]):
    """A tombstone: the participant was erased; the sign-up's earlier messages are purged."""

    EVENT_TYPE: ClassVar[str] = "signup.erased"
    TOMBSTONE: ClassVar[bool] = True


class AttendanceRecorded(_EventsEvent[AttendanceState]):
    """The occurrence's whole attendance sheet after a check-in, headcount or campaign count."""

    EVENT_TYPE: ClassVar[str] = "attendance.recorded"


ACTIVITY_EVENTS: tuple[type[IntegrationEvent], ...] = (ActivityScheduled, ActivityChanged, ActivityCancelled)
SIGNUP_EVENTS: tuple[type[IntegrationEvent], ...] = (
    SignupConfirmed,
    SignupWaitlisted,
    SignupPromoted,
    SignupCancelled,
    SignupErased,
)
EVENTS_EVENTS: tuple[type[IntegrationEvent], ...] = (*ACTIVITY_EVENTS, *SIGNUP_EVENTS, AttendanceRecorded)
