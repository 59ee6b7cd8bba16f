"""Settings: the page of links to each part's settings, and the programme's vocabularies (admin).

The vocabularies are intake's ``GET``/``PUT /configuration``, the whole of it in one form, sent back with
``If-Match`` the version it was read at: an admin's change meanwhile is said in words and nothing is
overwritten; codes still in use are named.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from sprakvan_shared.contracts.intake import ProgrammeKind

from ...adapters.services import detail_of
from . import ServiceUnavailable, WorkspaceRequest, workspace_request
from .participants import expired
from .participants_words import _

router = APIRouter(include_in_schema=False)
SECTION = "settings"
VOCABULARIES_PATH = "/workspace/settings/vocabularies"
NEW_ROWS = 3  # empty rows per vocabulary for new entries

# (path, label, who may change there): each part's settings, in this order.
LINKS = (
    (VOCABULARIES_PATH, _("Vocabularies: programmes, districts, interests, campaigns, referral sources"), "admin"),
    ("/workspace/settings/matching", _("Matching weights"), "admin"),
    ("/workspace/settings/partnership", _("The partnership: partners, contributions and goals"), "admin"),
    ("/admin/users", _("Users and roles"), "admin"),
)
# (kind, heading): the vocabularies of intake's configuration, in the form's order.
KINDS = (
    ("programmes", _("Programmes")),
    ("districts", _("Districts")),
    ("interests", _("Interests")),
    ("campaigns", _("Campaigns")),
    ("referral_sources", _("Referral sources")),
)
PROGRAMME_KINDS = {
    ProgrammeKind.SPRAKVAN.value: _("Language friends"),
    ProgrammeKind.FLYKTINGGUIDE.value: _("Refugee guides"),
}
FIELD_WORDS = {
    "code": _("Code"),
    "sv": _("Swedish"),
    "en": _("English"),
    "neighbours": _("Neighbours"),
    "kind": _("Kind"),
}


@router.get("/workspace/settings")
async def settings_page(request: Request) -> Response:
    ws = await workspace_request(request)
    if isinstance(ws, Response):
        return ws
    links = [(ws.url(path) if path.startswith("/workspace") else f"{path}?lang={ws.locale.code}", ws.t.text(label))
             for path, label, _who in LINKS]  # fmt: skip
    return ws.page("workspace/settings/index.html", title=ws.t.text("Settings"), section=SECTION, links=links)


def rows_of(configuration: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    """The configuration as the form's rows (strings), with empty rows for new entries."""
    rows: dict[str, list[dict[str, str]]] = {}
    for kind, _heading in KINDS:
        rows[kind] = [
            {
                "code": entry["code"],
                "sv": entry["labels"]["sv"],
                "en": entry["labels"]["en"],
                "neighbours": ", ".join(entry.get("neighbours") or ()),
                "kind": entry.get("kind") or ProgrammeKind.SPRAKVAN.value,
                "existing": "1",
            }
            for entry in configuration.get(kind) or ()
        ]
        rows[kind] += [
            dict.fromkeys(("code", "sv", "en", "neighbours", "existing"), "") | {"kind": "sprakvan"}
        ] * NEW_ROWS
    return rows


def posted_rows(form: FormData) -> dict[str, list[dict[str, str]]]:
    rows: dict[str, list[dict[str, str]]] = {}
    for kind, _heading in KINDS:
        count = min(int(c) if (c := str(form.get(f"{kind}-count") or "0")).isdigit() else 0, 400)
        rows[kind] = [
            {name: " ".join(str(form.get(f"{kind}-{i}-{name}") or "").split()) for name in (*FIELD_WORDS, "existing")}
            | {"remove": "yes" if form.get(f"{kind}-{i}-remove") == "yes" else ""}
            for i in range(count)
        ]
    return rows


def body_of(rows: dict[str, list[dict[str, str]]]) -> dict[str, Any]:
    """The rows as intake's ``PUT /configuration`` body: empty new rows and removed ones left out."""
    body: dict[str, Any] = {}
    for kind, _heading in KINDS:
        entries = []
        for row in rows[kind]:
            if row.get("remove") or not (row["code"] or row["sv"] or row["en"]):
                continue
            entry: dict[str, Any] = {"code": row["code"].lower(), "labels": {"sv": row["sv"], "en": row["en"]}}
            if kind == "districts":
                entry["neighbours"] = [c.strip().lower() for c in row["neighbours"].split(",") if c.strip()]
            if kind == "programmes":
                entry["kind"] = row["kind"] if row["kind"] in PROGRAMME_KINDS else ProgrammeKind.SPRAKVAN.value
            entries.append(entry)
        body[kind] = entries
    return body


def problem_words(ws: WorkspaceRequest, detail: Any) -> list[str]:
    """Intake's 422 in words: which vocabulary, which row, which field, and intake's reason."""
    headings = dict(KINDS)
    found = []
    for error in detail if isinstance(detail, list) else []:
        loc = [str(part) for part in (error.get("loc") or [])][1:] if isinstance(error, dict) else []
        if not loc or loc[0] not in headings:
            continue
        where = [ws.t.text(headings[loc[0]])]
        if len(loc) > 1 and loc[1].isdigit():
            where.append(ws.t.text("row %(number)s") % {"number": int(loc[1]) + 1})
        field = next((part for part in reversed(loc) if part in FIELD_WORDS), None)
        if field:
            where.append(ws.t.text(FIELD_WORDS[field]).lower())
        found.append(f"{', '.join(where)}: {error.get('msg', '')}")
    return found or [ws.t.text("The change was refused.")]


async def _vocabulary_page(
    ws: WorkspaceRequest,
    rows: dict[str, list[dict[str, str]]] | None = None,
    *,
    problems: list[str] | None = None,
    conflict: bool = False,
    status_code: int = 200,
) -> Response:
    try:
        response = await ws.web.intake.send("GET", "/configuration", ws.caller)
    except ServiceUnavailable:
        return ws.unavailable(SECTION)
    current = response.json() if response.status_code == 200 else {}
    return ws.page(
        "workspace/settings/vocabularies.html",
        title=ws.t.text("Vocabularies"),
        section=SECTION,
        status_code=status_code,
        kinds=[(kind, ws.t.text(heading)) for kind, heading in KINDS],
        rows=rows or rows_of(current),
        version=current.get("version", ""),
        programme_kinds=[(code, ws.t.text(label)) for code, label in PROGRAMME_KINDS.items()],
        problems=problems or [],
        conflict=conflict,
        saved=ws.request.query_params.get("done") == "saved",
    )


@router.get(VOCABULARIES_PATH)
async def vocabularies(request: Request) -> Response:
    ws = await workspace_request(request, admin=True)
    if isinstance(ws, Response):
        return ws
    return await _vocabulary_page(ws)


@router.post(VOCABULARIES_PATH)
async def save_vocabularies(request: Request) -> Response:
    ws = await workspace_request(request, admin=True)
    if isinstance(ws, Response):
        return ws
    form = await request.form(max_files=0, max_fields=12000)
    if not ws.csrf_ok(form):
        return expired(ws)
    rows = posted_rows(form)
    version = str(form.get("version") or "")
    headers = {"If-Match": f'"{version}"'} if version.isdigit() else {}
    try:  # the raw answer: a 409 names the codes in use beside its detail
        answer = await ws.web.intake.send("PUT", "/configuration", ws.caller, json=body_of(rows), headers=headers)
    except ServiceUnavailable:
        return ws.unavailable(SECTION)
    if answer.status_code in (412, 428):  # another admin saved meanwhile: theirs shown, nothing overwritten
        return await _vocabulary_page(ws, conflict=True, status_code=409)
    if answer.status_code == 409:
        in_use = answer.json().get("codes_in_use") or {}
        named = "; ".join(
            f"{ws.t.text(dict(KINDS).get(kind, kind))}: {', '.join(codes)}" for kind, codes in in_use.items()
        )
        words = ws.t.text("These codes are still used by participants and cannot be removed: %(codes)s")
        return await _vocabulary_page(ws, rows, problems=[words % {"codes": named}], status_code=409)
    if answer.status_code not in (200, 201):
        detail = detail_of(answer)
        return await _vocabulary_page(ws, rows, problems=problem_words(ws, detail), status_code=422)
    ws.web.configurations.pop(ws.organisation_id, None)  # the forms and lists show the change at once
    return RedirectResponse(ws.url(VOCABULARIES_PATH, done="saved"), status_code=303)
