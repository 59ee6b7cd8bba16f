"""A partnership brought in from a spreadsheet (issue 13): one row for the partnership itself, one per
partner's yearly contribution and one per goal, the lines naming their partnership's key. Earlier years
are earlier partnerships (each with its validity), so a review of 2024 finds 2024's contributions and
goals. Plain rules, no I/O."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sprakvan_shared.imports import ErrorCode, RowError, error

from .model import Goal, GoalKind, Partner, PartnershipTerms

RowType = Literal["partnership", "contribution", "goal"]
# Per row type: the fields it must have, and those it may have (the rest must be empty).
FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "partnership": (("title", "valid_from", "valid_to"), ("programme", "purpose")),
    "contribution": (("partnership_key", "partner", "yearly_contribution_sek"), ("covers",)),
    "goal": (("partnership_key", "goal"), ("text", "district")),
}
ALL_FIELDS = tuple(sorted({f for required, optional in FIELDS.values() for f in (*required, *optional)}))


def field_errors(row: Any) -> list[RowError]:
    """What a row of its type lacks or has too much of (the cells' own types are the row model's)."""
    required, optional = FIELDS[row.type]
    errors = [error(f, ErrorCode.REQUIRED, f"a {row.type} row needs it") for f in required if getattr(row, f) is None]
    errors += [
        error(f, ErrorCode.INVALID, f"not a field of a {row.type} row")
        for f in ALL_FIELDS
        if f not in required and f not in optional and getattr(row, f) not in (None, "")
    ]
    if row.type == "goal" and row.goal is GoalKind.REGULAR_ACTIVITY_IN_DISTRICT and not row.district:
        errors.append(error("district", ErrorCode.REQUIRED, "a regular_activity_in_district goal names its district"))
    if row.type == "goal" and row.goal is GoalKind.TEXT and not row.text:
        errors.append(error("text", ErrorCode.REQUIRED, "a text goal has a text"))
    if row.type == "partnership" and row.valid_from and row.valid_to and row.valid_to < row.valid_from:
        errors.append(error("valid_to", ErrorCode.RULE, "the partnership ends before it begins"))
    return errors


def _digest(*parts: object) -> str:
    return hashlib.sha256("\x1f".join("" if p is None else str(p) for p in parts).encode()).hexdigest()[:20]


def partner_identity(name: str) -> str:
    return "partner:" + _digest(name.casefold())


def goal_identity(goal: Goal) -> str:
    return "goal:" + _digest(goal.kind.value, goal.text, goal.district)


def line_of(row: Any) -> Partner | Goal:
    if row.type == "contribution":
        return Partner(name=row.partner, yearly_contribution_sek=row.yearly_contribution_sek, covers=row.covers or "")
    return Goal(kind=row.goal, text=row.text or "", district=row.district)


def identity_of(line: Partner | Goal) -> str:
    return partner_identity(line.name) if isinstance(line, Partner) else goal_identity(line)


@dataclass(frozen=True)
class LineChange:
    """A line as its row now has it; ``replaces`` is the identity it had when last imported (or None)."""

    key: str
    line: Partner | Goal
    replaces: str | None


class LineClash(ValueError):
    """Two lines of one partnership are the same partner (or goal): their row keys."""

    def __init__(self, keys: Sequence[str]) -> None:
        super().__init__("the same partner or goal twice")
        self.keys = list(keys)


def merge(
    base: PartnershipTerms | None, header: dict[str, Any] | None, changes: Iterable[LineChange]
) -> dict[str, Any]:
    """The partnership's terms (as data, for ``PartnershipTerms`` to check) with the changed lines: a line
    replaces the one it was, else the same partner (or goal) already there, else it is added at the end."""
    lines: list[tuple[str, Partner | Goal, str | None]] = []  # identity, line, the key that set it
    if base is not None:
        lines += [(identity_of(p), p, None) for p in (*base.partners, *base.goals)]
    for change in changes:
        identity = identity_of(change.line)
        clash = next((key for i, _, key in lines if i == identity and key is not None and key != change.key), None)
        if clash is not None:
            raise LineClash([clash, change.key])
        gone = {change.replaces, identity}
        at = next((n for n, (i, _, _) in enumerate(lines) if i in gone), len(lines))
        lines = [entry for entry in lines if entry[0] not in gone]
        lines.insert(min(at, len(lines)), (identity, change.line, change.key))
    head = header if header is not None else base.model_dump(exclude={"partners", "goals"}) if base else {}
    return {
        **head,
        "partners": [line.model_dump() for _, line, _ in lines if isinstance(line, Partner)],
        "goals": [line.model_dump() for _, line, _ in lines if isinstance(line, Goal)],
    }


def header_of(row: Any) -> dict[str, Any]:
    return {
        "title": row.title,
        "programme": row.programme,
        "valid_from": row.valid_from,
        "valid_to": row.valid_to,
        "purpose": row.purpose or "",
    }


def rows_of(key: str, terms: PartnershipTerms, line_keys: dict[str, str]) -> list[dict[str, Any]]:
    """A partnership as import rows: its own, then a contribution per partner and a row per goal; a line's
    key is the one it was imported under, else ``<partnership key>:<identity>``."""
    head = {"key": key, "type": "partnership", **header_of(terms)}
    rows = [head]
    for partner in terms.partners:
        identity = identity_of(partner)
        rows.append({"key": line_keys.get(identity, f"{key}:{identity}"), "type": "contribution",
                     "partnership_key": key, "partner": partner.name,
                     "yearly_contribution_sek": partner.yearly_contribution_sek, "covers": partner.covers})  # fmt: skip
    for goal in terms.goals:
        identity = identity_of(goal)
        rows.append({"key": line_keys.get(identity, f"{key}:{identity}"), "type": "goal", "partnership_key": key,
                     "goal": goal.kind.value, "text": goal.text, "district": goal.district})  # fmt: skip
    return rows
