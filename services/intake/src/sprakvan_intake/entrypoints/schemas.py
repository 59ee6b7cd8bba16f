"""HTTP request and response bodies of the intake API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

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
from sprakvan_shared.text import Name, line

from ..domain.commands import RegisterParticipant
from ..domain.model import (
    EMAIL_PATTERN,
    MAX_CAPACITY,
    OLDEST_BIRTH_YEAR,
    PHONE_PATTERN,
    Consent,
    Interview,
    Participant,
    ParticipantDetails,
    ParticipantStatus,
)


def _registration_rules(schema: dict[str, Any]) -> None:
    """The domain rules a JSON Schema can express, for clients generated from the OpenAPI document (the
    domain checks them all the same): email or phone; consent given; birth year bounds; a newcomer has a
    Swedish level and no capacity, an established resident a capacity of 1-3."""
    properties = schema["properties"]
    properties["birth_year"].update(minimum=OLDEST_BIRTH_YEAR, maximum=date.today().year)
    properties["email"]["anyOf"][0]["pattern"] = EMAIL_PATTERN
    properties["phone"]["anyOf"][0]["pattern"] = PHONE_PATTERN
    schema["anyOf"] = [
        {"required": ["email"], "properties": {"email": {"type": "string"}}},
        {"required": ["phone"], "properties": {"phone": {"type": "string"}}},
    ]
    properties["consent"] = {
        "allOf": [properties["consent"]],
        "properties": {"data_processing": {"const": True}},
    }
    schema["if"] = {"properties": {"role": {"const": "newcomer"}}, "required": ["role"]}
    schema["then"] = {
        "required": ["swedish_level"],
        "properties": {"capacity": {"type": "null"}, "swedish_level": {"type": "string"}},
    }
    schema["else"] = {
        "required": ["capacity"],
        "properties": {"capacity": {"type": "integer", "minimum": 1, "maximum": MAX_CAPACITY}},
    }


class RegistrationRequest(RegisterParticipant):
    """``RegisterParticipant`` as the API documents it."""

    model_config = ConfigDict(json_schema_extra=_registration_rules)


class ParticipantPatch(BaseModel):
    """Fields to change; what is left out stays as it is. Role cannot change: register anew instead."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    first_name: Name | None = None
    last_name: Name | None = None
    email: line(254) | None = None
    phone: line(20) | None = None
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


class ParticipantFacts(BaseModel):
    """What ``ParticipantOut`` tells besides the details, in its order."""

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
    def of(cls, p: Participant, interviews: list[Interview] | None = None) -> ParticipantFacts:
        # Built from domain objects that are valid already: construct, do not validate again.
        return cls.model_construct(
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


class ParticipantOut(ParticipantFacts, ParticipantDetails):  # the details' fields first, then the facts
    model_config = ConfigDict(extra="ignore")

    @classmethod
    def of(cls, p: Participant, interviews: list[Interview] | None = None) -> ParticipantOut:
        assert p.details is not None
        facts = ParticipantFacts.of(p, interviews)
        return cls.model_construct(**{name: getattr(p.details, name) for name in ParticipantDetails.model_fields},
                                   **vars(facts))  # fmt: skip

    @staticmethod
    def json_of(p: Participant) -> str:
        """``ParticipantOut.of(p).model_dump_json()``, made of the details' JSON (made once, the stored row's
        too) and the facts' (the hot path: a registration's answer)."""
        assert p.details is not None
        return p.details.as_json[:-1] + "," + ParticipantFacts.of(p).model_dump_json()[1:]


class ParticipantPage(BaseModel):
    items: list[ParticipantOut]
    next_cursor: str | None = Field(None, description="Pass as ?cursor= for the next page; null on the last.")
