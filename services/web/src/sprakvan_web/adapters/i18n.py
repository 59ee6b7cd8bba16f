"""Gettext catalogues (Babel), loaded from the ``.po`` files at start: no compiled ``.mo`` in git, no
build step. Fuzzy entries are left out, as ``pybabel compile`` would.

A message that has no translation yet falls back to English marked ``lang="en"`` (so that a screen
reader reads it as English); in a right-to-left page it is isolated with ``<bdi dir="ltr" lang="en">``
so that it does not scramble the line around it. ``text`` gives the plain string, for attributes and
``<option>`` (which cannot hold markup).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache
from importlib import resources

from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from markupsafe import Markup, escape

from ..domain.locales import LOCALES, SiteLocale

DOMAIN = "messages"


# The organisation's vocabulary labels keyed by code (msgctxt "district", msgid "ryd"), apart from the
# messages of the code: `pybabel update` would drop them from messages.po, not being in the template.
VOCABULARY_DOMAIN = "vocabulary"


def catalogue_path(catalogue: str, domain: str = DOMAIN):  # noqa: ANN201 - an importlib Traversable
    return resources.files("sprakvan_web") / "locales" / catalogue / "LC_MESSAGES" / f"{domain}.po"


@cache
def read_catalogue(catalogue: str, domain: str = DOMAIN) -> Catalog:
    with catalogue_path(catalogue, domain).open("rb") as file:
        return read_po(file, locale=catalogue)


# The coordinators' workspace (Swedish and English only) keeps its messages apart, one file per part of it
# (``workspace-<part>.po``), so that the public pages' catalogues in seven languages stay as they are.
WORKSPACE_PREFIX = "workspace-"


def workspace_domains(catalogue: str) -> list[str]:
    folder = catalogue_path(catalogue).parent
    if not folder.is_dir():
        return []
    names = (entry.name for entry in folder.iterdir())
    return sorted(n.removesuffix(".po") for n in names if n.startswith(WORKSPACE_PREFIX) and n.endswith(".po"))


@cache
def _merged(catalogue: str) -> Catalog:
    """The public pages' messages and every workspace file of the locale, as one catalogue."""
    merged = read_catalogue(catalogue)
    domains = workspace_domains(catalogue)
    if not domains:
        return merged
    combined = Catalog(locale=catalogue, domain=DOMAIN)
    combined.mime_headers = merged.mime_headers
    for source in (merged, *(read_catalogue(catalogue, d) for d in domains)):
        for message in source:
            if message.id and combined.get(message.id, message.context) is None:
                combined[message.id] = message
    return combined


@cache
def _translations(catalogue: str) -> Translations:
    buffer = io.BytesIO()
    write_mo(buffer, _merged(catalogue), use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def _translated(catalogue: str, message: str, context: str | None = None) -> bool:
    entry = _merged(catalogue).get(message, context)
    if entry is None or entry.fuzzy:
        return False
    return any(entry.string) if isinstance(entry.string, tuple) else bool(entry.string)


@dataclass(frozen=True)
class Translator:
    """The text functions a template gets for one locale."""

    locale: SiteLocale

    @property
    def babel(self) -> Locale:
        return Locale.parse(self.locale.catalogue)

    def _isolate(self, text: str, translated: bool) -> Markup:
        if translated or self.locale.catalogue == "en":
            return escape(text)
        if self.locale.rtl:
            return Markup('<bdi dir="ltr" lang="en">{}</bdi>').format(text)
        # WCAG 3.1.2 (language of parts): a screen reader must read the English fallback as English.
        return Markup('<span lang="en">{}</span>').format(text)

    def text(self, message: str) -> str:
        """The plain translation (or the English message), for what is stored rather than shown."""
        return _translations(self.locale.catalogue).ugettext(message)

    def gettext(self, message: str, **values: object) -> Markup:
        text = _translations(self.locale.catalogue).ugettext(message)
        if values:
            text = text % values
        return self._isolate(text, _translated(self.locale.catalogue, message))

    def plain_ngettext(self, singular: str, plural: str, count: int) -> str:
        return _translations(self.locale.catalogue).ungettext(singular, plural, count) % {"num": count}

    def ngettext(self, singular: str, plural: str, count: int, **values: object) -> Markup:
        text = _translations(self.locale.catalogue).ungettext(singular, plural, count)
        text = text % {"num": count, **values}
        return self._isolate(text, _translated(self.locale.catalogue, singular))

    def pgettext(self, context: str, message: str) -> str | None:
        """A label keyed by code (``pgettext("district", "ryd")``), or None when the catalogue has none."""
        entry = read_catalogue(self.locale.catalogue, VOCABULARY_DOMAIN).get(message, context)
        return entry.string if entry is not None and entry.string and not entry.fuzzy else None


def translators() -> dict[str, Translator]:
    return {locale.code: Translator(locale) for locale in LOCALES}
