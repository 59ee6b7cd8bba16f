"""The sign-up form's page: the organisation's vocabularies, the words for each choice and problem, the consent text."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData, ImmutableMultiDict

from sprakvan_shared.auth import Role
from sprakvan_shared.contracts.intake import OrganisationConfiguration

from .. import consent_texts
from ..adapters.i18n import Translator
from ..adapters.intake import Caller
from ..domain import choices, consent, spam
from ..domain.locales import ORIGINAL, SiteLocale
from ..domain.signup import Problem, Vocabulary
from ..service_layer import signup as handlers
from . import labels
from .context import web_of
from .rendering import render

_CONFIGURATION_TTL = 30.0  # seconds a configuration is reused before asking intake again
CONTACT_DAYS = 14

# A choice left out, in words naming the question: "choose one of the options" three times in the
# error summary would not say which questions.
REQUIRED = {
    "role": labels._("Choose whether you are new in Sweden or already live here"),
    "gender": labels._("Choose your gender, or that you would rather not say"),
    "district": labels._("Choose the district where you live"),
}
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


async def configuration_of(request: Request, organisation_id: str) -> OrganisationConfiguration | None:
    configurations = web_of(request).configurations  # per app: two apps in one process never share it
    cached = configurations.get(organisation_id)
    if cached is not None and time.monotonic() - cached[0] < _CONFIGURATION_TTL:
        return cached[1]
    caller = Caller(handlers.SIGNUP_SUBJECT, organisation_id, Role.VIEWER)
    found = await web_of(request).intake.configuration(caller)
    configurations[organisation_id] = (time.monotonic(), found)
    return found


def vocabulary_of(configuration: OrganisationConfiguration) -> Vocabulary:
    return Vocabulary(
        programmes=frozenset(p.code for p in configuration.programmes),
        districts=frozenset(d.code for d in configuration.districts),
        interests=frozenset(i.code for i in configuration.interests),
        referral_sources=frozenset(r.code for r in configuration.referral_sources) or frozenset({"self"}),
        campaigns=frozenset(c.code for c in configuration.campaigns),
    )


def consent_shown(t: Translator) -> tuple[list[str], list[str] | None]:
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


def form_page(
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
    shown, original = consent_shown(t)
    words = {
        name: t.gettext(REQUIRED[name] if problem is Problem.REQUIRED and name in REQUIRED else PROBLEMS[problem])
        for name, problem in (problems or {}).items()
    }
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
        picked={name: frozenset(values.getlist(name)) for name in values.keys()},
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
        swedish_levels=[(code, t.text(labels.SWEDISH_LEVELS[code])) for code in choices.SWEDISH_LEVELS],
        capacities=[(n, t.plain_ngettext("%(num)d newcomer", "%(num)d newcomers", n)) for n in choices.CAPACITIES],
        weekdays=weekdays,
        consent_paragraphs=shown,
        consent_original=original,
    )


def not_open(request: Request, locale: SiteLocale) -> HTMLResponse:
    t = Translator(locale)
    return render(
        request,
        "message.html",
        locale,
        title=t.text("This sign-up form is not open"),
        message=t.gettext("Check the address you were given, or ask the organisation that gave it to you."),
        status_code=404,
    )


def unavailable(request: Request, locale: SiteLocale) -> HTMLResponse:
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
