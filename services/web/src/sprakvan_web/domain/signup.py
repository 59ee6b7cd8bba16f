"""The public sign-up form as plain rules: form fields in, an intake registration (or field errors) out.

No I/O and no wording here: errors are codes (``Problem``) that the page words in the reader's language.
The form asks only a first name (no free text, nothing that identifies more than needed); intake requires
a last name with at least one letter, so a sign-up sends ``LAST_NAME_NOT_ASKED`` ("Ej angivet", Swedish
for "not given", which coordinators read). Better: intake makes the last name optional.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from . import choices
from .locales import find as find_locale

LAST_NAME_NOT_ASKED = "Ej angivet"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{5,19}$")
_FIRST_NAME_MAX = 100
OLDEST_BIRTH_YEAR = 1900
YOUNGEST_AGE = 16


class Problem(StrEnum):
    REQUIRED = "required"  # a choice that must be made
    NAME_MISSING = "name_missing"
    NAME_TOO_LONG = "name_too_long"
    CONTACT_MISSING = "contact_missing"
    EMAIL_FORMAT = "email_format"
    PHONE_FORMAT = "phone_format"
    BIRTH_YEAR = "birth_year"
    SWEDISH_LEVEL = "swedish_level"
    CAPACITY = "capacity"
    AGE_RANGE = "age_range"
    AGE_ORDER = "age_order"
    CONSENT = "consent"
    UNKNOWN_CHOICE = "unknown_choice"  # a value the form never offered (a stale page or a forged post)


@dataclass(frozen=True)
class Vocabulary:
    """The codes the organisation's configuration offers, per form field."""

    programmes: frozenset[str]
    districts: frozenset[str]
    interests: frozenset[str]
    referral_sources: frozenset[str]
    campaigns: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Registration:
    """What a valid form becomes: intake's ``POST /participants`` body (without the consent time,
    which the service layer sets) and what stays in the web service (contact language, consent flags)."""

    body: dict[str, Any]
    contact_language: str
    photo_consent: bool


@dataclass
class Checked:
    registration: Registration | None = None
    problems: dict[str, Problem] = field(default_factory=dict)  # form field name -> problem, in form order


def _one(form: Mapping[str, Sequence[str]], name: str) -> str:
    values = form.get(name) or ()
    return values[0].strip() if values else ""


def _many(form: Mapping[str, Sequence[str]], name: str) -> list[str]:
    seen: list[str] = []
    for value in form.get(name) or ():
        if value and value not in seen:
            seen.append(value)
    return seen


def _int(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 4 else None


def check_signup(
    form: Mapping[str, Sequence[str]], *, programme: str, vocabulary: Vocabulary, campaign: str | None, year: int
) -> Checked:
    """Every rule of the form; intake checks again (it is the owner of the rules it shares)."""
    problems: dict[str, Problem] = {}

    def fail(name: str, problem: Problem) -> None:
        problems.setdefault(name, problem)

    role = _one(form, "role")
    if role not in choices.ROLES:
        fail("role", Problem.REQUIRED)
    first_name = " ".join(_one(form, "first_name").split())
    if not first_name:
        fail("first_name", Problem.NAME_MISSING)
    elif len(first_name) > _FIRST_NAME_MAX:
        fail("first_name", Problem.NAME_TOO_LONG)
    email, phone = _one(form, "email"), _one(form, "phone")
    if email and not (len(email) <= 254 and _EMAIL.match(email)):
        fail("email", Problem.EMAIL_FORMAT)
    if phone and not _PHONE.match(phone):
        fail("phone", Problem.PHONE_FORMAT)
    if not email and not phone:
        fail("email", Problem.CONTACT_MISSING)
    contact_language = find_locale(_one(form, "contact_language"))
    if contact_language is None:
        fail("contact_language", Problem.REQUIRED)
    gender = _one(form, "gender")
    if gender not in choices.GENDERS:
        fail("gender", Problem.REQUIRED)
    birth_year = _int(_one(form, "birth_year"))
    if birth_year is None or not OLDEST_BIRTH_YEAR <= birth_year <= year - YOUNGEST_AGE:
        fail("birth_year", Problem.BIRTH_YEAR)
    district = _one(form, "district")
    if district not in vocabulary.districts:
        fail("district", Problem.REQUIRED if not district else Problem.UNKNOWN_CHOICE)
    languages = _many(form, "languages")
    if any(code not in choices.LANGUAGES for code in languages):
        fail("languages", Problem.UNKNOWN_CHOICE)
    swedish_level = _one(form, "swedish_level")
    capacity = _int(_one(form, "capacity"))
    if role == "newcomer" and swedish_level not in choices.SWEDISH_LEVELS:
        fail("swedish_level", Problem.SWEDISH_LEVEL)
    if role == "established" and capacity not in choices.CAPACITIES:
        fail("capacity", Problem.CAPACITY)
    interests = _many(form, "interests")
    if any(code not in vocabulary.interests for code in interests):
        fail("interests", Problem.UNKNOWN_CHOICE)
    slots = []
    for value in _many(form, "availability"):
        weekday, _, part = value.partition("-")
        if weekday not in choices.WEEKDAYS or part not in choices.PARTS_OF_DAY:
            fail("availability", Problem.UNKNOWN_CHOICE)
            break
        slots.append({"weekday": weekday, "part_of_day": part})
    ages: dict[str, int | None] = {}
    for name in ("age_min", "age_max"):
        text = _one(form, name)
        ages[name] = _int(text) if text else None
        if text and (ages[name] is None or not YOUNGEST_AGE <= (ages[name] or 0) <= 110):
            fail(name, Problem.AGE_RANGE)
    if ages["age_min"] is not None and ages["age_max"] is not None and ages["age_min"] > ages["age_max"]:
        fail("age_min", Problem.AGE_ORDER)
    referral = _one(form, "referral_source") or "self"
    if referral not in vocabulary.referral_sources:
        fail("referral_source", Problem.UNKNOWN_CHOICE)
    if programme not in vocabulary.programmes:
        fail("programme", Problem.UNKNOWN_CHOICE)
    if _one(form, "consent_data") != "yes":
        fail("consent_data", Problem.CONSENT)
    if problems:
        return Checked(problems=problems)

    assert contact_language is not None and birth_year is not None
    native = _one(form, "native_language")
    spoken = [{"code": native, "level": "native"}] if native in choices.LANGUAGES else []
    spoken += [{"code": code, "level": "conversational"} for code in languages if code != native]
    body: dict[str, Any] = {
        "role": role,
        "programme": programme,
        "first_name": first_name,
        "last_name": LAST_NAME_NOT_ASKED,
        "email": email or None,
        "phone": phone or None,
        "gender": gender,
        "birth_year": birth_year,
        "district": district,
        "languages": spoken[:10],
        "interests": interests,
        "availability": slots,
        "wishes": {"same_gender": _one(form, "same_gender") == "yes", **ages},
        "referral_source": referral,
        "campaign": campaign if campaign in vocabulary.campaigns else None,
    }
    if role == "newcomer":
        body["swedish_level"] = swedish_level
    else:
        body["capacity"] = capacity
    registration = Registration(body, contact_language.code, photo_consent=_one(form, "consent_photo") == "yes")
    return Checked(registration=registration)


# Intake's 422 names fields by location; the form field each one is shown at.
_INTAKE_FIELDS = {
    "first_name": "first_name",
    "email": "email",
    "phone": "phone",
    "gender": "gender",
    "birth_year": "birth_year",
    "district": "district",
    "languages": "languages",
    "swedish_level": "swedish_level",
    "capacity": "capacity",
    "interests": "interests",
    "availability": "availability",
    "wishes": "age_min",
    "referral_source": "referral_source",
    "consent": "consent_data",
    "programme": "programme",
    "campaign": "programme",
}


def problems_from_intake(detail: object) -> dict[str, Problem]:
    """Intake refused what the form accepted (its rules moved on): show its fields as form errors."""
    found: dict[str, Problem] = {}
    for error in detail if isinstance(detail, list) else []:
        loc = error.get("loc") if isinstance(error, dict) else None
        name = next((str(part) for part in (loc or [])[1:2]), "")
        found.setdefault(_INTAKE_FIELDS.get(name, "programme"), Problem.UNKNOWN_CHOICE)
    return found or {"programme": Problem.UNKNOWN_CHOICE}
