"""Activities, series and their occurrences."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from sprakvan_shared import http
from sprakvan_shared.http import Reader, Writer
from sprakvan_shared.text import Day

from ..adapters import repository as repo
from ..domain.model import InvalidInput
from ..domain.recurrence import LOCAL
from ..service_layer import activities
from .common import correlation_of, extend_series_if_due, instant, now_of, pool_of
from .schemas import (
    ActivityOut,
    ChangeFromIn,
    OccurrenceOut,
    OccurrencePatch,
    OneOffIn,
    SeriesIn,
)

router = APIRouter()


@router.post("/activities", status_code=status.HTTP_201_CREATED, response_model=ActivityOut, tags=["activities"])
async def schedule_one_off(body: OneOffIn, request: Request, principal: Writer) -> ActivityOut:
    """A one-off activity (a kickoff, a fair stand, a guided tour) with its single occurrence."""
    starts_at, ends_at = instant(body.starts_at, "starts_at"), instant(body.ends_at, "ends_at")
    async with pool_of(request).acquire() as conn:
        activity, occurrence = await activities.schedule_one_off(
            conn,
            principal.organisation_id,
            body.details(),
            starts_at,
            ends_at,
            now=now_of(request),
            correlation_id=correlation_of(request),
        )
    return ActivityOut.of(activity, None, [occurrence])


@router.post("/series", status_code=status.HTTP_201_CREATED, response_model=ActivityOut, tags=["activities"])
async def schedule_series(body: SeriesIn, request: Request, principal: Writer) -> ActivityOut:
    """A recurring activity: its occurrences are materialised for the horizon (half a year) at once."""
    async with pool_of(request).acquire() as conn:
        activity, created = await activities.schedule_series(
            conn,
            principal.organisation_id,
            body.details(),
            body.schedule.schedule(),
            now=now_of(request),
            horizon=request.app.state.settings.horizon,
            correlation_id=correlation_of(request),
        )
    return ActivityOut.of(activity, body.schedule.schedule(), created)


@router.post("/series/{activity_id}/change-from", response_model=ActivityOut, tags=["activities"])
async def change_series_from(
    activity_id: uuid.UUID, body: ChangeFromIn, request: Request, principal: Writer
) -> ActivityOut:
    """ "From now on": the series ends the day before ``from_day`` and a new series continues it; sign-ups
    move to the new occurrence of the same day. Returns the new series."""
    async with pool_of(request).acquire() as conn:
        successor, created = await activities.change_series_from(
            conn,
            principal.organisation_id,
            activity_id,
            body.from_day,
            body.details(),
            body.schedule.schedule(),
            now=now_of(request),
            horizon=request.app.state.settings.horizon,
            correlation_id=correlation_of(request),
        )
    return ActivityOut.of(successor, body.schedule.schedule(), created)


@router.get("/activities", response_model=list[ActivityOut], tags=["activities"])
async def list_activities(
    request: Request, principal: Reader, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[ActivityOut]:
    async with pool_of(request).acquire() as conn:
        found = await repo.list_activities(conn, principal.organisation_id, limit)
    return [ActivityOut.of(s.activity, s.schedule, []) for s in found]


@router.get("/activities/{activity_id}", response_model=ActivityOut, tags=["activities"])
async def get_activity(activity_id: uuid.UUID, request: Request, principal: Reader) -> ActivityOut:
    async with pool_of(request).acquire() as conn:
        stored = await repo.load_activity(conn, principal.organisation_id, activity_id)
        occurrences = await repo.occurrences_of(conn, principal.organisation_id, activity_id)
    return ActivityOut.of(stored.activity, stored.schedule, occurrences)


@router.post("/activities/{activity_id}/cancel", response_model=ActivityOut, tags=["activities"])
async def cancel_activity(activity_id: uuid.UUID, request: Request, principal: Writer) -> ActivityOut:
    async with pool_of(request).acquire() as conn:
        cancelled = await activities.cancel_activity(
            conn, principal.organisation_id, activity_id, now=now_of(request), correlation_id=correlation_of(request)
        )
    return ActivityOut.of(cancelled, None, [])


@router.get("/occurrences", response_model=list[OccurrenceOut], tags=["occurrences"])
async def list_occurrences(
    request: Request,
    principal: Reader,
    from_: Annotated[Day | None, Query(alias="from", description="First day, inclusive (default today).")] = None,
    to: Annotated[Day | None, Query(description="Last day, inclusive (default 4 weeks on).")] = None,
    district: Annotated[str | None, Query(max_length=40)] = None,
    venue_id: uuid.UUID | None = None,
    programme: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> list[OccurrenceOut]:
    first = from_ or now_of(request).astimezone(LOCAL).date()
    last = to or first + timedelta(days=27)
    if last < first:
        raise InvalidInput.one("to is before from", "query", "to")
    start = datetime.combine(first, time.min, LOCAL)
    end = datetime.combine(last + timedelta(days=1), time.min, LOCAL)
    await extend_series_if_due(request)
    async with pool_of(request).acquire() as conn:
        found = await repo.list_occurrences(
            conn,
            principal.organisation_id,
            start,
            end,
            district=district,
            venue_id=venue_id,
            programme=programme,
            limit=limit,
        )
    return [OccurrenceOut.of(o.occurrence, o) for o in found]


@router.get("/occurrences/{occurrence_id}", response_model=OccurrenceOut, tags=["occurrences"])
async def get_occurrence(occurrence_id: uuid.UUID, request: Request, principal: Reader) -> Response:
    """One occurrence; its ``ETag`` is the version a PATCH sends back as ``If-Match``."""
    async with pool_of(request).acquire() as conn:
        found = await repo.occurrence_with_seats(conn, principal.organisation_id, occurrence_id)
    return _occurrence_response(OccurrenceOut.of(found.occurrence, found))


def _occurrence_response(out: OccurrenceOut) -> Response:
    return Response(out.model_dump_json(), media_type="application/json", headers={"ETag": http.etag(out.version)})


@router.patch("/occurrences/{occurrence_id}", response_model=OccurrenceOut, tags=["occurrences"])
async def change_occurrence(
    occurrence_id: uuid.UUID, body: OccurrencePatch, request: Request, principal: Writer, if_match: http.IfMatch = None
) -> Response:
    """Move one occurrence (a holiday) without touching its series, give it another venue, or change its
    capacity (a larger one promotes the first in line at once; a smaller one demotes nobody). All of it or
    nothing: a refused part leaves the occurrence as it was; one ``activity.changed`` carries all of it.
    ``If-Match`` carries the version you read: someone's change in between is a 412, and nothing of this one
    is saved."""
    org, now, correlation = principal.organisation_id, now_of(request), correlation_of(request)
    expected = http.expected_version(if_match)
    if (body.starts_at is None) != (body.ends_at is None):
        raise InvalidInput.one("give both starts_at and ends_at to move", "body", "ends_at")
    times = None
    if body.starts_at is not None and body.ends_at is not None:
        times = instant(body.starts_at, "starts_at"), instant(body.ends_at, "ends_at")
    resize = body.capacity is not None or body.capacity_unlimited
    capacity = None if body.capacity_unlimited else body.capacity
    change = activities.OccurrenceChange(times, body.venue_id, resize, capacity)
    async with pool_of(request).acquire() as conn, conn.transaction():
        await activities.change_occurrence(
            conn, org, occurrence_id, change, expected=expected, now=now, correlation_id=correlation
        )
        found = await repo.occurrence_with_seats(conn, org, occurrence_id)
    return _occurrence_response(OccurrenceOut.of(found.occurrence, found))


@router.post("/occurrences/{occurrence_id}/cancel", response_model=OccurrenceOut, tags=["occurrences"])
async def cancel_occurrence(occurrence_id: uuid.UUID, request: Request, principal: Writer) -> OccurrenceOut:
    """Cancel one occurrence (the series goes on); its sign-ups are cancelled."""
    async with pool_of(request).acquire() as conn:
        cancelled = await activities.cancel_occurrence(
            conn, principal.organisation_id, occurrence_id, now=now_of(request), correlation_id=correlation_of(request)
        )
    return OccurrenceOut.of(cancelled)
