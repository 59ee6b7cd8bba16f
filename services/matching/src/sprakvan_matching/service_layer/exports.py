"""Matching's history out again (issue 13), in the import's row shape, so that an export imported into an
empty organisation gives the same report. Notes are personal data: viewers get the rows without them."""

from __future__ import annotations

import uuid
from datetime import date

from sprakvan_shared.auth import Principal, Role
from sprakvan_shared.imports import keys_of_aggregates

from ..adapters import history_store
from .import_rows import (
    FOLLOW_UPS,
    PAIRS,
    FollowUpExportPage,
    FollowUpExportRow,
    PairExportPage,
    PairExportRow,
)
from .unit_of_work import Context

CURSOR_SEPARATOR = "~"


async def export_pairs(ctx: Context, principal: Principal, *, cursor: str | None, limit: int) -> PairExportPage:
    org = principal.organisation_id
    async with ctx.pool.acquire() as conn:
        found = await history_store.formed_pairs_page(
            conn, org, after=uuid.UUID(cursor) if cursor else None, limit=limit
        )
        keys = await keys_of_aggregates(conn, org, PAIRS, [str(p.pair_id) for p in found])
    with_notes = principal.role is not Role.VIEWER
    rows = [
        PairExportRow(
            key=keys.get(str(p.pair_id), str(p.pair_id)),
            programme=p.programme,
            newcomer_id=p.newcomer_id,
            established_id=p.established_id,
            origin=p.origin.value,
            proposed_on=p.proposed_at.astimezone(ctx.zone).date() if p.proposed_at else None,
            formed_on=p.formed_at.astimezone(ctx.zone).date() if p.formed_at else None,
            matched_on=p.activated_on,
            attended=p.conversation.attended if p.conversation else None,
            ended_on=p.ended_on,
            end_reason=p.end_reason.value if p.end_reason else None,
            notes=p.notes if with_notes else None,
        )
        for p in found
    ]
    next_cursor = str(found[-1].pair_id) if len(found) == limit else None
    return PairExportPage(rows=rows, next_cursor=next_cursor)


async def export_follow_ups(
    ctx: Context, principal: Principal, *, cursor: str | None, limit: int
) -> FollowUpExportPage:
    org = principal.organisation_id
    after = None
    if cursor:
        pair_id, position = cursor.split(CURSOR_SEPARATOR)
        after = (uuid.UUID(pair_id), int(position))
    async with ctx.pool.acquire() as conn:
        found = await history_store.held_follow_ups_page(conn, org, after=after, limit=limit)
        pair_keys = await keys_of_aggregates(conn, org, PAIRS, sorted({str(r["pair_id"]) for r in found}))
    with_notes = principal.role is not Role.VIEWER
    rows = []
    for record in found:
        pair_id, item = str(record["pair_id"]), record["item"]
        rows.append(
            FollowUpExportRow(
                key=item.get("import_key") or f"{pair_id}{CURSOR_SEPARATOR}{item['due_on']}",
                pair_key=pair_keys.get(pair_id, pair_id),
                done_on=date.fromisoformat(item["done_on"]),
                outcome=item["outcome"],
                due_on=date.fromisoformat(item["due_on"]),
                notes=item.get("notes", "") if with_notes else None,
            )
        )
    last = found[-1] if len(found) == limit else None
    next_cursor = f"{last['pair_id']}{CURSOR_SEPARATOR}{last['position']}" if last else None
    return FollowUpExportPage(kind=FOLLOW_UPS, rows=rows, next_cursor=next_cursor)
