"""The events HTTP API: validate, call one handler, return. Every query is scoped to the bearer token's
organisation; another organisation's venue, activity, occurrence or sign-up is a 404. Calendar feeds
are the one exception to the bearer token: their URL carries a random token of its own."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, FastAPI, Query, Request, Response, status
from fastapi.responses import JSONResponse

from sprakvan_shared.http import Reader, Writer, unprocessable

from ..adapters import repository as repo
from ..domain.attendance import CampaignCount, Headcount
from ..domain.model import BUILT_IN_TYPES, ActivityType, Conflict, InvalidInput, Partner, Venue
from ..domain.recurrence import LOCAL, local_instant
from ..service_layer import activities, attendance, feeds, signups
from ..settings import EventsSettings
from .schemas import (
    ActivityOut,
    ActivityTypeIn,
    ActivityTypeOut,
    AttendanceOut,
    CampaignSignupsIn,
    ChangeFromIn,
    CheckInIn,
    FeedIn,
    FeedOut,
    GroupSignupIn,
    OccurrenceOut,
    OccurrencePatch,
    OneOffIn,
    PartnerIn,
    PartnerOut,
    SeriesIn,
    SignupCancelIn,
    SignupIn,
    SignupOut,
    VenueIn,
    VenueOut,
    WalkInsIn,
)

router = APIRouter()
feed_router = APIRouter(tags=["feeds"])


def _pool(request: Request) -> asyncpg.Pool:
    return request.app.state.runtime.pool


async def _extend_series_if_due(request: Request) -> None:
    """Series grow to the horizon as time passes: at most every ``extend_every_seconds`` per process,
    on a read that shows occurrences (the kit has no periodic task of its own yet)."""
    settings: EventsSettings = request.app.state.settings
    state = request.app.state
    now = _now(request)
    last: datetime | None = getattr(state, "series_extended_at", None)
    if last is not None and (now - last).total_seconds() < settings.extend_every_seconds:
        return
    state.series_extended_at = now
    await activities.extend_all(_pool(request), now=now, horizon=settings.horizon)


def _now(request: Request) -> datetime:
    clock: Callable[[], datetime] = getattr(request.app.state, "clock", lambda: datetime.now(UTC))
    return clock()


def _correlation(request: Request) -> str | None:
    return request.headers.get("X-Correlation-ID")


def _instant(value: datetime, *field_path: str) -> datetime:
    """A time from a request: with an offset as given, without one as Europe/Stockholm wall-clock time."""
    if value.tzinfo is None:
        return local_instant(value, "body", *field_path)
    return value.astimezone(UTC)


# -- venues, partners, activity types ------------------------------------------------------------------


@router.post("/venues", status_code=status.HTTP_201_CREATED, response_model=VenueOut, tags=["venues"])
async def create_venue(body: VenueIn, request: Request, principal: Writer) -> VenueOut:
    venue = Venue(uuid.uuid4(), principal.organisation_id, **body.model_dump())
    async with _pool(request).acquire() as conn:
        vocabulary = await repo.load_vocabulary(conn, principal.organisation_id)
        if vocabulary is not None and venue.district not in vocabulary.districts:
            raise InvalidInput.one(f"unknown district {venue.district!r}", "body", "district")
        await repo.insert_venue(conn, venue)
    return VenueOut.of(venue)


@router.get("/venues", response_model=list[VenueOut], tags=["venues"])
async def list_venues(request: Request, principal: Reader) -> list[VenueOut]:
    async with _pool(request).acquire() as conn:
        return [VenueOut.of(v) for v in await repo.list_venues(conn, principal.organisation_id)]


@router.post("/partners", status_code=status.HTTP_201_CREATED, response_model=PartnerOut, tags=["partners"])
async def create_partner(body: PartnerIn, request: Request, principal: Writer) -> PartnerOut:
    partner = Partner(uuid.uuid4(), principal.organisation_id, body.name, body.kind)
    async with _pool(request).acquire() as conn:
        await repo.insert_partner(conn, partner)
    return PartnerOut(id=partner.id, name=partner.name, kind=partner.kind)


@router.get("/partners", response_model=list[PartnerOut], tags=["partners"])
async def list_partners(request: Request, principal: Reader) -> list[PartnerOut]:
    async with _pool(request).acquire() as conn:
        found = await repo.list_partners(conn, principal.organisation_id)
    return [PartnerOut(id=p.id, name=p.name, kind=p.kind) for p in found]


@router.put("/activity-types/{code}", response_model=ActivityTypeOut, tags=["activities"])
async def define_type(code: str, body: ActivityTypeIn, request: Request, principal: Writer) -> Response:
    if code in BUILT_IN_TYPES:
        return JSONResponse({"detail": "a built-in type cannot be redefined"}, status.HTTP_409_CONFLICT)
    if not (1 <= len(code) <= 40 and code.replace("_", "").replace("-", "").isalnum() and code.islower()):
        return unprocessable([(("path", "code"), "a code is 1-40 lower-case letters, digits, _ or -")])
    async with _pool(request).acquire() as conn:
        vocabulary = await repo.load_vocabulary(conn, principal.organisation_id)
        if body.programme and vocabulary is not None and body.programme not in vocabulary.programmes:
            raise InvalidInput.one(f"unknown programme {body.programme!r}", "body", "programme")
        await repo.upsert_type(conn, principal.organisation_id, ActivityType(code, dict(body.labels), body.programme))
    return JSONResponse(
        ActivityTypeOut(code=code, labels=dict(body.labels), programme=body.programme, built_in=False).model_dump()
    )


@router.get("/activity-types", response_model=list[ActivityTypeOut], tags=["activities"])
async def list_types(request: Request, principal: Reader) -> list[ActivityTypeOut]:
    async with _pool(request).acquire() as conn:
        custom = await repo.custom_types(conn, principal.organisation_id)
    every = [(t, True) for t in BUILT_IN_TYPES.values()] + [(t, False) for t in custom.values()]
    return [ActivityTypeOut(code=t.code, labels=t.labels, programme=t.programme, built_in=b) for t, b in every]


# -- activities and series -----------------------------------------------------------------------------


async def _check_partners(conn: asyncpg.Connection, organisation_id: str, ids: tuple[uuid.UUID, ...]) -> None:
    if ids and await repo.known_partners(conn, organisation_id, ids) != set(ids):
        raise InvalidInput.one("unknown partner", "body", "partner_ids")


@router.post("/activities", status_code=status.HTTP_201_CREATED, response_model=ActivityOut, tags=["activities"])
async def schedule_one_off(body: OneOffIn, request: Request, principal: Writer) -> ActivityOut:
    """A one-off activity (a kickoff, a fair stand, a guided tour) with its single occurrence."""
    starts_at, ends_at = _instant(body.starts_at, "starts_at"), _instant(body.ends_at, "ends_at")
    async with _pool(request).acquire() as conn:
        await _check_partners(conn, principal.organisation_id, body.partner_ids)
        activity, occurrence = await activities.schedule_one_off(
            conn,
            principal.organisation_id,
            body.details(),
            starts_at,
            ends_at,
            now=_now(request),
            correlation_id=_correlation(request),
        )
    return ActivityOut.of(activity, None, [occurrence])


@router.post("/series", status_code=status.HTTP_201_CREATED, response_model=ActivityOut, tags=["activities"])
async def schedule_series(body: SeriesIn, request: Request, principal: Writer) -> ActivityOut:
    """A recurring activity: its occurrences are materialised for the horizon (half a year) at once."""
    async with _pool(request).acquire() as conn:
        await _check_partners(conn, principal.organisation_id, body.partner_ids)
        activity, created = await activities.schedule_series(
            conn,
            principal.organisation_id,
            body.details(),
            body.schedule.schedule(),
            now=_now(request),
            horizon=request.app.state.settings.horizon,
            correlation_id=_correlation(request),
        )
    return ActivityOut.of(activity, body.schedule.schedule(), created)


@router.post("/series/{activity_id}/change-from", response_model=ActivityOut, tags=["activities"])
async def change_series_from(
    activity_id: uuid.UUID, body: ChangeFromIn, request: Request, principal: Writer
) -> ActivityOut:
    """ "From now on": the series ends the day before ``from_day`` and a new series continues it; sign-ups
    move to the new occurrence of the same day. Returns the new series."""
    async with _pool(request).acquire() as conn:
        await _check_partners(conn, principal.organisation_id, body.partner_ids)
        successor, created = await activities.change_series_from(
            conn,
            principal.organisation_id,
            activity_id,
            body.from_day,
            body.details(),
            body.schedule.schedule(),
            now=_now(request),
            horizon=request.app.state.settings.horizon,
            correlation_id=_correlation(request),
        )
    return ActivityOut.of(successor, body.schedule.schedule(), created)


@router.get("/activities", response_model=list[ActivityOut], tags=["activities"])
async def list_activities(
    request: Request, principal: Reader, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[ActivityOut]:
    async with _pool(request).acquire() as conn:
        found = await repo.list_activities(conn, principal.organisation_id, limit)
    return [ActivityOut.of(s.activity, s.schedule, []) for s in found]


@router.get("/activities/{activity_id}", response_model=ActivityOut, tags=["activities"])
async def get_activity(activity_id: uuid.UUID, request: Request, principal: Reader) -> ActivityOut:
    async with _pool(request).acquire() as conn:
        stored = await repo.load_activity(conn, principal.organisation_id, activity_id)
        occurrences = await repo.occurrences_of(conn, principal.organisation_id, activity_id)
    return ActivityOut.of(stored.activity, stored.schedule, occurrences)


@router.post("/activities/{activity_id}/cancel", response_model=ActivityOut, tags=["activities"])
async def cancel_activity(activity_id: uuid.UUID, request: Request, principal: Writer) -> ActivityOut:
    async with _pool(request).acquire() as conn:
        cancelled = await activities.cancel_activity(
            conn, principal.organisation_id, activity_id, now=_now(request), correlation_id=_correlation(request)
        )
    return ActivityOut.of(cancelled, None, [])


# -- occurrences ---------------------------------------------------------------------------------------


@router.get("/occurrences", response_model=list[OccurrenceOut], tags=["occurrences"])
async def list_occurrences(
    request: Request,
    principal: Reader,
    from_: Annotated[date | None, Query(alias="from", description="First day, inclusive (default today).")] = None,
    to: Annotated[date | None, Query(description="Last day, inclusive (default 4 weeks on).")] = None,
    district: Annotated[str | None, Query(max_length=40)] = None,
    venue_id: uuid.UUID | None = None,
    programme: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> list[OccurrenceOut]:
    first = from_ or _now(request).astimezone(LOCAL).date()
    last = to or first + timedelta(days=27)
    if last < first:
        raise InvalidInput.one("to is before from", "query", "to")
    start = datetime.combine(first, time.min, LOCAL)
    end = datetime.combine(last + timedelta(days=1), time.min, LOCAL)
    await _extend_series_if_due(request)
    async with _pool(request).acquire() as conn:
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
async def get_occurrence(occurrence_id: uuid.UUID, request: Request, principal: Reader) -> OccurrenceOut:
    async with _pool(request).acquire() as conn:
        found = await repo.occurrence_with_seats(conn, principal.organisation_id, occurrence_id)
    return OccurrenceOut.of(found.occurrence, found)


@router.patch("/occurrences/{occurrence_id}", response_model=OccurrenceOut, tags=["occurrences"])
async def change_occurrence(
    occurrence_id: uuid.UUID, body: OccurrencePatch, request: Request, principal: Writer
) -> OccurrenceOut:
    """Move one occurrence (a holiday) without touching its series, give it another venue, or change its
    capacity (a larger one promotes the first in line at once; a smaller one demotes nobody)."""
    org, now, correlation = principal.organisation_id, _now(request), _correlation(request)
    if (body.starts_at is None) != (body.ends_at is None):
        raise InvalidInput.one("give both starts_at and ends_at to move", "body", "ends_at")
    async with _pool(request).acquire() as conn:
        if body.starts_at is not None and body.ends_at is not None:
            starts_at, ends_at = _instant(body.starts_at, "starts_at"), _instant(body.ends_at, "ends_at")
            await activities.move_occurrence(
                conn, org, occurrence_id, starts_at, ends_at, now=now, correlation_id=correlation
            )
        if body.venue_id is not None:
            await activities.relocate_occurrence(
                conn, org, occurrence_id, body.venue_id, now=now, correlation_id=correlation
            )
        if body.capacity is not None or body.capacity_unlimited:
            capacity = None if body.capacity_unlimited else body.capacity
            await activities.resize_occurrence(conn, org, occurrence_id, capacity, now=now, correlation_id=correlation)
        found = await repo.occurrence_with_seats(conn, org, occurrence_id)
    return OccurrenceOut.of(found.occurrence, found)


@router.post("/occurrences/{occurrence_id}/cancel", response_model=OccurrenceOut, tags=["occurrences"])
async def cancel_occurrence(occurrence_id: uuid.UUID, request: Request, principal: Writer) -> OccurrenceOut:
    """Cancel one occurrence (the series goes on); its sign-ups are cancelled."""
    async with _pool(request).acquire() as conn:
        cancelled = await activities.cancel_occurrence(
            conn, principal.organisation_id, occurrence_id, now=_now(request), correlation_id=_correlation(request)
        )
    return OccurrenceOut.of(cancelled)


# -- sign-ups ------------------------------------------------------------------------------------------


@router.post(
    "/occurrences/{occurrence_id}/signups",
    status_code=status.HTTP_201_CREATED,
    response_model=SignupOut,
    tags=["signups"],
)
async def sign_up(occurrence_id: uuid.UUID, body: SignupIn, request: Request, principal: Writer) -> SignupOut:
    """Confirmed while there are seats, waitlisted after; capacity 0 is closed. ``over_capacity`` is the
    only way past a full occurrence, and the sign-up records it."""
    async with _pool(request).acquire() as conn:
        signup = await signups.sign_up(
            conn,
            principal.organisation_id,
            occurrence_id,
            body.participant_id,
            now=_now(request),
            over_capacity=body.over_capacity,
            correlation_id=_correlation(request),
        )
    return SignupOut.of(signup)


@router.post(
    "/occurrences/{occurrence_id}/signups/group",
    status_code=status.HTTP_201_CREATED,
    response_model=list[SignupOut],
    tags=["signups"],
)
async def sign_up_group(
    occurrence_id: uuid.UUID, body: GroupSignupIn, request: Request, principal: Writer
) -> list[SignupOut]:
    """Several participants at once, in the order given, each through the capacity rule; all or nothing."""
    async with _pool(request).acquire() as conn:
        added = await signups.sign_up_group(
            conn,
            principal.organisation_id,
            occurrence_id,
            body.participant_ids,
            now=_now(request),
            over_capacity=body.over_capacity,
            correlation_id=_correlation(request),
        )
    return [SignupOut.of(s) for s in added]


@router.get("/occurrences/{occurrence_id}/signups", response_model=list[SignupOut], tags=["signups"])
async def list_signups(occurrence_id: uuid.UUID, request: Request, principal: Reader) -> list[SignupOut]:
    async with _pool(request).acquire() as conn:
        await repo.load_occurrence(conn, principal.organisation_id, occurrence_id)
        found = await repo.signups_of(conn, principal.organisation_id, occurrence_id)
    return [SignupOut.of(s) for s in found]


@router.post("/signups/{signup_id}/cancel", response_model=SignupOut, tags=["signups"])
async def cancel_signup(signup_id: uuid.UUID, body: SignupCancelIn, request: Request, principal: Writer) -> SignupOut:
    """Cancel; the first on the waiting list takes the seat in the same transaction."""
    async with _pool(request).acquire() as conn:
        cancelled = await signups.cancel_signup(
            conn,
            principal.organisation_id,
            signup_id,
            body.reason,
            now=_now(request),
            correlation_id=_correlation(request),
        )
    return SignupOut.of(cancelled)


# -- attendance ----------------------------------------------------------------------------------------


@router.put(
    "/occurrences/{occurrence_id}/check-ins/{participant_id}", response_model=AttendanceOut, tags=["attendance"]
)
async def check_in(
    occurrence_id: uuid.UUID, participant_id: uuid.UUID, body: CheckInIn, request: Request, principal: Writer
) -> AttendanceOut:
    async with _pool(request).acquire() as conn:
        sheet = await attendance.check_in(
            conn,
            principal.organisation_id,
            occurrence_id,
            participant_id,
            body.outcome,
            now=_now(request),
            correlation_id=_correlation(request),
        )
    return AttendanceOut.of(sheet)


@router.put("/occurrences/{occurrence_id}/walk-ins", response_model=AttendanceOut, tags=["attendance"])
async def record_walk_ins(
    occurrence_id: uuid.UUID, body: WalkInsIn, request: Request, principal: Writer
) -> AttendanceOut:
    """People who came without signing up, counted by role and gender (no names). Replaces the table."""
    counts = [Headcount(c.role, c.gender, c.count) for c in body.counts]
    async with _pool(request).acquire() as conn:
        sheet = await attendance.record_walk_ins(
            conn,
            principal.organisation_id,
            occurrence_id,
            counts,
            now=_now(request),
            correlation_id=_correlation(request),
        )
    return AttendanceOut.of(sheet)


@router.put("/occurrences/{occurrence_id}/campaign-signups", response_model=AttendanceOut, tags=["attendance"])
async def record_campaign_signups(
    occurrence_id: uuid.UUID, body: CampaignSignupsIn, request: Request, principal: Writer
) -> AttendanceOut:
    """How many people signed up at this fair or campaign stand, per campaign code."""
    counts = [CampaignCount(c.campaign, c.count) for c in body.counts]
    async with _pool(request).acquire() as conn:
        vocabulary = await repo.load_vocabulary(conn, principal.organisation_id)
        known = vocabulary.campaigns if vocabulary is not None else None
        sheet = await attendance.record_campaign_signups(
            conn,
            principal.organisation_id,
            occurrence_id,
            counts,
            known,
            now=_now(request),
            correlation_id=_correlation(request),
        )
    return AttendanceOut.of(sheet)


@router.get("/occurrences/{occurrence_id}/attendance", response_model=AttendanceOut, tags=["attendance"])
async def get_attendance(occurrence_id: uuid.UUID, request: Request, principal: Reader) -> AttendanceOut:
    async with _pool(request).acquire() as conn:
        return AttendanceOut.of(await repo.load_attendance(conn, principal.organisation_id, occurrence_id))


# -- calendar feeds ------------------------------------------------------------------------------------


@feed_router.post("/feeds", status_code=status.HTTP_201_CREATED, response_model=FeedOut)
async def create_feed(body: FeedIn, request: Request, principal: Writer) -> FeedOut:
    """A calendar feed URL for an organisation, programme, district or venue. The URL is shown once."""
    async with _pool(request).acquire() as conn:
        feed, token = await feeds.create_feed(
            conn, principal.organisation_id, body.scope, body.value, body.name, now=_now(request)
        )
    return FeedOut(id=feed.id, scope=feed.scope, value=feed.scope_value, name=feed.name, url=f"/feeds/{token}.ics")


@feed_router.delete("/feeds/{feed_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_feed(feed_id: uuid.UUID, request: Request, principal: Writer) -> Response:
    async with _pool(request).acquire() as conn:
        if not await repo.revoke_feed(conn, principal.organisation_id, feed_id, _now(request)):
            raise repo.NotFound("feed")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@feed_router.get("/feeds/{token}.ics", response_class=Response, responses={200: {"content": {"text/calendar": {}}}})
async def read_feed(token: str, request: Request) -> Response:
    """The iCalendar feed; no bearer token (phone calendars cannot send one): the URL's token is the key."""
    await _extend_series_if_due(request)
    async with _pool(request).acquire() as conn:
        body = await feeds.render(conn, token, now=_now(request))
    if body is None:
        return JSONResponse({"detail": "no such feed"}, status.HTTP_404_NOT_FOUND)
    return Response(body, media_type="text/calendar; charset=utf-8", headers={"Cache-Control": "private, max-age=300"})


# -- errors --------------------------------------------------------------------------------------------


def install_error_handlers(app: FastAPI) -> None:
    """Domain refusals as 4xx: a rule broken by the input 422 (naming the field), a state that refuses it
    409, anything of another organisation (or nothing at all) 404."""

    async def invalid(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, InvalidInput)
        return unprocessable((_located(e.field), e.message) for e in exc.errors)

    async def conflict(_: Request, exc: Exception) -> Response:
        return JSONResponse({"detail": str(exc)}, status.HTTP_409_CONFLICT)

    async def not_found(_: Request, exc: Exception) -> Response:
        return JSONResponse({"detail": f"no such {exc}"}, status.HTTP_404_NOT_FOUND)

    async def contended(_: Request, exc: Exception) -> Response:
        # A rare lock cycle (a split carrying a person who withdraws at that moment): nothing was saved.
        return JSONResponse({"detail": "busy, try again"}, status.HTTP_503_SERVICE_UNAVAILABLE, {"Retry-After": "1"})

    app.add_exception_handler(asyncpg.DeadlockDetectedError, contended)
    app.add_exception_handler(InvalidInput, invalid)
    app.add_exception_handler(Conflict, conflict)
    app.add_exception_handler(repo.NotFound, not_found)


def _located(field: tuple[Any, ...]) -> tuple[Any, ...]:
    return field if field and field[0] in ("body", "query", "path") else ("body", *field)
