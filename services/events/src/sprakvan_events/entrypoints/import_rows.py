"""The rows of the events service's history import (``POST /imports/{kind}``) and export (``GET /exports/{kind}``).

Each kind is one spreadsheet sheet; the fields here are its columns (besides ``row`` and ``key``). Rows of
this service refer to each other by import key (``venue_key``, ``activity_key``, ``occurrence_key``; an id
of something made in the app works too), participants by intake's id. ``services/events/README.md``
("Import") lists them for the importer.
"""

from __future__ import annotations

import uuid
from datetime import time
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from sprakvan_shared.contracts.events import AttendanceOutcome, SignupStatus
from sprakvan_shared.contracts.intake import Code, Gender, ParticipantRole
from sprakvan_shared.imports import ImportKey
from sprakvan_shared.text import Day, Timestamp, line, text

Title = line(200)
Address = line(200, min_length=0)
Notes = text(4000)
# A date alone means 12:00 Europe/Stockholm (the import contract); a datetime needs its offset.
When = Annotated[Day | Timestamp, Field(description="YYYY-MM-DD (12:00 Europe/Stockholm) or ISO 8601 with offset.")]
# Strict, as in the API: a spreadsheet's TRUE is not a capacity of 1 nor a count (ranges are ``rule``).
Capacity = StrictInt | None


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class VenueRow(_Row):
    name: Title
    district: Code
    address: Address = ""
    capacity: Capacity = Field(None, description="None: no limit.")
    accessibility: Notes = ""


class ActivityRow(_Row):
    """An activity held: its occurrences are the rows of the occurrences sheet (no recurrence rule)."""

    title: Title
    type_code: Code = Field(description="language_cafe, popup_cafe, ... or a programme's own type.")
    venue_key: ImportKey | None = None
    district: Code | None = Field(None, description="Needed without a venue; with one, the venue's district.")
    capacity: Capacity = Field(None, description="None: no limit; 0: closed for sign-up.")
    programmes: tuple[Code, ...] = Field((), max_length=20, description="Empty: open to every programme.")
    campaign: Code | None = Field(None, description="A fair or campaign stand's campaign code.")
    description: Notes = ""


class OccurrenceRow(_Row):
    activity_key: ImportKey
    date: Day
    starts: time = Field(description="Local time, Europe/Stockholm (HH:MM).")
    ends: time = Field(description="Local time, Europe/Stockholm, on the same day.")
    capacity: Capacity = Field(None, description="None: the activity's.")
    venue_key: ImportKey | None = Field(None, description="None: the activity's venue.")
    cancelled: StrictBool = False


class SignupRow(_Row):
    occurrence_key: ImportKey
    participant_id: uuid.UUID
    status: SignupStatus = Field(description="As it ended: confirmed, waitlisted or cancelled.")
    signed_up_at: When | None = Field(None, description="None: the occurrence's start.")
    cancelled_at: When | None = Field(None, description="For a cancelled one; None: the occurrence's start.")


class AttendanceRow(_Row):
    occurrence_key: ImportKey
    participant_id: uuid.UUID
    outcome: AttendanceOutcome


class WalkInRow(_Row):
    occurrence_key: ImportKey
    role: ParticipantRole
    gender: Gender
    count: StrictInt = Field(description="0-10000 people who came without signing up.")


class CampaignSignupRow(_Row):
    occurrence_key: ImportKey
    campaign: Code
    count: StrictInt = Field(description="0-10000 people who signed up at this stand.")


ROW_MODELS: dict[str, type[BaseModel]] = {
    "venues": VenueRow,
    "activities": ActivityRow,
    "occurrences": OccurrenceRow,
    "signups": SignupRow,
    "attendance": AttendanceRow,
    "walk_ins": WalkInRow,
    "campaign_signups": CampaignSignupRow,
}
