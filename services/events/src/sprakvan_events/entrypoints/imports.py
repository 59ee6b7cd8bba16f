"""The history import (``POST /imports/{kind}``, admins only) and export (``GET /exports/{kind}``), as the
import contract of issue 13 says. Kinds, in the order an importer sends them: venues, activities,
occurrences, then signups, attendance, walk_ins, campaign_signups."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from sprakvan_shared.auth import Principal, Role
from sprakvan_shared.http import Reader, require_role
from sprakvan_shared.imports import ImportKey, ImportRequest, ImportResult, hold_back, parse_rows

from ..adapters import exports
from ..service_layer.importing import import_rows
from .common import correlation_of, now_of, pool_of
from .import_rows import ROW_MODELS

router = APIRouter(tags=["import"])
Admin = Annotated[Principal, Depends(require_role([Role.ADMIN]))]

ImportKind = StrEnum("ImportKind", {k: k for k in ROW_MODELS})  # type: ignore[misc]

# Which fields of a kind's rows name a row of which earlier kind.
REFERENCES: dict[str, tuple[tuple[str, str], ...]] = {
    "activities": (("venue_key", "venues"),),
    "occurrences": (("activity_key", "activities"), ("venue_key", "venues")),
    **{
        kind: (("occurrence_key", "occurrences"),) for kind in ("signups", "attendance", "walk_ins", "campaign_signups")
    },
}


class EventsImportRequest(ImportRequest):
    refused_keys: dict[ImportKind, list[ImportKey]] = Field(  # type: ignore[valid-type]
        default_factory=dict,
        description="Keys of earlier kinds that were refused or held back (the importer's chunks before this "
        "one): rows naming one are held back with depends_on_refused.",
    )
    planned_keys: dict[ImportKind, list[ImportKey]] = Field(  # type: ignore[valid-type]
        default_factory=dict,
        description="With dry_run only: keys of earlier kinds that their dry run reported created. Rows naming "
        "one are checked as far as they can be without it and reported created (id null).",
    )


@router.post("/imports/{kind}", response_model=ImportResult, summary="Import rows of a programme's history")
async def import_history(
    kind: ImportKind, body: EventsImportRequest, request: Request, principal: Admin
) -> ImportResult:  # type: ignore[valid-type]
    """Rows of one kind, each checked alone and with what it refers to; the valid ones applied in one
    transaction with their events (see the service's README, "Import")."""
    name = str(kind.value)
    parsed, failed = parse_rows(ROW_MODELS[name], body.rows)
    depends_on = {
        p.key: [
            (field, f"{target}:{getattr(p.value, field)}")
            for field, target in REFERENCES.get(name, ())
            if getattr(p.value, field) is not None
        ]
        for p in parsed
    }
    gone = [f"{k.value}:{key}" for k, keys in body.refused_keys.items() for key in keys]
    kept, held = hold_back(parsed, depends_on, gone)
    async with pool_of(request).acquire() as conn:
        results = await import_rows(
            conn,
            principal.organisation_id,
            name,
            kept,
            dry_run=body.dry_run,
            now=now_of(request),
            correlation_id=correlation_of(request),
            planned=frozenset(f"{k.value}:{key}" for k, keys in body.planned_keys.items() for key in keys),
        )
    return ImportResult.of(name, body.dry_run, [*failed, *held, *results])


class ExportPage(BaseModel):
    kind: str
    rows: list[dict[str, Any]] = Field(description="Rows in the import's shape, with their key.")
    next_cursor: str | None = Field(None, description="The next page's cursor; None: this is the last page.")


@router.get("/exports/{kind}", response_model=ExportPage, summary="Export rows of one kind, a page at a time")
async def export_history(
    kind: ImportKind,  # type: ignore[valid-type]
    request: Request,
    principal: Reader,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> ExportPage:
    """The organisation's rows of this kind as the import takes them; viewers get no participant ids."""
    async with pool_of(request).acquire() as conn:
        rows, next_cursor = await exports.export_page(conn, principal.organisation_id, kind.value, cursor, limit)
    if principal.role is Role.VIEWER:
        for row in rows:
            if "participant_id" in row:
                row["participant_id"] = None
    return ExportPage(kind=kind.value, rows=rows, next_cursor=next_cursor)
