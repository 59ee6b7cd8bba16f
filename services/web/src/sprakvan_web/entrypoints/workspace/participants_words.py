"""Words for what intake holds about a participant: its codes as labels, from the organisation's configuration
(programmes, districts, interests, referral sources, campaigns) or from the catalogues (fixed choices)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from babel.dates import format_date, format_datetime

from sprakvan_shared.contracts.intake import OrganisationConfiguration

from ...adapters.i18n import Translator
from .. import labels


def _(message: str) -> str:  # marks a message for extraction
    return message


GENDERS = {"woman": _("Female"), "man": _("Male"), "non_binary": _("Non-binary"), "undisclosed": _("Not stated")}
STATUSES = {"registered": _("Registered"), "interviewed": _("Interviewed"), "withdrawn": _("Withdrawn")}
WITHDRAWAL_REASONS = {
    "moved": _("Moved away"),
    "no_time": _("No time"),
    "found_contacts": _("Found contacts of their own"),
    "not_interested": _("No longer interested"),
    "unreachable": _("Could not be reached"),
    "other": _("Another reason"),
}
LANGUAGE_LEVELS = {
    "basic": _("basic"),
    "conversational": _("conversational"),
    "fluent": _("fluent"),
    "native": _("first language"),
}
# (configuration attribute, catalogue context of labels.vocabulary_text)
VOCABULARY_KINDS = {
    "programme": "programmes",
    "district": "districts",
    "interest": "interests",
    "referral_source": "referral_sources",
    "campaign": "campaigns",
}


class Words:
    """One page's words for codes, in the page's language (Swedish or English)."""

    def __init__(self, t: Translator, configuration: OrganisationConfiguration | None) -> None:
        self.t = t
        self._vocabulary: dict[str, dict[str, str]] = {}
        for kind, attribute in VOCABULARY_KINDS.items():
            entries = getattr(configuration, attribute, ()) if configuration else ()
            self._vocabulary[kind] = {e.code: labels.vocabulary_text(t, kind, e)[0] for e in entries}

    def choices(self, kind: str) -> list[tuple[str, str]]:
        """(code, label) of a vocabulary, in the configuration's order."""
        return list(self._vocabulary[kind].items())

    def code(self, kind: str, code: str | None) -> str:
        """A vocabulary code's label; an unknown code (removed since) as it is."""
        return self._vocabulary[kind].get(code or "", code or "")

    def fixed(self, table: dict[str, str], code: str | None) -> str:
        return self.t.text(table[code]) if code in table else (code or "")

    def day(self, value: str | None) -> str:
        return format_date(date.fromisoformat(value), "long", locale=self.t.babel) if value else ""

    def moment(self, value: str | None) -> str:
        if not value:
            return ""
        return format_datetime(datetime.fromisoformat(value), "medium", tzinfo=None, locale=self.t.babel)

    def row(self, p: dict[str, Any]) -> dict[str, Any]:
        """A list row: the person's names and codes in words."""
        return {
            "id": p["id"],
            "name": f"{p['first_name']} {p['last_name']}",
            "role": self.fixed(labels.ROLES, p["role"]),
            "programme": self.code("programme", p["programme"]),
            "district": self.code("district", p["district"]),
            "status": self.fixed(STATUSES, p["status"]),
            "interviewed_on": p.get("interviewed_on"),
            "interviewed": self.day(p.get("interviewed_on")),
            "registered_at": p["registered_at"],
            "registered": format_date(datetime.fromisoformat(p["registered_at"]), "medium", locale=self.t.babel),
        }

    def languages(self, skills: list[dict[str, str]]) -> list[str]:
        found = []
        for skill in skills:
            name = labels.language_text(self.t, skill["code"])[0]
            found.append(f"{name} ({self.fixed(LANGUAGE_LEVELS, skill['level'])})")
        return found

    def availability(self, slots: list[dict[str, str]]) -> list[str]:
        days = dict(zip(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), labels.weekday_names(self.t), strict=True))
        return [f"{days[s['weekday']]} {self.fixed(labels.PARTS_OF_DAY, s['part_of_day']).lower()}" for s in slots]
