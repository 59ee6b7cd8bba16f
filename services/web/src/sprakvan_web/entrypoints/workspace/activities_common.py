"""What the activities pages share: the events service's words for codes, local times, people's names
from intake (one call per page), and the forms' error handling.

The events service holds ids and codes only; titles and venue names it keeps itself, people's names live
in intake. Every time the service gives is Europe/Stockholm with its offset; the pages show local time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from sprakvan_shared.contracts.intake import OrganisationConfiguration

from ..signup_page import configuration_of
from . import ServiceRefused, WorkspaceRequest, workspace_request

LOCAL = ZoneInfo("Europe/Stockholm")
SECTION = "activities"
BASE = "/workspace/activities"
STYLES = "/static/workspace-activities.css"


def _(message: str) -> str:  # marks a message for extraction (workspace-activities.po)
    return message


GENDERS = {"woman": _("Women"), "man": _("Men"), "non_binary": _("Non-binary"), "undisclosed": _("Not given")}
ROLES = {"newcomer": _("Newcomers"), "established": _("Established residents")}
SIGNUP_STATUSES = {"confirmed": _("Confirmed"), "waitlisted": _("Waiting list"), "cancelled": _("Cancelled")}
OUTCOMES = {"came": _("Came"), "no_show": _("Did not come"), "cancelled_late": _("Cancelled late")}
OCCURRENCE_STATUSES = {"scheduled": _("Scheduled"), "cancelled": _("Cancelled")}
KINDS = {"series": _("Series"), "one_off": _("One-off")}
ACTIVITY_STATUSES = {"active": _("Active"), "ended": _("Ended"), "cancelled": _("Cancelled")}


@dataclass(frozen=True)
class Vocabulary:
    """The organisation's words for the codes a page shows, in the page's language."""

    districts: dict[str, str]
    programmes: dict[str, str]
    campaigns: dict[str, str]
    types: dict[str, str]

    def district(self, code: str | None) -> str:
        return self.districts.get(code or "", code or "")

    def type(self, code: str) -> str:
        return self.types.get(code, code)


def _labels(entries: Any, language: str) -> dict[str, str]:
    return {e.code: getattr(e.labels, language) for e in entries}


async def vocabulary(ws: WorkspaceRequest) -> Vocabulary:
    """Districts, programmes and campaigns from intake's configuration; activity types from events."""
    configuration: OrganisationConfiguration | None = await configuration_of(ws.request, ws.organisation_id)
    language = ws.locale.catalogue if ws.locale.catalogue in ("sv", "en") else "sv"
    types = await ws.web.events.get("/activity-types", ws.caller)
    type_labels = {t["code"]: t["labels"].get(language) or t["labels"].get("sv") or t["code"] for t in types}
    if configuration is None:
        return Vocabulary({}, {}, {}, type_labels)
    return Vocabulary(
        districts=_labels(configuration.districts, language),
        programmes=_labels(configuration.programmes, language),
        campaigns=_labels(configuration.campaigns, language),
        types=type_labels,
    )


async def names_of(ws: WorkspaceRequest, participant_ids: list[str]) -> dict[str, str]:
    """The people's names by id, in one call to intake (``?id=``); an erased or unknown id has none."""
    wanted = list(dict.fromkeys(participant_ids))[:200]
    if not wanted:
        return {}
    page = await ws.web.intake.get("/participants", ws.caller, id=wanted, limit=200)
    return {p["id"]: f"{p['first_name']} {p['last_name']}".strip() for p in page["items"]}


def local(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(LOCAL)


def day_text(ws: WorkspaceRequest, day: date, format: str = "full") -> str:
    return format_date(day, format=format, locale=ws.t.babel)


def time_text(ws: WorkspaceRequest, moment: datetime) -> str:
    return format_time(moment, "HH:mm", locale=ws.t.babel)


def when_text(ws: WorkspaceRequest, occurrence: dict[str, Any]) -> str:
    starts, ends = local(occurrence["starts_at"]), local(occurrence["ends_at"])
    return f"{day_text(ws, starts.date())} {time_text(ws, starts)}–{time_text(ws, ends)}"


def parse_day(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def parse_time(text: str) -> time | None:
    """A wall-clock time (no offset: times are Europe/Stockholm), to the minute."""
    try:
        found = time.fromisoformat(text.strip())
    except ValueError:
        return None
    return None if found.tzinfo is not None else found.replace(second=0, microsecond=0)


def field(form: FormData, name: str, limit: int = 4000) -> str:
    """A form field as text: at most ``limit`` characters, no NUL or lone surrogates."""
    value = str(form.get(name, ""))[:limit]
    return "".join(c for c in value if c != "\x00" and not 0xD800 <= ord(c) <= 0xDFFF).strip()


def uuid_or_none(text: str) -> str | None:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def back(ws: WorkspaceRequest, path: str, anchor: str = "", **query: Any) -> Response:
    """POST-redirect-GET, keeping the page's language."""
    return RedirectResponse(ws.url(path, **query) + (f"#{anchor}" if anchor else ""), status_code=303)


def refusal_problems(ws: WorkspaceRequest, exc: ServiceRefused, fields: dict[str, str]) -> dict[str, str]:
    """A service's 422 on the form's fields (``fields`` maps the service's names to the form's), or its
    reason as one problem of the form as a whole."""
    found = {fields[name]: text for name, text in exc.field_errors().items() if name in fields}
    return found or {"form": ws.refused_message(exc)}


def not_found(ws: WorkspaceRequest) -> Response:
    return ws.message(
        ws.t.text("Not found"),
        ws.t.text("It does not exist, or it belongs to another organisation."),
        status_code=404,
        section=SECTION,
    )


async def posted(request: Request, *ids: str) -> tuple[WorkspaceRequest, FormData] | Response:
    """A change's caller and form, or the answer instead: 403 for a viewer, 400 for a stale or forged form,
    404 for an id in the path that cannot be one."""
    ws = await workspace_request(request, write=True)
    if isinstance(ws, Response):
        return ws
    form = await request.form()
    if not ws.csrf_ok(form):
        return ws.message(ws.t.text("The form expired"), ws.t.text("Please try again."), status_code=400)
    if any(uuid_or_none(i) is None for i in ids):
        return not_found(ws)
    return ws, form
