"""The matching part of the workspace: a programme's proposal round, its proposals in words, accepting,
rejecting and pairing by hand. The pairs' life, meetups, the waiting list and the settings are in the
``matching_*`` modules, whose routers this one includes."""

from __future__ import annotations

from typing import Any

from babel.numbers import format_decimal
from fastapi import APIRouter, Request
from fastapi.responses import Response

from . import (
    ServiceRefused,
    ServiceUnavailable,
    WorkspaceRequest,
    matching_meetups,
    matching_pairs,
    matching_settings,
    matching_waiting,
    workspace_request,
)
from . import matching_support as support
from .matching_words import choices

router = APIRouter(include_in_schema=False)
PROPOSALS_PER_PAGE = 100


async def _page(
    ws: WorkspaceRequest,
    requested: str | None,
    *,
    problems: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    round_summary: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    programmes = await support.programmes_of(ws, requested)
    proposals: list[dict[str, Any]] = []
    waiting: list[dict[str, Any]] = []
    established: list[dict[str, Any]] = []
    if programmes.chosen:
        found = await ws.web.matching.get(
            "/pairs", ws.caller, programme=programmes.chosen, status="proposed", limit=PROPOSALS_PER_PAGE
        )
        proposals = found["items"]
        if ws.can_write:
            waiting, established = await support.people_to_pair(ws, programmes.chosen)
    ids = [p[k] for p in proposals for k in ("newcomer_id", "established_id")] + [w["id"] for w in waiting]
    people = await support.names_of(ws, ids)
    return ws.page(
        "workspace/matching/index.html",
        title=ws.t.text("Matching"),
        section=support.SECTION,
        status_code=status_code,
        programmes=programmes,
        proposals=proposals,
        waiting_people=waiting,
        established=established,
        people=people,
        name=lambda pid: support.full_name(people.get(str(pid)), ws),
        points=lambda value: format_decimal(round(value, 1), locale=ws.t.babel),
        rejection_reasons=choices(ws.t, "rejection"),
        problems=problems or {},
        values=values or {},
        round_summary=round_summary,
    )


@router.get("/workspace/matching")
async def matching_home(request: Request) -> Response:
    ws = await workspace_request(request)
    if isinstance(ws, Response):
        return ws
    summary = {k: request.query_params.get(k, "") for k in ("proposed", "waiting", "candidates")}
    summary = {k: v if v.isdigit() and len(v) < 10 else "" for k, v in summary.items()}
    try:
        return await _page(
            ws, request.query_params.get("programme"), round_summary=summary if summary["proposed"] else None
        )
    except ServiceUnavailable:
        return ws.unavailable(support.SECTION)


@router.post("/workspace/matching/rounds")
async def run_round(request: Request) -> Response:
    got = await support.posted(request)
    if isinstance(got, Response):
        return got
    ws, form = got
    programme = str(form.get("programme", ""))
    try:
        outcome = await ws.web.matching.write(
            "POST", f"/programmes/{programme}/rounds", ws.caller, {}, idempotency_key=str(form.get("key", ""))
        )
    except ServiceUnavailable:
        return ws.unavailable(support.SECTION)
    except ServiceRefused as exc:
        return await _page(ws, programme, problems={"form": support.refusal_text(ws, exc)}, status_code=exc.status_code)
    return support.redirect(
        ws,
        "/workspace/matching",
        programme=programme,
        proposed=str(len(outcome["proposals"])),
        waiting=str(outcome["waiting"]),
        candidates=str(outcome["candidates"]),
    )


@router.post("/workspace/matching/proposals/{pair_id}/{decision}")
async def decide(request: Request, pair_id: str, decision: str) -> Response:
    """Accept or reject a proposal from the round's list; a refusal shows on the same list."""
    got = await support.posted(request)
    if isinstance(got, Response):
        return got
    ws, form = got
    programme = str(form.get("programme", ""))
    found = support.parse_uuid(pair_id)
    if found is None or decision not in ("accept", "reject"):
        return support.not_found(ws)
    body = {"reason": str(form.get("reason", ""))} if decision == "reject" else None
    try:
        await ws.web.matching.write(
            "POST", f"/pairs/{found}/{decision}", ws.caller, body, idempotency_key=str(form.get("key", ""))
        )
    except ServiceUnavailable:
        return ws.unavailable(support.SECTION)
    except ServiceRefused as exc:
        problems = support.problems_of(ws, exc, {"reason": f"reason-{found}"})
        return await _page(ws, programme, problems=problems, status_code=exc.status_code)
    if decision == "accept":
        return support.redirect(ws, f"/workspace/matching/pairs/{found}")
    return support.redirect(ws, "/workspace/matching", programme=programme)


@router.post("/workspace/matching/manual")
async def pair_by_hand(request: Request) -> Response:
    got = await support.posted(request)
    if isinstance(got, Response):
        return got
    ws, form = got
    programme = str(form.get("programme", ""))
    values = {k: str(form.get(k, "")) for k in ("newcomer_id", "established_id")}
    missing = {k: ws.t.text("Choose someone.") for k, v in values.items() if not v}
    if missing:
        return await _page(ws, programme, problems=missing, values=values, status_code=422)
    try:
        pair = await ws.web.matching.write(
            "POST", f"/programmes/{programme}/pairs", ws.caller, values, idempotency_key=str(form.get("key", ""))
        )
    except ServiceUnavailable:
        return ws.unavailable(support.SECTION)
    except ServiceRefused as exc:
        problems = support.problems_of(ws, exc, {"established_id": "established_id"}, default="newcomer_id")
        return await _page(ws, programme, problems=problems, values=values, status_code=exc.status_code)
    return support.redirect(ws, f"/workspace/matching/pairs/{pair['pair_id']}")


for _part in (matching_pairs, matching_meetups, matching_waiting, matching_settings):
    router.include_router(_part.router)
