"""HTTP request and response bodies of the intake API."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from sprakvan_shared.contracts.intake import (
    Availability,
    Code,
    Gender,
    LanguageSkill,
    MatchWishes,
    ParticipantRole,
    SwedishLevel,
    WithdrawalReason,
)

from ..domain.model import Consent, Interview, Participant, ParticipantDetails, ParticipantStatus


class ParticipantPatch(BaseModel):
    """Fields to change; what is left out stays as it is. Role cannot change: register anew instead."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    first_name: str | None = Field(None, min_length=1, max_length=100)
    last_name: str | None = Field(None, min_length=1, max_length=100)
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=20)
    gender: Gender | None = None
    birth_year: int | None = None
    programme: Code | None = None
    district: Code | None = None
    languages: tuple[LanguageSkill, ...] | None = Field(None, max_length=10)
    swedish_level: SwedishLevel | None = None
    interests: tuple[Code, ...] | None = Field(None, max_length=20)
    availability: tuple[Availability, ...] | None = Field(None, max_length=21)
    wishes: MatchWishes | None = None
    capacity: int | None = None
    referral_source: Code | None = None
    campaign: Code | None = None
    consent: Consent | None = None

    def changes(self) -> dict[str, object]:
        # Explicit nulls clear optional fields (email, phone, campaign); required ones are re-checked.
        return {name: getattr(self, name) for name in self.model_fields_set}


class InterviewOut(BaseModel):
    id: uuid.UUID
    held_on: date
    coordinator: str
    notes: str

    @classmethod
    def of(cls, interview: Interview) -> InterviewOut:
        return cls(**interview.model_dump())


class ParticipantOut(ParticipantDetails):
    model_config = ConfigDict(extra="ignore")

    id: uuid.UUID
    role: ParticipantRole
    status: ParticipantStatus
    registered_at: datetime
    updated_at: datetime
    version: int
    interviewed_on: date | None = None
    withdrawn_at: datetime | None = None
    withdrawal_reason: WithdrawalReason | None = None
    interviews: list[InterviewOut] | None = Field(None, description="Only on GET /participants/{id}.")

    @classmethod
    def of(cls, p: Participant, interviews: list[Interview] | None = None) -> ParticipantOut:
        assert p.details is not None
        # Built from domain objects that are valid already: construct, do not validate again.
        return cls.model_construct(
            **dict(p.details),
            id=p.id,
            role=p.role,
            status=p.status,
            registered_at=p.registered_at,
            updated_at=p.updated_at,
            version=p.version,
            interviewed_on=p.interviewed_on,
            withdrawn_at=p.withdrawn_at,
            withdrawal_reason=p.withdrawal_reason,
            interviews=[InterviewOut.of(i) for i in interviews] if interviews is not None else None,
        )


class ParticipantPage(BaseModel):
    items: list[ParticipantOut]
    next_cursor: str | None = Field(None, description="Pass as ?cursor= for the next page; null on the last.")
