"""Admins manage the users and roles of their own organisation (local accounts)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from sprakvan_shared.auth import Role

from ..adapters.i18n import Translator
from ..service_layer import accounts
from . import labels
from .context import load_session, pool_of, secrets_match
from .rendering import locale_of, render

router = APIRouter(include_in_schema=False)
ROLE_LABELS = {
    Role.ADMIN: labels._("Admin"),
    Role.COORDINATOR: labels._("Coordinator"),
    Role.VIEWER: labels._("Viewer (reads only)"),
}


async def _admin_session(request: Request) -> accounts.Session | Response:
    session = await load_session(request)
    locale = locale_of(request)
    if session is None:
        return RedirectResponse(f"/login?lang={locale.code}", status_code=303)
    if session.user.role is not Role.ADMIN:
        t = Translator(locale)
        return render(
            request,
            "message.html",
            locale,
            title=t.text("Only admins can do this"),
            message=t.gettext("Ask an admin of your organisation."),
            status_code=403,
        )
    return session


async def _page(request: Request, session: accounts.Session, problem: str = "", status_code: int = 200) -> Response:
    locale = locale_of(request)
    t = Translator(locale)
    users = await accounts.users_of(pool_of(request), session.user.organisation_id)
    return render(
        request,
        "users.html",
        locale,
        title=t.text("Users"),
        users=users,
        roles=[(role.value, t.text(text)) for role, text in ROLE_LABELS.items()],
        problems={"username": t.gettext(problem)} if problem else {},
        status_code=status_code,
    )


@router.get("/admin/users")
async def users_page(request: Request) -> Response:
    session = await _admin_session(request)
    return session if isinstance(session, Response) else await _page(request, session)


def _csrf_ok(session: accounts.Session, form: dict) -> bool:
    return secrets_match(session.csrf_token, form.get("csrf_token", ""))


@router.post("/admin/users")
async def add_user(request: Request) -> Response:
    session = await _admin_session(request)
    if isinstance(session, Response):
        return session
    form = await request.form(max_files=0, max_fields=10)
    if not _csrf_ok(session, form):
        return await _page(request, session, labels._("The form was too old: please try again"), 400)
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    role = str(form.get("role", ""))
    if not (0 < len(username) <= 100) or role not in {r.value for r in Role}:
        return await _page(request, session, labels._("Enter a user name and choose a role"), 422)
    if len(password) < accounts.MIN_PASSWORD_LENGTH:
        return await _page(request, session, labels._("The password needs at least 12 characters"), 422)
    try:
        await accounts.create_local_user(
            pool_of(request),
            organisation_id=session.user.organisation_id,
            username=username,
            password=password,
            role=Role(role),
        )
    except accounts.UserExists:
        return await _page(request, session, labels._("That user name is taken"), 409)
    return RedirectResponse(f"/admin/users?lang={locale_of(request).code}", status_code=303)


@router.post("/admin/users/{user_id}/role")
async def set_role(request: Request, user_id: str) -> Response:
    session = await _admin_session(request)
    if isinstance(session, Response):
        return session
    form = await request.form(max_files=0, max_fields=10)
    role = str(form.get("role", ""))
    if not _csrf_ok(session, form):
        return await _page(request, session, labels._("The form was too old: please try again"), 400)
    try:
        target = uuid.UUID(user_id)
        changed = await accounts.change_role(pool_of(request), session.user.organisation_id, target, Role(role))
    except ValueError:
        return await _page(request, session, labels._("Enter a user name and choose a role"), 422)
    except accounts.LastAdmin:
        return await _page(request, session, labels._("The organisation needs at least one admin"), 409)
    if not changed:
        return await _page(request, session, labels._("Enter a user name and choose a role"), 404)
    return RedirectResponse(f"/admin/users?lang={locale_of(request).code}", status_code=303)


@router.post("/admin/users/{user_id}/disable")
async def disable(request: Request, user_id: str) -> Response:
    session = await _admin_session(request)
    if isinstance(session, Response):
        return session
    form = await request.form(max_files=0, max_fields=10)
    if not _csrf_ok(session, form):
        return await _page(request, session, labels._("The form was too old: please try again"), 400)
    try:
        target = uuid.UUID(user_id)
        if target == session.user.id:
            raise accounts.LastAdmin(user_id)  # not yourself: another admin must do it
        disabled = await accounts.disable_user(pool_of(request), session.user.organisation_id, target)
    except ValueError:
        disabled = False
    except accounts.LastAdmin:
        return await _page(request, session, labels._("You cannot take away your own access"), 409)
    if not disabled:
        return await _page(request, session, labels._("Enter a user name and choose a role"), 404)
    return RedirectResponse(f"/admin/users?lang={locale_of(request).code}", status_code=303)
