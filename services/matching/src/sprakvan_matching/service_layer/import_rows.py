"""The rows of matching's history import and export (issue 13): a pair as it happened, a follow-up held.

The same shape goes in (``POST /imports/{kind}``, each row with ``row`` and ``key``) and comes out
(``GET /exports/{kind}``, each row with ``key``). Dates are days (``YYYY-MM-DD``); a day means 12:00
Europe/Stockholm where the events carry a time.
"""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sprakvan_shared.contracts.intake import Code
from sprakvan_shared.imports import ErrorCode, ImportKey, RowError, error
from sprakvan_shared.text import Day, text

from ..domain.history import DEFAULT_ATTENDED, PairHistory
from ..domain.model import Attendee, EndReason, FollowUpOutcome, Origin

PAIRS = "pairs"
FOLLOW_UPS = "follow-ups"

Notes = text(4000)
HistoryEndReason = Literal["moved", "completed", "did_not_click", "no_contact", "other", "withdrawn"]


class PairRow(BaseModel):
    """A pair as it happened. Participants are intake's ids (the importer maps the sheet's keys first)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    programme: Code = Field(description="The programme's code (the organisation's configuration).")
    newcomer_id: uuid.UUID = Field(description="The newcomer's participant id in intake.")
    established_id: uuid.UUID = Field(description="The established resident's participant id in intake.")
    origin: Literal["manual", "proposal", "group_meetup"] | None = Field(
        None, description="How the pair came about; default: proposal with a proposed_on, else manual."
    )
    proposed_on: Day | None = Field(None, description="The day the pair was proposed.")
    formed_on: Day | None = Field(None, description="The day the pair was made; default: matched_on.")
    matched_on: Day | None = Field(
        None, description="The day of the matching conversation (active from then); empty: not yet introduced."
    )
    attended: tuple[Attendee, ...] | None = Field(
        None, min_length=1, max_length=4, description="Who came to the matching conversation; default all three."
    )
    ended_on: Day | None = Field(None, description="The day the pair ended.")
    end_reason: HistoryEndReason | None = Field(None, description="Why it ended; required with ended_on.")
    notes: Notes = Field("", description="Stays in matching: never in an event or an export for viewers.")


class FollowUpRow(BaseModel):
    """A follow-up held with a pair of an earlier pair row (``pair_key``: that row's import key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pair_key: ImportKey = Field(description="The import key of the pair row (or an exported pair's key).")
    done_on: Day = Field(description="The day of the follow-up.")
    outcome: FollowUpOutcome
    due_on: Day | None = Field(None, description="The day it was due; default done_on.")
    notes: Notes = Field("", description="Stays in matching: never in an event or an export for viewers.")


def history_of(row: PairRow) -> PairHistory | list[RowError]:
    """The row as the domain's history, or what is missing for one."""
    missing = []
    formed_on = row.formed_on or row.matched_on
    if formed_on is None:
        missing.append(error("matched_on", ErrorCode.REQUIRED, "a pair needs its matching conversation or formed_on"))
    if row.ended_on is not None and row.end_reason is None:
        missing.append(error("end_reason", ErrorCode.REQUIRED, "an ended pair needs its end reason"))
    if row.end_reason is not None and row.ended_on is None:
        missing.append(error("ended_on", ErrorCode.REQUIRED, "an end reason needs the day the pair ended"))
    if missing or formed_on is None:
        return missing
    origin = row.origin or ("proposal" if row.proposed_on else "manual")
    return PairHistory(
        programme=row.programme,
        newcomer_id=row.newcomer_id,
        established_id=row.established_id,
        origin=Origin(origin),
        formed_on=formed_on,
        proposed_on=row.proposed_on,
        matched_on=row.matched_on,
        attended=tuple(dict.fromkeys(row.attended)) if row.attended else DEFAULT_ATTENDED,
        ended_on=row.ended_on,
        end_reason=EndReason(row.end_reason) if row.end_reason else None,
        notes=row.notes,
    )


class PairExportRow(PairRow):
    key: str = Field(description="The import key if the pair was imported, else the pair id.")
    end_reason: str | None = None  # type: ignore[assignment]  # also how the app ends pairs (erased, ...)
    notes: str | None = Field(None, description="Left out for viewers.")  # type: ignore[assignment]


class FollowUpExportRow(FollowUpRow):
    key: str = Field(description="The import key if imported, else the pair id and the follow-up's due day.")
    pair_key: str
    notes: str | None = Field(None, description="Left out for viewers.")  # type: ignore[assignment]


class PairExportPage(BaseModel):
    kind: Literal["pairs"] = PAIRS
    rows: list[PairExportRow]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page.")


class FollowUpExportPage(BaseModel):
    kind: Literal["follow-ups"] = FOLLOW_UPS
    rows: list[FollowUpExportRow]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page.")
