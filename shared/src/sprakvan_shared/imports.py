"""Spreadsheet imports of a programme's history, the same in every service (issue 13).

A service exposes ``POST /imports/{kind}`` with an :class:`ImportRequest`. Each row is parsed alone with the
kind's row model (:func:`parse_rows`), so one bad row is reported with its row number and field instead of
failing the request; rows that depend on a refused row are held back with it (:func:`hold_back`). The import
key of each row is remembered with the aggregate it became and a hash of the row (:func:`known_keys`,
:func:`remember`): the same row again is ``unchanged``, a changed one ``updated``.

Error messages never quote the input: the importer shows them next to the spreadsheet's own cell.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import text
from .text import line

MAX_ROWS = 1000
RowT = TypeVar("RowT", bound=BaseModel)
ImportKey = line(200)


class ErrorCode(StrEnum):
    REQUIRED = "required"
    INVALID = "invalid"
    UNKNOWN_CODE = "unknown_code"  # a vocabulary code the programme's configuration does not have
    UNKNOWN_REFERENCE = "unknown_reference"  # a referenced id or key that does not exist (yet)
    DEPENDS_ON_REFUSED = "depends_on_refused"
    RULE = "rule"  # a domain rule: a pair that ends before it began, ...


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    REFUSED = "refused"


class RowError(BaseModel):
    field: str
    code: ErrorCode
    message: str


class RawRow(BaseModel):
    """A row as sent: its spreadsheet row number, its import key, and the kind's fields (parsed later)."""

    model_config = ConfigDict(extra="allow")

    row: int = Field(
        ge=1, le=10_000_000, strict=True, description="The row number in the spreadsheet, for error reports."
    )
    key: ImportKey = Field(description="The import key, unique per organisation and kind.")


class ImportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dry_run: bool = Field(False, strict=True, description="Validate exactly as for real and write nothing.")
    rows: list[RawRow] = Field(max_length=MAX_ROWS)


class RowResult(BaseModel):
    row: int
    key: str
    outcome: Outcome
    id: str | None = None
    errors: list[RowError] = Field(default_factory=list)


class ImportResult(BaseModel):
    kind: str
    dry_run: bool
    created: int
    updated: int
    unchanged: int
    refused: int
    results: list[RowResult]

    @classmethod
    def of(cls, kind: str, dry_run: bool, results: Iterable[RowResult]) -> ImportResult:
        ordered = sorted(results, key=lambda r: r.row)
        count = {o: sum(r.outcome is o for r in ordered) for o in Outcome}
        return cls(
            kind=kind,
            dry_run=dry_run,
            created=count[Outcome.CREATED],
            updated=count[Outcome.UPDATED],
            unchanged=count[Outcome.UNCHANGED],
            refused=count[Outcome.REFUSED],
            results=ordered,
        )


@dataclass(frozen=True)
class ParsedRow(Generic[RowT]):
    row: int
    key: str
    value: RowT


def refused(row: int, key: str, *errors: RowError) -> RowResult:
    return RowResult(row=row, key=key, outcome=Outcome.REFUSED, errors=list(errors))


def error(field: str, code: ErrorCode, message: str) -> RowError:
    return RowError(field=field, code=code, message=message)


def _errors_of(exc: ValidationError) -> list[RowError]:
    found = []
    for item in exc.errors(include_input=False, include_url=False):
        field = ".".join(str(part) for part in item["loc"]) or "row"
        code = ErrorCode.REQUIRED if item["type"] == "missing" else ErrorCode.INVALID
        found.append(RowError(field=field, code=code, message=item["msg"]))
    return found


def _forbidden_characters(value: object, field: str = "") -> list[RowError]:
    """Every string of the row with a character no field may hold (``text.problem``): the HTTP guard lets
    import bodies through so that such a cell refuses its own row only."""
    if isinstance(value, str):
        reason = text.problem(value)
        return [] if reason is None else [error(field or "row", ErrorCode.INVALID, reason)]
    found: list[RowError] = []
    if isinstance(value, dict):
        for name, item in value.items():
            if text.problem(name) is not None:
                found.append(error(field or "row", ErrorCode.INVALID, "a field name contains a forbidden character"))
            else:
                found += _forbidden_characters(item, f"{field}.{name}" if field else name)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _forbidden_characters(item, f"{field}.{index}")
    return found


def parse_rows(model: type[RowT], rows: Sequence[RawRow]) -> tuple[list[ParsedRow[RowT]], list[RowResult]]:
    """Each row through ``model`` alone: the parsed rows, and the refused ones with every field's error. A key
    that occurs twice in one request refuses its later rows."""
    parsed: list[ParsedRow[RowT]] = []
    failed: list[RowResult] = []
    seen: set[str] = set()
    for raw in rows:
        if raw.key in seen:
            failed.append(refused(raw.row, raw.key, error("key", ErrorCode.INVALID, "this key is in the file twice")))
            continue
        seen.add(raw.key)
        screened = _forbidden_characters(raw.model_extra or {})
        try:
            value = model.model_validate(raw.model_extra or {})
        except ValidationError as exc:
            # The screen's finding stands for its field (whatever the model made of the same cell).
            bad = {e.field for e in screened}
            others = [e for e in _errors_of(exc) if e.field not in bad]
            failed.append(refused(raw.row, raw.key, *screened, *others))
            continue
        if screened:
            failed.append(refused(raw.row, raw.key, *screened))
            continue
        parsed.append(ParsedRow(raw.row, raw.key, value))
    return parsed, failed


def hold_back(
    rows: Sequence[ParsedRow[RowT]],
    depends_on: Mapping[str, Sequence[tuple[str, str]]],
    refused_keys: Iterable[str],
) -> tuple[list[ParsedRow[RowT]], list[RowResult]]:
    """Rows whose dependencies (``key -> [(field, key it needs)]``) include a refused key, transitively,
    are refused with code ``depends_on_refused`` naming the field; the rest are returned to apply."""
    gone = set(refused_keys)
    held: dict[str, RowResult] = {}
    changed = True
    while changed:
        changed = False
        for parsed in rows:
            if parsed.key in held:
                continue
            for field, needed in depends_on.get(parsed.key, ()):
                if needed in gone:
                    held[parsed.key] = refused(
                        parsed.row, parsed.key, error(field, ErrorCode.DEPENDS_ON_REFUSED, "a row it needs was refused")
                    )
                    gone.add(parsed.key)
                    changed = True
                    break
    return [r for r in rows if r.key not in held], list(held.values())


def row_hash(value: BaseModel) -> str:
    """The row's content, canonical: the same cells give the same hash whatever their order."""
    canonical = json.dumps(value.model_dump(mode="json"), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class KnownKey:
    aggregate_id: str
    row_hash: str


async def known_keys(
    conn: asyncpg.Connection, organisation_id: str, kind: str, keys: Iterable[str]
) -> dict[str, KnownKey]:
    rows = await conn.fetch(
        """SELECT key, aggregate_id, row_hash FROM import_keys
           WHERE organisation_id = $1 AND kind = $2 AND key = ANY($3::text[])""",
        organisation_id,
        kind,
        list(keys),
    )
    return {r["key"]: KnownKey(r["aggregate_id"], r["row_hash"]) for r in rows}


_REMEMBER = """INSERT INTO import_keys (organisation_id, kind, key, aggregate_id, row_hash) VALUES ($1, $2, $3, $4, $5)
   ON CONFLICT (organisation_id, kind, key)
   DO UPDATE SET aggregate_id = EXCLUDED.aggregate_id, row_hash = EXCLUDED.row_hash, imported_at = now()"""


async def remember(
    conn: asyncpg.Connection, organisation_id: str, kind: str, key: str, aggregate_id: str, hash_: str
) -> None:
    await conn.execute(_REMEMBER, organisation_id, kind, key, aggregate_id, hash_)


async def remember_many(
    conn: asyncpg.Connection, organisation_id: str, kind: str, keys: Iterable[tuple[str, str, str]]
) -> None:
    """``remember`` for many ``(key, aggregate_id, row_hash)`` at once (one round trip per batch)."""
    rows = [(organisation_id, kind, key, aggregate_id, hash_) for key, aggregate_id, hash_ in keys]
    if rows:
        await conn.executemany(_REMEMBER, rows)


async def keys_of_aggregates(
    conn: asyncpg.Connection, organisation_id: str, kind: str, aggregate_ids: Iterable[str]
) -> dict[str, str]:
    """For exports: aggregate id -> the import key it came from (aggregates made here have none)."""
    rows = await conn.fetch(
        """SELECT aggregate_id, key FROM import_keys
           WHERE organisation_id = $1 AND kind = $2 AND aggregate_id = ANY($3::text[])""",
        organisation_id,
        kind,
        list(aggregate_ids),
    )
    return {r["aggregate_id"]: r["key"] for r in rows}


async def forget_aggregate(conn: asyncpg.Connection, organisation_id: str, aggregate_id: str) -> None:
    """An erased aggregate's import keys go with it (a re-import then creates the person anew)."""
    await conn.execute(
        "DELETE FROM import_keys WHERE organisation_id = $1 AND aggregate_id = $2", organisation_id, aggregate_id
    )


def outcome_of(known: KnownKey | None, hash_: str) -> Outcome:
    if known is None:
        return Outcome.CREATED
    return Outcome.UNCHANGED if known.row_hash == hash_ else Outcome.UPDATED
