"""Calendar feeds: the organisation's, a programme's, a district's or a venue's iCalendar feed, for a
phone calendar to subscribe to.

The events service makes a feed's URL once (it keeps only a hash of the token), so the page shows it on
the answer to the form that made it, to be copied then; the list shows the working feeds for revoking.
The web front is the only part a phone can reach, so the URL it shows is its own ``/calendar/<token>.ics``,
which passes the events service's feed through unchanged.
"""

from __future__ import annotations

import re

import httpcore
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ..context import web_of
from . import ServiceRefused, ServiceUnavailable, WorkspaceRequest, workspace_request
from .activities_common import BASE, SECTION, STYLES, _, back, field, not_found, posted, vocabulary

router = APIRouter(include_in_schema=False)
FEEDS = f"{BASE}/feeds"
SCOPES = {"organisation": _("The whole organisation"), "programme": _("Programme"), "district": _("District")}
SCOPES |= {"venue": _("Venue")}
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
_TIMEOUTS = {"connect": 5.0, "read": 10.0, "write": 5.0, "pool": 5.0}


async def _choices(ws: WorkspaceRequest) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """What a feed can show, as ``scope:value`` options, and the words for each."""
    words = await vocabulary(ws)
    venues = await ws.web.events.get("/venues", ws.caller)
    t = ws.t.text
    options = [("organisation:", t(SCOPES["organisation"]))]
    options += [(f"programme:{code}", f"{t(SCOPES['programme'])}: {label}") for code, label in words.programmes.items()]
    options += [(f"district:{code}", f"{t(SCOPES['district'])}: {label}") for code, label in words.districts.items()]
    options += [(f"venue:{v['id']}", f"{t(SCOPES['venue'])}: {v['name']}") for v in venues]
    return options, dict(options)


async def _page(
    ws: WorkspaceRequest,
    *,
    created: dict[str, str] | None = None,
    problems: dict[str, str] | None = None,
    sent_twice: bool = False,
):
    options, labels = await _choices(ws)
    feeds = await ws.web.events.get("/feeds", ws.caller)
    for feed in feeds:
        feed["shows"] = labels.get(f"{feed['scope']}:{feed['value'] or ''}", feed["scope"])
    return ws.page(
        "workspace/activities/feeds.html",
        title=ws.t.text("Calendar feeds"),
        section=SECTION,
        status_code=422 if problems else 201 if created else 409 if sent_twice else 200,
        feeds=feeds,
        options=options,
        created=created,
        sent_twice=sent_twice,
        problems=problems or {},
        styles=STYLES,
    )


@router.get(FEEDS)
async def feeds(request: Request) -> Response:
    ws = await workspace_request(request)
    if isinstance(ws, Response):
        return ws
    try:
        return await _page(ws)
    except ServiceUnavailable:
        return ws.unavailable(SECTION)


def public_url(request: Request, events_url: str) -> str:
    """The web front's address of a feed the events service made (``/feeds/<token>.ics``)."""
    token = events_url.rsplit("/", 1)[-1].removesuffix(".ics")
    return f"{str(request.base_url).rstrip('/')}/calendar/{token}.ics"


@router.post(FEEDS)
async def create_feed(request: Request) -> Response:
    got = await posted(request)
    if isinstance(got, Response):
        return got
    ws, form = got
    try:
        options, labels = await _choices(ws)
        shows = field(form, "shows", 100)
        if shows not in labels:
            return await _page(ws, problems={"shows": ws.t.text("Choose what the feed shows")})
        scope, _sep, value = shows.partition(":")
        name = field(form, "name", 200) or labels[shows]
        body = {"scope": scope, "value": value or None, "name": name}
        try:
            made = await ws.web.events.write(
                "POST", "/feeds", ws.caller, body, idempotency_key=field(form, "form_key", 100)
            )
        except ServiceRefused as exc:
            if exc.code == "response_shown_once":  # the form sent again (a reload): its URL is not kept
                return await _page(ws, sent_twice=True)
            return await _page(ws, problems={"shows": ws.refused_message(exc)})
        return await _page(ws, created={"name": made["name"], "url": public_url(request, made["url"])})
    except ServiceUnavailable:
        return ws.unavailable(SECTION)


@router.post(FEEDS + "/{feed_id}/revoke")
async def revoke_feed(request: Request, feed_id: str) -> Response:
    got = await posted(request, feed_id)
    if isinstance(got, Response):
        return got
    ws, _form = got
    try:
        await ws.web.events.write("DELETE", f"/feeds/{feed_id}", ws.caller)
    except ServiceRefused:
        return not_found(ws)
    except ServiceUnavailable:
        return ws.unavailable(SECTION)
    return back(ws, FEEDS)


@router.get("/calendar/{token}.ics")
async def calendar_feed(request: Request, token: str) -> Response:
    """A phone calendar's subscription: no login, the URL's token is the key (the events service checks it)."""
    if not _TOKEN.match(token):
        return JSONResponse({"detail": "no such feed"}, status_code=404)
    events = web_of(request).settings.events_url.rstrip("/")
    # httpcore, not httpx: httpx logs every URL it fetches at INFO, and this one's token is the feed's key.
    try:
        async with httpcore.AsyncConnectionPool() as pool:
            answer = await pool.request("GET", f"{events}/feeds/{token}.ics", extensions={"timeout": _TIMEOUTS})
    except (httpcore.TimeoutException, httpcore.NetworkError):
        return JSONResponse({"detail": "try again"}, status_code=503, headers={"Retry-After": "5"})
    if answer.status != 200:
        status = 404 if answer.status < 500 else 503
        return JSONResponse({"detail": "no such feed" if status == 404 else "try again"}, status_code=status)
    cache = next((v for k, v in answer.headers if k.lower() == b"cache-control"), b"private, max-age=300")
    headers = {"Cache-Control": cache.decode("latin-1")}
    return Response(answer.content, media_type="text/calendar; charset=utf-8", headers=headers)
