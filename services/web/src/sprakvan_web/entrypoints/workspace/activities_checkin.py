"""Check-in at the door, on a phone: the signed-up people (came / did not come), walk-in counters by role
and gender (no names), campaign sign-up counts at a stand, and the totals as the events service reports
them.

Without JavaScript each button is a form whose POST redirects back to the row it changed; with htmx the
button's POST answers only its row or counter (and, out of band, the totals and a status line that a
screen reader announces). A walk-in counter's step is counted by the events service under the
occurrence's lock (``POST .../walk-ins/step``), so two phones at one door both count; a campaign counter
reads the counts and writes them back whole (``PUT .../campaign-signups``), which one phone at a stand
does not race.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..rendering import render
from . import ServiceRefused, ServiceUnavailable, WorkspaceRequest, form_key, workspace_request
from .activities_calendar import occurrence_context
from .activities_common import (
    BASE,
    GENDERS,
    OUTCOMES,
    ROLES,
    SECTION,
    STYLES,
    back,
    field,
    names_of,
    not_found,
    posted,
    uuid_or_none,
)

router = APIRouter(include_in_schema=False)
CHECK_IN = BASE + "/occurrences/{occurrence_id}/check-in"


def _counters(attendance: dict[str, Any]) -> dict[tuple[str, str], int]:
    counts = {(role, gender): 0 for role in ROLES for gender in GENDERS}
    for w in attendance["walk_ins"]:
        counts[(w["role"], w["gender"])] = int(w["count"])
    return counts


def _campaigns(attendance: dict[str, Any], activity: dict[str, Any]) -> dict[str, int]:
    counts = {activity["campaign"]: 0} if activity.get("campaign") else {}
    counts |= {c["campaign"]: int(c["count"]) for c in attendance["campaign_signups"]}
    return counts


def _people(ws: WorkspaceRequest, signups: list[dict[str, Any]], attendance: dict[str, Any], names: dict[str, str]):
    outcomes = {c["participant_id"]: c["outcome"] for c in attendance["check_ins"]}
    unnamed = ws.t.text("Erased or unknown person")
    people = [
        {
            "id": s["participant_id"],
            "name": names.get(s["participant_id"], unnamed),
            "outcome": outcomes.get(s["participant_id"]),
        }
        for s in signups
        if s["status"] == "confirmed"
    ]
    return sorted(people, key=lambda p: p["name"].casefold())


async def _sheet(ws: WorkspaceRequest, occurrence_id: str) -> dict[str, Any] | None:
    found = await occurrence_context(ws, occurrence_id)
    if found is None:
        return None
    signups = await ws.web.events.get(f"/occurrences/{occurrence_id}/signups", ws.caller)
    attendance = await ws.web.events.get(f"/occurrences/{occurrence_id}/attendance", ws.caller)
    names = await names_of(ws, [s["participant_id"] for s in signups if s["status"] == "confirmed"])
    return {
        **found,
        "people": _people(ws, signups, attendance, names),
        "counters": _counters(attendance),
        "campaign_counts": _campaigns(attendance, found["activity"]),
        "totals": attendance["totals"],
    }


def _context(ws: WorkspaceRequest) -> dict[str, Any]:
    return {
        "roles": [(k, ws.t.text(v)) for k, v in ROLES.items()],
        "genders": [(k, ws.t.text(v)) for k, v in GENDERS.items()],
        "outcomes": {k: ws.t.text(v) for k, v in OUTCOMES.items()},
        "styles": STYLES,
    }


@router.get(CHECK_IN)
async def check_in_page(request: Request, occurrence_id: str) -> Response:
    ws = await workspace_request(request)
    if isinstance(ws, Response):
        return ws
    try:
        sheet = await _sheet(ws, occurrence_id)
    except ServiceUnavailable:
        return ws.unavailable(SECTION)
    if sheet is None:
        return not_found(ws)
    return _full_page(ws, sheet, "")


def _full_page(ws: WorkspaceRequest, sheet: dict[str, Any], problem: str, status_code: int = 200) -> Response:
    title = ws.t.text("Check-in: %(title)s") % {"title": sheet["activity"]["title"]}
    return ws.page(
        "workspace/activities/checkin.html",
        title=title,
        section=SECTION,
        status_code=status_code,
        problem=problem,
        **sheet,
        **_context(ws),
    )


def _partial(ws: WorkspaceRequest, template: str, status: str, **context: Any) -> Response:
    """An htmx answer: the changed row or counter, the totals and the status line out of band."""
    return render(
        ws.request,
        template,
        ws.locale,
        title="",
        announcement=status,
        ws=ws,
        form_key=form_key,
        **_context(ws),
        **context,
    )


async def _answer(
    ws: WorkspaceRequest, occurrence_id: str, anchor: str, template: str, pick: Any, status: str, problem: str = ""
) -> Response:
    htmx = ws.request.headers.get("HX-Request") == "true"
    if not htmx and not problem:
        return back(ws, CHECK_IN.format(occurrence_id=occurrence_id), anchor=anchor)
    sheet = await _sheet(ws, occurrence_id)
    if sheet is None:
        return not_found(ws)
    if not htmx:  # the refusal in words, on the page itself (no free text in a URL)
        return _full_page(ws, sheet, problem, status_code=409)
    return _partial(
        ws, template, problem or status, occurrence=sheet["occurrence"], totals=sheet["totals"], **pick(sheet)
    )


class _Gone(Exception):
    """The organisation has no such occurrence: the answer is a 404."""


async def _recorded(ws: WorkspaceRequest, change: Callable[[], Awaitable[Any]]) -> str:
    """ "" when the events service took the change, else its refusal in words (shown in the row or page)."""
    try:
        await change()
    except ServiceRefused as exc:
        if exc.status_code == 404:
            raise _Gone from exc
        return ws.refused_message(exc)
    return ""


@router.post(CHECK_IN + "/people/{participant_id}")
async def check_in(request: Request, occurrence_id: str, participant_id: str) -> Response:
    got = await posted(request, occurrence_id)
    if isinstance(got, Response):
        return got
    ws, form = got
    outcome = field(form, "outcome", 20)
    if uuid_or_none(participant_id) is None or outcome not in OUTCOMES:
        return not_found(ws)
    path = f"/occurrences/{occurrence_id}/check-ins/{participant_id}"
    try:
        problem = await _recorded(ws, lambda: ws.web.events.write("PUT", path, ws.caller, {"outcome": outcome}))

        def pick(sheet: dict[str, Any]) -> dict[str, Any]:
            person = next((p for p in sheet["people"] if p["id"] == participant_id), None)
            return {"person": person or {"id": participant_id, "name": "", "outcome": outcome}}

        status = ws.t.text("Saved: %(outcome)s") % {"outcome": ws.t.text(OUTCOMES[outcome])}
        return await _answer(
            ws, occurrence_id, f"p-{participant_id}", "workspace/activities/_checkin_person.html", pick, status, problem
        )
    except _Gone:
        return not_found(ws)
    except ServiceUnavailable:
        return ws.unavailable(SECTION)


def _step(form: Any) -> int:
    return 1 if form.get("step") == "1" else -1


@router.post(CHECK_IN + "/walk-ins")
async def walk_in(request: Request, occurrence_id: str) -> Response:
    got = await posted(request, occurrence_id)
    if isinstance(got, Response):
        return got
    ws, form = got
    role, gender = field(form, "role", 20), field(form, "gender", 20)
    if role not in ROLES or gender not in GENDERS:
        return not_found(ws)

    body = {"role": role, "gender": gender, "step": _step(form)}
    path = f"/occurrences/{occurrence_id}/walk-ins/step"
    try:
        problem = await _recorded(ws, lambda: ws.web.events.write("POST", path, ws.caller, body))

        def pick(sheet: dict[str, Any]) -> dict[str, Any]:
            return {"role": role, "gender": gender, "count": sheet["counters"][(role, gender)]}

        words = {"role": ws.t.text(ROLES[role]), "gender": ws.t.text(GENDERS[gender])}
        status = ws.t.text("Walk-ins saved: %(role)s, %(gender)s") % words
        return await _answer(
            ws, occurrence_id, f"w-{role}-{gender}", "workspace/activities/_checkin_counter.html", pick, status, problem
        )
    except _Gone:
        return not_found(ws)
    except ServiceUnavailable:
        return ws.unavailable(SECTION)


@router.post(CHECK_IN + "/campaigns")
async def campaign_signups(request: Request, occurrence_id: str) -> Response:
    got = await posted(request, occurrence_id)
    if isinstance(got, Response):
        return got
    ws, form = got
    campaign = field(form, "campaign", 40)

    async def change() -> None:
        # A step on the table as read, written back at the version read (If-Match): another phone's step in
        # between is a 412, and this step is applied again to the table as it is then, never overwriting.
        for attempt in range(3):
            attendance = await ws.web.events.get(f"/occurrences/{occurrence_id}/attendance", ws.caller)
            counts = {c["campaign"]: int(c["count"]) for c in attendance["campaign_signups"]}
            counts[campaign] = max(0, counts.get(campaign, 0) + _step(form))
            body = {"counts": [{"campaign": c, "count": n} for c, n in counts.items()]}
            headers = {"If-Match": f'"{attendance["counts_version"]}"'}
            try:
                path = f"/occurrences/{occurrence_id}/campaign-signups"
                await ws.web.events.write("PUT", path, ws.caller, body, headers=headers)
                return
            except ServiceRefused as exc:
                if exc.status_code != 412 or attempt == 2:
                    raise

    try:
        problem = await _recorded(ws, change)

        def pick(sheet: dict[str, Any]) -> dict[str, Any]:
            return {"campaign": campaign, "count": sheet["campaign_counts"].get(campaign, 0), "words": sheet["words"]}

        status = ws.t.text("Campaign sign-ups saved")
        return await _answer(
            ws, occurrence_id, f"c-{campaign}", "workspace/activities/_checkin_campaign.html", pick, status, problem
        )
    except _Gone:
        return not_found(ws)
    except ServiceUnavailable:
        return ws.unavailable(SECTION)
