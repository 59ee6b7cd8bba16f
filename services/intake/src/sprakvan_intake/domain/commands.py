"""Commands: what a caller asks intake to do, named as orders."""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from sprakvan_shared.contracts.intake import ParticipantRole, WithdrawalReason

from .model import ParticipantDetails


class RegisterParticipant(ParticipantDetails):
    role: ParticipantRole


class UpdateParticipant(BaseModel):
    model_config = ConfigDict(frozen=True)

    participant_id: uuid.UUID
    changes: dict[str, object]


class RecordInterview(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    held_on: date
    coordinator: str | None = Field(
        None, min_length=1, max_length=200, description="Who held it; defaults to the caller."
    )
    notes: str = Field("", max_length=4000, description="Stays in intake; never published.")


class WithdrawParticipant(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    reason: WithdrawalReason
