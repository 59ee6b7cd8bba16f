"""The other pages: home, accessibility statement, coordinators' registrations, JWKS."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

import structlog
from babel.dates import format_datetime
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from sprakvan_shared.auth import Role

from ..adapters.i18n import Translator
from ..adapters.intake import Caller, IntakeRefused, IntakeUnavailable
from ..domain import locales
from ..service_layer import signup as signups
from . import labels
from .context import load_session, pool_of, web_of
from .rendering import locale_of, render
from .signup_page import configuration_of

router = APIRouter(include_in_schema=False)
api = APIRouter(tags=["tokens"])  # the one JSON API of the web front, in its OpenAPI document
log = structlog.get_logger(__name__)
LOGIN_CSRF_COOKIE = "sprakvan_login_csrf"


@router.get("/")
async def home(request: Request) -> Response:
    locale = locale_of(request)
    await load_session(request)
    t = Translator(locale)
    return render(request, "home.html", locale, title=t.text("Welcome to Språkvän"))


@router.get("/accessibility")
async def accessibility_statement(request: Request) -> Response:
    locale = locale_of(request)
    await load_session(request)
    t = Translator(locale)
    settings = web_of(request).settings
    return render(
        request,
        "statement.html",
        locale,
        title=t.text("Accessibility statement"),
        operator=settings.operator_name,
        contact=settings.accessibility_contact,
        assessed_on=settings.statement_assessed_on,
    )


class PublicKey(BaseModel):
    """One public key (RFC 7517): Ed25519 (``kty`` OKP, ``crv``, ``x``) or RSA (``kty`` RSA, ``n``, ``e``)."""

    kty: Literal["OKP", "RSA"]
    kid: str = Field(description="RFC 7638 thumbprint; the `kid` in the header of every token signed with it.")
    alg: Literal["EdDSA", "RS256"]
    use: Literal["sig"]
    crv: Literal["Ed25519"] | None = None
    x: str | None = None
    n: str | None = None
    e: str | None = None


class KeySet(BaseModel):
    keys: list[PublicKey]


@api.get("/.well-known/jwks.json", response_model=KeySet, response_model_exclude_none=True)
async def jwks(request: Request) -> JSONResponse:
    """The public keys of the tokens the web service signs (the only token issuer): what services verify
    them with (``JWT_JWKS_URL``)."""
    return JSONResponse(web_of(request).issuer.jwks(), headers={"Cache-Control": "public, max-age=300"})


@router.get("/registrations")
async def registrations(request: Request) -> Response:
    locale = locale_of(request)
    session = await load_session(request)
    if session is None:
        return RedirectResponse(f"/login?lang={locale.code}", status_code=303)
    t = Translator(locale)
    user = session.user
    caller = Caller(f"user:{user.id}", user.organisation_id, user.role)
    intake = web_of(request).intake
    try:
        role_filter = request.query_params.get("role", "")
        role_filter = role_filter if role_filter in labels.ROLES else ""
        items = await intake.participants(caller, status="registered", role=role_filter)
        configuration = await configuration_of(request, user.organisation_id)
    except (IntakeUnavailable, IntakeRefused):
        return render(
            request,
            "message.html",
            locale,
            title=t.text("Please try again in a moment"),
            message=t.gettext("The registrations cannot be shown just now."),
            status_code=503,
        )
    districts = {d.code: d for d in configuration.districts} if configuration else {}
    contact = await signups.contact_languages(
        pool_of(request), user.organisation_id, [uuid.UUID(item["id"]) for item in items]
    )
    rows = []
    for item in items:
        district = districts.get(item["district"])
        language = locales.find(contact.get(uuid.UUID(item["id"]), ""))
        rows.append(
            {
                "first_name": item["first_name"],
                "role_label": t.gettext(labels.ROLES.get(item["role"], item["role"])),
                "district_label": labels.vocabulary_text(t, "district", district)[0] if district else item["district"],
                "contact_language": language,
                "registered_at": item["registered_at"],
                "registered_label": format_datetime(
                    datetime.fromisoformat(item["registered_at"]), "short", tzinfo=None, locale=t.babel
                ),
            }
        )
    links = []
    if configuration is not None and user.role is not Role.VIEWER:
        for programme in configuration.programmes:
            label = labels.vocabulary_text(t, "programme", programme)[0]
            links.append((f"/signup/{user.organisation_id}/{programme.code}?lang={locale.code}", label))
    return render(
        request,
        "registrations.html",
        locale,
        title=t.text("Registrations"),
        participants=rows,
        signup_links=links,
        role_filter=role_filter,
        role_filters=[(code, t.text(text)) for code, text in labels.ROLES.items()],
    )
