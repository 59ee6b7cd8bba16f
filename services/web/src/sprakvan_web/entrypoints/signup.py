"""The public sign-up form's routes: ``/signup/{organisation}/{programme}``, one address per programme."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData, ImmutableMultiDict

from sprakvan_shared.auth import WRITERS
from sprakvan_shared.contracts.intake import OrganisationConfiguration

from ..adapters.i18n import Translator
from ..adapters.intake import Caller, IntakeRefused, IntakeUnavailable
from ..domain import consent, spam
from ..domain.locales import SiteLocale
from ..domain.signup import check_signup, problems_from_intake
from ..service_layer import signup as handlers
from .context import client_address, load_session, pool_of, secrets_match, web_of
from .rendering import locale_of, render
from .signup_page import (
    CONTACT_DAYS,
    configuration_of,
    consent_shown,
    form_page,
    not_open,
    unavailable,
    vocabulary_of,
)

router = APIRouter(include_in_schema=False)
log = structlog.get_logger(__name__)
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


async def _open_form(
    request: Request, organisation_id: str, programme: str, locale: SiteLocale
) -> OrganisationConfiguration | HTMLResponse:
    if not (_SLUG.match(organisation_id) and _SLUG.match(programme)):
        return not_open(request, locale)
    try:
        configuration = await configuration_of(request, organisation_id)
    except IntakeUnavailable:
        return unavailable(request, locale)
    except IntakeRefused:
        return not_open(request, locale)
    if configuration is None or programme not in {p.code for p in configuration.programmes}:
        return not_open(request, locale)
    return configuration


def _assisting(request: Request, organisation_id: str, form: FormData | None = None) -> bool:
    session = request.state.session
    if session is None or session.user.organisation_id != organisation_id or session.user.role not in WRITERS:
        return False
    if form is None:
        return request.query_params.get("assisted") == "1"
    return form.get("assisted") == "1" and secrets_match(session.csrf_token, form.get("csrf_token", ""))


@router.get("/signup/{organisation_id}/{programme}")
async def signup_form(request: Request, organisation_id: str, programme: str) -> Response:
    locale = locale_of(request)
    await load_session(request)
    found = await _open_form(request, organisation_id, programme, locale)
    if isinstance(found, HTMLResponse):
        return found
    return form_page(
        request,
        locale,
        organisation_id,
        found,
        programme,
        values=ImmutableMultiDict(),
        assisted=_assisting(request, organisation_id),
    )


@router.post("/signup/{organisation_id}/{programme}")
async def signup_post(request: Request, organisation_id: str, programme: str) -> Response:
    form = await request.form(max_files=0, max_fields=200)
    locale = locale_of(request, str(form.get("lang") or ""))
    await load_session(request)
    found = await _open_form(request, organisation_id, programme, locale)
    if isinstance(found, HTMLResponse):
        return found
    configuration = found
    web, pool = web_of(request), pool_of(request)
    now = datetime.now(UTC)
    thanks = RedirectResponse(f"/signup/{organisation_id}/{programme}/thanks?lang={locale.code}", status_code=303)
    assisted = _assisting(request, organisation_id, form)
    token = str(form.get("form_token") or "")
    if not assisted:
        retry_after = await handlers.count_post(
            pool, web.rate_limit, spam.address_key(web.form_secret, client_address(request)), now
        )
        if retry_after is not None:
            t = Translator(locale)
            response = render(
                request,
                "message.html",
                locale,
                title=t.text("Too many sign-ups from this network"),
                message=t.gettext("Please wait a while and send the form again. Nothing was lost on our side."),
                status_code=429,
            )
            response.headers["Retry-After"] = str(retry_after)
            return response
        if spam.honeypot_filled(str(form.get(spam.HONEYPOT_FIELD) or "")):
            log.info("signup_honeypot", organisation_id=organisation_id)
            return thanks  # a fake success: nothing is stored
        verdict = spam.check_time_token(
            web.form_secret,
            f"{organisation_id}/{programme}",
            token,
            now,
            min_seconds=web.settings.form_min_seconds,
            max_age=timedelta(minutes=web.settings.form_max_age_minutes),
        )
        if verdict is not spam.TokenVerdict.OK:
            log.info("signup_time_token", organisation_id=organisation_id, verdict=verdict.value)
            return form_page(request, locale, organisation_id, configuration, programme, values=form, resubmit=True)
    multi = {key: form.getlist(key) for key in form.keys()}
    checked = check_signup(
        multi,
        programme=programme,
        vocabulary=vocabulary_of(configuration),
        campaign=str(form.get("campaign") or "") or None,
        year=now.year,
    )
    if checked.registration is None:
        return form_page(
            request, locale, organisation_id, configuration, programme,
            values=form, problems=checked.problems, assisted=assisted, status_code=422,
        )  # fmt: skip
    t = Translator(locale)
    shown, original = consent_shown(t)
    session = request.state.session
    caller = (
        Caller(f"user:{session.user.id}", organisation_id, session.user.role)
        if assisted
        else handlers.signup_caller(organisation_id)
    )
    try:
        participant_id = await handlers.sign_up(
            pool,
            web.intake,
            checked.registration,
            organisation_id=organisation_id,
            caller=caller,
            consent=handlers.ConsentShown(
                version=consent.CURRENT_VERSION,
                language=locale.code,
                text="\n\n".join(shown),
                original_text="\n\n".join(original) if original else None,
                shown_at=min(spam.issued_at(token) or now, now),
            ),
            channel=consent.Channel.ASSISTED if assisted else consent.Channel.WEB_FORM,
            form_nonce=spam.form_nonce(token) or secrets.token_hex(12),
            assisted_by=session.user.id if assisted else None,
        )
    except IntakeUnavailable:
        return unavailable(request, locale)
    except IntakeRefused as refused:
        if refused.status_code != 422:
            log.warning("signup_refused", organisation_id=organisation_id, status=refused.status_code)
            return unavailable(request, locale)
        return form_page(
            request, locale, organisation_id, configuration, programme,
            values=form, problems=problems_from_intake(refused.detail), assisted=assisted, status_code=422,
        )  # fmt: skip
    log.info("signup_registered", organisation_id=organisation_id, participant_id=participant_id, assisted=assisted)
    if assisted:  # the coordinator goes on with the new profile in the workspace (Swedish or English)
        lang = locale.code if locale.code in ("sv", "en") else "sv"
        return RedirectResponse(f"/workspace/participants/{participant_id}?lang={lang}&done=registered", 303)
    return thanks


@router.get("/signup/{organisation_id}/{programme}/thanks")
async def signup_thanks(request: Request, organisation_id: str, programme: str) -> Response:
    locale = locale_of(request)
    await load_session(request)
    t = Translator(locale)
    return render(request, "thanks.html", locale, title=t.text("Thank you for signing up"), contact_days=CONTACT_DAYS)
