"""The partnership's settings (``/workspace/settings/partnership``, admins only): its partners, each
partner's yearly contribution and what it covers, the validity period, purpose and goals, as reporting
holds them. An edit carries the version it was read at (If-Match): a change someone saved in between is
never overwritten unseen; the page says so and keeps what was typed."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from . import ServiceRefused, ServiceUnavailable, WorkspaceRequest, form_key, workspace_request
from .review_partnership_form import GOAL_KINDS, MAX_GOALS, MAX_PARTNERS, form_to_terms, rows_in, terms_to_form

router = APIRouter(include_in_schema=False)
BASE = "/workspace/settings/partnership"
_SPARE_ROWS = 2  # empty rows below the filled ones; "More rows" adds three


def _(message: str) -> str:  # marks a message for extraction; translated where it is shown
    return message


GOAL_KIND_LABELS = {
    "": _("No goal (empty row)"),
    "more_new_pairs": _("More new pairs than the year before (checked)"),
    "regular_activity_in_district": _("A weekly activity in a district (checked)"),
    "keep_mean_attendance": _("Mean attendance per session kept (checked)"),
    "text": _("A goal in words (judged in the review)"),
}


def _lang(ws: WorkspaceRequest) -> str:
    return "en" if ws.locale.code == "en" else "sv"


async def _vocabularies(ws: WorkspaceRequest) -> dict[str, list[tuple[str, str]]]:
    configuration = await ws.web.intake.configuration(ws.caller)
    if configuration is None:
        return {"programmes": [], "districts": []}
    english = _lang(ws) == "en"
    return {
        kind: [(e.code, e.labels.en if english else e.labels.sv) for e in getattr(configuration, kind)]
        for kind in ("programmes", "districts")
    }


@router.get(BASE)
async def partnerships(request: Request) -> Response:
    ws = await workspace_request(request, admin=True)
    if isinstance(ws, Response):
        return ws
    try:
        found = await ws.web.reporting.get("/partnerships", ws.caller)
        vocabularies = await _vocabularies(ws)
    except ServiceUnavailable:
        return ws.unavailable("settings")
    return ws.page(
        "workspace/review/partnerships.html",
        title=ws.t.text("The partnership"),
        section="settings",
        partnerships=found,
        programme_labels=dict(vocabularies["programmes"]),
        edit_url=lambda p: ws.url(f"{BASE}/{p['id']}"),
    )


@router.get(BASE + "/{partnership_id}")
async def edit(partnership_id: str, request: Request) -> Response:
    ws = await workspace_request(request, admin=True)
    if isinstance(ws, Response):
        return ws
    if partnership_id == "new":
        return await _form(ws, None, {}, {})
    try:
        found = await _read(ws, partnership_id)
    except ServiceUnavailable:
        return ws.unavailable("settings")
    if found is None:
        return _not_found(ws)
    return await _form(ws, found, terms_to_form(found), {}, saved=bool(request.query_params.get("saved")))


async def _read(ws: WorkspaceRequest, partnership_id: str) -> dict[str, Any] | None:
    try:
        return await ws.web.reporting.get(f"/partnerships/{uuid.UUID(partnership_id)}", ws.caller)
    except ValueError:
        return None
    except ServiceRefused as exc:
        if exc.status_code == 404:
            return None
        raise


@router.post(BASE + "/{partnership_id}")
async def save(partnership_id: str, request: Request) -> Response:
    ws = await workspace_request(request, admin=True)
    if isinstance(ws, Response):
        return ws
    raw = await request.form()
    if not ws.csrf_ok(raw):
        return ws.message(ws.t.text("The form expired"), ws.t.text("Please go back and try again."), status_code=403)
    values = {key: value for key, value in raw.items() if isinstance(value, str)}
    try:
        return await _save(ws, partnership_id, values)
    except ServiceUnavailable:
        return ws.unavailable("settings")


async def _save(ws: WorkspaceRequest, partnership_id: str, values: dict[str, str]) -> Response:
    current = None if partnership_id == "new" else await _read(ws, partnership_id)
    if partnership_id != "new" and current is None:
        return _not_found(ws)
    if values.get("more"):
        return await _form(ws, current, values, {}, extra_rows=3)
    vocabularies = await _vocabularies(ws)
    terms, problems = form_to_terms(values, {code for code, _label in vocabularies["districts"]})
    if terms is None:
        translated = {field: ws.t.text(message) for field, message in problems.items()}
        return await _form(ws, current, values, translated, status_code=422)
    try:
        if current is None:
            saved = await ws.web.reporting.write(
                "POST", "/partnerships", ws.caller, terms, idempotency_key=values.get("form_key") or form_key()
            )
        else:
            if values.get("version") != str(current["version"]):
                return await _conflict(ws, current, values)
            saved = await ws.web.reporting.write(
                "PUT", f"/partnerships/{current['id']}", ws.caller, terms, headers={"If-Match": values["version"]}
            )
    except ServiceRefused as exc:
        if exc.status_code == 412 and current is not None:
            return await _conflict(ws, await _read(ws, current["id"]) or current, values)
        return await _form(ws, current, values, {"title": ws.refused_message(exc)}, status_code=422)
    return RedirectResponse(ws.url(f"{BASE}/{saved['id']}", saved="1"), status_code=303)


async def _conflict(ws: WorkspaceRequest, current: dict[str, Any], values: dict[str, str]) -> Response:
    """Someone saved in between: nothing is overwritten. The form keeps what was typed, with the version now
    saved, so that saving again is a choice made knowing what the other person saved."""
    message = ws.t.text(
        "Someone else changed this partnership after you opened it, so nothing was saved. "
        "What is saved now is listed below; your entries are still in the form. Save again to replace it with yours."
    )
    return await _form(
        ws, current, values | {"version": str(current["version"])}, {}, conflict=message, status_code=409
    )


async def _form(
    ws: WorkspaceRequest,
    current: dict[str, Any] | None,
    values: dict[str, str],
    problems: dict[str, str],
    *,
    extra_rows: int = 0,
    saved: bool = False,
    conflict: str | None = None,
    status_code: int = 200,
) -> Response:
    vocabularies = await _vocabularies(ws)
    version = values.get("version") or (str(current["version"]) if current else "")
    partner_rows = min(MAX_PARTNERS, rows_in(values, "partner", MAX_PARTNERS) + _SPARE_ROWS + extra_rows)
    goal_rows = min(MAX_GOALS, rows_in(values, "goal", MAX_GOALS) + _SPARE_ROWS + extra_rows)
    action = f"{BASE}/{current['id'] if current else 'new'}?lang={ws.locale.code}"
    title = current["title"] if current else ws.t.text("Record a partnership")
    return ws.page(
        "workspace/review/partnership.html",
        title=title,
        section="settings",
        status_code=status_code,
        current=current,
        values=values,
        version=version,
        problems=problems,
        action=action,
        partner_rows=range(max(partner_rows, 1)),
        goal_rows=range(goal_rows),
        goal_kinds=[(kind, ws.t.text(GOAL_KIND_LABELS[kind])) for kind in ("", *GOAL_KINDS)],
        programmes=vocabularies["programmes"],
        districts=vocabularies["districts"],
        saved=saved,
        conflict=conflict,
        back=ws.url(BASE),
    )


def _not_found(ws: WorkspaceRequest) -> Response:
    return ws.message(
        ws.t.text("Not found"),
        ws.t.text("It does not exist, or it belongs to another organisation."),
        status_code=404,
        section="settings",
    )
