"""Attendance: check-ins, walk-in headcounts, campaign sign-ups."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request

from sprakvan_shared.http import Reader, Writer

from ..adapters import repository as repo
from ..domain.attendance import CampaignCount, Headcount
from ..service_layer import attendance
from .common import correlation_of, now_of, pool_of
from .schemas import (
    AttendanceOut,
    CampaignSignupsIn,
    CheckInIn,
    WalkInsIn,
    WalkInStepIn,
)

router = APIRouter(tags=["attendance"])


@router.put(
    "/occurrences/{occurrence_id}/check-ins/{participant_id}", response_model=AttendanceOut, tags=["attendance"]
)
async def check_in(
    occurrence_id: uuid.UUID, participant_id: uuid.UUID, body: CheckInIn, request: Request, principal: Writer
) -> AttendanceOut:
    async with pool_of(request).acquire() as conn:
        sheet = await attendance.check_in(
            conn,
            principal.organisation_id,
            occurrence_id,
            participant_id,
            body.outcome,
            now=now_of(request),
            correlation_id=correlation_of(request),
        )
    return AttendanceOut.of(sheet)


@router.put("/occurrences/{occurrence_id}/walk-ins", response_model=AttendanceOut, tags=["attendance"])
async def record_walk_ins(
    occurrence_id: uuid.UUID, body: WalkInsIn, request: Request, principal: Writer
) -> AttendanceOut:
    """People who came without signing up, counted by role and gender (no names). Replaces the table."""
    counts = [Headcount(c.role, c.gender, c.count) for c in body.counts]
    async with pool_of(request).acquire() as conn:
        sheet = await attendance.record_walk_ins(
            conn,
            principal.organisation_id,
            occurrence_id,
            counts,
            now=now_of(request),
            correlation_id=correlation_of(request),
        )
    return AttendanceOut.of(sheet)


@router.post("/occurrences/{occurrence_id}/walk-ins/step", response_model=AttendanceOut, tags=["attendance"])
async def step_walk_ins(
    occurrence_id: uuid.UUID, body: WalkInStepIn, request: Request, principal: Writer
) -> AttendanceOut:
    """One walk-in more or fewer of a role and gender, counted under the occurrence's lock: two phones at
    the same door pressing at once both count (``PUT .../walk-ins`` replaces the whole table instead)."""
    async with pool_of(request).acquire() as conn:
        sheet = await attendance.step_walk_ins(
            conn,
            principal.organisation_id,
            occurrence_id,
            body.role,
            body.gender,
            body.step,
            now=now_of(request),
            correlation_id=correlation_of(request),
        )
    return AttendanceOut.of(sheet)


@router.put("/occurrences/{occurrence_id}/campaign-signups", response_model=AttendanceOut, tags=["attendance"])
async def record_campaign_signups(
    occurrence_id: uuid.UUID, body: CampaignSignupsIn, request: Request, principal: Writer
) -> AttendanceOut:
    """How many people signed up at this fair or campaign stand, per campaign code."""
    counts = [CampaignCount(c.campaign, c.count) for c in body.counts]
    async with pool_of(request).acquire() as conn:
        vocabulary = await repo.load_vocabulary(conn, principal.organisation_id)
        known = vocabulary.campaigns if vocabulary is not None else None
        sheet = await attendance.record_campaign_signups(
            conn,
            principal.organisation_id,
            occurrence_id,
            counts,
            known,
            now=now_of(request),
            correlation_id=correlation_of(request),
        )
    return AttendanceOut.of(sheet)


@router.get("/occurrences/{occurrence_id}/attendance", response_model=AttendanceOut, tags=["attendance"])
async def get_attendance(occurrence_id: uuid.UUID, request: Request, principal: Reader) -> AttendanceOut:
    async with pool_of(request).acquire() as conn:
        return AttendanceOut.of(await repo.load_attendance(conn, principal.organisation_id, occurrence_id))
