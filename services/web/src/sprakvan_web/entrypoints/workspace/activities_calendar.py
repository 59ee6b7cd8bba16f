"""The calendar (a week or a month of occurrences, listed by day) and one occurrence's page: move or
cancel it alone, its sign-ups and waiting list (the events service decides who moves up)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from . import ServiceRefused, ServiceUnavailable, WorkspaceRequest, workspace_request
from .activities_common import (
    BASE,
    LOCAL,
    OCCURRENCE_STATUSES,
    SECTION,
    SIGNUP_STATUSES,
    STYLES,
    back,
    day_text,
    field,
    local,
    names_of,
    not_found,
    parse_day,
    posted,
    time_text,
    uuid_or_none,
    vocabulary,
    when_text,
)
from .activities_forms import MoveForm

router = APIRouter(include_in_schema=False)


def _period(view: str, day: date) -> tuple[date, date, date, date]:
    """(first, last, previous period's day, next period's day) of the week (Monday first) or month."""
    if view == "month":
        first = day.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return first, following - timedelta(days=1), (first - timedelta(days=1)).replace(day=1), following
    first = day - timedelta(days=day.weekday())
    return first, first + timedelta(days=6), first - timedelta(days=7), first + timedelta(days=7)


@router.get(f"{BASE}/calendar")
async def calendar(request: Request) -> Response:
    ws = await workspace_request(request)
    if isinstance(ws, Response):
        return ws
    view = "month" if request.query_params.get("view") == "month" else "week"
    today = datetime.now(LOCAL).date()
    asked = parse_day(request.query_params.get("day", "")[:10]) or today
    if not 2000 <= asked.year <= 2200:  # the edges of the calendar are no one's week (and year 1 has none before)
        asked = today
    first, last, previous, following = _period(view, asked)
    try:
        words = await vocabulary(ws)
        found = await ws.web.events.get(
            "/occurrences", ws.caller, **{"from": first.isoformat(), "to": last.isoformat(), "limit": 1000}
        )
        titles = {a["id"]: a["title"] for a in await ws.web.events.get("/activities", ws.caller, limit=500)}
        venues = {v["id"]: v["name"] for v in await ws.web.events.get("/venues", ws.caller)}
    except ServiceRefused as exc:
        return ws.message(ws.t.text("The calendar"), ws.refused_message(exc), status_code=422, section=SECTION)
    except ServiceUnavailable:
        return ws.unavailable(SECTION)
    by_day: dict[date, list[dict[str, Any]]] = {}
    for o in found:
        starts = local(o["starts_at"])
        by_day.setdefault(starts.date(), []).append(
            {
                "id": o["id"],
                "time": f"{time_text(ws, starts)}–{time_text(ws, local(o['ends_at']))}",
                "title": titles.get(o["activity_id"], ""),
                "place": venues.get(o["venue_id"] or "") or words.district(o["district"]),
                "cancelled": o["status"] == "cancelled",
                "moved": o["original_start"] is not None,
                "confirmed": o["confirmed"],
                "waitlisted": o["waitlisted"],
                "capacity": o["capacity"],
            }
        )
    span = (last - first).days + 1
    days = [first + timedelta(days=i) for i in range(span)]
    if view == "month":  # a month lists the days that have something
        days = [d for d in days if d in by_day]
    heading = (
        ws.t.text("Week of %(day)s") % {"day": day_text(ws, first, "long")}
        if view == "week"
        else day_text(ws, first, "LLLL y")
    )
    return ws.page(
        "workspace/activities/calendar.html",
        title=heading,
        section=SECTION,
        view=view,
        days=[(d, day_text(ws, d), by_day.get(d, [])) for d in days],
        today=today,
        links={
            "previous": ws.url(f"{BASE}/calendar", view=view, day=previous.isoformat()),
            "next": ws.url(f"{BASE}/calendar", view=view, day=following.isoformat()),
            "today": ws.url(f"{BASE}/calendar", view=view),
            "week": ws.url(f"{BASE}/calendar", view="week", day=first.isoformat()),
            "month": ws.url(f"{BASE}/calendar", view="month", day=first.isoformat()),
        },
        styles=STYLES,
    )


# -- one occurrence -----------------------------------------------------------------------------------
async def occurrence_context(ws: WorkspaceRequest, occurrence_id: str) -> dict[str, Any] | None:
    """The occurrence, its activity and venue, in words; None when the organisation has no such one."""
    if uuid_or_none(occurrence_id) is None:
        return None
    try:
        occurrence = await ws.web.events.get(f"/occurrences/{occurrence_id}", ws.caller)
    except ServiceRefused as exc:
        if exc.status_code in (404, 422):
            return None
        raise
    activity = await ws.web.events.get(f"/activities/{occurrence['activity_id']}", ws.caller)
    venues = {v["id"]: v for v in await ws.web.events.get("/venues", ws.caller)}
    words = await vocabulary(ws)
    venue = venues.get(occurrence["venue_id"] or "")
    return {
        "occurrence": occurrence,
        "activity": activity,
        "venue": venue,
        "words": words,
        "when": when_text(ws, occurrence),
        "place": venue["name"] if venue else words.district(occurrence["district"]),
        "status": ws.t.text(OCCURRENCE_STATUSES.get(occurrence["status"], occurrence["status"])),
        "cancelled": occurrence["status"] == "cancelled",
    }


async def _occurrence_page(
    ws: WorkspaceRequest,
    occurrence_id: str,
    *,
    values: dict[str, str] | None = None,
    problems: dict[str, str] | None = None,
) -> Response:
    found = await occurrence_context(ws, occurrence_id)
    if found is None:
        return not_found(ws)
    signups = await ws.web.events.get(f"/occurrences/{occurrence_id}/signups", ws.caller)
    held = [s for s in signups if s["status"] != "cancelled"]
    candidates: list[tuple[str, str]] = []
    if ws.can_write and not found["cancelled"]:
        page = await ws.web.intake.get("/participants", ws.caller, limit=200)
        taken = {s["participant_id"] for s in held}
        candidates = sorted(
            ((p["id"], f"{p['first_name']} {p['last_name']}") for p in page["items"] if p["status"] != "withdrawn"),
            key=lambda kv: kv[1].casefold(),
        )
        candidates = [c for c in candidates if c[0] not in taken]
    names = await names_of(ws, [s["participant_id"] for s in signups])
    unnamed = ws.t.text("Erased or unknown person")

    def row(s: dict[str, Any]) -> dict[str, Any]:
        return {
            **s,
            "name": names.get(s["participant_id"], unnamed),
            "status_text": ws.t.text(SIGNUP_STATUSES.get(s["status"], s["status"])),
        }

    occurrence = found["occurrence"]
    starts, ends = local(occurrence["starts_at"]), local(occurrence["ends_at"])
    default_move = {
        "move_day": starts.date().isoformat(),
        "move_starts": starts.strftime("%H:%M"),
        "move_ends": ends.strftime("%H:%M"),
    }
    return ws.page(
        "workspace/activities/occurrence.html",
        title=found["activity"]["title"],
        section=SECTION,
        status_code=422 if problems else 200,
        **found,
        confirmed=[row(s) for s in held if s["status"] == "confirmed"],
        waiting=[row(s) for s in sorted(held, key=lambda s: s["arrival"]) if s["status"] == "waitlisted"],
        cancelled_signups=[row(s) for s in signups if s["status"] == "cancelled"],
        candidates=candidates,
        original=_moment(ws, occurrence["original_start"]) if occurrence["original_start"] else None,
        values=values or default_move,
        problems=problems or {},
        styles=STYLES,
    )


def _moment(ws: WorkspaceRequest, value: str) -> str:
    moment = local(value)
    return f"{day_text(ws, moment.date())} {time_text(ws, moment)}"


@router.get(BASE + "/occurrences/{occurrence_id}")
async def occurrence(request: Request, occurrence_id: str) -> Response:
    ws = await workspace_request(request)
    if isinstance(ws, Response):
        return ws
    try:
        return await _occurrence_page(ws, occurrence_id)
    except ServiceUnavailable:
        return ws.unavailable(SECTION)


async def _refused(ws: WorkspaceRequest, occurrence_id: str, exc: ServiceRefused, fields: dict[str, str]) -> Response:
    if exc.status_code == 404:
        return not_found(ws)
    found = {fields[k]: v for k, v in exc.field_errors().items() if k in fields}
    return await _occurrence_page(ws, occurrence_id, problems=found or {"form": ws.refused_message(exc)})


@router.post(BASE + "/occurrences/{occurrence_id}/move")
async def move(request: Request, occurrence_id: str) -> Response:
    got = await posted(request, occurrence_id)
    if isinstance(got, Response):
        return got
    ws, form = got
    moved = MoveForm.read(ws, form)
    try:
        if moved.problems:
            return await _occurrence_page(ws, occurrence_id, values=moved.values, problems=moved.problems)
        try:
            # The version the page was read at: someone's change in between is refused (412), not overwritten.
            version = str(form.get("version", ""))
            headers = {"If-Match": f'"{version}"'} if version.isdigit() else {}
            await ws.web.events.write(
                "PATCH", f"/occurrences/{occurrence_id}", ws.caller, moved.body(), headers=headers
            )
        except ServiceRefused as exc:
            return await _refused(ws, occurrence_id, exc, MoveForm.SERVICE_FIELDS)
        return back(ws, f"{BASE}/occurrences/{occurrence_id}")
    except ServiceUnavailable:
        return ws.unavailable(SECTION)


@router.post(BASE + "/occurrences/{occurrence_id}/cancel")
async def cancel(request: Request, occurrence_id: str) -> Response:
    got = await posted(request, occurrence_id)
    if isinstance(got, Response):
        return got
    ws, form = got
    try:
        try:
            await ws.web.events.write(
                "POST", f"/occurrences/{occurrence_id}/cancel", ws.caller, idempotency_key=field(form, "form_key", 100)
            )
        except ServiceRefused as exc:
            return await _refused(ws, occurrence_id, exc, {})
        return back(ws, f"{BASE}/occurrences/{occurrence_id}")
    except ServiceUnavailable:
        return ws.unavailable(SECTION)


@router.post(BASE + "/occurrences/{occurrence_id}/signups")
async def sign_up(request: Request, occurrence_id: str) -> Response:
    got = await posted(request, occurrence_id)
    if isinstance(got, Response):
        return got
    ws, form = got
    participant_id = uuid_or_none(field(form, "participant_id", 40))
    try:
        if participant_id is None:
            problems = {"participant_id": ws.t.text("Choose the person to sign up")}
            return await _occurrence_page(ws, occurrence_id, problems=problems)
        body = {"participant_id": participant_id, "over_capacity": form.get("over_capacity") == "1"}
        try:
            await ws.web.events.write(
                "POST",
                f"/occurrences/{occurrence_id}/signups",
                ws.caller,
                body,
                idempotency_key=field(form, "form_key", 100),
            )
        except ServiceRefused as exc:
            return await _refused(ws, occurrence_id, exc, {"participant_id": "participant_id"})
        return back(ws, f"{BASE}/occurrences/{occurrence_id}", anchor="signups")
    except ServiceUnavailable:
        return ws.unavailable(SECTION)


@router.post(BASE + "/occurrences/{occurrence_id}/signups/{signup_id}/cancel")
async def cancel_signup(request: Request, occurrence_id: str, signup_id: str) -> Response:
    got = await posted(request, occurrence_id)
    if isinstance(got, Response):
        return got
    ws, form = got
    try:
        if uuid_or_none(signup_id) is None:
            return not_found(ws)
        signups = await ws.web.events.get(f"/occurrences/{occurrence_id}/signups", ws.caller)
        if signup_id not in {s["id"] for s in signups}:  # a sign-up of another occurrence is not this page's
            return not_found(ws)
        reason = "participant" if form.get("reason") == "participant" else "coordinator"
        try:
            await ws.web.events.write("POST", f"/signups/{signup_id}/cancel", ws.caller, {"reason": reason})
        except ServiceRefused as exc:
            return await _refused(ws, occurrence_id, exc, {})
        return back(ws, f"{BASE}/occurrences/{occurrence_id}", anchor="signups")
    except ServiceRefused as exc:
        return await _refused(ws, occurrence_id, exc, {})
    except ServiceUnavailable:
        return ws.unavailable(SECTION)
