"""Attendance sheets: check-ins in their table, headcounts and anonymous counts on the occurrence row."""

from __future__ import annotations

import uuid

import asyncpg

from ..domain.attendance import AnonymousCount, AttendanceSheet, CampaignCount, CheckIn, Headcount, Outcome
from .rows import (
    NotFound,
    from_json,
)


async def load_attendance(conn: asyncpg.Connection, organisation_id: str, occurrence_id: uuid.UUID) -> AttendanceSheet:
    """The sheet lives in two tables: read both from one snapshot, or an erasure committing between the two
    reads would show its check-ins gone and its anonymous counts not yet there."""
    if conn.is_in_transaction():
        return await _load_attendance(conn, organisation_id, occurrence_id)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        return await _load_attendance(conn, organisation_id, occurrence_id)


async def _load_attendance(conn: asyncpg.Connection, organisation_id: str, occurrence_id: uuid.UUID) -> AttendanceSheet:
    counts = await conn.fetchrow(
        """SELECT walk_ins, campaign_signups, anonymous, counts_version FROM occurrences
           WHERE id = $1 AND organisation_id = $2""",
        occurrence_id,
        organisation_id,
    )
    if counts is None:
        raise NotFound("occurrence")
    rows = await conn.fetch(
        """SELECT participant_id, outcome, role, gender, recorded_at FROM check_ins
           WHERE occurrence_id = $1 AND organisation_id = $2 ORDER BY participant_id""",
        occurrence_id,
        organisation_id,
    )
    walk_ins, campaigns, anonymous = (from_json(counts[k]) for k in ("walk_ins", "campaign_signups", "anonymous"))
    return AttendanceSheet(
        occurrence_id,
        check_ins=tuple(
            CheckIn(r["participant_id"], Outcome(r["outcome"]), r["role"], r["gender"], r["recorded_at"]) for r in rows
        ),
        walk_ins=tuple(Headcount(**c) for c in walk_ins),
        campaign_signups=tuple(CampaignCount(**c) for c in campaigns),
        anonymous=tuple(AnonymousCount(Outcome(c["outcome"]), c["role"], c["gender"], c["count"]) for c in anonymous),
        counts_version=counts["counts_version"],
    )


async def save_attendance(conn: asyncpg.Connection, organisation_id: str, sheet: AttendanceSheet) -> None:
    """Store the whole sheet (check-ins replaced, counts rewritten): idempotent by state."""
    await conn.execute(
        """UPDATE occurrences SET walk_ins = $3::jsonb, campaign_signups = $4::jsonb, anonymous = $5::jsonb,
                  counts_version = $6
           WHERE id = $1 AND organisation_id = $2""",
        sheet.occurrence_id,
        organisation_id,
        # The pool's jsonb codec encodes these (sprakvan_shared.db).
        [{"role": c.role, "gender": c.gender, "count": c.count} for c in sheet.walk_ins],
        [{"campaign": c.campaign, "count": c.count} for c in sheet.campaign_signups],
        [{"outcome": a.outcome.value, "role": a.role, "gender": a.gender, "count": a.count} for a in sheet.anonymous],
        sheet.counts_version,
    )
    await conn.execute(
        "DELETE FROM check_ins WHERE occurrence_id = $1 AND organisation_id = $2", sheet.occurrence_id, organisation_id
    )
    await conn.executemany(
        """INSERT INTO check_ins (occurrence_id, participant_id, organisation_id, outcome, role, gender, recorded_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        [
            (sheet.occurrence_id, c.participant_id, organisation_id, c.outcome.value, c.role, c.gender, c.recorded_at)
            for c in sheet.check_ins
        ],
    )
