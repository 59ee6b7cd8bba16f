"""The partnership import and export (issue 13): the row model, and thin routes."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from sprakvan_shared.http import Reader
from sprakvan_shared.imports import ImportKey, ImportRequest, ImportResult
from sprakvan_shared.text import Day, line
from sprakvan_shared.text import text as free_text  # a row field is called text

from ..domain.imports import RowType
from ..domain.model import Code, GoalKind
from ..service_layer import imports as use_cases
from .http import Admin, ProgrammeCode

KIND = "partnership"
router = APIRouter(tags=["imports"])


class PartnershipRow(BaseModel):
    """One row of a partnership sheet (besides ``row`` and ``key``); the README's *Import* says which fields
    each ``type`` takes."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    type: RowType
    title: line(300) | None = None
    programme: ProgrammeCode | None = None
    valid_from: Day | None = None
    valid_to: Day | None = None
    purpose: free_text(4000) | None = None
    partnership_key: ImportKey | None = None
    partner: line(200) | None = None
    yearly_contribution_sek: int | None = Field(None, ge=0, le=10**10)
    covers: line(500, min_length=0) | None = None
    goal: GoalKind | None = None
    text: line(500, min_length=0) | None = None
    district: Code | None = None


class ExportedPartnershipRow(PartnershipRow):
    model_config = ConfigDict(extra="ignore")

    key: str


class PartnershipExportPage(BaseModel):
    rows: list[ExportedPartnershipRow]
    next_cursor: str | None = Field(None, description="Pass as ?cursor= for the next page; null on the last.")


@router.post(f"/imports/{KIND}", response_model=ImportResult, summary="Import partnerships of earlier years (admin)")
async def import_partnership(body: ImportRequest, request: Request, principal: Admin) -> Response:
    """Partnerships, their partners' yearly contributions and their goals, as rows (see the import contract)."""
    result = await use_cases.import_partnerships(request.app.state.runtime.pool, principal, body, PartnershipRow)
    return Response(result.model_dump_json(), media_type="application/json")


def _offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        offset = int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, _BAD_CURSOR) from exc
    if not 0 <= offset <= 10**6:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, _BAD_CURSOR)
    return offset


_BAD_CURSOR: Any = [{"loc": ["query", "cursor"], "msg": "invalid cursor", "type": "value_error"}]


@router.get(f"/exports/{KIND}", response_model=PartnershipExportPage, summary="The partnerships as import rows")
async def export_partnership(
    request: Request,
    principal: Reader,
    cursor: Annotated[str | None, Query(max_length=40, pattern=r"^[A-Za-z0-9_-]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="Partnerships per page.")] = 20,
) -> Response:
    rows, next_offset = await use_cases.export_partnerships(
        request.app.state.runtime.pool, principal, offset=_offset(cursor), limit=limit
    )
    next_cursor = base64.urlsafe_b64encode(str(next_offset).encode()).decode().rstrip("=") if next_offset else None
    page = PartnershipExportPage(rows=[ExportedPartnershipRow.model_validate(r) for r in rows], next_cursor=next_cursor)
    return Response(page.model_dump_json(), media_type="application/json")
