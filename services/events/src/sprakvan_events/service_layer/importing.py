"""One history-import request of one kind: its rows checked and applied in one transaction, or, for a dry
run, checked the same way and rolled back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from sprakvan_shared.imports import ParsedRow, RowResult

from ..adapters import repository as repo
from . import history_schedule, history_sheets
from .history import Course, DryRun, Scope

Handler = Callable[[Course[Any], Sequence[ParsedRow[Any]]], Awaitable[None]]
HANDLERS: dict[str, Handler] = {
    "venues": history_schedule.import_venues,
    "activities": history_schedule.import_activities,
    "occurrences": history_schedule.import_occurrences,
    **history_sheets.HANDLERS,
}


async def import_rows(
    conn: asyncpg.Connection,
    organisation_id: str,
    kind: str,
    rows: Sequence[ParsedRow[Any]],
    *,
    dry_run: bool,
    now: datetime,
    correlation_id: str | None = None,
    planned: frozenset[str] = frozenset(),
) -> list[RowResult]:
    """``planned`` ("kind:key", a dry run's only): rows of earlier kinds the dry run would create."""
    course: Course[Any] | None = None
    try:
        async with conn.transaction():
            # One import of a kind at a time per organisation: two could both create the same new key.
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext('import:' || $1 || ':' || $2))", organisation_id, kind
            )
            vocabulary = await repo.load_vocabulary(conn, organisation_id)
            scope = Scope(conn, organisation_id, now, correlation_id, vocabulary, planned if dry_run else frozenset())
            course = Course(scope, kind)
            await HANDLERS[kind](course, rows)
            if dry_run:
                raise DryRun
    except DryRun:
        pass
    assert course is not None
    return course.results
