"""The history import and export API (issue 13): thin, like the rest of ``entrypoints``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from sprakvan_shared import http
from sprakvan_shared.auth import Principal, Role
from sprakvan_shared.http import Reader
from sprakvan_shared.imports import ImportRequest, ImportResult

from ..service_layer import exports, imports
from ..service_layer.import_rows import FollowUpExportPage, FollowUpRow, PairExportPage, PairRow
from .http import context

Admin = Annotated[Principal, Depends(http.require_role({Role.ADMIN}))]
Limit = Annotated[int, Query(ge=1, le=1000, description="Rows per page.")]
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
PairCursor = Annotated[str | None, Query(pattern=f"^{UUID}$", description="From next_cursor.")]
FollowUpCursor = Annotated[str | None, Query(pattern=f"^{UUID}~[0-9]{{1,9}}$", description="From next_cursor.")]

history = APIRouter(tags=["history"])


def _rows_of(model: type) -> dict:
    """The OpenAPI note of a kind's row fields: rows are parsed one by one, so the body's schema is loose."""
    return {"x-row-schema": model.model_json_schema()}


def _json(body: ImportResult | PairExportPage | FollowUpExportPage) -> Response:
    return Response(body.model_dump_json(), media_type="application/json")


@history.post("/imports/pairs", response_model=ImportResult, openapi_extra=_rows_of(PairRow))
async def import_pairs(body: ImportRequest, request: Request, principal: Admin) -> Response:
    """Pairs as they happened (admin only). Each row: ``row``, ``key`` and the fields of ``x-row-schema``
    (README, *Import*); a refused row is reported with its field and code, the valid ones are imported."""
    return _json(await imports.import_pairs(context(request), principal, body))


@history.post("/imports/follow-ups", response_model=ImportResult, openapi_extra=_rows_of(FollowUpRow))
async def import_follow_ups(body: ImportRequest, request: Request, principal: Admin) -> Response:
    """Follow-ups held with imported pairs (admin only); ``pair_key`` is the pair row's import key."""
    return _json(await imports.import_follow_ups(context(request), principal, body))


@history.get("/exports/pairs", response_model=PairExportPage)
async def export_pairs(request: Request, principal: Reader, cursor: PairCursor = None, limit: Limit = 500) -> Response:
    """The organisation's formed pairs in the import's row shape (viewers: without notes)."""
    return _json(await exports.export_pairs(context(request), principal, cursor=cursor, limit=limit))


@history.get("/exports/follow-ups", response_model=FollowUpExportPage)
async def export_follow_ups(
    request: Request, principal: Reader, cursor: FollowUpCursor = None, limit: Limit = 500
) -> Response:
    """The follow-ups held, in the import's row shape (viewers: without notes)."""
    return _json(await exports.export_follow_ups(context(request), principal, cursor=cursor, limit=limit))
