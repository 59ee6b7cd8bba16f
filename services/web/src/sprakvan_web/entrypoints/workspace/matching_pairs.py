"""The pairs and their life: the list (by status and programme), a pair's page with its history, and each
step a coordinator records there (conversation, follow-ups, end, rematch); the follow-ups due this week."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from . import ServiceRefused, ServiceUnavailable, WorkspaceRequest, workspace_request
from . import matching_support as support
from .matching_words import WORDS, choices, word

router = APIRouter(include_in_schema=False)
PAIRS_PER_PAGE = 100  # two people a pair: one call to intake for the page's names
OPEN = ("formed", "active")
DUE_PAGES = 20


# -- the list ------------------------------------------------------------------------------------------
@router.get("/workspace/matching/pairs")
async def pair_list(request: Request) -> Response:
    ws = await workspace_request(request)
    if isinstance(ws, Response):
        return ws
    query = request.query_params
    status = query.get("status") if query.get("status") in WORDS["status"] else None
    try:
        programmes = await support.programmes_of(ws, query.get("programme"))
        programme = query.get("programme") if query.get("programme") in dict(programmes.choices) else None
        found = await ws.web.matching.get(
            "/pairs",
            ws.caller,
            programme=programme,
            status=status,
            after=support.parse_uuid(query.get("after")),
            limit=PAIRS_PER_PAGE,
        )
        people = await support.names_of(ws, [p[k] for p in found["items"] for k in ("newcomer_id", "established_id")])
    except ServiceUnavailable:
        return ws.unavailable(support.SECTION)
    template = "workspace/matching/_pairs_table.html" if request.headers.get("HX-Request") else None
    return ws.page(
        template or "workspace/matching/pairs.html",
        title=ws.t.text("Pairs"),
        section=support.SECTION,
        pairs=found["items"],
        next_after=found.get("next_after"),
        programmes=programmes,
        programme=programme,
        status=status,
        statuses=choices(ws.t, "status"),
        name=lambda pid: support.full_name(people.get(str(pid)), ws),
        word=lambda kind, code: word(ws.t, kind, code),
    )


# -- one pair ------------------------------------------------------------------------------------------
async def _pair_page(
    ws: WorkspaceRequest,
    pair_id: str,
    *,
    problems: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    pair = await ws.web.matching.get(f"/pairs/{pair_id}", ws.caller)
    history = await ws.web.matching.get("/pairs", ws.caller, participant_id=pair["newcomer_id"], limit=100)
    earlier = [p for p in history["items"] if p["pair_id"] != pair["pair_id"] and p["status"] != "proposed"]
    established = []
    if ws.can_write and pair["status"] in OPEN:
        established = [
            p for p in await support.established_choices(ws, pair["programme"]) if p["id"] != pair["established_id"]
        ]
    people = await support.names_of(
        ws, [pair["newcomer_id"], pair["established_id"], *(p["established_id"] for p in earlier)]
    )
    programmes = await support.programmes_of(ws, pair["programme"])
    open_follow_ups = [f for f in pair["follow_ups"] if f["done_on"] is None]
    return ws.page(
        "workspace/matching/pair.html",
        title=ws.t.text("Pair"),
        section=support.SECTION,
        status_code=status_code,
        pair=pair,
        earlier=earlier,
        people=people,
        name=lambda pid: support.full_name(people.get(str(pid)), ws),
        programme_label=programmes.label(pair["programme"]),
        district=programmes.district,
        word=lambda kind, code: word(ws.t, kind, code),
        explanation=(pair.get("explanation") or {}).get(ws.locale.code),
        open_follow_ups=open_follow_ups,
        established=established,
        end_reasons=[(c, label) for c, label in choices(ws.t, "end_reason") if c in END_REASONS],
        rejection_reasons=choices(ws.t, "rejection"),
        attendees=choices(ws.t, "attendee"),
        outcomes=choices(ws.t, "outcome"),
        today=support.today().isoformat(),
        problems=problems or {},
        values=values or {},
    )


END_REASONS = ("moved", "completed", "did_not_click", "no_contact", "other")


@router.get("/workspace/matching/pairs/{pair_id}")
async def pair_page(request: Request, pair_id: str) -> Response:
    ws = await workspace_request(request)
    if isinstance(ws, Response):
        return ws
    found = support.parse_uuid(pair_id)
    if found is None:
        return support.not_found(ws)
    try:
        return await _pair_page(ws, found)
    except ServiceUnavailable:
        return ws.unavailable(support.SECTION)
    except ServiceRefused as exc:
        if exc.status_code == 404:
            return support.not_found(ws)
        raise


def _body(action: str, form: FormData) -> dict[str, Any] | None:
    """The matching API's body for one of the pair page's forms."""
    text = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    if action == "conversation":
        return {"held_on": text.get("held_on", ""), "attended": form.getlist("attended")}
    if action == "follow-ups":
        return {"due_on": text.get("due_on", "")}
    if action == "follow-ups/done":
        return {
            "done_on": text.get("done_on", ""),
            "outcome": text.get("outcome", ""),
            "notes": text.get("notes", ""),
            "due_on": text.get("due_on") or None,
        }
    if action in ("end", "reject"):
        return {"reason": text.get("reason", "")}
    if action == "rematch":
        return {"reason": text.get("reason", ""), "established_id": text.get("established_id") or None}
    return None


# The form's inputs by the API's field, per action (the input ids are unique on the pair page).
FIELDS = {
    "conversation": {"held_on": "conversation-held_on", "attended": "conversation-attended"},
    "follow-ups": {"due_on": "follow-up-due_on"},
    "follow-ups/done": {"done_on": "done-done_on", "outcome": "done-outcome", "notes": "done-notes"},
    "end": {"reason": "end-reason"},
    "reject": {"reason": "reject-reason"},
    "rematch": {"reason": "rematch-reason", "established_id": "rematch-established_id"},
    "accept": {},
}


async def _act(request: Request, pair_id: str, action: str) -> Response:
    got = await support.posted(request)
    if isinstance(got, Response):
        return got
    ws, form = got
    found = support.parse_uuid(pair_id)
    if found is None:
        return support.not_found(ws)
    fields = FIELDS[action]
    try:
        answer = await ws.web.matching.write(
            "POST", f"/pairs/{found}/{action}", ws.caller, _body(action, form), idempotency_key=str(form.get("key", ""))
        )
    except ServiceUnavailable:
        return ws.unavailable(support.SECTION)
    except ServiceRefused as exc:
        if exc.status_code == 404:
            return support.not_found(ws)
        problems = support.problems_of(ws, exc, fields, default=next(iter(fields.values()), "form"))
        values = {k: support.printable(v) for k, v in form.items() if k not in ("csrf_token", "key")}
        try:
            return await _pair_page(ws, found, problems=problems, values=values, status_code=exc.status_code)
        except ServiceUnavailable:
            return ws.unavailable(support.SECTION)
        except ServiceRefused as again:  # a refused form for a pair there is none of (matching checks the body first)
            if again.status_code == 404:
                return support.not_found(ws)
            raise
    if action == "rematch" and answer.get("new_pair"):
        return support.redirect(ws, f"/workspace/matching/pairs/{answer['new_pair']['pair_id']}")
    return support.redirect(ws, f"/workspace/matching/pairs/{found}")


def _action_route(path: str, action: str) -> None:
    async def act(request: Request, pair_id: str) -> Response:
        return await _act(request, pair_id, action)

    router.add_api_route(f"/workspace/matching/pairs/{{pair_id}}/{path}", act, methods=["POST"])


for _path, _action in (
    ("accept", "accept"),
    ("reject", "reject"),
    ("conversation", "conversation"),
    ("follow-ups", "follow-ups"),
    ("follow-ups/done", "follow-ups/done"),
    ("end", "end"),
    ("rematch", "rematch"),
):
    _action_route(_path, _action)


# -- follow-ups due -------------------------------------------------------------------------------------
async def _open_pairs(ws: WorkspaceRequest, programme: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for status in OPEN:
        after = None
        for _page in range(DUE_PAGES):
            page = await ws.web.matching.get(
                "/pairs", ws.caller, programme=programme, status=status, after=after, limit=500
            )
            found += page["items"]
            after = page.get("next_after")
            if not after:
                break
    return found


@router.get("/workspace/matching/follow-ups")
async def follow_ups_due(request: Request) -> Response:
    """Follow-ups not yet held that are due by the end of this week (Monday to Sunday), earliest first."""
    ws = await workspace_request(request)
    if isinstance(ws, Response):
        return ws
    now = support.today()
    monday = now - timedelta(days=now.weekday())
    sunday = monday + timedelta(days=6)
    try:
        programmes = await support.programmes_of(ws, request.query_params.get("programme"))
        pairs = await _open_pairs(ws, programmes.chosen) if programmes.chosen else []
        due = sorted(
            (
                (f["due_on"], pair)
                for pair in pairs
                for f in pair["follow_ups"]
                if f["done_on"] is None and f["due_on"] <= sunday.isoformat()
            ),
            key=lambda item: (item[0], item[1]["pair_id"]),
        )
        people = await support.names_of(ws, [p[k] for _d, p in due for k in ("newcomer_id", "established_id")])
    except ServiceUnavailable:
        return ws.unavailable(support.SECTION)
    return ws.page(
        "workspace/matching/follow_ups.html",
        title=ws.t.text("Follow-ups due this week"),
        section=support.SECTION,
        programmes=programmes,
        due=due,
        monday=monday.isoformat(),
        sunday=sunday.isoformat(),
        name=lambda pid: support.full_name(people.get(str(pid)), ws),
    )
