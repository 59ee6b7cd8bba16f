"""Commands: what a caller asks intake to do, named as orders."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field

from sprakvan_shared.contracts.intake import ParticipantRole, WithdrawalReason
from sprakvan_shared.text import Day, line, text

from .model import ParticipantDetails


class RegisterParticipant(ParticipantDetails):
    role: ParticipantRole


class UpdateParticipant(BaseModel):
    model_config = ConfigDict(frozen=True)

    participant_id: uuid.UUID
    changes: dict[str, object]


class RecordInterview(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    held_on: Day
    coordinator: line(200) | None = Field(None, description="Who held it; defaults to the caller.")
    notes: text(4000) = Field("", description="Stays in intake; never published.")


class WithdrawParticipant(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    reason: WithdrawalReason
