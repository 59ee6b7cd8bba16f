"""The partnership review (``/workspace/review``): a period (a calendar year, or from-to) and a programme
or all, the review from reporting with the same period a year earlier beside it, its charts and tables,
the goals in words, and the narrative parts, one form each, saved with the narrative's version (If-Match)
so that two people writing the same review never overwrite each other unseen."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import date
from typing import Any

from babel.dates import format_date
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from . import ServiceRefused, ServiceUnavailable, WorkspaceRequest, workspace_request
from .review_downloads import CHARTS
from .review_downloads import router as downloads
from .review_settings import router as settings
from .review_view import PeriodChoice, Words, choose_period, goal_views, key_figures, table_view

router = APIRouter(include_in_schema=False)
router.include_router(downloads)
router.include_router(settings)

NARRATIVE_PARTS = ("background", "future", "summary")
_MAX_NARRATIVE = 20000  # reporting's limit per part


def _(message: str) -> str:  # marks a message for extraction; translated where it is shown
    return message


NARRATIVE_HINTS = {
    "background": _("How the partnership came about and what the programme does."),
    "future": _("What the partners plan for the next period."),
    "summary": _("What the partners concluded in the review."),
}
# Each chart is drawn from the table of the same numbers, shown beside it.
CHART_TABLES = {
    "registrations": "registrations_by_month",
    "pairs": "pairs_over_time",
    "attendance": "attendance_by_district",
}


def _lang(ws: WorkspaceRequest) -> str:
    return "en" if ws.locale.code == "en" else "sv"


def _params(source: Any) -> dict[str, str]:
    return {key: value for key, value in source.items() if isinstance(value, str)}


async def _programmes(ws: WorkspaceRequest) -> list[tuple[str, str]]:
    configuration = await ws.web.intake.configuration(ws.caller)
    if configuration is None:
        return []
    return [(p.code, p.labels.en if _lang(ws) == "en" else p.labels.sv) for p in configuration.programmes]


@router.get("/workspace/review")
async def review_page(request: Request) -> Response:
    ws = await workspace_request(request)
    if isinstance(ws, Response):
        return ws
    try:
        return await render_review(ws, _params(request.query_params))
    except ServiceUnavailable:
        return ws.unavailable("review")


async def render_review(
    ws: WorkspaceRequest, params: dict[str, str], *, conflict: dict[str, str] | None = None, status_code: int = 200
) -> Response:
    """The page for ``params`` (the period form's fields). ``conflict``: a narrative part that could not be
    saved, with the text its writer typed, shown beside what is saved now."""
    choice, problems = choose_period(params, date.today())
    programmes = await _programmes(ws)
    context: dict[str, Any] = {
        "values": params,
        "programmes": programmes,
        "problems": {field: ws.t.text(message) for field, message in problems.items()},
        "choice": choice,
        "review": None,
    }
    title = ws.t.text("Partnership review")
    if choice is None:
        return ws.page("workspace/review/page.html", title=title, section="review", status_code=422, **context)
    lang = _lang(ws)
    try:
        review, texts = await asyncio.gather(
            ws.web.reporting.get("/reviews", ws.caller, **choice.service_query()),
            ws.web.reporting.get("/reviews/texts", ws.caller, lang=lang),
        )
    except ServiceRefused as exc:
        field_errors = exc.field_errors()
        context["problems"] = {
            name if name in ("from", "to", "programme") else "from": text for name, text in field_errors.items()
        } or {"from": ws.refused_message(exc)}
        return ws.page("workspace/review/page.html", title=title, section="review", status_code=422, **context)
    context |= await _review_context(ws, choice, review, texts, conflict)
    return ws.page("workspace/review/page.html", title=title, section="review", status_code=status_code, **context)


async def _review_context(
    ws: WorkspaceRequest,
    choice: PeriodChoice,
    review: dict[str, Any],
    texts: dict[str, Any],
    conflict: dict[str, str] | None,
) -> dict[str, Any]:
    words = Words(_lang(ws), texts, review["labels"])
    not_stated = ws.t.text("(not stated)")
    tables = {t["name"]: table_view(t, words, not_stated) for t in review["tables"]}
    partnership = review["partnership"]
    narrative = {"background": "", "future": "", "summary": "", "version": 0}
    if partnership:
        period = review["period"]
        with contextlib.suppress(ServiceRefused):  # the partnership went in between: no narrative to show
            narrative = await ws.web.reporting.get(
                f"/partnerships/{partnership['id']}/narratives/{period['start']}/{period['end']}", ws.caller
            )
    chart_query = choice.query() | {"lang": ws.locale.code}
    return {
        "review": review,
        "words": words,
        "figures": key_figures(review, words, ws.t.text),
        "goals": goal_views(review, words, ws.t.text),
        "tables": tables,
        "charts": [
            {
                "name": name,
                "src": ws.url(f"/workspace/review/charts/{name}.svg", **chart_query),
                "table": tables[CHART_TABLES[name]],
                "alt": ws.t.text("%(title)s, as a chart. The same numbers are in the table below it.")
                % {"title": tables[CHART_TABLES[name]]["title"]},
            }
            for name in CHARTS
        ],
        "csv_url": lambda name: ws.url(f"/workspace/review/tables/{name}.csv", **choice.query()),
        "partnership": partnership,
        "narrative": narrative,
        "narrative_parts": NARRATIVE_PARTS,
        "narrative_hints": {part: ws.t.text(hint) for part, hint in NARRATIVE_HINTS.items()},
        "conflict": conflict,
        "saved": ws.request.query_params.get("saved") if ws.request.method == "GET" else None,
        "weekly_districts": [
            words.code("district", d, not_stated)
            for d in review["figures"]["current"]["activities"]["weekly_districts"]
        ],
        "day": lambda value: _long_day(value, words.lang),
        "definitions": [text[words.lang] for text in review["definitions"].values()],
    }


def _long_day(value: str, lang: str) -> str:
    return format_date(date.fromisoformat(value), format="long", locale="sv_SE" if lang == "sv" else "en_GB")


@router.post("/workspace/review/narrative")
async def save_narrative(request: Request) -> Response:
    """One part of the narrative. The form carries the version it was rendered with: if someone saved the
    narrative since, nothing is overwritten and the page shows both texts."""
    ws = await workspace_request(request, write=True)
    if isinstance(ws, Response):
        return ws
    raw = await request.form()
    form = _params(raw)
    if not ws.csrf_ok(raw):
        return ws.message(ws.t.text("The form expired"), ws.t.text("Please go back and try again."), status_code=403)
    choice, problems = choose_period(form, date.today())
    part, text, version = form.get("part", ""), form.get("text", ""), form.get("version", "")
    try:
        partnership_id = uuid.UUID(form.get("partnership_id", ""))
    except ValueError:
        partnership_id = None
    if choice is None or part not in NARRATIVE_PARTS or not version.isdigit() or partnership_id is None:
        return ws.message(
            ws.t.text("The change was refused."), ws.t.text("Please go back and try again."), status_code=422
        )
    path = f"/partnerships/{partnership_id}/narratives/{choice.start.isoformat()}/{choice.end.isoformat()}"
    page_params = choice.query()
    if len(text) > _MAX_NARRATIVE:
        return await _narrative_problem(
            ws, page_params, part, text, ws.t.text("The text is too long: at most 20,000 characters.")
        )
    try:
        current = await ws.web.reporting.get(path, ws.caller)
        if str(current["version"]) != version:
            return await _conflict(ws, page_params, part, text)
        body = {key: current[key] for key in NARRATIVE_PARTS} | {part: text}
        await ws.web.reporting.write("PUT", path, ws.caller, body, headers={"If-Match": str(current["version"])})
    except ServiceUnavailable:
        return ws.unavailable("review")
    except ServiceRefused as exc:
        if exc.status_code == 412:
            return await _conflict(ws, page_params, part, text)
        if exc.status_code == 422:
            return await _narrative_problem(ws, page_params, part, text, ws.refused_message(exc))
        return ws.message(ws.t.text("The change was refused."), ws.refused_message(exc), status_code=exc.status_code)
    saved = ws.url("/workspace/review", **page_params, saved=part)
    return RedirectResponse(f"{saved}#narrative-{part}", status_code=303)


async def _conflict(ws: WorkspaceRequest, params: dict[str, str], part: str, text: str) -> Response:
    message = ws.t.text(
        "Someone else saved the narrative after you opened this page, so your text was not saved. "
        "What is saved now is shown above your text: copy what you need into it and save again."
    )
    return await _narrative_problem(ws, params, part, text, message, status_code=409)


async def _narrative_problem(
    ws: WorkspaceRequest, params: dict[str, str], part: str, text: str, message: str, status_code: int = 422
) -> Response:
    try:
        return await render_review(
            ws, params, conflict={"part": part, "text": text, "message": message}, status_code=status_code
        )
    except ServiceUnavailable:
        return ws.unavailable("review")
