"""A programme's matching settings (admin): eligibility, weights, language preference, the longest wait
that counts, the follow-up schedule and how many candidates each newcomer brings to the solver. Other roles
see them and change nothing."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from . import ServiceRefused, ServiceUnavailable, WorkspaceRequest, workspace_request
from .matching_support import posted, problems_of, programmes_of, redirect
from .matching_words import WORDS, choices

router = APIRouter(include_in_schema=False)
PATH = "/workspace/settings/matching"
SETTINGS_SECTION = "settings"
NUMBERS = ("max_wait_days", "candidates_per_newcomer")


async def _page(
    ws: WorkspaceRequest,
    requested: str | None,
    *,
    problems: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    saved: bool = False,
    status_code: int = 200,
) -> Response:
    programmes = await programmes_of(ws, requested)
    current, version = None, ""
    if programmes.chosen:
        read = await ws.web.matching.get_bytes(f"/programmes/{programmes.chosen}/settings", ws.caller)
        current, version = read.json(), read.headers.get("etag", "").strip('"')
    return ws.page(
        "workspace/matching/settings.html",
        title=ws.t.text("Matching settings"),
        section=SETTINGS_SECTION,
        status_code=status_code,
        programmes=programmes,
        current=values or current,
        weights=choices(ws.t, "weight"),
        eligibilities=choices(ws.t, "eligibility"),
        preferences=choices(ws.t, "language_preference"),
        problems=problems or {},
        saved=saved,
        version=version,  # the settings' version shown, sent back as If-Match
    )


@router.get(PATH)
async def settings_page(request: Request) -> Response:
    ws = await workspace_request(request)
    if isinstance(ws, Response):
        return ws
    try:
        return await _page(ws, request.query_params.get("programme"), saved=request.query_params.get("saved") == "1")
    except ServiceUnavailable:
        return ws.unavailable(SETTINGS_SECTION)


def _number(raw: object) -> int | str:
    text = str(raw or "").strip()
    return int(text) if text.isdigit() and len(text) < 7 else text


def _settings_of(form: FormData) -> tuple[dict[str, Any], dict[str, str]]:
    """The PUT body from the form, and the fields that are not whole numbers (checked here, named there)."""
    body: dict[str, Any] = {
        "eligibility": str(form.get("eligibility", "")),
        "language_preference": str(form.get("language_preference", "")),
        "weights": {code: _number(form.get(f"weights-{code}")) for code in WORDS["weight"]},
        **{name: _number(form.get(name)) for name in NUMBERS},
    }
    days = [part.strip() for part in str(form.get("follow_up_days", "")).replace(";", ",").split(",") if part.strip()]
    body["follow_up_days"] = [_number(d) for d in days]
    wrong = {f"weights-{k}" for k, v in body["weights"].items() if isinstance(v, str)}
    wrong |= {name for name in NUMBERS if isinstance(body[name], str)}
    if any(isinstance(d, str) for d in body["follow_up_days"]):
        wrong.add("follow_up_days")
    return body, {name: "" for name in wrong}


@router.post(PATH)
async def save_settings(request: Request) -> Response:
    got = await posted(request, admin=True)
    if isinstance(got, Response):
        return got
    ws, form = got
    programme = str(form.get("programme", ""))
    body, wrong = _settings_of(form)
    shown = body | {"follow_up_days": str(form.get("follow_up_days", ""))}
    try:
        if wrong:
            message = ws.t.text("Give a whole number.")
            return await _page(ws, programme, problems=dict.fromkeys(wrong, message), values=shown, status_code=422)
        # The version the page showed: another admin's save in between is refused (412), not overwritten.
        version = str(form.get("version", ""))
        headers = {"If-Match": f'"{version}"'} if version.isdigit() else {}
        await ws.web.matching.write("PUT", f"/programmes/{programme}/settings", ws.caller, body, headers=headers)
    except ServiceUnavailable:
        return ws.unavailable(SETTINGS_SECTION)
    except ServiceRefused as exc:
        fields = {f"weights-{code}": f"weights-{code}" for code in WORDS["weight"]}
        fields |= {name: name for name in (*NUMBERS, "follow_up_days", "eligibility", "language_preference")}
        problems = problems_of(ws, exc, fields, default="eligibility")
        if exc.status_code in (412, 428):  # the form kept; saving again replaces the version now there
            problems = {"eligibility": ws.t.text("Not saved: changed by someone else")}
        return await _page(ws, programme, problems=problems, values=shown, status_code=exc.status_code)
    return redirect(ws, PATH, programme=programme, saved="1")
