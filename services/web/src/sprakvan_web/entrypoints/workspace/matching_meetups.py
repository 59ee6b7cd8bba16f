"""A group-matching meetup's pairs (the Trollhättan way), recorded in one form.

Matching takes a meetup's pairs in one call, all or none, and names the first pair it refuses. So that
one refused pair does not hold back the others, the form sends the rest again without it (each attempt
with its own idempotency key, derived from the form's), until matching accepts them or none are left:
the accepted pairs are recorded as one meetup, and the refused rows come back in the form with why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from . import ServiceRefused, ServiceUnavailable, WorkspaceRequest, workspace_request
from . import matching_support as support

router = APIRouter(include_in_schema=False)
ROWS = 8
MAX_ROWS = 40


@dataclass
class Outcome:
    recorded: list[dict[str, Any]] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)  # row number -> why
    problems: dict[str, str] = field(default_factory=dict)  # the whole form's (nothing recorded)


def _rows(form: FormData, count: int) -> list[tuple[int, str, str]]:
    rows = []
    for row in range(1, count + 1):
        newcomer, established = str(form.get(f"newcomer-{row}", "")), str(form.get(f"established-{row}", ""))
        if newcomer or established:
            rows.append((row, newcomer, established))
    return rows


async def _page(
    ws: WorkspaceRequest,
    requested: str | None,
    *,
    rows: int = ROWS,
    values: dict[str, str] | None = None,
    outcome: Outcome | None = None,
    recorded_count: str | None = None,
    status_code: int = 200,
) -> Response:
    programmes = await support.programmes_of(ws, requested)
    newcomers: list[dict[str, Any]] = []
    established: list[dict[str, Any]] = []
    if programmes.chosen and ws.can_write:
        newcomers, established = await support.people_to_pair(ws, programmes.chosen)
    outcome = outcome or Outcome()
    ids = [n["id"] for n in newcomers] + [p[k] for p in outcome.recorded for k in ("newcomer_id", "established_id")]
    ids += [v for k, v in (values or {}).items() if k.startswith("newcomer-")]
    people = await support.names_of(ws, ids)
    known = {n["id"] for n in newcomers}
    # A newcomer kept in a refused row stays choosable though no longer waiting.
    newcomers += [
        {"id": v, "district": ""} for k, v in (values or {}).items() if k.startswith("newcomer-") and v not in known
    ]
    return ws.page(
        "workspace/matching/meetups.html",
        title=ws.t.text("Group meetup"),
        section=support.SECTION,
        status_code=status_code,
        programmes=programmes,
        rows=rows,
        newcomers=newcomers,
        established=established,
        values=values or {},
        outcome=outcome,
        problems=outcome.problems | {f"newcomer-{row}": why for row, why in outcome.refused.items()},
        recorded_count=recorded_count,
        max_rows=MAX_ROWS,
        today=support.today().isoformat(),
        name=lambda pid: support.full_name(people.get(str(pid)), ws),
    )


@router.get("/workspace/matching/meetups")
async def meetup_form(request: Request) -> Response:
    ws = await workspace_request(request)
    if isinstance(ws, Response):
        return ws
    rows, recorded = request.query_params.get("rows", ""), request.query_params.get("recorded", "")
    count = min(MAX_ROWS, max(ROWS, int(rows[:3]))) if rows.isdigit() else ROWS
    try:
        programme = request.query_params.get("programme")
        shown = recorded[:4] if recorded.isdigit() else None
        return await _page(ws, programme, rows=count, recorded_count=shown)
    except ServiceUnavailable:
        return ws.unavailable(support.SECTION)


async def _record(
    ws: WorkspaceRequest, programme: str, held_on: str, rows: list[tuple[int, str, str]], key: str
) -> Outcome:
    outcome = Outcome()
    remaining = list(rows)
    while remaining:
        body = {"held_on": held_on, "pairs": [{"newcomer_id": n, "established_id": e} for _r, n, e in remaining]}
        attempt_key = support.derived_key(key, *sorted(outcome.refused))
        try:
            outcome.recorded = await ws.web.matching.write(
                "POST", f"/programmes/{programme}/meetups", ws.caller, body, idempotency_key=attempt_key
            )
            return outcome
        except ServiceRefused as exc:
            index = _refused_index(exc)
            if index is None or index >= len(remaining):
                outcome.problems = support.problems_of(ws, exc, {"held_on": "held_on"})
                if exc.status_code == 404:
                    outcome.problems = {
                        "form": ws.t.text("Someone in the form is not yet known to matching. Try again in a moment.")
                    }
                outcome.refused = {}
                return outcome
            row = remaining.pop(index)[0]
            outcome.refused[row] = " ".join(support.problems_of(ws, exc).values())
    return outcome


def _refused_index(exc: ServiceRefused) -> int | None:
    """The meetup's pair that matching refused (``loc`` body, pairs, index), or None for the whole form."""
    if exc.status_code != 422 or not isinstance(exc.detail, list):
        return None
    for item in exc.detail:
        loc = item.get("loc", []) if isinstance(item, dict) else []
        if len(loc) >= 3 and loc[1] == "pairs" and isinstance(loc[2], int):
            return loc[2]
    return None


@router.post("/workspace/matching/meetups")
async def record_meetup(request: Request) -> Response:
    got = await support.posted(request)
    if isinstance(got, Response):
        return got
    ws, form = got
    programme = str(form.get("programme", ""))
    posted_rows = str(form.get("rows", ""))
    count = min(MAX_ROWS, max(ROWS, int(posted_rows[:3]))) if posted_rows.isdigit() else ROWS
    rows = _rows(form, count)
    half = {
        row: ws.t.text("Choose both a newcomer and an established resident.") for row, n, e in rows if not (n and e)
    }
    kept_fields = ("newcomer-", "established-", "held_on")
    values = {k: support.printable(v) for k, v in form.items() if k.startswith(kept_fields)}
    if form.get("more"):  # more rows, keeping what was chosen (no JavaScript needed)
        try:
            return await _page(ws, programme, rows=min(MAX_ROWS, count + ROWS), values=values)
        except ServiceUnavailable:
            return ws.unavailable(support.SECTION)
    try:
        if half or not rows:
            outcome = Outcome(refused=half)
            if not rows:
                outcome.problems = {"newcomer-1": ws.t.text("Choose at least one pair.")}
            return await _page(ws, programme, rows=count, values=values, outcome=outcome, status_code=422)
        outcome = await _record(ws, programme, str(form.get("held_on", "")), rows, str(form.get("key", "")))
        if outcome.recorded and not outcome.refused:
            return support.redirect(
                ws, "/workspace/matching/meetups", programme=programme, recorded=str(len(outcome.recorded))
            )
        # Only the refused rows stay in the form, renumbered from the top.
        kept: dict[str, str] = {"held_on": values.get("held_on", "")}
        refused: dict[int, str] = {}
        for new_row, (row, newcomer, established) in enumerate((r for r in rows if r[0] in outcome.refused), 1):
            kept |= {f"newcomer-{new_row}": newcomer, f"established-{new_row}": established}
            refused[new_row] = outcome.refused[row]
        if outcome.problems:
            kept, refused = values, {}
        outcome.refused = refused
        status_code = 200 if outcome.recorded else 422
        return await _page(ws, programme, rows=count, values=kept, outcome=outcome, status_code=status_code)
    except ServiceUnavailable:
        return ws.unavailable(support.SECTION)
