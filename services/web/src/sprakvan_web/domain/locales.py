"""The seven locales of the public pages, and how far each one's translation has come.

``state`` is what a person is told: ``complete`` locales are written or reviewed by someone fluent;
``draft`` ones were drafted without review by a native speaker, so their pages carry a notice and
their consent text shows the Swedish original beside it. Change a locale to ``complete`` only after
such a review (the catalogue itself is in ``locales/<catalogue>/LC_MESSAGES/messages.po``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class TranslationState(StrEnum):
    COMPLETE = "complete"
    DRAFT = "draft"


@dataclass(frozen=True)
class SiteLocale:
    code: str  # in URLs and HTML (BCP 47): "fa-AF"
    catalogue: str  # Babel/gettext name: "fa_AF"
    label: str  # its own name, as a speaker looks for it
    rtl: bool
    state: TranslationState

    @property
    def is_draft(self) -> bool:
        return self.state is TranslationState.DRAFT


LOCALES: tuple[SiteLocale, ...] = (
    SiteLocale("sv", "sv", "Svenska", False, TranslationState.COMPLETE),
    SiteLocale("en", "en", "English", False, TranslationState.COMPLETE),
    SiteLocale("ar", "ar", "العربية", True, TranslationState.DRAFT),
    # Dari has no locale of its own in CLDR/Babel: Afghan Persian (fa_AF) is it, labelled دری.
    SiteLocale("fa-AF", "fa_AF", "دری", True, TranslationState.DRAFT),
    SiteLocale("ti", "ti", "ትግርኛ", False, TranslationState.DRAFT),
    SiteLocale("so", "so", "Soomaali", False, TranslationState.DRAFT),
    SiteLocale("uk", "uk", "Українська", False, TranslationState.DRAFT),
)
BY_CODE = {locale.code.lower(): locale for locale in LOCALES}
DEFAULT = LOCALES[0]
ORIGINAL = LOCALES[0]  # the language consent texts are written in and checked against


def find(code: str | None) -> SiteLocale | None:
    return BY_CODE.get((code or "").strip().lower().replace("_", "-"))


def negotiate(requested: str | None, accept_language: str | None) -> SiteLocale:
    """``?lang=`` first, then the browser's ``Accept-Language`` in its order of preference, then Swedish."""
    chosen = find(requested)
    if chosen is not None:
        return chosen
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        ranked.append((-quality, position, tag.strip()))
    for _, _, tag in sorted(ranked):
        exact = find(tag)
        if exact is not None:
            return exact
        if tag.lower() in ("prs", "fa-af", "fa"):
            return BY_CODE["fa-af"]
        base = find(tag.split("-")[0])
        if base is not None:
            return base
    return DEFAULT
