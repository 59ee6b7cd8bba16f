"""Use cases of the partnership import and export (issue 13): rows checked alone and with the partnership
they belong to; each partnership's valid rows applied, all in one transaction."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog
from pydantic import BaseModel, ValidationError

from sprakvan_shared import db, imports
from sprakvan_shared.auth import Principal
from sprakvan_shared.imports import ErrorCode, ImportRequest, ImportResult, Outcome, ParsedRow, RowResult

from ..adapters import partnerships as repository
from ..domain.imports import LineChange, LineClash, field_errors, header_of, identity_of, line_of, merge, rows_of
from ..domain.model import Partnership, PartnershipTerms

log = structlog.get_logger(__name__)
KIND = "partnership"


@dataclass
class _Group:
    """A partnership's rows in this request, and what is stored of it."""

    key: str
    header: ParsedRow[Any] | None = None
    lines: list[ParsedRow[Any]] = field(default_factory=list)
    stored: Partnership | None = None


def _line_aggregate(partnership_id: uuid.UUID | str, identity: str) -> str:
    """What ``import_keys`` holds for a line: the partnership and which of its lines."""
    return f"{partnership_id}#{identity}"


async def _vocabulary_errors(conn: asyncpg.Connection, organisation_id: str, row: Any) -> list[imports.RowError]:
    configuration = await conn.fetchval(
        "SELECT configuration FROM organisations WHERE organisation_id = $1", organisation_id
    )
    if configuration is None:  # intake's configuration has not reached reporting: nothing to check against
        return []
    errors = []
    for name, vocabulary in (("programme", "programmes"), ("district", "districts")):
        value = getattr(row, name)
        if value is not None and value not in {e["code"] for e in configuration.get(vocabulary) or []}:
            errors.append(imports.error(name, ErrorCode.UNKNOWN_CODE, "not a code of the programme's configuration"))
    return errors


async def import_partnerships(
    pool: asyncpg.Pool, principal: Principal, request: ImportRequest, row_model: type[BaseModel]
) -> ImportResult:
    organisation_id = principal.organisation_id
    parsed, results = imports.parse_rows(row_model, request.rows)
    async with db.transaction(pool) as conn:
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('import:partnership:' || $1))", organisation_id)
        checked = []
        for item in parsed:
            if errors := field_errors(item.value) + await _vocabulary_errors(conn, organisation_id, item.value):
                results.append(imports.refused(item.row, item.key, *errors))
            else:
                checked.append(item)
        refused_keys = {r.key for r in results}
        depends = {p.key: [("partnership_key", p.value.partnership_key)] for p in checked if p.value.partnership_key}
        checked, held = imports.hold_back(checked, depends, refused_keys)
        results += held
        keys = {p.key for p in checked} | {p.value.partnership_key for p in checked if p.value.partnership_key}
        known = await imports.known_keys(conn, organisation_id, KIND, keys)
        groups = await _groups(conn, organisation_id, checked, known, results)
        for group in groups.values():
            results += await _apply(conn, principal, group, known, dry_run=request.dry_run)
    result = ImportResult.of(KIND, request.dry_run, results)
    log.info("partnership_imported", dry_run=request.dry_run, created=result.created, refused=result.refused)
    return result


async def _groups(
    conn: asyncpg.Connection,
    organisation_id: str,
    checked: list[ParsedRow[Any]],
    known: dict[str, imports.KnownKey],
    results: list[RowResult],
) -> dict[str, _Group]:
    """The rows by partnership; a line whose partnership is neither in the request nor imported before is
    refused as ``unknown_reference``."""
    groups: dict[str, _Group] = {}
    for item in checked:
        if item.value.type == "partnership":
            groups.setdefault(item.key, _Group(item.key)).header = item
    for item in checked:
        if item.value.type == "partnership":
            continue
        key = item.value.partnership_key
        if key not in groups and key not in known:
            results.append(imports.refused(item.row, item.key, imports.error(
                "partnership_key", ErrorCode.UNKNOWN_REFERENCE, "no partnership row has this key")))  # fmt: skip
            continue
        groups.setdefault(key, _Group(key)).lines.append(item)
    for group in groups.values():
        if (stored := known.get(group.key)) is not None:
            group.stored = await repository.get(conn, organisation_id, uuid.UUID(stored.aggregate_id))
    return groups


async def _apply(
    conn: asyncpg.Connection,
    principal: Principal,
    group: _Group,
    known: dict[str, imports.KnownKey],
    *,
    dry_run: bool,
) -> list[RowResult]:
    """One partnership: its changed rows merged into what is stored; all its rows refused if the result is
    not a valid partnership (named on its own row, the lines ``depends_on_refused``)."""
    rows = [*([group.header] if group.header else []), *group.lines]
    digests = {item.key: imports.row_hash(item.value) for item in rows}
    outcomes = {item.key: imports.outcome_of(known.get(item.key), digests[item.key]) for item in rows}
    if group.stored is None:  # a partnership new here (or gone): every row of it creates
        outcomes = dict.fromkeys(outcomes, Outcome.CREATED)
    changes, moved = [], []
    for item in group.lines:
        previous = known.get(item.key)
        replaces = None
        if previous is not None and group.stored is not None:
            partnership_id, _, replaces = previous.aggregate_id.partition("#")
            if partnership_id != str(group.stored.id):
                moved.append(item)
        if outcomes[item.key] is not Outcome.UNCHANGED:
            changes.append((item, replaces))
    moved_out = [imports.refused(i.row, i.key, imports.error(
        "partnership_key", ErrorCode.RULE, "a line cannot move to another partnership; give it a new key"))
        for i in moved]  # fmt: skip
    rows = [r for r in rows if r not in moved]
    changes = [(item, replaces) for item, replaces in changes if item not in moved]
    header = None
    if group.header is not None and outcomes[group.header.key] is not Outcome.UNCHANGED:
        header = header_of(group.header.value)
    try:
        lines = [LineChange(item.key, line_of(item.value), replaces) for item, replaces in changes]
        terms = PartnershipTerms.model_validate(merge(group.stored.terms if group.stored else None, header, lines))
    except (ValidationError, LineClash) as exc:
        return moved_out + _refuse_group(group, rows, exc)
    stored = group.stored
    if not dry_run and any(o is not Outcome.UNCHANGED for o in outcomes.values()):
        if stored is None:
            stored = await repository.add(conn, principal.organisation_id, terms, principal.subject)
        elif terms != stored.terms:
            stored = await repository.replace(
                conn, principal.organisation_id, stored.id, terms, principal.subject, None
            )
        assert stored is not None
        keys = [
            (item.key, _line_aggregate(stored.id, identity_of(line_of(item.value))) if item in group.lines
             else str(stored.id), digests[item.key])
            for item in rows
            if outcomes[item.key] is not Outcome.UNCHANGED
        ]  # fmt: skip
        await imports.remember_many(conn, principal.organisation_id, KIND, keys)
    partnership_id = str(stored.id) if stored else None
    return moved_out + [RowResult(row=i.row, key=i.key, outcome=outcomes[i.key], id=partnership_id) for i in rows]


def _refuse_group(group: _Group, rows: list[ParsedRow[Any]], exc: Exception) -> list[RowResult]:
    if isinstance(exc, LineClash):
        found = [imports.error("partner", ErrorCode.RULE, "the same partner or goal is on another row")]
        blamed = set(exc.keys)
    else:
        assert isinstance(exc, ValidationError)
        found = [
            imports.error(_field_of(e["loc"]), ErrorCode.RULE if e["type"] == "value_error" else ErrorCode.INVALID,
                          e["msg"])
            for e in exc.errors(include_input=False, include_url=False)
        ]  # fmt: skip
        blamed = {group.header.key if group.header else r.key for r in rows}
    results = []
    for item in rows:
        if item.key in blamed:
            results.append(imports.refused(item.row, item.key, *found))
        else:
            results.append(imports.refused(item.row, item.key, imports.error(
                "partnership_key", ErrorCode.DEPENDS_ON_REFUSED, "its partnership was refused")))  # fmt: skip
    return results


def _field_of(loc: tuple[Any, ...]) -> str:
    """A terms error's field, as the rows name it: a partnership needs a contribution row (``partner``)."""
    if loc and loc[0] == "partners":
        return "partner"
    if loc and loc[0] == "goals":
        return "goal"
    return ".".join(str(p) for p in loc) or "partnership"


# -- export ---------------------------------------------------------------------------------------
async def export_partnerships(
    pool: asyncpg.Pool, principal: Principal, *, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int | None]:
    """Every partnership as import rows; the next page's offset, or None on the last."""
    organisation_id = principal.organisation_id
    async with pool.acquire() as conn:
        found = await repository.list_all(conn, organisation_id)
        page = found[offset : offset + limit]
        line_ids = [
            _line_aggregate(p.id, identity_of(line)) for p in page for line in (*p.terms.partners, *p.terms.goals)
        ]
        keys = await imports.keys_of_aggregates(conn, organisation_id, KIND, [str(p.id) for p in page] + line_ids)
    rows: list[dict[str, Any]] = []
    by_partnership: dict[str, dict[str, str]] = defaultdict(dict)
    for aggregate, key in keys.items():
        partnership_id, _, identity = aggregate.partition("#")
        if identity:
            by_partnership[partnership_id][identity] = key
    for p in page:
        rows += rows_of(keys.get(str(p.id), str(p.id)), p.terms, by_partnership[str(p.id)])
    return rows, (offset + limit if offset + limit < len(found) else None)
