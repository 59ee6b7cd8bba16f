"""Logging in and out: local accounts (argon2id), OpenID Connect when configured, server-side sessions."""

from __future__ import annotations

import secrets

import httpx
import structlog
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from sprakvan_shared import text
from sprakvan_shared.auth import Role

from ..adapters.i18n import Translator
from ..adapters.oidc import OidcError
from ..domain import locales, role_mapping
from ..domain.locales import SiteLocale
from ..service_layer import accounts
from .context import SESSION_COOKIE, load_session, pool_of, secrets_match, web_of
from .rendering import locale_of, render

router = APIRouter(include_in_schema=False)
log = structlog.get_logger(__name__)
LOGIN_CSRF_COOKIE = "sprakvan_login_csrf"


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
        oidc=web_of(request).oidc is not None,
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
    if not cookie or not secrets_match(cookie, form.get("csrf_token", "")):
        return _login_page(request, failed=True)
    await _ensure_bootstrap_admin(request)
    username, password = str(form.get("username", ""))[:200], str(form.get("password", ""))[:1000]
    if text.problem(username) is not None:  # a NUL or a bidi override: no such user, and never echoed back
        return _login_page(request, failed=True)
    user = await accounts.authenticate(pool_of(request), username, password)
    if user is None:
        return _login_page(request, username=username, failed=True)
    return await _logged_in(request, user, locale_of(request, str(form.get("lang") or "")))


async def _logged_in(request: Request, user: accounts.User, locale: SiteLocale) -> Response:
    settings = web_of(request).settings
    token = await accounts.start_session(pool_of(request), user, settings.session_ttl)
    # The workspace's overview, in Swedish or English (the workspace speaks those two).
    lang = locale.code if locale.code in ("sv", "en") else "sv"
    response = RedirectResponse(f"/workspace?lang={lang}", status_code=303)
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


@router.get("/login/oidc")
async def oidc_login(request: Request) -> Response:
    """To the organisation's identity provider; its answer comes back to ``/login/oidc/callback``."""
    web = web_of(request)
    if web.oidc is None:
        return RedirectResponse("/login", status_code=303)
    try:
        start = await web.oidc.start()
    except (OidcError, httpx.HTTPError):
        return _oidc_failed(request)
    await pool_of(request).execute(
        "INSERT INTO oidc_logins (state, nonce, code_verifier, next_lang) VALUES ($1, $2, $3, $4)",
        start.state,
        start.nonce,
        start.code_verifier,
        locale_of(request).code,
    )
    return RedirectResponse(start.url, status_code=303)


@router.get("/login/oidc/callback")
async def oidc_callback(request: Request) -> Response:
    web = web_of(request)
    state, code = request.query_params.get("state", "")[:100], request.query_params.get("code", "")[:2000]
    pool = pool_of(request)
    # One use only, and only for ten minutes.
    login = await pool.fetchrow(
        "DELETE FROM oidc_logins WHERE state = $1 AND created_at > now() - interval '10 minutes' RETURNING *", state
    )
    await pool.execute("DELETE FROM oidc_logins WHERE created_at < now() - interval '10 minutes'")
    if web.oidc is None or login is None or not code:
        return _oidc_failed(request)
    settings = web.settings
    try:
        identity = await web.oidc.finish(code, nonce=login["nonce"], code_verifier=login["code_verifier"])
    except (OidcError, httpx.HTTPError) as exc:
        log.warning("oidc_login_failed", error=type(exc).__name__)
        return _oidc_failed(request)
    if settings.oidc_roles_claim:
        grant = role_mapping.grant_for(identity.claims, settings.oidc_roles_claim, settings.oidc_grants)
        if grant is None:
            await accounts.end_sessions_of_identity(pool, issuer=identity.issuer, subject=identity.subject)
            log.info("oidc_login_without_role")  # no claim values: they may name people's groups
            return _no_role(request, locales.find(login["next_lang"]) or locale_of(request))
    else:
        grant = role_mapping.Grant(settings.oidc_organisation or "", Role(settings.oidc_default_role))
    user = await accounts.user_for_identity(
        pool,
        issuer=identity.issuer,
        subject=identity.subject,
        display_name=identity.name,
        organisation_id=grant.organisation_id,
        role=grant.role,
        provider_decides=bool(settings.oidc_roles_claim),
    )
    if user is None:
        return _oidc_failed(request)
    locale = locales.find(login["next_lang"]) or locale_of(request)
    return await _logged_in(request, user, locale)


def _no_role(request: Request, locale: SiteLocale) -> Response:
    """Signed in at the provider, but none of its groups gives a role here: say so, and who can fix it."""
    t = Translator(locale)
    return render(
        request,
        "message.html",
        locale,
        title=t.text("No access to Språkvän"),
        message=t.gettext(
            "Your organisation's account signed you in, but it gives you no role in Språkvän. "
            "Ask whoever manages your organisation's groups to add you to the group for Språkvän, then log in again."
        ),
        status_code=403,
    )


def _oidc_failed(request: Request) -> Response:
    response = _login_page(request, failed=True)
    response.status_code = 401
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = await request.form(max_files=0, max_fields=10)
    session = await load_session(request)
    if session is not None and secrets_match(session.csrf_token, form.get("csrf_token", "")):
        await accounts.end_session(pool_of(request), request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
