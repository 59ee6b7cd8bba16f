"""Pages: Jinja2 templates rendered for one locale, with the security headers every page carries."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from ..adapters.i18n import Translator
from ..domain import locales
from ..domain.locales import SiteLocale

_ENV = Environment(loader=PackageLoader("sprakvan_web", "templates"), autoescape=select_autoescape(), auto_reload=False)

# No inline script or style anywhere: htmx's own indicator style is switched off in <meta name="htmx-config">.
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def locale_of(request: Request, requested: str | None = None) -> SiteLocale:
    return locales.negotiate(requested or request.query_params.get("lang"), request.headers.get("accept-language"))


def _switch_url(request: Request):  # noqa: ANN202
    def switch(other: SiteLocale) -> str:
        query = {k: v for k, v in request.query_params.items() if k != "lang"} | {"lang": other.code}
        return f"{request.url.path}?{urlencode(query)}"

    return switch


def render(
    request: Request, template: str, locale: SiteLocale, *, title: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    session = getattr(request.state, "session", None)
    t = Translator(locale)
    html = _ENV.get_template(template).render(
        t=t,
        _=t.gettext,
        ngettext=t.ngettext,
        plain=t.text,  # for attributes: no markup
        locale=locale,
        locales=context.pop("site_locales", locales.LOCALES),
        switch_url=_switch_url(request),
        session=session,
        title=title,
        problems=context.pop("problems", {}),
        **context,
    )
    headers = _HEADERS | {"Content-Language": locale.code}
    return HTMLResponse(html, status_code=status_code, headers=headers)
