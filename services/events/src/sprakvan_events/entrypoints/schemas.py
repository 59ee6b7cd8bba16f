"""Request and response bodies of the events API."""

from __future__ import annotations

import uuid
from datetime import datetime, time
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

from sprakvan_shared.contracts.events import AttendanceOutcome, SignupCancelReason
from sprakvan_shared.contracts.intake import Code
from sprakvan_shared.text import Day, LocalTimestamp

from ..adapters.repository import LockedOccurrence
from ..domain.attendance import AttendanceSheet
from ..domain.model import Activity, ActivityDetails, ActivityType, Occurrence, PartnerKind, Venue
from ..domain.recurrence import LOCAL, Schedule
from ..domain.signups import Signup

Text = Annotated[str, Field(max_length=200)]
LongText = Annotated[str, Field(max_length=4000)]
# Numbers and switches are strict: JSON's true is not a capacity of 1 nor a count, "yes" or 1 is not an
# override (pydantic's lax mode would take them). The ranges are the domain's (``check_capacity``).
Capacity = StrictInt | None
Count = Annotated[StrictInt, Field(ge=0, le=10_000)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class VenueIn(_In):
    name: Text = Field(min_length=1)
    district: Code
    address: Text = ""
    # Strict: JSON's false is not a capacity of 0 (the schema fuzzer sent it to PUT /venues/{id}).
    capacity: Capacity = Field(None, ge=0, le=100_000)
    accessibility: LongText = Field("", description="Step-free entrance, hearing loop, ... (shown in calendars).")


class VenueOut(BaseModel):
    id: uuid.UUID
    name: str
    district: str
    address: str
    capacity: int | None
    accessibility: str
    version: int = Field(description="What a PUT sends back as If-Match (also the ETag of GET /venues/{id}).")

    @classmethod
    def of(cls, v: Venue) -> VenueOut:
        return cls(
            version=v.version,
            id=v.id,
            name=v.name,
            district=v.district,
            address=v.address,
            capacity=v.capacity,
            accessibility=v.accessibility,
        )


class PartnerIn(_In):
    name: Text = Field(min_length=1)
    kind: PartnerKind


class PartnerOut(PartnerIn):
    model_config = ConfigDict(extra="ignore")
    id: uuid.UUID


class ActivityTypeIn(_In):
    labels: dict[Literal["sv", "en"], Text] = Field(min_length=1)
    programme: Code | None = Field(None, description="Only activities of this programme may use the type.")


class ActivityTypeOut(BaseModel):
    code: str
    labels: dict[str, str]
    programme: str | None
    built_in: bool
    version: int = Field(description="What a PUT sends back as If-Match (the ETag of its answer); 0 built in.")

    @classmethod
    def of(cls, t: ActivityType, *, built_in: bool) -> ActivityTypeOut:
        return cls(code=t.code, labels=t.labels, programme=t.programme, built_in=built_in, version=t.version)


class ActivityFields(_In):
    title: Text = Field(min_length=1)
    type_code: Code
    venue_id: uuid.UUID | None = None
    district: Code | None = Field(None, description="Taken from the venue when there is one.")
    capacity: Capacity = Field(None, description="None: no limit; 0: closed for sign-up.")
    programmes: tuple[Code, ...] = Field((), max_length=20, description="Empty: open to every programme.")
    partner_ids: tuple[uuid.UUID, ...] = Field((), max_length=20)
    description: LongText = ""
    campaign: Code | None = Field(None, description="A fair or campaign stand's campaign code.")

    def details(self) -> ActivityDetails:
        return ActivityDetails(
            title=self.title,
            type_code=self.type_code,
            venue_id=self.venue_id,
            district=self.district,
            capacity=self.capacity,
            programmes=self.programmes,
            partner_ids=self.partner_ids,
            description=self.description,
            campaign=self.campaign,
        )


class OneOffIn(ActivityFields):
    starts_at: LocalTimestamp = Field(description="Local Europe/Stockholm time, or with an offset.")
    ends_at: LocalTimestamp


class ScheduleIn(_In):
    first_day: Day
    starts: time
    ends: time
    rule: Text = Field(min_length=1, description="An RFC 5545 RRULE value, e.g. FREQ=WEEKLY;BYDAY=MO,WE")
    until: Day | None = Field(None, description="Last day, inclusive.")
    count: StrictInt | None = None

    def schedule(self) -> Schedule:
        return Schedule(self.first_day, self.starts, self.ends, self.rule, self.until, self.count)


class SeriesIn(ActivityFields):
    schedule: ScheduleIn


class ChangeFromIn(SeriesIn):
    from_day: Day = Field(description="The first day the change applies to.")


class OccurrenceOut(BaseModel):
    id: uuid.UUID
    activity_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    original_start: datetime | None
    venue_id: uuid.UUID | None
    district: str | None
    capacity: int | None
    status: str
    cancel_reason: str | None
    sequence: int
    version: int
    confirmed: int | None = None
    waitlisted: int | None = None

    @classmethod
    def of(cls, o: Occurrence, seats: LockedOccurrence | None = None) -> OccurrenceOut:
        return cls(
            id=o.id,
            activity_id=o.activity_id,
            starts_at=o.starts_at.astimezone(LOCAL),
            ends_at=o.ends_at.astimezone(LOCAL),
            original_start=o.original_start.astimezone(LOCAL) if o.original_start else None,
            venue_id=o.venue_id,
            district=o.district,
            capacity=o.capacity,
            status=o.status.value,
            cancel_reason=o.cancel_reason.value if o.cancel_reason else None,
            sequence=o.sequence,
            version=o.version,
            confirmed=seats.confirmed if seats else None,
            waitlisted=seats.waitlisted if seats else None,
        )


class ActivityOut(BaseModel):
    id: uuid.UUID
    kind: str
    status: str
    title: str
    type_code: str
    venue_id: uuid.UUID | None
    district: str | None
    capacity: int | None
    programmes: tuple[str, ...]
    partner_ids: tuple[uuid.UUID, ...]
    description: str
    campaign: str | None
    continues: uuid.UUID | None
    schedule: ScheduleIn | None = None
    occurrences: list[OccurrenceOut] = []

    @classmethod
    def of(cls, a: Activity, schedule: Schedule | None, occurrences: list[Occurrence]) -> ActivityOut:
        d = a.details
        return cls(
            id=a.id,
            kind=a.kind.value,
            status=a.status.value,
            title=d.title,
            type_code=d.type_code,
            venue_id=d.venue_id,
            district=d.district,
            capacity=d.capacity,
            programmes=d.programmes,
            partner_ids=d.partner_ids,
            description=d.description,
            campaign=d.campaign,
            continues=a.continues,
            schedule=ScheduleIn.model_construct(**schedule.__dict__) if schedule else None,
            occurrences=[OccurrenceOut.of(o) for o in occurrences],
        )


class OccurrencePatch(_In):
    starts_at: LocalTimestamp | None = None
    ends_at: LocalTimestamp | None = None
    venue_id: uuid.UUID | None = Field(None, description="Another venue for this occurrence alone.")
    capacity: Capacity = None
    capacity_unlimited: StrictBool = Field(False, description="Set to remove the limit (capacity null).")


class SignupIn(_In):
    participant_id: uuid.UUID
    over_capacity: StrictBool = Field(False, description="Confirm beyond the capacity, on purpose (recorded).")


class GroupSignupIn(_In):
    participant_ids: tuple[uuid.UUID, ...] = Field(min_length=1, max_length=100)
    over_capacity: StrictBool = Field(False, description="Confirm the whole group beyond the capacity, on purpose.")


class SignupCancelIn(_In):
    reason: Literal[SignupCancelReason.PARTICIPANT, SignupCancelReason.COORDINATOR] = SignupCancelReason.PARTICIPANT


class SignupOut(BaseModel):
    id: uuid.UUID
    occurrence_id: uuid.UUID
    participant_id: uuid.UUID
    status: str
    arrival: int
    signed_up_at: datetime
    confirmed_at: datetime | None
    promoted_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    cancelled_late: bool
    over_capacity: bool

    @classmethod
    def of(cls, s: Signup) -> SignupOut:
        return cls(
            id=s.id,
            occurrence_id=s.occurrence_id,
            participant_id=s.participant_id,
            status=s.status.value,
            arrival=s.arrival,
            signed_up_at=s.signed_up_at,
            confirmed_at=s.confirmed_at,
            promoted_at=s.promoted_at,
            cancelled_at=s.cancelled_at,
            cancel_reason=s.cancel_reason.value if s.cancel_reason else None,
            cancelled_late=s.cancelled_late,
            over_capacity=s.over_capacity,
        )


class CheckInIn(_In):
    outcome: AttendanceOutcome


class HeadcountIn(_In):
    role: Literal["newcomer", "established"]
    gender: Literal["woman", "man", "non_binary", "undisclosed"]
    count: Count


class WalkInsIn(_In):
    counts: tuple[HeadcountIn, ...] = Field(max_length=8)


class WalkInStepIn(_In):
    role: Literal["newcomer", "established"]
    gender: Literal["woman", "man", "non_binary", "undisclosed"]
    step: Literal[1, -1] = Field(description="One more, or one fewer (never below zero).")

    @field_validator("step", mode="before")
    @classmethod
    def _an_integer(cls, value: object) -> object:
        if type(value) is not int:  # JSON's true or 1.0 is not a step
            raise ValueError("step is 1 or -1")
        return value


class CampaignCountIn(_In):
    campaign: Code
    count: Count


class CampaignSignupsIn(_In):
    counts: tuple[CampaignCountIn, ...] = Field(max_length=50)


class AttendanceOut(BaseModel):
    occurrence_id: uuid.UUID
    check_ins: list[dict[str, object]]
    walk_ins: list[dict[str, object]]
    campaign_signups: list[dict[str, object]]
    anonymous: list[dict[str, object]]
    totals: dict[str, int]
    counts_version: int = Field(
        description="The version of walk_ins and campaign_signups (the ETag): what a whole-table PUT sends as "
        "If-Match. Check-ins leave it; a walk-in step moves it."
    )

    @classmethod
    def of(cls, sheet: AttendanceSheet) -> AttendanceOut:
        return cls(
            counts_version=sheet.counts_version,
            occurrence_id=sheet.occurrence_id,
            check_ins=[
                {"participant_id": c.participant_id, "outcome": c.outcome.value, "recorded_at": c.recorded_at}
                for c in sheet.check_ins
            ],
            walk_ins=[{"role": w.role, "gender": w.gender, "count": w.count} for w in sheet.walk_ins],
            campaign_signups=[{"campaign": c.campaign, "count": c.count} for c in sheet.campaign_signups],
            anonymous=[
                {"outcome": a.outcome.value, "role": a.role, "gender": a.gender, "count": a.count}
                for a in sheet.anonymous
            ],
            totals=sheet.totals(),
        )


class FeedIn(_In):
    scope: Literal["organisation", "programme", "district", "venue"]
    value: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    name: Text = Field(min_length=1)


class FeedListed(BaseModel):
    id: uuid.UUID
    scope: str
    value: str | None
    name: str


class FeedOut(FeedListed):
    url: str = Field(description="Give this to a calendar app; anyone holding it can read the feed.")
