"""Attendance: check-ins, walk-in headcounts, campaign sign-ups."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from sprakvan_shared import http
from sprakvan_shared.http import Reader, Writer

from ..adapters import repository as repo
from ..domain.attendance import AttendanceSheet, CampaignCount, Headcount
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
    occurrence_id: uuid.UUID, body: WalkInsIn, request: Request, principal: Writer, if_match: http.IfMatch = None
) -> Response:
    """People who came without signing up, counted by role and gender (no names). Replaces the table, so it
    takes the counts' version you read (``If-Match``, the sheet's ``ETag``): a step or another phone's table
    in between is a 412 and nothing is saved. At the door, count with ``POST .../walk-ins/step``."""
    expected = http.expected_version(if_match)
    counts = [Headcount(c.role, c.gender, c.count) for c in body.counts]
    async with pool_of(request).acquire() as conn:
        sheet = await attendance.record_walk_ins(
            conn,
            principal.organisation_id,
            occurrence_id,
            counts,
            expected_counts=expected,
            now=now_of(request),
            correlation_id=correlation_of(request),
        )
    return _sheet_response(sheet)


@router.post("/occurrences/{occurrence_id}/walk-ins/step", response_model=AttendanceOut, tags=["attendance"])
async def step_walk_ins(occurrence_id: uuid.UUID, body: WalkInStepIn, request: Request, principal: Writer) -> Response:
    """One walk-in more or fewer of a role and gender, counted under the occurrence's lock: two phones at
    the same door pressing at once both count, so no ``If-Match`` (``PUT .../walk-ins`` replaces the whole
    table instead). A step moves the counts' version: a table read before it is stale."""
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
    return _sheet_response(sheet)


@router.put("/occurrences/{occurrence_id}/campaign-signups", response_model=AttendanceOut, tags=["attendance"])
async def record_campaign_signups(
    occurrence_id: uuid.UUID,
    body: CampaignSignupsIn,
    request: Request,
    principal: Writer,
    if_match: http.IfMatch = None,
) -> Response:
    """How many people signed up at this fair or campaign stand, per campaign code. Replaces the table at
    the counts' version you read (``If-Match``, the sheet's ``ETag``): a change in between is a 412."""
    expected = http.expected_version(if_match)
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
            expected_counts=expected,
            now=now_of(request),
            correlation_id=correlation_of(request),
        )
    return _sheet_response(sheet)


@router.get("/occurrences/{occurrence_id}/attendance", response_model=AttendanceOut, tags=["attendance"])
async def get_attendance(occurrence_id: uuid.UUID, request: Request, principal: Reader) -> Response:
    """The sheet; its ``ETag`` is the counts' version (``counts_version``) a whole-table PUT sends back."""
    async with pool_of(request).acquire() as conn:
        return _sheet_response(await repo.load_attendance(conn, principal.organisation_id, occurrence_id))


def _sheet_response(sheet: AttendanceSheet) -> Response:
    return Response(
        AttendanceOut.of(sheet).model_dump_json(),
        media_type="application/json",
        headers={"ETag": http.etag(sheet.counts_version)},
    )
