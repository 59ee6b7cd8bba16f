"""Activities: the overview, venues (list, add, edit), and new series and one-off activities.

The calendar and an occurrence's page are in ``activities_calendar``, check-in at the door in
``activities_checkin``, calendar feeds in ``activities_feeds``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from . import ServiceRefused, ServiceUnavailable, WorkspaceRequest, workspace_request
from .activities_common import (
    ACTIVITY_STATUSES,
    BASE,
    KINDS,
    SECTION,
    STYLES,
    _,
    back,
    field,
    not_found,
    posted,
    refusal_problems,
    vocabulary,
)
from .activities_forms import ActivityForm, VenueForm

router = APIRouter(include_in_schema=False)


@router.get(BASE)
async def overview(request: Request) -> Response:
    ws = await workspace_request(request)
    if isinstance(ws, Response):
        return ws
    try:
        words = await vocabulary(ws)
        found = await ws.web.events.get("/activities", ws.caller, limit=500)
        venues = {v["id"]: v["name"] for v in await ws.web.events.get("/venues", ws.caller)}
    except ServiceUnavailable:
        return ws.unavailable(SECTION)
    rows = [
        {
            "title": a["title"],
            "kind": ws.t.text(KINDS.get(a["kind"], a["kind"])),
            "type": words.type(a["type_code"]),
            "place": venues.get(a["venue_id"] or "") or words.district(a["district"]),
            "status": ws.t.text(ACTIVITY_STATUSES.get(a["status"], a["status"])),
        }
        for a in found
    ]
    return ws.page(
        "workspace/activities/overview.html",
        title=ws.t.text("Activities"),
        section=SECTION,
        activities=rows,
        styles=STYLES,
    )


# -- venues -----------------------------------------------------------------------------------------
async def _venues_page(ws: WorkspaceRequest, *, values: dict[str, str], problems: dict[str, str], status: int = 200):
    words = await vocabulary(ws)
    venues = await ws.web.events.get("/venues", ws.caller)
    return ws.page(
        "workspace/activities/venues.html",
        title=ws.t.text("Venues"),
        section=SECTION,
        status_code=status,
        venues=venues,
        words=words,
        districts=sorted(words.districts.items(), key=lambda kv: kv[1]),
        values=values,
        problems=problems,
        styles=STYLES,
    )


@router.get(f"{BASE}/venues")
async def venues(request: Request) -> Response:
    ws = await workspace_request(request)
    if isinstance(ws, Response):
        return ws
    try:
        return await _venues_page(ws, values={}, problems={})
    except ServiceUnavailable:
        return ws.unavailable(SECTION)


@router.post(f"{BASE}/venues")
async def add_venue(request: Request) -> Response:
    got = await posted(request)
    if isinstance(got, Response):
        return got
    ws, form = got
    venue = VenueForm.read(ws, form)
    try:
        if not venue.problems:
            try:
                await ws.web.events.write(
                    "POST", "/venues", ws.caller, venue.body(), idempotency_key=field(form, "form_key", 100)
                )
                return back(ws, f"{BASE}/venues")
            except ServiceRefused as exc:
                venue.problems.update(refusal_problems(ws, exc, VenueForm.SERVICE_FIELDS))
        return await _venues_page(ws, values=venue.values, problems=venue.problems, status=422)
    except ServiceUnavailable:
        return ws.unavailable(SECTION)


async def _venue(ws: WorkspaceRequest, venue_id: str) -> dict[str, Any] | None:
    return next((v for v in await ws.web.events.get("/venues", ws.caller) if v["id"] == venue_id), None)


def _venue_values(venue: dict[str, Any]) -> dict[str, str]:
    capacity = venue["capacity"]
    return {
        "name": venue["name"],
        "district": venue["district"],
        "address": venue["address"],
        "capacity": "" if capacity is None else str(capacity),
        "accessibility": venue["accessibility"],
        "version": str(venue["version"]),
    }


async def _venue_page(ws: WorkspaceRequest, venue_id: str, values: dict[str, str], problems: dict[str, str]):
    words = await vocabulary(ws)
    return ws.page(
        "workspace/activities/venue.html",
        title=ws.t.text("Change the venue"),
        section=SECTION,
        status_code=422 if problems else 200,
        venue_id=venue_id,
        districts=sorted(words.districts.items(), key=lambda kv: kv[1]),
        values=values,
        problems=problems,
        styles=STYLES,
    )


@router.get(BASE + "/venues/{venue_id}")
async def venue(request: Request, venue_id: str) -> Response:
    ws = await workspace_request(request)
    if isinstance(ws, Response):
        return ws
    try:
        found = await _venue(ws, venue_id)
        if found is None:
            return not_found(ws)
        return await _venue_page(ws, venue_id, _venue_values(found), {})
    except ServiceUnavailable:
        return ws.unavailable(SECTION)


@router.post(BASE + "/venues/{venue_id}")
async def change_venue(request: Request, venue_id: str) -> Response:
    got = await posted(request)
    if isinstance(got, Response):
        return got
    ws, form = got
    venue = VenueForm.read(ws, form)
    # The version the page showed: a change someone saved in between is refused (412), not overwritten.
    version = str(form.get("version", ""))
    venue.values["version"] = version
    try:
        if await _venue(ws, venue_id) is None:
            return not_found(ws)
        if not venue.problems:
            try:
                headers = {"If-Match": f'"{version}"'} if version.isdigit() else {}
                await ws.web.events.write("PUT", f"/venues/{venue_id}", ws.caller, venue.body(), headers=headers)
                return back(ws, f"{BASE}/venues")
            except ServiceRefused as exc:
                if exc.status_code == 404:
                    return not_found(ws)
                if exc.status_code in (412, 428):  # the form kept; saving again replaces the version now there
                    current = await _venue(ws, venue_id)
                    venue.values["version"] = str(current["version"]) if current else ""
                    venue.problems["form"] = ws.t.text("Not saved: changed by someone else")
                else:
                    venue.problems.update(refusal_problems(ws, exc, VenueForm.SERVICE_FIELDS))
        return await _venue_page(ws, venue_id, venue.values, venue.problems)
    except ServiceUnavailable:
        return ws.unavailable(SECTION)


# -- new activities -----------------------------------------------------------------------------------
KIND_TITLES = {"series": _("New series"), "one-off": _("New one-off activity")}


async def _activity_page(ws: WorkspaceRequest, kind: str, values: dict[str, Any], problems: dict[str, str]):
    words = await vocabulary(ws)
    venues = await ws.web.events.get("/venues", ws.caller)
    return ws.page(
        "workspace/activities/new.html",
        title=ws.t.text(KIND_TITLES[kind]),
        section=SECTION,
        status_code=422 if problems else 200,
        kind=kind,
        words=words,
        types=sorted(words.types.items(), key=lambda kv: kv[1]),
        venues=[(v["id"], v["name"]) for v in venues],
        districts=sorted(words.districts.items(), key=lambda kv: kv[1]),
        programmes=sorted(words.programmes.items(), key=lambda kv: kv[1]),
        campaigns=sorted(words.campaigns.items(), key=lambda kv: kv[1]),
        weekdays=ActivityForm.weekdays(ws),
        values=values,
        problems=problems,
        styles=STYLES,
    )


@router.get(BASE + "/new/{kind}")
async def new_activity(request: Request, kind: str) -> Response:
    ws = await workspace_request(request, write=True)
    if isinstance(ws, Response):
        return ws
    if kind not in KIND_TITLES:
        return not_found(ws)
    try:
        return await _activity_page(ws, kind, {"weekdays": [], "programmes": []}, {})
    except ServiceUnavailable:
        return ws.unavailable(SECTION)


@router.post(BASE + "/new/{kind}")
async def create_activity(request: Request, kind: str) -> Response:
    got = await posted(request)
    if isinstance(got, Response):
        return got
    ws, form = got
    if kind not in KIND_TITLES:
        return not_found(ws)
    activity = ActivityForm.read(ws, form, series=kind == "series")
    try:
        if not activity.problems:
            path = "/series" if kind == "series" else "/activities"
            try:
                created = await ws.web.events.write(
                    "POST", path, ws.caller, activity.body(), idempotency_key=field(form, "form_key", 100)
                )
                first = created["occurrences"][0]["starts_at"][:10] if created["occurrences"] else None
                return back(ws, f"{BASE}/calendar", day=first)
            except ServiceRefused as exc:
                activity.problems.update(refusal_problems(ws, exc, ActivityForm.SERVICE_FIELDS))
        return await _activity_page(ws, kind, activity.values, activity.problems)
    except ServiceUnavailable:
        return ws.unavailable(SECTION)
