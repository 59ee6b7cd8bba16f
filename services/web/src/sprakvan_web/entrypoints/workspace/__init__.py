"""The coordinators' workspace (issue 12): one router per part, each page in Swedish or English.

Every page starts with :func:`workspace_request`: the session (or a redirect to the login), the page's
locale, and the caller the services see. A viewer sees every page and changes nothing: a form that changes
something is shown only when ``ws.can_write``, and its POST handler asks for ``write=True`` (403 otherwise).
Forms carry the session's CSRF token and an idempotency key made when the form was rendered
(:func:`form_key`), which the POST passes on to the service, so a double click changes nothing twice.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from sprakvan_shared.auth import Role

from ...adapters.i18n import Translator
from ...adapters.services import Caller, ServiceRefused, ServiceUnavailable
from ...domain import locales
from ...domain.locales import SiteLocale
from ...service_layer.accounts import Session
from ..context import Web, load_session, secrets_match, web_of
from ..rendering import locale_of, render

WORKSPACE_LOCALES = tuple(loc for loc in locales.LOCALES if loc.code in ("sv", "en"))

# (section, path, label): the workspace's navigation, in this order on every page.
SECTIONS = (
    ("home", "/workspace", "Overview"),
    ("participants", "/workspace/participants", "Participants"),
    ("matching", "/workspace/matching", "Matching"),
    ("activities", "/workspace/activities", "Activities"),
    ("review", "/workspace/review", "Partnership review"),
    ("settings", "/workspace/settings", "Settings"),
)


def _(message: str) -> str:  # marks a message for extraction (the workspace catalogues)
    return message


_("Overview"), _("Participants"), _("Matching"), _("Activities"), _("Partnership review"), _("Settings")


def workspace_locale(request: Request) -> SiteLocale:
    """Swedish or English: the workspace is not translated further (Swedish when another is asked for)."""
    found = locale_of(request)
    return found if found in WORKSPACE_LOCALES else WORKSPACE_LOCALES[0]


@dataclass(frozen=True)
class WorkspaceRequest:
    request: Request
    session: Session
    locale: SiteLocale
    t: Translator

    @property
    def caller(self) -> Caller:
        user = self.session.user
        return Caller(f"user:{user.id}", user.organisation_id, user.role)

    @property
    def organisation_id(self) -> str:
        return self.session.user.organisation_id

    @property
    def role(self) -> Role:
        return self.session.user.role

    @property
    def can_write(self) -> bool:
        return self.role is not Role.VIEWER

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def web(self) -> Web:
        return web_of(self.request)

    def url(self, path: str, **query: Any) -> str:
        """A workspace link that keeps the page's language."""
        params = {k: v for k, v in query.items() if v not in (None, "")} | {"lang": self.locale.code}
        return f"{path}?{urlencode(params, doseq=True)}"

    def csrf_ok(self, form: FormData) -> bool:
        return secrets_match(self.session.csrf_token, form.get("csrf_token", ""))

    def page(self, template: str, *, title: str, section: str, status_code: int = 200, **context: Any) -> Response:
        return render(
            self.request,
            template,
            self.locale,
            title=title,
            status_code=status_code,
            site_locales=WORKSPACE_LOCALES,
            ws=self,
            section=section,
            sections=[(key, path, self.t.text(label)) for key, path, label in SECTIONS],
            form_key=form_key,
            **context,
        )

    def message(self, title: str, message: str, *, status_code: int, section: str = "home") -> Response:
        return self.page(
            "workspace/message.html", title=title, section=section, message=message, status_code=status_code
        )

    def unavailable(self, section: str = "home") -> Response:
        """A service did not answer: nothing is known to be saved, so the page says try again (503)."""
        return self.message(
            self.t.text("Please try again in a moment"),
            self.t.text("A part of Språkvän did not answer just now. Nothing was changed."),
            status_code=503,
            section=section,
        )

    def refused_message(self, exc: ServiceRefused) -> str:
        """A service's refusal in words: its reason (409, 403) or the first field error (422)."""
        if exc.status_code == 403:
            return self.t.text("Your role cannot do this.")
        if exc.status_code == 404:
            return self.t.text("It does not exist, or it belongs to another organisation.")
        if isinstance(exc.detail, str):
            return exc.detail
        errors = exc.field_errors()
        if errors:
            field, text = next(iter(errors.items()))
            return f"{field}: {text}"
        return self.t.text("The change was refused.")


async def workspace_request(
    request: Request, *, write: bool = False, admin: bool = False
) -> WorkspaceRequest | Response:
    """The page's caller, or the response to send instead: the login page, or 403 for a role that may not."""
    locale = workspace_locale(request)
    session = await load_session(request)
    if session is None:
        return RedirectResponse(f"/login?lang={locale.code}", status_code=303)
    ws = WorkspaceRequest(request, session, locale, Translator(locale))
    if (write and not ws.can_write) or (admin and not ws.is_admin):
        return ws.message(
            ws.t.text("Your role cannot do this"),
            ws.t.text("Viewers see everything and change nothing; settings are for admins. Ask an admin."),
            status_code=403,
        )
    return ws


def form_key() -> str:
    """An idempotency key for one rendering of a form."""
    return secrets.token_urlsafe(18)


__all__ = ["ServiceRefused", "ServiceUnavailable", "WorkspaceRequest", "form_key", "workspace_request"]
