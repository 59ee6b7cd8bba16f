"""Words for codes: the fixed choices from the catalogues, the organisation's vocabularies from its
configuration (Swedish and English) or, for the other locales, from the catalogues keyed by code."""

from __future__ import annotations

from babel import Locale
from markupsafe import Markup

from sprakvan_shared.contracts.intake import VocabularyEntry

from ..adapters.i18n import Translator
from ..domain import choices


def _(message: str) -> str:  # marks a message for extraction; translated where it is shown
    return message


GENDERS = {
    "woman": _("Woman"),
    "man": _("Man"),
    "non_binary": _("Non-binary"),
    "undisclosed": _("I would rather not say"),
}
SWEDISH_LEVELS = {
    "none": _("No Swedish yet"),
    "A1": _("A1: a few words"),
    "A2": _("A2: simple everyday phrases"),
    "B1": _("B1: everyday conversations"),
    "B2": _("B2: most conversations"),
    "C1": _("C1: fluent"),
    "C2": _("C2: like a native speaker"),
}
PARTS_OF_DAY = {"morning": _("Morning"), "afternoon": _("Afternoon"), "evening": _("Evening")}
ROLES = {"newcomer": _("Newcomer"), "established": _("Established resident")}


def vocabulary_text(t: Translator, kind: str, entry: VocabularyEntry) -> tuple[str, bool]:
    """(label, in the page's language?)"""
    if t.locale.catalogue == "sv":
        return entry.labels.sv, True
    if t.locale.catalogue == "en":
        return entry.labels.en, True
    own = t.pgettext(kind, entry.code)
    return (own, True) if own else (entry.labels.en, False)


def isolated(text: str, translated: bool) -> Markup | str:
    """An English fallback inside another language's page, isolated so that it cannot scramble the line."""
    return text if translated else Markup('<bdi lang="en" dir="ltr">{}</bdi>').format(text)


def language_text(t: Translator, code: str) -> tuple[str, bool]:
    key = choices.CLDR_LANGUAGE.get(code, code)
    own = t.babel.languages.get(key)
    if own:
        return own[:1].upper() + own[1:], True
    return Locale("en").languages.get(key, code), False


def weekday_names(t: Translator) -> list[str]:
    names = t.babel.days["format"]["wide"]
    return [names[i][:1].upper() + names[i][1:] for i in range(7)]
