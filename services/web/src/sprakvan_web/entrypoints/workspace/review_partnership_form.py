"""The partnership's form (``/workspace/settings/partnership``) to and from reporting's terms: partners and
goals as numbered rows (an empty row is no row), problems by field in English (translated where shown).
Pure: no I/O."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

MAX_PARTNERS, MAX_GOALS = 20, 30  # reporting's limits
GOAL_KINDS = ("more_new_pairs", "regular_activity_in_district", "keep_mean_attendance", "text")
_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")


def _(message: str) -> str:  # marks a message for extraction; translated where it is shown
    return message


def terms_to_form(terms: dict[str, Any]) -> dict[str, str]:
    """A partnership as reporting holds it, as the form's fields."""
    values = {
        "title": terms["title"],
        "programme": terms.get("programme") or "",
        "valid_from": terms["valid_from"],
        "valid_to": terms["valid_to"],
        "purpose": terms.get("purpose", ""),
    }
    for i, partner in enumerate(terms["partners"]):
        values |= {
            f"partner-{i}-name": partner["name"],
            f"partner-{i}-contribution": str(partner["yearly_contribution_sek"]),
            f"partner-{i}-covers": partner.get("covers", ""),
        }
    for i, goal in enumerate(terms.get("goals", [])):
        values |= {
            f"goal-{i}-kind": goal["kind"],
            f"goal-{i}-district": goal.get("district") or "",
            f"goal-{i}-text": goal.get("text", ""),
        }
    return values


def rows_in(values: dict[str, str], prefix: str, limit: int) -> int:
    """How many numbered rows the fields hold (the highest index given, plus one)."""
    found = [int(m.group(1)) for key in values if (m := re.fullmatch(rf"{prefix}-(\d{{1,2}})-\w+", key))]
    return min(max(found, default=-1) + 1, limit)


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else None
    except ValueError:
        return None


def _length(problems: dict[str, str], values: dict[str, str], name: str, most: int) -> str:
    text = values.get(name, "").strip()
    if len(text) > most:
        problems[name] = _("The text is too long.")
    return text


def _sek(text: str) -> int | None:
    """Whole kronor, as people write them: 477 600, 477600 kr."""
    cleaned = re.sub(r"[\s\u00a0\u202f]", "", text).removesuffix("kr").removesuffix(":-")
    return int(cleaned) if cleaned.isascii() and cleaned.isdigit() and int(cleaned) <= 10**10 else None


def form_to_terms(values: dict[str, str], districts: set[str]) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The terms for reporting, or the problems by field."""
    problems: dict[str, str] = {}
    title = _length(problems, values, "title", 300)
    if not title:
        problems["title"] = _("Give the partnership a title.")
    programme = values.get("programme", "").strip() or None
    if programme is not None and not _CODE.match(programme):
        problems["programme"] = _("Choose a programme from the list.")
    valid_from, valid_to = _day(values.get("valid_from", "").strip()), _day(values.get("valid_to", "").strip())
    if valid_from is None:
        problems["valid_from"] = _("Enter the first day of the partnership as a date, for example 2019-01-01.")
    if valid_to is None:
        problems["valid_to"] = _("Enter the last day of the partnership as a date, for example 2021-12-31.")
    elif valid_from and valid_to < valid_from:
        problems["valid_to"] = _("The partnership ends before it starts.")
    purpose = _length(problems, values, "purpose", 4000)
    partners = _partners(values, problems)
    goals = _goals(values, problems, districts)
    if not partners and "partner-0-name" not in problems:
        problems["partner-0-name"] = _("Name at least one partner.")
    if problems:
        return None, problems
    terms = {"title": title, "programme": programme, "valid_from": values["valid_from"].strip()}
    terms |= {"valid_to": values["valid_to"].strip(), "purpose": purpose, "partners": partners, "goals": goals}
    return terms, {}


def _partners(values: dict[str, str], problems: dict[str, str]) -> list[dict[str, Any]]:
    partners = []
    for i in range(rows_in(values, "partner", MAX_PARTNERS)):
        name = _length(problems, values, f"partner-{i}-name", 200)
        contribution_text = values.get(f"partner-{i}-contribution", "").strip()
        covers = _length(problems, values, f"partner-{i}-covers", 500)
        if not (name or contribution_text or covers):
            continue  # an empty row: no partner
        if not name:
            problems[f"partner-{i}-name"] = _("Give the partner's name, or empty the row to remove it.")
        contribution = _sek(contribution_text or "0")
        if contribution is None:
            problems[f"partner-{i}-contribution"] = _(
                "Give the yearly contribution in whole kronor, for example 600000."
            )
        partners.append({"name": name, "yearly_contribution_sek": contribution, "covers": covers})
    return partners


def _goals(values: dict[str, str], problems: dict[str, str], districts: set[str]) -> list[dict[str, Any]]:
    goals = []
    for i in range(rows_in(values, "goal", MAX_GOALS)):
        kind = values.get(f"goal-{i}-kind", "").strip()
        text = _length(problems, values, f"goal-{i}-text", 500)
        district = values.get(f"goal-{i}-district", "").strip() or None
        if not kind:
            if text:
                problems[f"goal-{i}-kind"] = _("Choose what kind of goal it is, or empty the row to remove it.")
            continue
        if kind not in GOAL_KINDS:
            problems[f"goal-{i}-kind"] = _("Choose a kind of goal from the list.")
            continue
        if kind == "regular_activity_in_district" and district not in districts:
            problems[f"goal-{i}-district"] = _("Choose the district where the activity should be regular.")
        if kind == "text" and not text:
            problems[f"goal-{i}-text"] = _("Write the goal.")
        goal: dict[str, Any] = {"kind": kind, "text": text}
        if kind == "regular_activity_in_district":
            goal["district"] = district
        goals.append(goal)
    return goals
