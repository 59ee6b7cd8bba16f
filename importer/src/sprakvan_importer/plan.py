"""From sheets to the rows each service is sent: pure, no I/O, the same for the CLI and the web page.

Every cell is read by its column's type; a value that should be a code is mapped through the vocabularies
(``vocabularies.py``), and what cannot be mapped refuses its row with ``unknown_code`` and is listed once
per distinct value with its rows, for the coordinator to decide. A row that refers to a refused row
(a pair to a refused participant, an occurrence to a refused activity) is held back with
``depends_on_refused``: nothing is sent that would be half a fact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import cells
from .cells import CellError, header_form, is_blank
from .kinds import KINDS, Column, Kind, Type
from .reading import Sheet, Workbook
from .vocabularies import Vocabulary

MAX_KEY = 200


@dataclass(frozen=True)
class Problem:
    """A refused row, as the coordinator sees it: sheet, row number, column, and why."""

    kind: str
    sheet: str
    row: int
    key: str
    column: str
    code: str
    message: str


@dataclass
class Unmapped:
    """A value that should be a code of ``vocabulary`` and is none; its rows are refused."""

    vocabulary: str
    value: str
    sheet: str
    column: str
    rows: list[int] = field(default_factory=list)


@dataclass
class Planned:
    row: int
    key: str
    fields: dict[str, Any]
    participants: dict[str, str] = field(default_factory=dict)  # field -> participant key (sent as its id)
    keys: dict[str, tuple[str, str]] = field(default_factory=dict)  # field -> (kind, key) of the same service


@dataclass
class KindPlan:
    kind: Kind
    sheet: str
    headers: dict[str, str]  # field -> the header as the file has it
    rows: list[Planned] = field(default_factory=list)
    refused: list[Problem] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    def problem(self, row: int, key: str, field_: str, code: str, message: str) -> Problem:
        return Problem(self.kind.name, self.sheet, row, key, self.column_of(field_), code, message)

    def column_of(self, field_: str) -> str:
        """The file's header for a field a service names (``wishes.age_min``, ``languages.1.level``)."""
        parts = field_.split(".")
        while parts and parts[0] in ("body", "rows") or (parts and parts[0].isdigit()):
            parts = parts[1:]
        for length in range(len(parts), 0, -1):
            candidate = ".".join(parts[:length])
            if candidate in self.headers:
                return self.headers[candidate]
        return ".".join(parts) or field_


@dataclass
class Plan:
    kinds: dict[str, KindPlan]  # in sending order
    unmapped: list[Unmapped]
    ignored_sheets: list[str]

    def refused_keys(self, kind: str) -> set[str]:
        plan = self.kinds.get(kind)
        return {p.key for p in plan.refused} if plan else set()


class _Refusal(Exception):
    def __init__(self, field_: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field, self.code, self.message = field_, code, message


def _set(target: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = value


class _Reader:
    """Reads one sheet's rows; collects unmapped values across sheets."""

    def __init__(self, vocabularies: Mapping[str, Vocabulary], programme: str | None = None) -> None:
        self.vocabularies = vocabularies
        self.programme = programme  # for rows that name none
        self.unmapped: dict[tuple[str, str, str, str], Unmapped] = {}
        self.headers: dict[str, str] = {}  # of the sheet being read: field -> header in the file

    def code(self, vocabulary: str, raw: str, column: Column, sheet: Sheet, row: int) -> str:
        found = self.vocabularies[vocabulary].code_of(raw) if vocabulary in self.vocabularies else None
        if found is not None:
            return found
        header = self.headers.get(column.field, column.header("sv"))
        entry = self.unmapped.setdefault(
            (vocabulary, cells.fold(raw), sheet.name, column.field), Unmapped(vocabulary, raw, sheet.name, header)
        )
        entry.rows.append(row)
        raise _Refusal(column.field, "unknown_code", f"not a code or label of {vocabulary}")

    def value(self, column: Column, raw: Any, sheet: Sheet, row: int) -> Any:
        try:
            if column.type in _PLAIN:
                return _PLAIN[column.type](raw)
            if column.type is Type.CODE:
                return self.code(column.vocabulary or "", cells.text(raw), column, sheet, row)
            if column.type is Type.CODES:
                return [self.code(column.vocabulary or "", i, column, sheet, row) for i in cells.items(raw)]
            first, second = column.vocabularies  # Type.PAIRS
            return [
                {
                    column.names[0]: self.code(first, a, column, sheet, row) if first else a.casefold(),
                    column.names[1]: self.code(second, b, column, sheet, row) if second else b,
                }
                for a, b in cells.pairs(raw)
            ]
        except CellError as exc:
            raise _Refusal(column.field, "invalid", str(exc)) from None


_PLAIN = {
    Type.TEXT: cells.text, Type.PARTICIPANT: cells.text, Type.KEY: cells.text, Type.INTEGER: cells.integer,
    Type.NUMBER: cells.number, Type.BOOLEAN: cells.boolean, Type.DATE: cells.day, Type.MOMENT: cells.moment,
    Type.TIME: cells.clock,
}  # fmt: skip


def _plan_sheet(reader: _Reader, sheet: Sheet) -> KindPlan:
    by_header = sheet.kind.column_by_header()
    positions: list[tuple[int, Column]] = []
    plan = KindPlan(sheet.kind, sheet.name, {})
    for index, header in enumerate(sheet.headers):
        column = by_header.get(header_form(header)) if header else None
        if column is None or column.field in plan.headers:
            if header:
                plan.ignored_columns.append(header)
            continue
        positions.append((index, column))
        plan.headers[column.field] = header
    for column in sheet.kind.columns:
        plan.headers.setdefault(column.field, column.header("sv"))
    reader.headers = plan.headers
    seen: set[str] = set()
    for number, row_cells in sheet.rows:
        cell = {c.field: row_cells[i] if i < len(row_cells) else None for i, c in positions}
        key = cells.text(cell.get("key")) if not is_blank(cell.get("key")) else ""
        try:
            if not key:
                raise _Refusal("key", "required", "every row needs a key")
            if len(key) > MAX_KEY:
                raise _Refusal("key", "invalid", f"a key is at most {MAX_KEY} characters")
            if key in seen:
                raise _Refusal("key", "invalid", "this key is in the sheet twice")
            seen.add(key)
            plan.rows.append(_plan_row(reader, sheet, number, key, positions, cell))
        except _Refusal as refusal:
            plan.refused.append(plan.problem(number, key, refusal.field, refusal.code, refusal.message))
    return plan


def _plan_row(
    reader: _Reader, sheet: Sheet, number: int, key: str, positions: list[tuple[int, Column]], cell: dict[str, Any]
) -> Planned:
    planned = Planned(number, key, {})
    first: _Refusal | None = None
    for column in sheet.kind.columns:
        if column.field == "key":
            continue
        raw = cell.get(column.field)
        if is_blank(raw) and column.vocabulary == "programmes" and column.required and reader.programme:
            raw = reader.programme
        if is_blank(raw):
            if column.required:
                first = first or _Refusal(column.field, "required", "this column must have a value")
            continue
        try:
            value = reader.value(column, raw, sheet, number)
        except _Refusal as refusal:
            first = first or refusal  # read on: every unmapped value of the row is listed
            continue
        if column.type is Type.PARTICIPANT:
            planned.participants[column.field] = value
        elif column.type is Type.KEY:
            planned.keys[column.field] = (column.refers_to or "", value)
        _set(planned.fields, column.field, value)
    if first is not None:
        raise first
    return planned


def prepare(workbook: Workbook, vocabularies: Mapping[str, Vocabulary], programme: str | None = None) -> Plan:
    """Read every sheet, map its codes, and hold back the rows that refer to refused rows. ``programme``
    stands in for a blank programme cell."""
    reader = _Reader(vocabularies, programme)
    kinds = {k.name: _plan_sheet(reader, workbook.sheets[k.name]) for k in KINDS if k.name in workbook.sheets}
    plan = Plan(kinds, list(reader.unmapped.values()), list(workbook.ignored_sheets))
    for kind_plan in kinds.values():
        hold_back(kind_plan, lambda kind: plan.refused_keys(kind))
    return plan


def hold_back(plan: KindPlan, refused_keys: Any) -> list[Problem]:
    """Move the rows that need a refused row (``refused_keys(kind) -> set``) to the refused; returns them."""
    kept: list[Planned] = []
    held: list[Problem] = []
    for planned in plan.rows:
        needs = [(f, "participants", k) for f, k in planned.participants.items()]
        needs += [(f, kind, k) for f, (kind, k) in planned.keys.items()]
        reason = next(((f, kind) for f, kind, k in needs if k in refused_keys(kind)), None)
        if reason is None:
            kept.append(planned)
        else:
            field_, kind = reason
            message = f"its {kind} row was refused"
            held.append(plan.problem(planned.row, planned.key, field_, "depends_on_refused", message))
    plan.rows = kept
    plan.refused.extend(held)
    return held


def participant_keys(plan: Plan) -> Iterable[str]:
    """Participant keys the other sheets refer to."""
    for kind_plan in plan.kinds.values():
        for planned in kind_plan.rows:
            yield from planned.participants.values()
