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


Code = Annotated[
    str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$", description="A code of the organisation's vocabulary.")
]


class ParticipantStatus(StrEnum):
    REGISTERED = "registered"
    INTERVIEWED = "interviewed"
    WITHDRAWN = "withdrawn"
    ERASED = "erased"


class ParticipantState(Payload):
    """What other services may know of a participant: matching criteria, statistics and the dates of
    its life, as codes and numbers. No names, contacts, notes or free text ever leave intake."""

    participant_id: uuid.UUID
    programme: Code
    role: ParticipantRole
    status: ParticipantStatus
    gender: Gender
    birth_year: int
    district: Code
    languages: tuple[LanguageSkill, ...] = ()
    swedish_level: SwedishLevel | None = None
    interests: tuple[Code, ...] = ()
    availability: tuple[Availability, ...] = ()
    wishes: MatchWishes = MatchWishes()
    capacity: int | None = None
    referral_source: Code
    campaign: Code | None = None
    registered_at: datetime
    interviewed_on: date | None = None
    withdrawn_at: datetime | None = None
    withdrawal_reason: WithdrawalReason | None = None


class ParticipantErasedPayload(Payload):
    """A tombstone: the id and when, nothing else. The statistics live on in ``ErasureStatistics``."""

    participant_id: uuid.UUID
    status: ParticipantStatus = ParticipantStatus.ERASED
    erased_at: datetime


class AnonymousParticipantRecord(Payload):
    """One erased participant as the statistics need them, with no id and no time of day: it cannot be
    linked back to the person. Dates are days."""

    programme: Code
    role: ParticipantRole
    gender: Gender
    birth_year: int
    district: Code
    referral_source: Code
    campaign: Code | None = None
    registered_on: date
    interviewed_on: date | None = None
    withdrawn_on: date | None = None
    erased_on: date


class ErasureStatisticsPayload(Payload):
    """Every erased participant of an organisation who registered in ``year``, sorted by their values
    (not by when they were erased). The aggregate id is ``<organisation>-<year>``."""

    organisation_id: str
    year: int
    records: tuple[AnonymousParticipantRecord, ...]


class Label(Payload):
    sv: str = Field(min_length=1, max_length=120)
    en: str = Field(min_length=1, max_length=120)


class VocabularyEntry(Payload):
    code: Code
    labels: Label


class ProgrammeKind(StrEnum):
    SPRAKVAN = "sprakvan"  # language friends
    FLYKTINGGUIDE = "flyktingguide"  # refugee guides


class Programme(VocabularyEntry):
    kind: ProgrammeKind = ProgrammeKind.SPRAKVAN


class District(VocabularyEntry):
    neighbours: tuple[Code, ...] = Field((), description="Districts close enough to meet in.")


class OrganisationConfiguration(Payload):
    """An organisation's programmes and vocabularies: every code a registration may use."""

    organisation_id: str
    programmes: tuple[Programme, ...]
    districts: tuple[District, ...]
    interests: tuple[VocabularyEntry, ...] = ()
    campaigns: tuple[VocabularyEntry, ...] = ()
    referral_sources: tuple[VocabularyEntry, ...] = ()


class _IntakeEvent(IntegrationEvent[PayloadT], Generic[PayloadT]):
    PRODUCER: ClassVar[str] = SERVICE


class ParticipantRegistered(_IntakeEvent[ParticipantState]):
    EVENT_TYPE: ClassVar[str] = "participant.registered"


class ParticipantUpdated(_IntakeEvent[ParticipantState]):
    EVENT_TYPE: ClassVar[str] = "participant.updated"


class ParticipantInterviewed(_IntakeEvent[ParticipantState]):
    EVENT_TYPE: ClassVar[str] = "participant.interviewed"


class ParticipantWithdrawn(_IntakeEvent[ParticipantState]):
    EVENT_TYPE: ClassVar[str] = "participant.withdrawn"


class ParticipantErased(_IntakeEvent[ParticipantErasedPayload]):
    """Tells every service to delete what it holds about the participant. A tombstone: nothing of
    this participant is ever applied after it."""

    EVENT_TYPE: ClassVar[str] = "participant.erased"
    TOMBSTONE: ClassVar[bool] = True


class ErasureStatisticsRecorded(_IntakeEvent[ErasureStatisticsPayload]):
    """The anonymous records of an organisation's erased participants of one registration year."""

    EVENT_TYPE: ClassVar[str] = "erasure_statistics.recorded"


class OrganisationConfigured(_IntakeEvent[OrganisationConfiguration]):
    """The organisation's programmes and vocabularies, in full, after every change."""

    EVENT_TYPE: ClassVar[str] = "organisation.configured"


PARTICIPANT_EVENTS: tuple[type[IntegrationEvent], ...] = (
    ParticipantRegistered,
    ParticipantUpdated,
    ParticipantInterviewed,
    ParticipantWithdrawn,
    ParticipantErased,
)

INTAKE_EVENTS: tuple[type[IntegrationEvent], ...] = (
    *PARTICIPANT_EVENTS,
    ErasureStatisticsRecorded,
    OrganisationConfigured,
)
