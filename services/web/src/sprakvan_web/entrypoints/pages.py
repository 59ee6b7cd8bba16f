"""The other pages: home, accessibility statement, login and logout, coordinators' registrations, JWKS."""

from __future__ import annotations

import secrets
from datetime import datetime

from babel.dates import format_datetime
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from sprakvan_shared.auth import Role

from ..adapters.i18n import Translator
from ..adapters.intake import Caller, IntakeRefused, IntakeUnavailable
from ..service_layer import accounts
from . import labels
from .context import SESSION_COOKIE, load_session, pool_of, web_of
from .rendering import locale_of, render
from .signup import _configuration

router = APIRouter(include_in_schema=False)
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


@router.get("/.well-known/jwks.json", include_in_schema=True, tags=["tokens"])
async def jwks(request: Request) -> JSONResponse:
    """The public keys of the tokens the web service signs (the only token issuer)."""
    return JSONResponse(web_of(request).issuer.jwks(), headers={"Cache-Control": "public, max-age=300"})


def _login_page(request: Request, *, username: str = "", failed: bool = False) -> Response:
    locale = locale_of(request)
    t = Translator(locale)
    csrf = secrets.token_urlsafe(24)
    problems = {"username": t.gettext("The user name or the password is wrong")} if failed else {}
    response = render(
        request,
        "login.html",
        locale,
        title=t.text("Log in"),
        problems=problems,
        username=username,
        login_csrf=csrf,
        status_code=401 if failed else 200,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE, csrf, httponly=True, samesite="strict", secure=web_of(request).settings.cookie_secure
    )
    return response


async def _ensure_bootstrap_admin(request: Request) -> None:
    """The first admin of an organisation, from configuration (``sprakvan up`` passes it once)."""
    settings = web_of(request).settings
    if not (settings.bootstrap_admin_org and settings.bootstrap_admin_user and settings.bootstrap_admin_password):
        return
    pool = pool_of(request)
    if await accounts.has_users(pool, settings.bootstrap_admin_org):
        return
    try:
        await accounts.create_local_user(
            pool,
            organisation_id=settings.bootstrap_admin_org,
            username=settings.bootstrap_admin_user,
            password=settings.bootstrap_admin_password.get_secret_value(),
            role=Role.ADMIN,
        )
    except accounts.UserExists:
        pass


@router.get("/login")
async def login_form(request: Request) -> Response:
    await load_session(request)
    return _login_page(request)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form(max_files=0, max_fields=10)
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    request.state.session = None
    if not cookie or not secrets.compare_digest(cookie, str(form.get("csrf_token", ""))):
        return _login_page(request, failed=True)
    await _ensure_bootstrap_admin(request)
    username, password = str(form.get("username", ""))[:200], str(form.get("password", ""))[:1000]
    user = await accounts.authenticate(pool_of(request), username, password)
    if user is None:
        return _login_page(request, username=username, failed=True)
    settings = web_of(request).settings
    token = await accounts.start_session(pool_of(request), user, settings.session_ttl)
    locale = locale_of(request, str(form.get("lang") or ""))
    response = RedirectResponse(f"/registrations?lang={locale.code}", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(settings.session_ttl.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = await request.form(max_files=0, max_fields=10)
    session = await load_session(request)
    if session is not None and secrets.compare_digest(session.csrf_token, str(form.get("csrf_token", ""))):
        await accounts.end_session(pool_of(request), request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


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
        configuration = await _configuration(request, user.organisation_id)
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
    rows = []
    for item in items:
        district = districts.get(item["district"])
        rows.append(
            {
                "first_name": item["first_name"],
                "role_label": t.gettext(labels.ROLES.get(item["role"], item["role"])),
                "district_label": labels.vocabulary_text(t, "district", district)[0] if district else item["district"],
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
        role_filters=[(code, t.gettext(text)) for code, text in labels.ROLES.items()],
    )
