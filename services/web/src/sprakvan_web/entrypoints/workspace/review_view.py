"""The partnership review as the workspace shows it: the period asked for, and reporting's review document
turned into headed tables, key figures and goals in one language. Pure: no I/O.

The words of the review (headings, table titles, shared codes) are reporting's own (``GET /reviews/texts``),
so that the page, the CSV and the PDF say the same thing; the organisation's codes (districts, campaigns,
programmes) are labelled from the review's ``labels``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from babel.numbers import format_decimal

FIRST_YEAR, LAST_YEAR = 1901, 2199  # reporting's period rule: the year before must exist too
_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_BABEL_LOCALES = {"sv": "sv_SE", "en": "en_GB"}
# Code lists an organisation defines itself: the key in the review's "labels".
_CONFIGURED = {"district": "districts", "campaign": "campaigns", "programme": "programmes"}
NOT_STATED = "-"


def _(message: str) -> str:  # marks a message for extraction; translated where it is shown
    return message


@dataclass(frozen=True)
class PeriodChoice:
    """A calendar year, or the days from-to (inclusive), and a programme or all."""

    start: date
    end: date
    year: int | None
    programme: str | None

    @property
    def previous(self) -> tuple[date, date]:
        return _year_before(self.start), _year_before(self.end)

    def query(self) -> dict[str, str]:
        """The choice as the page's query: a year stays a year."""
        chosen = {"year": str(self.year)} if self.year else {"from": self.start.isoformat(), "to": self.end.isoformat()}
        return chosen | ({"programme": self.programme} if self.programme else {})

    def service_query(self) -> dict[str, str]:
        """The choice as reporting's query."""
        return {"from": self.start.isoformat(), "to": self.end.isoformat()} | (
            {"programme": self.programme} if self.programme else {}
        )


def _year_before(day: date) -> date:
    return date(day.year - 1, 2, 28) if (day.month, day.day) == (2, 29) else day.replace(year=day.year - 1)


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) else None
    except ValueError:
        return None


def choose_period(params: dict[str, str], today: date) -> tuple[PeriodChoice | None, dict[str, str]]:
    """The period asked for (this calendar year when nothing is), or the problems by field (English
    messages, translated where shown)."""
    problems: dict[str, str] = {}
    programme = (params.get("programme") or "").strip() or None
    if programme is not None and not _CODE.match(programme):
        problems["programme"] = _("Choose a programme from the list.")
    start_text, end_text = (params.get("from") or "").strip(), (params.get("to") or "").strip()
    year: int | None = None
    if start_text or end_text:
        start, end = _day(start_text), _day(end_text)
        if start is None:
            problems["from"] = _("Enter the first day as a date, for example 2019-01-01.")
        if end is None:
            problems["to"] = _("Enter the last day as a date, for example 2019-10-31.")
        if start and end:
            if end < start:
                problems["to"] = _("The last day is before the first day.")
            elif not (FIRST_YEAR <= start.year and end.year <= LAST_YEAR):
                problems["from"] = _("Choose days between the years 1901 and 2199.")
            elif (end - start).days > 366 * 5:
                problems["to"] = _("A review covers at most five years.")
    else:
        text = (params.get("year") or "").strip() or str(today.year)
        year = int(text) if text.isdigit() and len(text) == 4 else None
        if year is None or not FIRST_YEAR <= year <= LAST_YEAR:
            problems["year"] = _("Enter a year between 1901 and 2199, for example 2019.")
        else:
            start, end = date(year, 1, 1), date(year, 12, 31)
    if problems:
        return None, problems
    return PeriodChoice(start, end, year, programme), {}


@dataclass(frozen=True)
class Words:
    """Reporting's words in the page's language, and the organisation's own code labels."""

    lang: str
    texts: dict[str, Any]
    labels: dict[str, Any]

    def word(self, key: str) -> str:
        return self.texts["text"].get(key, key)

    def table_title(self, name: str) -> str:
        return self.texts["tables"].get(name, name)

    def code(self, kind: str, code: str | None, not_stated: str) -> str:
        if code is None or code == NOT_STATED:
            return not_stated
        configured_kind = _CONFIGURED.get(kind) or ("referral_sources" if kind == "referral_source" else None)
        found = (self.labels.get(configured_kind) or {}).get(code) if configured_kind else None
        if found:
            return found.get(self.lang) or found.get("sv") or code
        return self.texts["codes"].get(kind, {}).get(code, code)

    def heading(self, key: str) -> str:
        if key in self.texts["text"]:
            return self.texts["text"][key]
        role, _sep, gender = key.partition("_")  # "newcomer_woman": a role and a gender
        roles, genders = self.texts["codes"]["role"], self.texts["codes"]["gender"]
        if role in roles and gender in genders:
            return f"{roles[role]}: {genders[gender].lower()}"
        return key

    def number(self, value: float | None) -> str:
        if value is None:
            return "–"
        return format_decimal(value, locale=_BABEL_LOCALES[self.lang], format="#,##0.##")

    def sek(self, value: float | None) -> str:
        if value is None:
            return "–"
        amount = format_decimal(round(value), locale=_BABEL_LOCALES[self.lang], format="#,##0")
        return f"{amount}\u00a0kr" if self.lang == "sv" else f"SEK\u00a0{amount}"


_NUMERIC = {"number", "sek"}


def month_text(value: str, lang: str) -> str:
    from babel.dates import format_date

    year, month = value.split("-")
    return format_date(date(int(year), int(month), 1), format="LLLL y", locale=_BABEL_LOCALES[lang])


def table_view(table: dict[str, Any], words: Words, not_stated: str) -> dict[str, Any]:
    """A review table with headings and cells as text, numbers marked for right alignment."""
    columns = table["columns"]

    def cell(value: Any, column: dict[str, str]) -> dict[str, Any]:
        kind = column["kind"]
        if kind == "number":
            return {"text": words.number(value), "numeric": True}
        if kind == "sek":
            return {"text": words.sek(value), "numeric": True}
        if kind == "month":
            return {"text": month_text(value, words.lang), "numeric": False}
        if kind == "text":
            return {"text": value, "numeric": False}
        return {"text": words.code(kind, value, not_stated), "numeric": False}

    return {
        "name": table["name"],
        "title": words.table_title(table["name"]),
        "columns": [{"heading": words.heading(c["key"]), "numeric": c["kind"] in _NUMERIC} for c in columns],
        "rows": [[cell(v, c) for v, c in zip(row, columns, strict=True)] for row in table["rows"]],
    }


# (figure id, label key in reporting's words or an English message of ours, path into figures[period]).
KEY_FIGURES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("registered_newcomers", "text:registered_newcomers", ("registrations", "total_by_role", "newcomer")),
    ("registered_newcomers_women", _("Newcomers, women"), ("registrations", "by_role_and_gender", "newcomer", "woman")),
    ("registered_newcomers_men", _("Newcomers, men"), ("registrations", "by_role_and_gender", "newcomer", "man")),
    ("registered_established", "text:registered_established", ("registrations", "total_by_role", "established")),
    (
        "registered_established_women",
        _("Established residents, women"),
        ("registrations", "by_role_and_gender", "established", "woman"),
    ),
    (
        "registered_established_men",
        _("Established residents, men"),
        ("registrations", "by_role_and_gender", "established", "man"),
    ),
    ("new_pairs", "text:new_pairs", ("pairs", "new")),
    ("active_pairs", "text:active_pairs", ("pairs", "active_in_period")),
    ("active_pairs_at_end", _("Pairs active at the end of the period"), ("pairs", "active_at_end")),
    ("pairs_ended", _("Pairs ended"), ("pairs", "ended")),
    ("follow_ups_done", _("Follow-ups done"), ("pairs", "follow_ups_done")),
    ("sessions", _("Sessions held"), ("activities", "sessions")),
    ("signups", _("Sign-ups"), ("activities", "signups")),
    ("attended_registered", _("Signed up and came"), ("activities", "attended_registered")),
    ("attended_walk_in", _("Walk-ins"), ("activities", "attended_walk_in")),
    ("attendance", _("Attendance"), ("activities", "attendance")),
    ("mean_attendance", _("Mean attendance per session"), ("activities", "mean_attendance_per_session")),
)


def _at(figures: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        figures = figures[key]
    return figures


def key_figures(review: dict[str, Any], words: Words, translate) -> list[dict[str, Any]]:  # noqa: ANN001
    """The review's headline figures, this period and the year before, each named by a stable id."""
    rows = []
    for figure, label, path in KEY_FIGURES:
        current, previous = _at(review["figures"]["current"], path), _at(review["figures"]["previous"], path)
        rows.append(
            {
                "figure": figure,
                "label": words.word(label.removeprefix("text:")) if label.startswith("text:") else translate(label),
                "current": current,
                "previous": previous,
                "current_text": words.number(current),
                "previous_text": words.number(previous),
            }
        )
    waiting = review["figures"]["current"]["waiting_list"]
    rows.append(
        {
            "figure": "waiting_newcomers",
            "label": translate(_("Newcomers waiting at the end of the period")),
            "current": waiting["waiting"],
            "previous": None,
            "current_text": words.number(waiting["waiting"]),
            "previous_text": "–",
        }
    )
    return rows


GOAL_STATUS = {
    "met": _("Met"),
    "not_met": _("Not met"),
    "not_checkable": _("Cannot be judged: nothing to compare with"),
    "text": _("Judged in the review, not by Språkvän"),
}


def goal_views(review: dict[str, Any], words: Words, translate) -> list[dict[str, str]]:  # noqa: ANN001
    found = []
    for goal in review["goals"]:
        if goal["kind"] == "text":
            described = goal["text"]
        else:
            template = words.texts["codes"]["goal_kind"].get(goal["kind"], goal["kind"])
            checked = template.replace("{district}", words.code("district", goal["district"], "–"))
            described = f"{goal['text']} ({checked})" if goal["text"] else checked
        found.append(
            {"text": described, "status": goal["status"], "status_text": translate(GOAL_STATUS[goal["status"]])}
        )
    return found
