"""The web front's pure rules: the form, the spam rules, locales and catalogues, the theme's contrast."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from babel.messages.pofile import read_po

from sprakvan_web.adapters.i18n import Translator, read_catalogue
from sprakvan_web.domain import locales, spam
from sprakvan_web.domain.signup import LAST_NAME_NOT_ASKED, Problem, Vocabulary, check_signup

VOCABULARY = Vocabulary(
    programmes=frozenset({"sprakvan"}),
    districts=frozenset({"ryd", "berga"}),
    interests=frozenset({"fika", "chess"}),
    referral_sources=frozenset({"self", "sfi"}),
    campaigns=frozenset({"spring"}),
)
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def form(**fields: str | list[str]) -> dict[str, list[str]]:
    base: dict[str, str | list[str]] = {
        "role": "newcomer",
        "first_name": "  Amina ",
        "phone": "070 123 45 67",
        "contact_language": "fa-AF",
        "gender": "woman",
        "birth_year": "1991",
        "district": "ryd",
        "native_language": "prs",
        "languages": ["fa", "prs"],
        "swedish_level": "A1",
        "interests": ["fika", "fika"],
        "availability": ["mon-evening"],
        "consent_data": "yes",
    }
    base.update(fields)
    return {k: v if isinstance(v, list) else [v] for k, v in base.items()}


def check(**fields: str | list[str]):  # noqa: ANN201
    return check_signup(form(**fields), programme="sprakvan", vocabulary=VOCABULARY, campaign="spring", year=2026)


def test_a_valid_form_becomes_an_intake_registration() -> None:
    checked = check()
    assert checked.problems == {}
    body = checked.registration.body
    assert body["first_name"] == "Amina" and body["last_name"] == LAST_NAME_NOT_ASKED
    assert body["languages"] == [{"code": "prs", "level": "native"}, {"code": "fa", "level": "conversational"}]
    assert body["interests"] == ["fika"] and body["campaign"] == "spring" and body["referral_source"] == "self"
    assert body["swedish_level"] == "A1" and "capacity" not in body
    assert checked.registration.contact_language == "fa-AF"


def test_each_broken_field_is_named_with_its_problem() -> None:
    checked = check(
        role="", first_name="", phone="", email="x@", birth_year="19x1", district="mars", consent_data="",
        availability=["someday-evening"], age_min="12",
    )  # fmt: skip
    assert checked.registration is None
    assert checked.problems == {
        "role": Problem.REQUIRED,
        "first_name": Problem.NAME_MISSING,
        "email": Problem.EMAIL_FORMAT,
        "birth_year": Problem.BIRTH_YEAR,
        "district": Problem.UNKNOWN_CHOICE,
        "availability": Problem.UNKNOWN_CHOICE,
        "age_min": Problem.AGE_RANGE,
        "consent_data": Problem.CONSENT,
    }


def test_role_specific_questions() -> None:
    assert check(swedish_level="").problems == {"swedish_level": Problem.SWEDISH_LEVEL}
    assert check(role="established").problems == {"capacity": Problem.CAPACITY}
    established = check(role="established", capacity="3").registration.body
    assert established["capacity"] == 3 and "swedish_level" not in established


def test_time_tokens_refuse_forged_fast_and_old_posts() -> None:
    secret, scope = b"k" * 32, "demo/sprakvan"
    token = spam.issue_time_token(secret, scope, NOW, "abc123")
    limits = {"min_seconds": 3, "max_age": timedelta(hours=2)}

    def after(**delta: float) -> spam.TokenVerdict:
        return spam.check_time_token(secret, scope, token, NOW + timedelta(**delta), **limits)

    assert after(seconds=10) is spam.TokenVerdict.OK
    assert after(seconds=1) is spam.TokenVerdict.TOO_FAST
    assert after(hours=3) is spam.TokenVerdict.TOO_OLD
    later = NOW + timedelta(seconds=10)
    assert spam.check_time_token(secret, "other/form", token, later, **limits) is spam.TokenVerdict.INVALID
    forged = token.replace(str(int(NOW.timestamp())), str(int(NOW.timestamp()) - 60))
    assert spam.check_time_token(secret, scope, forged, later, **limits) is spam.TokenVerdict.INVALID
    assert spam.issued_at(token) == NOW and spam.form_nonce(token) == "abc123"


def test_the_rate_limit_says_how_long_to_wait() -> None:
    limit = spam.RateLimit(limit=60, window=timedelta(hours=1))
    start = limit.window_start(NOW + timedelta(minutes=20))
    assert start == NOW
    assert limit.retry_after(60, start, NOW + timedelta(minutes=20)) is None
    assert limit.retry_after(61, start, NOW + timedelta(minutes=20)) == 40 * 60 + 1


def test_locale_negotiation() -> None:
    assert locales.negotiate("ar", "sv").code == "ar"
    assert locales.negotiate(None, "prs;q=0.9, en;q=0.8").code == "fa-AF"
    assert locales.negotiate(None, "uk-UA,uk;q=0.9").code == "uk"
    assert locales.negotiate("xx", "de, fr;q=0.5").code == "sv"
    assert [loc.rtl for loc in locales.LOCALES if loc.rtl] == [True, True]


def test_catalogues_have_each_locales_plural_forms_and_placeholders() -> None:
    forms = {loc.catalogue: read_catalogue(loc.catalogue).num_plurals for loc in locales.LOCALES}
    assert forms == {"sv": 2, "en": 2, "ar": 6, "fa_AF": 2, "ti": 2, "so": 2, "uk": 3}
    arabic = Translator(locales.find("ar"))
    days = "A coordinator will contact you within %(num)d day.", "A coordinator will contact you within %(num)d days."
    said = {n: str(arabic.ngettext(*days, n)) for n in (0, 1, 2, 3, 11, 100)}
    assert len(set(said.values())) == 6, said  # zero, one, two, few, many, other
    for loc in locales.LOCALES:
        for message in read_catalogue(loc.catalogue):
            if not message.id or not message.string:
                continue
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            wanted = set(re.findall(r"%\(\w+\)[sd]", ids[-1]))
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            for string in strings:
                assert set(re.findall(r"%\(\w+\)[sd]", string)) <= wanted, (loc.code, message.id)


def test_catalogues_are_up_to_date_with_the_template() -> None:
    base = Path(__file__).parents[1] / "src" / "sprakvan_web" / "locales"
    template = {m.id for m in read_po((base / "messages.pot").open("rb")) if m.id}
    for loc in locales.LOCALES:
        catalogue = {m.id for m in read_catalogue(loc.catalogue) if m.id and not m.context}
        assert catalogue == template, loc.code
        if not loc.is_draft:  # Swedish and English are complete
            assert all(m.string for m in read_catalogue(loc.catalogue) if m.id and not m.context), loc.code


def test_an_untranslated_message_in_a_right_to_left_page_is_isolated() -> None:
    tigrinya, dari = Translator(locales.find("ti")), Translator(locales.find("fa-AF"))
    assert str(dari.gettext("Registrations")) == '<bdi dir="ltr" lang="en">Registrations</bdi>'
    assert str(dari.gettext("Your consent")) == "رضایت شما"
    assert str(tigrinya.gettext("Registrations")) == '<span lang="en">Registrations</span>'  # language of parts


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_themes_colour_pairs_meet_4_5_to_1() -> None:
    """axe does not check contrast on Arabic text; every pair the theme uses is checked here instead."""
    css = (Path(__file__).parents[1] / "src" / "sprakvan_web" / "static" / "sprakvan.css").read_text()
    colour = dict(re.findall(r"--(sv-[a-z-]+):\s*(#[0-9a-f]{6})", css))
    pairs = [
        ("sv-ink", "sv-paper"),
        ("#ffffff", "sv-header"),  # header text and button text
        ("sv-link", "sv-paper"),
        ("sv-muted", "sv-paper"),
        ("sv-error", "sv-paper"),
        ("sv-ink", "sv-notice-bg"),
        ("sv-header", "sv-paper"),  # secondary button
    ]
    for fore, back in pairs:
        ratio = contrast(colour.get(fore, fore), colour.get(back, back))
        assert ratio >= 4.5, (fore, back, round(ratio, 2))
