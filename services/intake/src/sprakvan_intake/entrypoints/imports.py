"""The history import and the export of participants (issue 13): the row model, and thin routes.

A row is a registration as it happened: every field of ``POST /participants`` but the consent (the
programme had it on the registration day, see the README), plus the dates of its life.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, time
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from sprakvan_shared import text
from sprakvan_shared.auth import Principal, Role
from sprakvan_shared.contracts.intake import ParticipantRole, WithdrawalReason
from sprakvan_shared.http import Reader, require_role
from sprakvan_shared.imports import ImportRequest, ImportResult
from sprakvan_shared.text import Name, line

from ..domain.model import StatedDetails
from ..service_layer import imports as use_cases

# A day without a time of day happened at noon in Stockholm (the import contract).
CONTRACT_ZONE = ZoneInfo("Europe/Stockholm")
KIND = "participants"


_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _effective(value: Any) -> Any:
    """A day becomes its noon in Stockholm; a date and time must carry its offset (checked by pydantic)."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time(12), CONTRACT_ZONE)
    if isinstance(value, str) and _ISO_DAY.match(value):
        return datetime.combine(date.fromisoformat(value), time(12), CONTRACT_ZONE)
    if isinstance(value, str) and _ISO_MOMENT.match(value):
        return value
    raise ValueError("a date is written YYYY-MM-DD, or as a date and time with its offset (2024-03-05T18:30+01:00)")


def _in_range(value: datetime) -> datetime:
    if not text.EARLIEST <= value.date() <= text.LATEST:
        raise ValueError(f"must lie between {text.EARLIEST.isoformat()} and {text.LATEST.isoformat()}")
    return value


EffectiveDate = Annotated[
    AwareDatetime,
    BeforeValidator(_effective),
    AfterValidator(_in_range),
    Field(
        json_schema_extra={"pattern": r"^(19|20|21)[0-9]{2}-[0-9]{2}-[0-9]{2}"},
        description="YYYY-MM-DD (12:00 Europe/Stockholm) or an ISO 8601 date and time with its offset.",
    ),
]


class ParticipantRow(StatedDetails):
    """One participant's row (besides ``row`` and ``key``); the README's *Import* lists every field."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    role: ParticipantRole
    photo_consent: bool = Field(False, description="The programme had consent to a photo.")
    registered_on: EffectiveDate = Field(description="When the person registered; required, not in the future.")
    interviewed_on: EffectiveDate | None = Field(None, description="The interview's day; not before registration.")
    interview_coordinator: line(200) | None = Field(None, description="Who held it; defaults to the importer.")
    interview_notes: text.text(4000) = Field("", description="Stays in intake; never published.")
    withdrawn_on: EffectiveDate | None = Field(None, description="When the person withdrew; needs a reason.")
    withdrawal_reason: WithdrawalReason | None = None


class ExportedParticipant(ParticipantRow):
    """A participant as an import row, and its ``id``; ``key`` is the import key, or the id of one registered
    here. Viewers get no names, contacts or interview coordinator and notes (those fields are null)."""

    model_config = ConfigDict(extra="ignore")

    id: uuid.UUID = Field(
        description="Intake's id, as the other services' exports name the participant; not an import field (a "
        "file names participants by key, and an import into another organisation gives them new ids)."
    )
    key: str
    first_name: Name | None = None  # type: ignore[assignment]
    last_name: Name | None = None  # type: ignore[assignment]
    interview_notes: text.text(4000) | None = None  # type: ignore[assignment]


class ParticipantExportPage(BaseModel):
    rows: list[ExportedParticipant]
    next_cursor: str | None = Field(None, description="Pass as ?cursor= for the next page; null on the last.")


Admin = Annotated[Principal, Depends(require_role({Role.ADMIN}))]
router = APIRouter(tags=["imports"])


@router.post(f"/imports/{KIND}", response_model=ImportResult)
async def import_participants(
    body: ImportRequest,
    request: Request,
    principal: Admin,
) -> Response:
    """Admin only. Registrations with their real dates; the same row again is ``unchanged``, a changed row
    ``updated``, a refused row names its field and changes nothing (see the import contract)."""
    result = await use_cases.import_participants(request.app.state.runtime.pool, principal, body, ParticipantRow)
    return Response(result.model_dump_json(), media_type="application/json")


@router.get(f"/exports/{KIND}", response_model=ParticipantExportPage)
async def export_participants(
    request: Request,
    principal: Reader,
    cursor: Annotated[str | None, Query(max_length=200, pattern=r"^[A-Za-z0-9_-]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> Response:
    """Every participant of the organisation as import rows, in registration order, paged."""
    try:
        rows, next_cursor = await use_cases.export_participants(
            request.app.state.runtime.pool, principal, cursor=cursor, limit=limit
        )
    except ValueError as exc:
        raise HTTPException(422, [{"loc": ["query", "cursor"], "msg": str(exc), "type": "value_error"}]) from exc
    page = ParticipantExportPage(rows=[ExportedParticipant.model_validate(r) for r in rows], next_cursor=next_cursor)
    return Response(page.model_dump_json(), media_type="application/json")
