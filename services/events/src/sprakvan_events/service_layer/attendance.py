"""Attendance: check-ins, walk-in headcounts and campaign sign-ups, each one transaction under the
occurrence lock, announced with the whole sheet (``attendance.recorded``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import datetime

import asyncpg

from sprakvan_shared import outbox
from sprakvan_shared.http import PreconditionFailed

from ..adapters import repository as repo
from ..domain.attendance import AttendanceSheet, CampaignCount, CheckIn, Headcount, Outcome
from ..domain.model import Conflict, Occurrence
from .events import attendance_event


async def _record(
    conn: asyncpg.Connection,
    organisation_id: str,
    occurrence_id: uuid.UUID,
    change: Callable[[Occurrence, AttendanceSheet], AttendanceSheet],
    now: datetime,
    correlation_id: str | None,
    expected_counts: int | None = None,
) -> AttendanceSheet:
    """Under the occurrence's lock; ``expected_counts`` (a whole-table PUT's If-Match; None: any) must be the
    counts' version, or nothing changes (``PreconditionFailed``)."""
    locked = await repo.lock_occurrence(conn, organisation_id, occurrence_id)
    before = await repo.load_attendance(conn, organisation_id, occurrence_id)
    if expected_counts is not None and before.counts_version != expected_counts:
        raise PreconditionFailed(before.counts_version)
    sheet = change(locked.occurrence, before)
    occurrence = locked.occurrence.touched(now)
    await repo.save_occurrence(conn, occurrence)
    await repo.save_attendance(conn, organisation_id, sheet)
    activity = (await repo.load_activity(conn, organisation_id, occurrence.activity_id)).activity
    await outbox.enqueue(conn, attendance_event(sheet, occurrence, activity, correlation_id))
    return sheet


async def check_in(
    conn: asyncpg.Connection,
    organisation_id: str,
    occurrence_id: uuid.UUID,
    participant_id: uuid.UUID,
    outcome: Outcome,
    *,
    now: datetime,
    correlation_id: str | None = None,
) -> AttendanceSheet:
    """Record a registered participant's outcome (came, no-show, cancelled late); a retry changes nothing."""
    async with conn.transaction():
        await repo.load_occurrence(conn, organisation_id, occurrence_id)  # another organisation's: 404 first
        # A share lock, as a sign-up takes: an erasure waits for this check-in and then anonymises it (or
        # went first, and the person is unknown). Participant before occurrence, the usual lock order.
        participant = await repo.load_participant(conn, organisation_id, participant_id, share_lock=True)
        if participant is None:
            raise Conflict("unknown participant")
        entry = CheckIn(participant_id, outcome, participant.role, participant.gender, now)
        return await _record(
            conn, organisation_id, occurrence_id, lambda o, s: s.check_in(o, entry), now, correlation_id
        )


async def record_walk_ins(
    conn: asyncpg.Connection,
    organisation_id: str,
    occurrence_id: uuid.UUID,
    counts: Iterable[Headcount],
    *,
    expected_counts: int | None,
    now: datetime,
    correlation_id: str | None = None,
) -> AttendanceSheet:
    counts = tuple(counts)
    async with conn.transaction():
        return await _record(
            conn,
            organisation_id,
            occurrence_id,
            lambda o, s: s.with_walk_ins(o, counts),
            now,
            correlation_id,
            expected_counts,
        )


async def step_walk_ins(
    conn: asyncpg.Connection,
    organisation_id: str,
    occurrence_id: uuid.UUID,
    role: str,
    gender: str,
    step: int,
    *,
    now: datetime,
    correlation_id: str | None = None,
) -> AttendanceSheet:
    async with conn.transaction():
        return await _record(
            conn,
            organisation_id,
            occurrence_id,
            lambda o, s: s.with_walk_in_step(o, role, gender, step),
            now,
            correlation_id,
        )


async def record_campaign_signups(
    conn: asyncpg.Connection,
    organisation_id: str,
    occurrence_id: uuid.UUID,
    counts: Iterable[CampaignCount],
    known_campaigns: frozenset[str] | None,
    *,
    expected_counts: int | None,
    now: datetime,
    correlation_id: str | None = None,
) -> AttendanceSheet:
    """How many signed up at a fair or campaign stand, per campaign code (None: codes not checked)."""
    counts = tuple(counts)
    async with conn.transaction():
        return await _record(
            conn,
            organisation_id,
            occurrence_id,
            lambda o, s: s.with_campaign_signups(o, counts, known_campaigns),
            now,
            correlation_id,
            expected_counts,
        )


async def erase_check_ins(
    conn: asyncpg.Connection, organisation_id: str, participant_id: uuid.UUID, *, now: datetime
) -> int:
    """Inside a transaction: turn the participant's check-ins into anonymous counts. Returns how many."""
    occurrences = await conn.fetch(
        "SELECT occurrence_id FROM check_ins WHERE organisation_id = $1 AND participant_id = $2 ORDER BY 1",
        organisation_id,
        participant_id,
    )
    for row in occurrences:
        locked = await repo.lock_occurrence(conn, organisation_id, row["occurrence_id"])
        sheet = (await repo.load_attendance(conn, organisation_id, row["occurrence_id"])).erase(participant_id)
        occurrence = locked.occurrence.touched(now)
        await repo.save_occurrence(conn, occurrence)
        await repo.save_attendance(conn, organisation_id, sheet)
        activity = (await repo.load_activity(conn, organisation_id, occurrence.activity_id)).activity
        await outbox.enqueue(conn, attendance_event(sheet, occurrence, activity, None))
    if occurrences:
        # Earlier sheets of these occurrences named the person. The stream keeps only the newest sheet of
        # each; the published copies kept in the outbox for a few days go now.
        await conn.execute(
            """DELETE FROM outbox WHERE event_type = 'attendance.recorded' AND published_at IS NOT NULL
               AND aggregate_id = ANY($1::text[])""",
            [str(r["occurrence_id"]) for r in occurrences],
        )
    return len(occurrences)
