"""The intake domain: a participant's registration and its life, as plain objects and rules.

No I/O here: the service layer loads and stores, and turns changes into integration events.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from functools import cached_property
from typing import Any, NamedTuple, Self

from pydantic import BaseModel, ConfigDict, Field

from sprakvan_shared.contracts.intake import (
    Availability,
    Code,
    Gender,
    LanguageSkill,
    MatchWishes,
    ParticipantRole,
    ParticipantStatus,
    ReferralSource,
    SwedishLevel,
    WithdrawalReason,
)
from sprakvan_shared.text import Day, Name, Timestamp, line, text

from .languages import LANGUAGE_CODES

OLDEST_BIRTH_YEAR = 1900
MAX_CAPACITY = 3
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
PHONE_PATTERN = r"^\+?[0-9][0-9 ()-]{5,19}$"
_EMAIL = re.compile(EMAIL_PATTERN)
_PHONE = re.compile(PHONE_PATTERN)


class FieldError(NamedTuple):
    field: tuple[str | int, ...]
    message: str


class InvalidParticipant(Exception):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, e.field))}: {e.message}" for e in errors))
        self.errors = errors


class InvalidTransition(Exception):
    """The participant's status does not allow this (e.g. interviewing someone who withdrew)."""


class Consent(BaseModel):
    model_config = ConfigDict(frozen=True)

    data_processing: bool = Field(description="Consent to processing personal data (GDPR). Required.")
    photo: bool = Field(False, description="Consent to a photo that helps coordinators remember people.")
    given_at: Timestamp


class StatedDetails(BaseModel):
    """What a participant tells at registration and a coordinator may correct later, but the consent."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    first_name: Name
    last_name: Name
    email: line(254) | None = None
    phone: line(20) | None = None
    programme: Code = Field(description="The programme signed up for (a code of the organisation's configuration).")
    gender: Gender
    birth_year: int
    district: Code = Field(description="City district (stadsdel), a code of the organisation's configuration.")
    languages: tuple[LanguageSkill, ...] = Field((), max_length=10)
    swedish_level: SwedishLevel | None = Field(None, description="Required for newcomers.")
    interests: tuple[Code, ...] = Field((), max_length=20, description="Codes of the organisation's interests.")
    availability: tuple[Availability, ...] = Field((), max_length=21)
    wishes: MatchWishes = MatchWishes()
    capacity: int | None = Field(
        None, description="How many newcomers an established resident can take (1-3); not for newcomers."
    )
    referral_source: Code = Field(ReferralSource.SELF.value, description="Where the application came from (a code).")
    campaign: Code | None = Field(None, description="The marketing campaign that brought them (a code).")


class ParticipantDetails(StatedDetails):
    """What a participant tells at registration, with their consent."""

    consent: Consent

    @cached_property
    def as_json(self) -> str:
        """These details as JSON, made once (they are frozen): the stored row's details and the API's
        answer are both cut from it."""
        return self.model_dump_json()

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        copied = super().model_copy(update=update, deep=deep)
        copied.__dict__.pop("as_json", None)  # the copy's JSON is its own
        return copied


def check_details(role: ParticipantRole, details: ParticipantDetails, today: date) -> list[FieldError]:
    """Every rule a registration must meet, as field errors (empty when valid)."""
    errors: list[FieldError] = []

    def fail(message: str, *field: str | int) -> None:
        errors.append(FieldError(field, message))

    if not details.email and not details.phone:
        fail("give an email address or a phone number", "email")
    if details.email and not _EMAIL.match(details.email):
        fail("not an email address", "email")
    if details.phone and not _PHONE.match(details.phone):
        fail("not a phone number", "phone")
    if details.birth_year > today.year:
        fail("the birth year is in the future", "birth_year")
    elif details.birth_year < OLDEST_BIRTH_YEAR:
        fail(f"birth year must be {OLDEST_BIRTH_YEAR} or later", "birth_year")
    for index, skill in enumerate(details.languages):
        if skill.code not in LANGUAGE_CODES:
            fail("unknown language code (use ISO 639-1 or 639-3)", "languages", index, "code")
    if len({skill.code for skill in details.languages}) != len(details.languages):
        fail("a language is listed twice", "languages")
    if len(set(details.availability)) != len(details.availability):
        fail("a time slot is listed twice", "availability")
    if len(set(details.interests)) != len(details.interests):
        fail("an interest is listed twice", "interests")
    wishes = details.wishes
    for name, age in (("age_min", wishes.age_min), ("age_max", wishes.age_max)):
        if age is not None and not 16 <= age <= 110:
            fail("age must be between 16 and 110", "wishes", name)
    if wishes.age_min is not None and wishes.age_max is not None and wishes.age_min > wishes.age_max:
        fail("age_min is above age_max", "wishes", "age_min")
    if role is ParticipantRole.NEWCOMER:
        if details.swedish_level is None:
            fail("a newcomer needs a Swedish level", "swedish_level")
        if details.capacity is not None:
            fail("only established residents take newcomers", "capacity")
    elif details.capacity is None or not 1 <= details.capacity <= MAX_CAPACITY:
        fail(f"an established resident takes 1 to {MAX_CAPACITY} newcomers", "capacity")
    if not details.consent.data_processing:
        fail("consent to data processing is required to register", "consent", "data_processing")
    if details.consent.given_at.date() > today:
        fail("consent cannot be given in the future", "consent", "given_at")
    return errors


class Interview(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    held_on: Day
    coordinator: line(200)
    notes: text(4000) = ""


class Participant(BaseModel):
    """The aggregate. ``version`` grows by one with every change and is carried by its events."""

    id: uuid.UUID
    organisation_id: str
    role: ParticipantRole
    status: ParticipantStatus
    details: ParticipantDetails | None  # None once erased
    registered_at: datetime
    updated_at: datetime
    version: int = 1
    interviewed_on: date | None = None
    withdrawn_at: datetime | None = None
    withdrawal_reason: WithdrawalReason | None = None
    erased_at: datetime | None = None

    @classmethod
    def register(
        cls,
        *,
        organisation_id: str,
        role: ParticipantRole,
        details: ParticipantDetails,
        now: datetime,
        participant_id: uuid.UUID | None = None,
    ) -> Self:
        errors = check_details(role, details, now.date())
        if errors:
            raise InvalidParticipant(errors)
        return cls(
            id=participant_id or uuid.uuid4(),
            organisation_id=organisation_id,
            role=role,
            status=ParticipantStatus.REGISTERED,
            details=details,
            registered_at=now,
            updated_at=now,
        )

    def _require_active(self, action: str) -> ParticipantDetails:
        if self.status in (ParticipantStatus.WITHDRAWN, ParticipantStatus.ERASED) or self.details is None:
            raise InvalidTransition(f"cannot {action} a participant who is {self.status.value}")
        return self.details

    def _touch(self, now: datetime) -> None:
        self.updated_at = now
        self.version += 1

    def update(self, changes: dict[str, object], now: datetime) -> bool:
        """Apply a partial change of details; returns whether anything changed."""
        details = self._require_active("change")
        merged = ParticipantDetails.model_validate({**details.model_dump(), **changes})
        if merged == details:
            return False
        errors = check_details(self.role, merged, now.date())
        if errors:
            raise InvalidParticipant(errors)
        self.details = merged
        self._touch(now)
        return True

    def record_interview(self, interview: Interview, now: datetime) -> None:
        self._require_active("interview")
        if interview.held_on > now.date():
            raise InvalidParticipant([FieldError(("held_on",), "the interview date is in the future")])
        self.status = ParticipantStatus.INTERVIEWED
        self.interviewed_on = max(filter(None, (self.interviewed_on, interview.held_on)))
        self._touch(now)

    def withdraw(self, reason: WithdrawalReason, now: datetime) -> None:
        self._require_active("withdraw")
        self.status = ParticipantStatus.WITHDRAWN
        self.withdrawn_at = now
        self.withdrawal_reason = reason
        self._touch(now)

    def erase(self, now: datetime) -> None:
        """GDPR erasure: forget everything personal; keep the role and dates for the statistics."""
        if self.status is ParticipantStatus.ERASED:
            raise InvalidTransition("the participant is already erased")
        self.details = None
        self.status = ParticipantStatus.ERASED
        self.erased_at = now
        self._touch(now)
