"""Changing a participant's details (``PATCH`` with ``If-Match``: someone else's change meanwhile is said in
words, nothing is overwritten) and erasing one, behind a page that says what erasure removes and keeps."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ...domain import choices
from .. import labels
from . import ServiceRefused, ServiceUnavailable, WorkspaceRequest, workspace_request
from .participants import BASE, SECTION, configuration, not_found, parse_id, participant_of, posted
from .participants_words import GENDERS, Words, _

router = APIRouter(include_in_schema=False)

TEXT_FIELDS = ("first_name", "last_name", "email", "phone")
CHECKBOXES = ("interests", "availability", "same_gender", "languages")
PROBLEMS = {
    "first_name": _("Enter a first name with at least one letter"),
    "last_name": _("Enter a last name with at least one letter"),
    "email": _("Enter an email address like name@example.com, or leave it empty"),
    "phone": _("Enter a phone number like 070 123 45 67, or leave it empty"),
    "birth_year": _("Enter the year of birth as four digits, like 1990"),
    "age_min": _("Enter ages between 16 and 110, the youngest first"),
    "capacity": _("Choose how many newcomers they can meet"),
    "contact": _("Keep an email address or a phone number"),
}


def _year(value: str) -> int | None:
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 4 else None


def _languages(form: Mapping[str, list[str]], current: list[dict[str, str]]) -> list[dict[str, str]]:
    """The first language and the others ticked; the others keep the level they had (new ones:
    conversational), and languages the form does not offer stay as they were."""
    native = (form.get("native_language") or [""])[0]
    levels = {s["code"]: s["level"] for s in current if s["level"] != "native"}
    spoken = [{"code": native, "level": "native"}] if native in choices.LANGUAGES else []
    spoken += [
        {"code": code, "level": levels.get(code, "conversational")}
        for code in dict.fromkeys(form.get("languages", []))
        if code in choices.LANGUAGES and code != native
    ]
    return (spoken + [s for s in current if s["code"] not in choices.LANGUAGES])[:10]


def patch_of(
    form: Mapping[str, list[str]], role: str, languages: list[dict[str, str]]
) -> tuple[dict[str, Any], list[str]]:
    """The form as intake's PATCH body, and the fields it cannot be (intake checks the rest again)."""

    def one(name: str) -> str:
        values = form.get(name) or [""]
        return " ".join(values[0].split())

    problems: list[str] = []
    patch: dict[str, Any] = {name: one(name) or None for name in TEXT_FIELDS}
    for name in ("first_name", "last_name"):
        if not patch[name]:
            problems.append(name)
    if not patch["email"] and not patch["phone"]:
        problems.append("contact")
    for name in ("gender", "programme", "district", "referral_source"):
        patch[name] = one(name)
    patch["campaign"] = one("campaign") or None
    patch["birth_year"] = _year(one("birth_year"))
    if patch["birth_year"] is None:
        problems.append("birth_year")
    patch["languages"] = _languages(form, languages)
    patch["interests"] = list(dict.fromkeys(v for v in form.get("interests", []) if v))
    patch["availability"] = [
        {"weekday": day, "part_of_day": part}
        for day in choices.WEEKDAYS
        for part in choices.PARTS_OF_DAY
        if f"{day}-{part}" in form.get("availability", [])
    ]
    ages = {name: _year(one(name)) if one(name) else None for name in ("age_min", "age_max")}
    if any(one(name) and ages[name] is None for name in ages):
        problems.append("age_min")
    patch["wishes"] = {"same_gender": one("same_gender") == "yes", **ages}
    if role == "newcomer":
        patch["swedish_level"] = one("swedish_level")
    else:
        patch["capacity"] = _year(one("capacity"))
        if patch["capacity"] is None:
            problems.append("capacity")
    return patch, problems


def _form_values(p: Mapping[str, Any]) -> dict[str, Any]:
    """A participant as the edit form's values (each a list, as a posted form's)."""
    wishes = p.get("wishes") or {}
    values: dict[str, Any] = {name: [p.get(name) or ""] for name in (*TEXT_FIELDS, "gender", "programme", "district")}
    values |= {
        "birth_year": [str(p.get("birth_year") or "")],
        "referral_source": [p.get("referral_source") or ""],
        "campaign": [p.get("campaign") or ""],
        "swedish_level": [p.get("swedish_level") or ""],
        "capacity": [str(p.get("capacity") or "")],
        "interests": list(p.get("interests") or []),
        "native_language": [next((s["code"] for s in p.get("languages") or [] if s["level"] == "native"), "")],
        "languages": [s["code"] for s in p.get("languages") or [] if s["level"] != "native"],
        "availability": [f"{s['weekday']}-{s['part_of_day']}" for s in p.get("availability") or []],
        "same_gender": ["yes"] if wishes.get("same_gender") else [],
        "age_min": [str(wishes["age_min"]) if wishes.get("age_min") is not None else ""],
        "age_max": [str(wishes["age_max"]) if wishes.get("age_max") is not None else ""],
    }
    return values


async def _writers_view(request: Request, participant_id: str) -> tuple[WorkspaceRequest, dict[str, Any]] | Response:
    """A page only writers see (a form), about one participant of the organisation."""
    ws = await workspace_request(request, write=True)
    if isinstance(ws, Response):
        return ws
    found = parse_id(participant_id)
    p = await participant_of(ws, found) if found else not_found(ws)
    return p if isinstance(p, Response) else (ws, p)


async def _edit_page(
    ws: WorkspaceRequest,
    p: dict[str, Any],
    values: Mapping[str, list[str]],
    *,
    version: int,
    problems: dict[str, str] | None = None,
    conflict: bool = False,
    status_code: int = 200,
) -> Response:
    words = Words(ws.t, await configuration(ws))
    day_names = labels.weekday_names(ws.t)
    return ws.page(
        "workspace/participants/edit.html",
        title=ws.t.text("Change the details of %(name)s") % {"name": f"{p['first_name']} {p['last_name']}"},
        section=SECTION,
        status_code=status_code,
        p=p,
        value=lambda name: (values.get(name) or [""])[0],
        picked={name: frozenset(values.get(name) or []) for name in CHECKBOXES},
        languages=sorted(
            ((code, labels.language_text(ws.t, code)[0]) for code in choices.LANGUAGES), key=lambda c: c[1].casefold()
        ),
        version=version,
        problems=problems or {},
        conflict=conflict,
        w=words,
        genders=[(code, ws.t.text(label)) for code, label in GENDERS.items()],
        swedish_levels=[(code, ws.t.text(labels.SWEDISH_LEVELS[code])) for code in choices.SWEDISH_LEVELS],
        capacities=choices.CAPACITIES,
        weekdays=[
            (
                day,
                day_names[i],
                [(f"{day}-{part}", ws.t.text(labels.PARTS_OF_DAY[part])) for part in choices.PARTS_OF_DAY],
            )
            for i, day in enumerate(choices.WEEKDAYS)
        ],
    )


@router.get(BASE + "/{participant_id}/edit")
async def edit_form(request: Request, participant_id: str) -> Response:
    got = await _writers_view(request, participant_id)
    if isinstance(got, Response):
        return got
    ws, p = got
    return await _edit_page(ws, p, _form_values(p), version=p["version"])


@router.post(BASE + "/{participant_id}/edit")
async def edit(request: Request, participant_id: str) -> Response:
    got = await posted(request, participant_id)
    if isinstance(got, Response):
        return got
    ws, form, found = got
    p = await participant_of(ws, found)
    if isinstance(p, Response):
        return p
    values = {key: form.getlist(key) for key in form.keys()}
    patch, wrong = patch_of(values, p["role"], p.get("languages") or [])
    version = _year(str(form.get("version") or "")) or 0
    if wrong:
        problems = {name: ws.t.text(PROBLEMS[name]) for name in wrong}
        return await _edit_page(ws, p, values, version=version, problems=problems, status_code=422)
    try:
        await ws.web.intake.write(
            "PATCH", f"/participants/{found}", ws.caller, patch, headers={"If-Match": f'"{version}"'}
        )
    except ServiceUnavailable:
        return ws.unavailable(SECTION)
    except ServiceRefused as refused:
        if refused.status_code == 404:
            return not_found(ws)
        if refused.status_code == 412:  # someone changed the person meanwhile: their version, the form kept
            return await _edit_page(ws, p, values, version=p["version"], conflict=True, status_code=409)
        problems = {
            field: ws.t.text(PROBLEMS[field]) if field in PROBLEMS else message
            for field, message in refused.field_errors().items()
        } or {"first_name": ws.refused_message(refused)}
        return await _edit_page(ws, p, values, version=version, problems=problems, status_code=422)
    return RedirectResponse(ws.url(f"{BASE}/{found}", done="saved"), status_code=303)


@router.get(BASE + "/{participant_id}/erase")
async def erase_confirmation(request: Request, participant_id: str) -> Response:
    got = await _writers_view(request, participant_id)
    if isinstance(got, Response):
        return got
    ws, p = got
    return ws.page(
        "workspace/participants/erase.html",
        title=ws.t.text("Erase %(name)s?") % {"name": f"{p['first_name']} {p['last_name']}"},
        section=SECTION,
        p=p,
    )


@router.post(BASE + "/{participant_id}/erase")
async def erase(request: Request, participant_id: str) -> Response:
    got = await posted(request, participant_id)
    if isinstance(got, Response):
        return got
    ws, form, found = got
    if form.get("confirm") != "yes":
        return RedirectResponse(ws.url(f"{BASE}/{found}/erase"), status_code=303)
    try:
        await ws.web.intake.write("DELETE", f"/participants/{found}", ws.caller)
    except ServiceUnavailable:
        return ws.unavailable(SECTION)
    except ServiceRefused as refused:
        if refused.status_code == 404:
            return not_found(ws)
        return ws.message(ws.t.text("The participant was not erased"), ws.refused_message(refused), status_code=409)
    return RedirectResponse(ws.url(BASE, done="erased"), status_code=303)
