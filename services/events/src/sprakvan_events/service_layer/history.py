"""The history import's common course, for every kind (issue 13): rows already parsed alone (and held
back with what they need) are compared with the import key's stored hash, checked, then applied together
in the request's one transaction with their events; a dry run rolls that transaction back, so it checks
exactly as for real and writes nothing (the outbox rows go with it)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

import asyncpg
from pydantic import BaseModel

from sprakvan_shared.imports import (
    ErrorCode,
    KnownKey,
    Outcome,
    ParsedRow,
    RowError,
    RowResult,
    error,
    known_keys,
    outcome_of,
    refused,
    remember,
    row_hash,
)

from ..adapters import repository as repo

RowT = TypeVar("RowT", bound=BaseModel)
PlanT = TypeVar("PlanT")


@dataclass(frozen=True)
class Scope:
    """The request's connection (inside its transaction), organisation, clock and correlation id."""

    conn: asyncpg.Connection
    organisation_id: str
    now: datetime
    correlation_id: str | None
    vocabulary: repo.Vocabulary | None
    # A dry run's rows of earlier kinds that it would create ("kind:key"): rows naming one are checked as far
    # as they can be without it.
    planned: frozenset[str] = frozenset()

    def is_planned(self, kind: str, key: str | None) -> bool:
        return key is not None and f"{kind}:{key}" in self.planned


@dataclass(frozen=True)
class Planned(Generic[RowT, PlanT]):
    """A row that passed its checks: what it becomes, and what the check found (ids, loaded state)."""

    parsed: ParsedRow[RowT]
    outcome: Outcome
    hash: str
    known: KnownKey | None
    plan: PlanT

    @property
    def value(self) -> RowT:
        return self.parsed.value


Check = Callable[[ParsedRow[RowT], KnownKey | None], Awaitable[list[RowError] | Any]]
Apply = Callable[[Sequence[Planned[RowT, Any]]], Awaitable[dict[str, str]]]


class DryRun(Exception):
    """Raised to roll the request's transaction back after a dry run."""


class _Assumed:
    """What a check returns for a row that needs a row an earlier dry run would create: it would be created
    too, as far as can be told; nothing is applied."""


ASSUMED = _Assumed()


@dataclass
class Course(Generic[RowT]):
    scope: Scope
    kind: str
    results: list[RowResult] = field(default_factory=list)

    async def settle(self, rows: Sequence[ParsedRow[RowT]], check: Check[RowT], apply: Apply[RowT]) -> None:
        """Unchanged rows are answered at once; the others are checked one by one (a list of errors refuses
        the row), then applied together (``apply`` returns key -> the aggregate id to remember)."""
        scope = self.scope
        known = await known_keys(scope.conn, scope.organisation_id, self.kind, [r.key for r in rows])
        planned = []
        for parsed in rows:
            hash_ = row_hash(parsed.value)
            was = known.get(parsed.key)
            outcome = outcome_of(was, hash_)
            if outcome is Outcome.UNCHANGED:
                assert was is not None
                self.results.append(_result(parsed, outcome, was.aggregate_id))
                continue
            found = await check(parsed, was)
            if isinstance(found, list):
                self.results.append(refused(parsed.row, parsed.key, *found))
                continue
            if found is ASSUMED:
                self.results.append(RowResult(row=parsed.row, key=parsed.key, outcome=outcome))
                continue
            planned.append(Planned(parsed, outcome, hash_, was, found))
        made = await apply(planned)
        for p in planned:
            aggregate_id = made[p.parsed.key]
            await remember(scope.conn, scope.organisation_id, self.kind, p.parsed.key, aggregate_id, p.hash)
            self.results.append(_result(p.parsed, p.outcome, aggregate_id))


def _result(parsed: ParsedRow[Any], outcome: Outcome, aggregate_id: str) -> RowResult:
    # Compound aggregates (a check-in: occurrence/participant) answer with the occurrence's id.
    return RowResult(row=parsed.row, key=parsed.key, outcome=outcome, id=aggregate_id.split("/")[0])


def unknown_reference(field_name: str, what: str) -> RowError:
    return error(field_name, ErrorCode.UNKNOWN_REFERENCE, f"no {what} of this organisation has that key")


def rule(field_name: str, message: str) -> RowError:
    return error(field_name, ErrorCode.RULE, message)


def unknown_code(field_name: str, message: str) -> RowError:
    return error(field_name, ErrorCode.UNKNOWN_CODE, message)


def compound(*parts: uuid.UUID | str) -> str:
    return "/".join(str(p) for p in parts)
