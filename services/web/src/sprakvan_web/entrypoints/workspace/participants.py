"""Participants: the list (filters, search by name, pages), the profile, the interview and the withdrawal.

Names live only in intake: the list asks intake's ``GET /participants`` (``name`` searches the beginnings of
the first and last name through an index, pages go by keyset cursor, newest first). Editing and erasure are
in ``participants_edit.py``; registering on someone's behalf is the public form, filled in together
(``?assisted=1``), which comes back to the new profile.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from sprakvan_shared import text as text_rules
from sprakvan_shared.contracts.intake import OrganisationConfiguration

from ...domain import locales
from ...service_layer import signup as signups
from .. import labels
from ..context import pool_of
from ..rendering import render
from ..signup_page import configuration_of
from . import ServiceRefused, ServiceUnavailable, WorkspaceRequest, workspace_request
from .participants_words import GENDERS, STATUSES, WITHDRAWAL_REASONS, Words, _

router = APIRouter(include_in_schema=False)
SECTION = "participants"
PAGE_SIZE = 50
BASE = "/workspace/participants"

# What a POST-redirect-GET says on the page it lands on (?done=...).
DONE = {
    "interview": _("The interview was recorded."),
    "withdrawn": _("The participant was withdrawn."),
    "saved": _("The changes were saved."),
    "registered": _("The registration was saved."),
    "erased": _("The participant was erased."),
}
# A 409 of intake, in words: the participant's status does not allow the change.
CONFLICTS = {
    "interview": _("The interview cannot be recorded: the participant is withdrawn."),
    "withdrawn": _("The participant is withdrawn already."),
}
INTERVIEWED = {"yes": _("Interviewed"), "no": _("Not interviewed yet")}


async def configuration(ws: WorkspaceRequest) -> OrganisationConfiguration | None:
    return await configuration_of(ws.request, ws.organisation_id)


def parse_id(participant_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(participant_id)
    except ValueError:
        return None


def not_found(ws: WorkspaceRequest) -> Response:
    return ws.message(
        ws.t.text("Participant not found"),
        ws.t.text("It does not exist, or it belongs to another organisation."),
        status_code=404,
        section=SECTION,
    )


def expired(ws: WorkspaceRequest) -> Response:
    return ws.message(
        ws.t.text("The form has expired"),
        ws.t.text("Open the page again and send the form once more. Nothing was changed."),
        status_code=400,
        section=SECTION,
    )


async def posted(request: Request, participant_id: str) -> tuple[WorkspaceRequest, FormData, uuid.UUID] | Response:
    """A writer's form about one participant, with a valid CSRF token, or the response to send instead."""
    ws = await workspace_request(request, write=True)
    if isinstance(ws, Response):
        return ws
    form = await request.form(max_files=0, max_fields=400)
    if not ws.csrf_ok(form):
        return expired(ws)
    found = parse_id(participant_id)
    return (ws, form, found) if found else not_found(ws)


def _filters(ws: WorkspaceRequest, words: Words) -> dict[str, str]:
    """The list's filters as asked, each kept only when it is one of the choices offered."""
    query = ws.request.query_params
    offered = {
        "programme": dict(words.choices("programme")),
        "district": dict(words.choices("district")),
        "role": labels.ROLES,
        "status": STATUSES,
        "interviewed": INTERVIEWED,
    }
    found = {key: query.get(key, "") for key, choices in offered.items() if query.get(key, "") in choices}
    name = " ".join(query.get("name", "").split())[:100]
    if name and text_rules.problem(name) is None:
        found["name"] = name
    return found


@router.get(BASE)
async def participant_list(request: Request) -> Response:
    ws = await workspace_request(request)
    if isinstance(ws, Response):
        return ws
    try:
        words = Words(ws.t, await configuration(ws))
        filters = _filters(ws, words)
        cursor = request.query_params.get("cursor") or None
        interviewed = {"yes": "true", "no": "false"}.get(filters.get("interviewed", ""))
        query = {k: v for k, v in filters.items() if k != "interviewed"}
        page = await ws.web.intake.get(
            "/participants", ws.caller, limit=PAGE_SIZE, newest_first="true", cursor=cursor,
            interviewed=interviewed, **query,
        )  # fmt: skip
    except ServiceUnavailable:
        return ws.unavailable(SECTION)
    except ServiceRefused as refused:  # a cursor that is not intake's: start again
        if refused.status_code != 422 or cursor is None:
            return ws.message(ws.t.text("The list cannot be shown"), ws.refused_message(refused), status_code=400)
        return RedirectResponse(ws.url(BASE, **filters), status_code=303)
    context: dict[str, Any] = {
        "rows": [words.row(p) for p in page["items"]],
        "filters": filters,
        "next_url": ws.url(BASE, cursor=page["next_cursor"], **filters) if page["next_cursor"] else None,
        "first_url": ws.url(BASE, **filters) if cursor else None,
        "choices": {
            "programme": words.choices("programme"),
            "role": [(code, ws.t.text(label)) for code, label in labels.ROLES.items()],
            "status": [(code, ws.t.text(label)) for code, label in STATUSES.items()],
            "district": words.choices("district"),
            "interviewed": [(code, ws.t.text(label)) for code, label in INTERVIEWED.items()],
        },
    }
    if request.headers.get("HX-Request") == "true":
        return render(request, "workspace/participants/_results.html", ws.locale, title="", ws=ws, **context)
    done = request.query_params.get("done", "")
    return ws.page(
        "workspace/participants/list.html",
        title=ws.t.text("Participants"),
        section=SECTION,
        done=ws.t.text(DONE[done]) if done in DONE else None,
        register_links=[
            (ws.url(f"/signup/{ws.organisation_id}/{code}", assisted="1"), label)
            for code, label in words.choices("programme")
        ],
        **context,
    )


async def participant_of(ws: WorkspaceRequest, participant_id: uuid.UUID) -> dict[str, Any] | Response:
    """What intake holds about the participant, or the page to show instead (not found, try again)."""
    try:
        return await ws.web.intake.get(f"/participants/{participant_id}", ws.caller)
    except ServiceUnavailable:
        return ws.unavailable(SECTION)
    except ServiceRefused as refused:
        if refused.status_code == 404:
            return not_found(ws)
        raise


async def profile_page(
    ws: WorkspaceRequest,
    participant_id: uuid.UUID,
    *,
    problems: dict[str, str] | None = None,
    refusal: str | None = None,
    values: FormData | None = None,
    status_code: int = 200,
) -> Response:
    p = await participant_of(ws, participant_id)
    if isinstance(p, Response):
        return p
    try:
        words = Words(ws.t, await configuration(ws))
    except ServiceUnavailable:
        return ws.unavailable(SECTION)
    contact = await signups.contact_languages(pool_of(ws.request), ws.organisation_id, [participant_id])
    language = contact.get(participant_id)
    done = ws.request.query_params.get("done", "")
    return ws.page(
        "workspace/participants/profile.html",
        title=f"{p['first_name']} {p['last_name']}",
        section=SECTION,
        status_code=status_code,
        p=p,
        w=words,
        details=_details(ws, words, p, language),
        interviews=[
            {"held_on": words.day(i["held_on"]), "coordinator": i["coordinator"], "notes": i["notes"]}
            for i in reversed(p.get("interviews") or [])
        ],
        done=ws.t.text(DONE[done]) if done in DONE else None,
        problems=problems or {},
        refusal=refusal,
        values=values or {},
        today=date.today().isoformat(),
        reasons=[(code, ws.t.text(label)) for code, label in WITHDRAWAL_REASONS.items()],
    )


def _details(ws: WorkspaceRequest, w: Words, p: dict[str, Any], contact_language: str | None) -> list[tuple[str, Any]]:
    """Everything intake holds about the person, as (question, answer) in the page's language."""
    t = ws.t
    wishes = p.get("wishes") or {}
    ages = [str(wishes[k]) if wishes.get(k) is not None else "" for k in ("age_min", "age_max")]
    consent = p.get("consent") or {}
    contact = locales.find(contact_language or "")
    rows: list[tuple[str, Any]] = [
        (t.text("Role"), w.fixed(labels.ROLES, p["role"])),
        (t.text("Programme"), w.code("programme", p["programme"])),
        (t.text("Stage"), w.fixed(STATUSES, p["status"])),
        (t.text("Email address"), p.get("email") or "–"),
        (t.text("Phone number"), p.get("phone") or "–"),
        (t.text("Contact in"), contact.label if contact else "–"),
        (t.text("Gender"), w.fixed(GENDERS, p["gender"])),
        (t.text("Year of birth"), str(p["birth_year"])),
        (t.text("District"), w.code("district", p["district"])),
        (t.text("Languages"), ", ".join(w.languages(p.get("languages") or [])) or "–"),
    ]
    if p["role"] == "newcomer":
        rows.append((t.text("Swedish"), w.fixed(labels.SWEDISH_LEVELS, p.get("swedish_level"))))
    else:
        rows.append((t.text("Newcomers they can meet"), str(p.get("capacity") or "")))
    rows += [
        (t.text("Interests"), ", ".join(w.code("interest", c) for c in p.get("interests") or []) or "–"),
        (t.text("Available"), ", ".join(w.availability(p.get("availability") or [])) or "–"),
        (t.text("Wishes a friend of the same gender"), t.text("Yes") if wishes.get("same_gender") else t.text("No")),
        (t.text("Age of the friend"), "–".join(ages) if any(ages) else t.text("Any age")),
        (t.text("Heard of us through"), w.code("referral_source", p.get("referral_source"))),
        (t.text("Campaign"), w.code("campaign", p.get("campaign")) or "–"),
        (t.text("Consent to storing the details"), w.moment(consent.get("given_at")) or "–"),
        (t.text("Consent to a photo"), t.text("Yes") if consent.get("photo") else t.text("No")),
        (t.text("Registered"), w.moment(p["registered_at"])),
        (t.text("Interviewed"), w.day(p.get("interviewed_on")) or t.text("Not yet")),
    ]
    if p.get("withdrawn_at"):
        reason = w.fixed(WITHDRAWAL_REASONS, p.get("withdrawal_reason"))
        rows.append((t.text("Withdrawn"), f"{w.moment(p['withdrawn_at'])}: {reason}"))
    rows.append((t.text("Last changed"), w.moment(p["updated_at"])))
    return rows


@router.get(BASE + "/{participant_id}")
async def profile(request: Request, participant_id: str) -> Response:
    ws = await workspace_request(request)
    if isinstance(ws, Response):
        return ws
    found = parse_id(participant_id)
    return await profile_page(ws, found) if found else not_found(ws)


@router.post(BASE + "/{participant_id}/interviews")
async def record_interview(request: Request, participant_id: str) -> Response:
    got = await posted(request, participant_id)
    if isinstance(got, Response):
        return got
    ws, form, found = got
    held_on = str(form.get("held_on") or "").strip()
    body = {
        "held_on": held_on,
        "coordinator": " ".join(str(form.get("coordinator") or "").split()) or ws.session.user.display_name,
        "notes": str(form.get("notes") or "").strip(),
    }
    try:
        date.fromisoformat(held_on)
    except ValueError:
        problems = {"held_on": ws.t.text("Enter the date of the interview, like 2026-11-30")}
        return await profile_page(ws, found, problems=problems, values=form, status_code=422)
    return await _change(ws, found, "POST", f"/participants/{found}/interviews", body, form, done="interview")


@router.post(BASE + "/{participant_id}/withdraw")
async def withdraw(request: Request, participant_id: str) -> Response:
    got = await posted(request, participant_id)
    if isinstance(got, Response):
        return got
    ws, form, found = got
    reason = str(form.get("reason") or "")
    if reason not in WITHDRAWAL_REASONS:
        problems = {"reason": ws.t.text("Choose why the participant leaves")}
        return await profile_page(ws, found, problems=problems, values=form, status_code=422)
    return await _change(ws, found, "POST", f"/participants/{found}/withdraw", {"reason": reason}, form, "withdrawn")


async def _change(
    ws: WorkspaceRequest, participant_id: uuid.UUID, method: str, path: str, body: Any, form: FormData, done: str
) -> Response:
    """Send one change to intake; back to the profile with a notice, or the profile with the refusal."""
    try:
        await ws.web.intake.write(
            method, path, ws.caller, body, idempotency_key=str(form.get("form_key") or "") or None
        )
    except ServiceUnavailable:
        return ws.unavailable(SECTION)
    except ServiceRefused as refused:
        if refused.status_code == 404:
            return not_found(ws)
        problems = refused.field_errors()
        refusal = ws.t.text(CONFLICTS[done]) if refused.status_code == 409 else ws.refused_message(refused)
        return await profile_page(
            ws,
            participant_id,
            problems=problems,
            refusal=None if problems else refusal,
            values=form,
            status_code=refused.status_code,
        )
    return RedirectResponse(ws.url(f"{BASE}/{participant_id}", done=done), status_code=303)
