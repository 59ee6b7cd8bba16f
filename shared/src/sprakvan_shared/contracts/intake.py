"""Integration events published by the intake service.

Payloads carry what matching and reporting need and nothing more: no names, emails, phone numbers,
interview notes or free-text reasons ever leave intake.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, ClassVar, Generic

from pydantic import Field

from .envelope import IntegrationEvent, Payload, PayloadT
from .subjects import INTAKE_STREAM

SERVICE = "intake"
STREAM = INTAKE_STREAM


class ParticipantRole(StrEnum):
    NEWCOMER = "newcomer"
    ESTABLISHED = "established"


class Gender(StrEnum):
    WOMAN = "woman"
    MAN = "man"
    NON_BINARY = "non_binary"
    UNDISCLOSED = "undisclosed"


class LanguageLevel(StrEnum):
    BASIC = "basic"
    CONVERSATIONAL = "conversational"
    FLUENT = "fluent"
    NATIVE = "native"


class SwedishLevel(StrEnum):
    """CEFR levels, as SFI and folk high schools use them; ``none`` for someone just arrived."""

    NONE = "none"
    A1 = "A1"
    A2 = "A2"
    B1 = "B1"
    B2 = "B2"
    C1 = "C1"
    C2 = "C2"


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


class PartOfDay(StrEnum):
    MORNING = "morning"
    AFTERNOON = "afternoon"
    EVENING = "evening"


class ReferralSource(StrEnum):
    SELF = "self"
    FRIEND = "friend"
    MUNICIPALITY = "municipality"
    EMPLOYMENT_SERVICE = "employment_service"
    SFI = "sfi"
    RED_CROSS = "red_cross"
    CHURCH = "church"
    WOMENS_ASSOCIATION = "womens_association"
    LIBRARY = "library"
    FAIR = "fair"
    CAMPAIGN = "campaign"
    OTHER = "other"


class WithdrawalReason(StrEnum):
    MOVED = "moved"
    NO_TIME = "no_time"
    FOUND_CONTACTS = "found_contacts"
    NOT_INTERESTED = "not_interested"
    UNREACHABLE = "unreachable"
    OTHER = "other"


LanguageCode = Annotated[str, Field(min_length=2, max_length=3, pattern=r"^[a-z]{2,3}$")]


class LanguageSkill(Payload):
    code: LanguageCode
    level: LanguageLevel


class Availability(Payload):
    weekday: Weekday
    part_of_day: PartOfDay


class MatchWishes(Payload):
    same_gender: bool = False
    age_min: int | None = None
    age_max: int | None = None


class ParticipantProfile(Payload):
    """What other services may know of a participant: matching criteria and statistics, no identity."""

    participant_id: uuid.UUID
    role: ParticipantRole
    gender: Gender
    birth_year: int
    district: str
    languages: tuple[LanguageSkill, ...] = ()
    swedish_level: SwedishLevel | None = None
    interests: tuple[str, ...] = ()
    availability: tuple[Availability, ...] = ()
    wishes: MatchWishes = MatchWishes()
    capacity: int | None = None
    referral_source: ReferralSource
    campaign: str | None = None
    registered_at: datetime
    # Grows by one with every change of the participant, so consumers can ignore stale events.
    version: int


class ParticipantRegisteredPayload(ParticipantProfile):
    pass


class ParticipantUpdatedPayload(ParticipantProfile):
    pass


class ParticipantInterviewedPayload(Payload):
    participant_id: uuid.UUID
    interviewed_on: date
    version: int


class ParticipantWithdrawnPayload(Payload):
    participant_id: uuid.UUID
    reason: WithdrawalReason
    withdrawn_at: datetime
    version: int


class ParticipantErasedPayload(Payload):
    participant_id: uuid.UUID
    erased_at: datetime


class _IntakeEvent(IntegrationEvent[PayloadT], Generic[PayloadT]):
    PRODUCER: ClassVar[str] = SERVICE


class ParticipantRegistered(_IntakeEvent[ParticipantRegisteredPayload]):
    EVENT_TYPE: ClassVar[str] = "participant.registered"


class ParticipantUpdated(_IntakeEvent[ParticipantUpdatedPayload]):
    EVENT_TYPE: ClassVar[str] = "participant.updated"


class ParticipantInterviewed(_IntakeEvent[ParticipantInterviewedPayload]):
    EVENT_TYPE: ClassVar[str] = "participant.interviewed"


class ParticipantWithdrawn(_IntakeEvent[ParticipantWithdrawnPayload]):
    EVENT_TYPE: ClassVar[str] = "participant.withdrawn"


class ParticipantErased(_IntakeEvent[ParticipantErasedPayload]):
    """Tells every service to delete what it holds about the participant."""

    EVENT_TYPE: ClassVar[str] = "participant.erased"


INTAKE_EVENTS: tuple[type[IntegrationEvent], ...] = (
    ParticipantRegistered,
    ParticipantUpdated,
    ParticipantInterviewed,
    ParticipantWithdrawn,
    ParticipantErased,
)
