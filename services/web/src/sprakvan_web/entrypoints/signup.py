"""The public sign-up form: ``/signup/{organisation}/{programme}``, one address per organisation and programme."""

from __future__ import annotations

import re
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData, ImmutableMultiDict

from sprakvan_shared.auth import WRITERS, Role
from sprakvan_shared.contracts.intake import OrganisationConfiguration

from .. import consent_texts
from ..adapters.i18n import Translator
from ..adapters.intake import Caller, IntakeRefused, IntakeUnavailable
from ..domain import choices, consent, spam
from ..domain.locales import ORIGINAL, SiteLocale
from ..domain.signup import Problem, Vocabulary, check_signup, problems_from_intake
from ..service_layer import signup as handlers
from . import labels
from .context import client_address, load_session, pool_of, web_of
from .rendering import locale_of, render

router = APIRouter(include_in_schema=False)
log = structlog.get_logger(__name__)
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_CONFIGURATION_TTL = 30.0  # seconds a configuration is reused before asking intake again
_configurations: dict[str, tuple[float, OrganisationConfiguration | None]] = {}
CONTACT_DAYS = 14

PROBLEMS = {
    Problem.REQUIRED: labels._("Choose one of the options"),
    Problem.NAME_MISSING: labels._("Enter your first name"),
    Problem.NAME_TOO_LONG: labels._("The first name can have at most 100 characters"),
    Problem.CONTACT_MISSING: labels._("Enter an email address or a phone number"),
    Problem.EMAIL_FORMAT: labels._("Enter an email address like name@example.com"),
    Problem.PHONE_FORMAT: labels._("Enter a phone number like 070 123 45 67"),
    Problem.BIRTH_YEAR: labels._("Enter your year of birth as four digits, like 1990"),
    Problem.SWEDISH_LEVEL: labels._("Choose how much Swedish you speak"),
    Problem.CAPACITY: labels._("Choose how many newcomers you could meet"),
    Problem.AGE_RANGE: labels._("Enter an age between 16 and 110"),
    Problem.AGE_ORDER: labels._("The youngest age cannot be above the oldest age"),
    Problem.CONSENT: labels._("You need to agree that your details are stored, or we cannot contact you"),
    Problem.UNKNOWN_CHOICE: labels._("This choice is no longer available: choose again"),
}


async def _configuration(request: Request, organisation_id: str) -> OrganisationConfiguration | None:
    cached = _configurations.get(organisation_id)
    if cached is not None and time.monotonic() - cached[0] < _CONFIGURATION_TTL:
        return cached[1]
    caller = Caller(handlers.SIGNUP_SUBJECT, organisation_id, Role.VIEWER)
    found = await web_of(request).intake.configuration(caller)
    _configurations[organisation_id] = (time.monotonic(), found)
    return found


def _vocabulary(configuration: OrganisationConfiguration) -> Vocabulary:
    return Vocabulary(
        programmes=frozenset(p.code for p in configuration.programmes),
        districts=frozenset(d.code for d in configuration.districts),
        interests=frozenset(i.code for i in configuration.interests),
        referral_sources=frozenset(r.code for r in configuration.referral_sources) or frozenset({"self"}),
        campaigns=frozenset(c.code for c in configuration.campaigns),
    )


def _consent(t: Translator) -> tuple[list[str], list[str] | None]:
    paragraphs = consent_texts.CONSENT_TEXTS[consent.CURRENT_VERSION]
    shown = [t.text(p) for p in paragraphs]
    original = [Translator(ORIGINAL).text(p) for p in paragraphs] if t.locale.is_draft else None
    return shown, original


def _first_inputs(configuration: OrganisationConfiguration) -> dict[str, str]:
    first_interest = configuration.interests[0].code if configuration.interests else ""
    return {
        "role": "role-newcomer",
        "gender": "gender-woman",
        "languages": f"languages-{choices.LANGUAGES[0]}",
        "interests": f"interests-{first_interest}",
        "availability": "availability-mon-morning",
        "programme": "programme-error",
    }


def _form_page(
    request: Request,
    locale: SiteLocale,
    organisation_id: str,
    configuration: OrganisationConfiguration,
    programme: str,
    *,
    values: FormData | ImmutableMultiDict[str, Any],
    problems: dict[str, Problem] | None = None,
    resubmit: bool = False,
    assisted: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    t = Translator(locale)
    web = web_of(request)
    nonce = secrets.token_hex(12)
    token = spam.issue_time_token(web.form_secret, f"{organisation_id}/{programme}", datetime.now(UTC), nonce)
    programme_entry = next(p for p in configuration.programmes if p.code == programme)

    def choices_of(kind: str, entries: Any) -> list[tuple[str, Any]]:
        found = [(e.code, *labels.vocabulary_text(t, kind, e)) for e in entries]
        return [(code, labels.isolated(text, ok) if kind == "interest" else text) for code, text, ok in found]

    day_names = labels.weekday_names(t)
    weekdays = [
        (day, day_names[i], [(f"{day}-{part}", t.gettext(labels.PARTS_OF_DAY[part])) for part in choices.PARTS_OF_DAY])
        for i, day in enumerate(choices.WEEKDAYS)
    ]
    languages = sorted(
        ((code, *labels.language_text(t, code)) for code in choices.LANGUAGES), key=lambda item: item[1].casefold()
    )
    shown, original = _consent(t)
    words = {name: t.gettext(PROBLEMS[problem]) for name, problem in (problems or {}).items()}
    first_inputs = _first_inputs(configuration)
    return render(
        request,
        "signup.html",
        locale,
        title=t.text("Sign up for %(programme)s")
        % {"programme": labels.vocabulary_text(t, "programme", programme_entry)[0]},
        status_code=status_code,
        action=f"/signup/{organisation_id}/{programme}",
        values=values,
        problems=words,
        first_input={name: first_inputs.get(name, name) for name in words},
        resubmit=resubmit,
        assisted=assisted,
        form_token=token,
        campaign=values.get("campaign") or request.query_params.get("campaign"),
        genders=[(code, t.gettext(labels.GENDERS[code])) for code in choices.GENDERS],
        districts=choices_of("district", configuration.districts),
        interests=choices_of("interest", configuration.interests),
        referral_sources=choices_of("referral_source", configuration.referral_sources),
        languages=[(code, labels.isolated(text, ok)) for code, text, ok in languages],
        swedish_levels=[(code, t.gettext(labels.SWEDISH_LEVELS[code])) for code in choices.SWEDISH_LEVELS],
        capacities=[(n, t.ngettext("%(num)d newcomer", "%(num)d newcomers", n)) for n in choices.CAPACITIES],
        weekdays=weekdays,
        consent_paragraphs=shown,
        consent_original=original,
    )


def _not_open(request: Request, locale: SiteLocale) -> HTMLResponse:
    t = Translator(locale)
    return render(
        request,
        "message.html",
        locale,
        title=t.text("This sign-up form is not open"),
        message=t.gettext("Check the address you were given, or ask the organisation that gave it to you."),
        status_code=404,
    )


def _unavailable(request: Request, locale: SiteLocale) -> HTMLResponse:
    t = Translator(locale)
    response = render(
        request,
        "message.html",
        locale,
        title=t.text("Please try again in a moment"),
        message=t.gettext("We could not save your sign-up just now. Nothing was saved; please send it again."),
        status_code=503,
    )
    response.headers["Retry-After"] = "30"
    return response


async def _open_form(
    request: Request, organisation_id: str, programme: str, locale: SiteLocale
) -> OrganisationConfiguration | HTMLResponse:
    if not (_SLUG.match(organisation_id) and _SLUG.match(programme)):
        return _not_open(request, locale)
    try:
        configuration = await _configuration(request, organisation_id)
    except IntakeUnavailable:
        return _unavailable(request, locale)
    except IntakeRefused:
        return _not_open(request, locale)
    if configuration is None or programme not in {p.code for p in configuration.programmes}:
        return _not_open(request, locale)
    return configuration


def _assisting(request: Request, organisation_id: str, form: FormData | None = None) -> bool:
    session = request.state.session
    if session is None or session.user.organisation_id != organisation_id or session.user.role not in WRITERS:
        return False
    if form is None:
        return request.query_params.get("assisted") == "1"
    return form.get("assisted") == "1" and secrets.compare_digest(str(form.get("csrf_token", "")), session.csrf_token)


@router.get("/signup/{organisation_id}/{programme}")
async def signup_form(request: Request, organisation_id: str, programme: str) -> Response:
    locale = locale_of(request)
    await load_session(request)
    found = await _open_form(request, organisation_id, programme, locale)
    if isinstance(found, HTMLResponse):
        return found
    return _form_page(
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
            return _form_page(request, locale, organisation_id, configuration, programme, values=form, resubmit=True)
    multi = {key: form.getlist(key) for key in form.keys()}
    checked = check_signup(
        multi,
        programme=programme,
        vocabulary=_vocabulary(configuration),
        campaign=str(form.get("campaign") or "") or None,
        year=now.year,
    )
    if checked.registration is None:
        return _form_page(
            request, locale, organisation_id, configuration, programme,
            values=form, problems=checked.problems, assisted=assisted, status_code=422,
        )  # fmt: skip
    t = Translator(locale)
    shown, original = _consent(t)
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
        return _unavailable(request, locale)
    except IntakeRefused as refused:
        if refused.status_code != 422:
            log.warning("signup_refused", organisation_id=organisation_id, status=refused.status_code)
            return _unavailable(request, locale)
        return _form_page(
            request, locale, organisation_id, configuration, programme,
            values=form, problems=problems_from_intake(refused.detail), assisted=assisted, status_code=422,
        )  # fmt: skip
    log.info("signup_registered", organisation_id=organisation_id, participant_id=participant_id, assisted=assisted)
    return thanks


@router.get("/signup/{organisation_id}/{programme}/thanks")
async def signup_thanks(request: Request, organisation_id: str, programme: str) -> Response:
    locale = locale_of(request)
    await load_session(request)
    t = Translator(locale)
    return render(request, "thanks.html", locale, title=t.text("Thank you for signing up"), contact_days=CONTACT_DAYS)
