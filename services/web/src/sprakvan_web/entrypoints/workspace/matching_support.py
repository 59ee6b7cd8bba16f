"""What the matching part's pages share: the programme, people's names from intake, refusals in words.

Matching knows people by id only; a page collects the ids it shows and asks intake for their names in one
call (``GET /participants?id=...``, at most 200 a call), so names never pass through matching.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from sprakvan_shared.contracts.intake import OrganisationConfiguration

from . import ServiceRefused, WorkspaceRequest, workspace_request
from .matching_words import constraint_text

ZONE = ZoneInfo("Europe/Stockholm")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
NAMES_PER_CALL = 200
SECTION = "matching"


def today() -> date:
    """The programme's today (Swedish time), as matching counts it."""
    return datetime.now(ZONE).date()


@dataclass(frozen=True)
class Programmes:
    """The organisation's programmes and the chosen one; districts' labels for the page's language."""

    choices: list[tuple[str, str]]
    chosen: str | None
    districts: dict[str, str]
    configuration: OrganisationConfiguration | None

    def label(self, code: str | None) -> str:
        return dict(self.choices).get(code or "", code or "")

    def district(self, code: str) -> str:
        return self.districts.get(code, code)


async def programmes_of(ws: WorkspaceRequest, requested: str | None) -> Programmes:
    found = await ws.web.intake.configuration(ws.caller)
    lang = ws.locale.code
    if found is None:
        return Programmes([], None, {}, None)
    choices = [(p.code, getattr(p.labels, lang)) for p in found.programmes]
    codes = [code for code, _label in choices]
    chosen = requested if requested in codes else (codes[0] if codes else None)
    districts = {d.code: getattr(d.labels, lang) for d in found.districts}
    return Programmes(choices, chosen, districts, found)


async def names_of(ws: WorkspaceRequest, ids: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """Intake's participants by id (name, district, programme, status); erased people, and anything that is no
    id at all (a posted form's value: intake would refuse the whole look-up), are left out."""
    wanted = sorted({str(i) for i in ids if i and _is_uuid(str(i))})
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(wanted), NAMES_PER_CALL):
        chunk = wanted[start : start + NAMES_PER_CALL]
        page = await ws.web.intake.get("/participants", ws.caller, id=chunk, limit=NAMES_PER_CALL)
        found |= {str(p["id"]): p for p in page["items"]}
    return found


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return len(text) == 36


def full_name(person: dict[str, Any] | None, ws: WorkspaceRequest) -> str:
    if not person:
        return ws.t.text("Erased or unknown participant")
    return f"{person.get('first_name', '')} {person.get('last_name', '')}".strip()


async def people_to_pair(ws: WorkspaceRequest, programme: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The forms' choices: the newcomers waiting (matching's ids, longest wait first) and the volunteers."""
    waiting = (await ws.web.matching.get(f"/programmes/{programme}/waiting", ws.caller))["waiting"]
    newcomers = [{"id": w["participant_id"], "district": w["district"]} for w in waiting]
    return newcomers, await established_choices(ws, programme)


async def established_choices(ws: WorkspaceRequest, programme: str | None, pages: int = 5) -> list[dict[str, Any]]:
    """The programme's established residents who have not withdrawn (intake's list, a few pages of it)."""
    found: list[dict[str, Any]] = []
    cursor = None
    for _page in range(pages):
        page = await ws.web.intake.get("/participants", ws.caller, role="established", limit=200, cursor=cursor)
        found += [p for p in page["items"] if p.get("programme") == programme and p.get("status") != "withdrawn"]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return sorted(found, key=lambda p: (p.get("first_name", ""), p.get("last_name", ""), str(p["id"])))


def parse_uuid(raw: object) -> str | None:
    try:
        return str(uuid.UUID(str(raw))) if raw else None
    except ValueError:
        return None


async def posted(request: Request, *, admin: bool = False) -> tuple[WorkspaceRequest, FormData] | Response:
    """A form's POST: the writer (or admin) and the form, or the 403 page for another role or a stale form."""
    ws = await workspace_request(request, write=True, admin=admin)
    if isinstance(ws, Response):
        return ws
    form = await write_form(request, ws)
    if isinstance(form, Response):
        return form
    return ws, form


async def write_form(request: Request, ws: WorkspaceRequest) -> FormData | Response:
    """The posted form, or the 403 page when its CSRF token is not the session's."""
    form = await request.form()
    if not ws.csrf_ok(form):
        return ws.message(
            ws.t.text("The form has expired"),
            ws.t.text("Open the page again and send the form once more. Nothing was changed."),
            status_code=403,
            section=SECTION,
        )
    return form


def not_found(ws: WorkspaceRequest) -> Response:
    return ws.message(
        ws.t.text("Not found"),
        ws.t.text("It does not exist, or it belongs to another organisation."),
        status_code=404,
        section=SECTION,
    )


def redirect(ws: WorkspaceRequest, path: str, **query: Any) -> Response:
    return RedirectResponse(ws.url(path, **query), status_code=303)


def problems_of(
    ws: WorkspaceRequest, exc: ServiceRefused, fields: dict[str, str] | None = None, default: str = "form"
) -> dict[str, str]:
    """A refusal as {field id: words}: hard constraints in words, a 422's fields beside their inputs.

    ``fields`` maps the service's field (the ``loc`` after "body", joined by "-") to the form's input id;
    anything else goes to ``default`` (``"form"``: shown at the top of the page).
    """
    fields = fields or {}
    if exc.status_code != 422 or not isinstance(exc.detail, list):
        return {default: refusal_text(ws, exc)}
    found: dict[str, str] = {}
    for item in exc.detail:
        if not isinstance(item, dict):
            continue
        loc = [str(part) for part in item.get("loc", ()) if part != "body"]
        kind = str(item.get("type", ""))
        words = constraint_text(ws.t, kind.removeprefix("constraint.")) if kind.startswith("constraint.") else None
        key = fields.get("-".join(loc)) or fields.get(loc[0] if loc else "", default)
        message = words or ws.t.text("Please check this value.")
        found[key] = f"{found[key]} {message}" if key in found and message not in found[key] else message
    return found or {default: ws.t.text("The change was refused.")}


def refusal_text(ws: WorkspaceRequest, exc: ServiceRefused) -> str:
    """A 409's code in words; other refusals as the frame tells them."""
    if exc.status_code == 409 and isinstance(exc.detail, dict):
        words = constraint_text(ws.t, str(exc.detail.get("code", "")))
        if words:
            return words
    return ws.refused_message(exc)


def printable(value: object) -> str:
    """A posted value shown again in its form, without the control characters matching refused."""
    return CONTROL.sub("", str(value))


def derived_key(key: str, *parts: object) -> str:
    """One idempotency key per distinct request made from one form (a form sends several calls)."""
    if not parts:
        return key
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()[:16]
    return f"{key[:150]}-{digest}"
