"""Matching's history import (issue 13): pairs as they happened, then the follow-ups held with them.

One transaction per request: every row is checked (alone, and against the pairs already here and the
rows before it), the valid ones are saved with their events and import keys, a refused row changes
nothing. A dry run checks the same and writes nothing. A created pair publishes the ordinary events of
its life in the order it had them (proposed, formed, activated, ended) with the real dates in their
payloads; a changed row publishes ``pair.updated`` with the new full state, an unchanged one nothing.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from typing import Generic
from zoneinfo import ZoneInfo

import asyncpg
import structlog

from sprakvan_shared import outbox
from sprakvan_shared.auth import Principal
from sprakvan_shared.imports import (
    ErrorCode,
    ImportRequest,
    ImportResult,
    KnownKey,
    Outcome,
    ParsedRow,
    RowError,
    RowResult,
    RowT,
    error,
    known_keys,
    outcome_of,
    parse_rows,
    refused,
    remember_many,
    row_hash,
)

from ..adapters import candidate_store, history_store, pair_store, programme_store
from ..domain.history import (
    PairHistory,
    check_follow_up,
    check_history,
    corrected,
    history_states,
    overlaps,
    period_of,
    with_follow_up,
)
from ..domain.model import Candidate, EndReason, Pair, PairStatus
from .events import pair_event, pair_state
from .import_rows import FOLLOW_UPS, PAIRS, FollowUpRow, PairRow, history_of
from .unit_of_work import Context, transaction

log = structlog.get_logger(__name__)


@dataclass
class _Applied:
    """What the valid rows of a request change: pairs to save, events to publish, keys to remember."""

    pairs: dict[uuid.UUID, Pair]
    events: list[tuple[Pair, str]]
    keys: list[tuple[str, str, str]]  # key, aggregate id, row hash

    @classmethod
    def empty(cls) -> _Applied:
        return cls({}, [], [])

    async def write(self, conn: asyncpg.Connection, organisation_id: str, kind: str) -> None:
        await pair_store.save_pairs(conn, list(self.pairs.values()))
        if self.events:
            await outbox.enqueue(conn, *(pair_event(pair, action) for pair, action in self.events))
        await remember_many(conn, organisation_id, kind, self.keys)


def _imported(row: ParsedRow, known: KnownKey | None, hash_: str, pair_id: uuid.UUID) -> RowResult:
    return RowResult(row=row.row, key=row.key, outcome=outcome_of(known, hash_), id=str(pair_id))


@dataclass(frozen=True)
class _Changed(Generic[RowT]):
    """A row that is new or differs from its last import."""

    row: ParsedRow[RowT]
    hash_: str
    known: KnownKey | None


async def _changed_rows(
    conn: asyncpg.Connection, organisation_id: str, kind: str, parsed: list[ParsedRow[RowT]], results: list[RowResult]
) -> list[_Changed[RowT]]:
    """The rows to check and apply; the unchanged ones go to ``results`` as they are."""
    known = await known_keys(conn, organisation_id, kind, [p.key for p in parsed])
    changed = []
    for row in parsed:
        hash_, seen = row_hash(row.value), known.get(row.key)
        if seen is not None and outcome_of(seen, hash_) is Outcome.UNCHANGED:
            results.append(RowResult(row=row.row, key=row.key, outcome=Outcome.UNCHANGED, id=seen.aggregate_id))
        else:
            changed.append(_Changed(row, hash_, seen))
    return changed


@dataclass(frozen=True)
class _PairTodo:
    row: ParsedRow[PairRow]
    hash_: str
    history: PairHistory
    known: KnownKey | None


async def import_pairs(ctx: Context, principal: Principal, request: ImportRequest) -> ImportResult:
    org, today = principal.organisation_id, ctx.today()
    parsed, results = parse_rows(PairRow, request.rows)
    async with transaction(ctx) as conn:
        # People first (as every write here locks them), then the keys: a concurrent import of the same
        # rows waits, then finds them unchanged.
        people = await candidate_store.lock_candidates(
            conn, org, [i for p in parsed for i in (p.value.newcomer_id, p.value.established_id)], zone=ctx.zone
        )
        todo: list[_PairTodo] = []
        for c in await _changed_rows(conn, org, PAIRS, parsed, results):
            history = history_of(c.row.value)
            if isinstance(history, list):
                results.append(refused(c.row.row, c.row.key, *history))
            else:
                todo.append(_PairTodo(c.row, c.hash_, history, c.known))
        organisation = await candidate_store.load_organisation(conn, org)
        existing = await history_store.pairs_of(
            conn,
            org,
            [t.history.newcomer_id for t in todo],
            [uuid.UUID(t.known.aggregate_id) for t in todo if t.known],
        )
        by_id = {p.pair_id: p for p in existing}
        periods: dict[uuid.UUID, dict[uuid.UUID, tuple[date, date | None]]] = defaultdict(dict)
        for pair in existing:
            if (period := period_of(pair, ctx.zone)) is not None:
                periods[pair.newcomer_id][pair.pair_id] = period
        follow_up_days: dict[str, tuple[int, ...]] = {}
        applied = _Applied.empty()
        for t in sorted(todo, key=lambda t: t.row.row):
            h = t.history
            old = by_id.get(uuid.UUID(t.known.aggregate_id)) if t.known else None
            pair_id = old.pair_id if old else uuid.uuid4()
            others = [p for pid, p in periods[h.newcomer_id].items() if pid != pair_id]
            errors = _row_errors(h, people, organisation, old, others, today=today, zone=ctx.zone)
            if errors:
                results.append(refused(t.row.row, t.row.key, *errors))
                continue
            if h.programme not in follow_up_days:
                settings = await programme_store.load_settings(conn, org, h.programme)
                follow_up_days[h.programme] = settings.follow_up_days
            days = follow_up_days[h.programme]
            if old is None:
                states = history_states(
                    h, pair_id=pair_id, organisation_id=org, zone=ctx.zone, follow_up_days=days, today=today
                )
                applied.events += states
                final = states[-1][0]
            else:
                final = corrected(old, h, zone=ctx.zone, follow_up_days=days, today=today)
                if pair_state(final) == pair_state(old):  # the notes alone changed: nothing to announce
                    final = replace(final, version=old.version)
                else:
                    applied.events.append((final, "updated"))
            applied.pairs[pair_id] = by_id[pair_id] = final
            periods[h.newcomer_id][pair_id] = h.period
            applied.keys.append((t.row.key, str(pair_id), t.hash_))
            results.append(_imported(t.row, t.known, t.hash_, pair_id))
        _supersede_proposals(applied, by_id.values(), today)
        if not request.dry_run:
            await applied.write(conn, org, PAIRS)
    outcome = ImportResult.of(PAIRS, request.dry_run, results)
    log.info("pairs_imported", dry_run=request.dry_run, created=outcome.created, updated=outcome.updated,
             unchanged=outcome.unchanged, refused=outcome.refused)  # fmt: skip
    return outcome


def _row_errors(
    h: PairHistory,
    people: dict[uuid.UUID, Candidate],
    organisation: candidate_store.Organisation | None,
    old: Pair | None,
    other_periods: list[tuple[date, date | None]],
    *,
    today: date,
    zone: ZoneInfo,
) -> list[RowError]:
    """What refuses the row: its references first, then the domain's rules for history."""
    errors = _reference_errors(h, people, organisation, old)
    if errors:
        return errors
    problems = check_history(h, people[h.newcomer_id], people[h.established_id], today=today, zone=zone)
    if overlaps(h.period, other_periods):
        problems.append(("newcomer_id", "the newcomer is in another pair at that time"))
    return [error(field, ErrorCode.RULE, message) for field, message in problems]


def _reference_errors(
    h: PairHistory,
    people: dict[uuid.UUID, Candidate],
    organisation: candidate_store.Organisation | None,
    old: Pair | None,
) -> list[RowError]:
    errors = []
    if organisation is not None and h.programme not in organisation.programmes:
        errors.append(error("programme", ErrorCode.UNKNOWN_CODE, "the organisation has no such programme"))
    for field, person in (("newcomer_id", h.newcomer_id), ("established_id", h.established_id)):
        if person not in people:
            errors.append(error(field, ErrorCode.UNKNOWN_REFERENCE, "matching knows no such participant (yet)"))
    if old is not None:
        for field, before, now in (
            ("programme", old.programme, h.programme),
            ("newcomer_id", old.newcomer_id, h.newcomer_id),
            ("established_id", old.established_id, h.established_id),
        ):
            if before != now:
                message = "a pair's people and programme cannot change: use a new key"
                errors.append(error(field, ErrorCode.RULE, message))
    return errors


def _supersede_proposals(applied: _Applied, pairs: Iterable[Pair], today: date) -> None:
    """A newcomer whose imported pair is open no longer needs the proposals of a round."""
    paired = {p.newcomer_id for p in applied.pairs.values() if p.is_open}
    for pair in list(pairs):
        if pair.status is PairStatus.PROPOSED and pair.newcomer_id in paired and pair.pair_id not in applied.pairs:
            closed = pair.close(EndReason.SUPERSEDED, today)
            applied.pairs[pair.pair_id] = closed
            applied.events.append((closed, "ended"))


@dataclass(frozen=True)
class _FollowUpTodo:
    row: ParsedRow[FollowUpRow]
    hash_: str
    pair_id: uuid.UUID
    known: KnownKey | None


async def import_follow_ups(ctx: Context, principal: Principal, request: ImportRequest) -> ImportResult:
    org, today = principal.organisation_id, ctx.today()
    parsed, results = parse_rows(FollowUpRow, request.rows)
    async with transaction(ctx) as conn:
        pair_keys = await known_keys(conn, org, PAIRS, [p.value.pair_key for p in parsed])
        pair_ids = {p.key: _pair_id(pair_keys, p.value.pair_key) for p in parsed}
        # The pairs first, then the keys: a concurrent import of the same rows waits, then finds them unchanged.
        locked = await history_store.pairs_of(conn, org, [], [i for i in pair_ids.values() if i is not None])
        found = {p.pair_id: p for p in locked}
        todo: list[_FollowUpTodo] = []
        for c in await _changed_rows(conn, org, FOLLOW_UPS, parsed, results):
            pair_id = pair_ids[c.row.key]
            if pair_id is None:
                results.append(refused(c.row.row, c.row.key, _unknown_pair()))
            else:
                todo.append(_FollowUpTodo(c.row, c.hash_, pair_id, c.known))
        applied = _Applied.empty()
        for t in sorted(todo, key=lambda t: (t.row.value.done_on, t.row.row)):
            pair, value = applied.pairs.get(t.pair_id) or found.get(t.pair_id), t.row.value
            if pair is None:
                results.append(refused(t.row.row, t.row.key, _unknown_pair()))
                continue
            problems = check_follow_up(pair, value.done_on, today, ctx.zone)
            if t.known is not None and t.known.aggregate_id != str(t.pair_id):
                problems.append(("pair_key", "a follow-up cannot move to another pair: use a new key"))
            if problems:
                errors = [error(field, ErrorCode.RULE, message) for field, message in problems]
                results.append(refused(t.row.row, t.row.key, *errors))
                continue
            done = with_follow_up(
                pair,
                key=t.row.key,
                done_on=value.done_on,
                outcome=value.outcome,
                notes=value.notes,
                due_on=value.due_on,
            )
            applied.pairs[pair.pair_id] = done
            applied.events.append((done, "followed_up"))
            applied.keys.append((t.row.key, str(pair.pair_id), t.hash_))
            results.append(_imported(t.row, t.known, t.hash_, pair.pair_id))
        if not request.dry_run:
            await applied.write(conn, org, FOLLOW_UPS)
    return ImportResult.of(FOLLOW_UPS, request.dry_run, results)


def _pair_id(pair_keys: dict[str, KnownKey], pair_key: str) -> uuid.UUID | None:
    """A follow-up names its pair by the pair row's import key, or (exported pairs made here) by its id."""
    if pair_key in pair_keys:
        return uuid.UUID(pair_keys[pair_key].aggregate_id)
    try:
        return uuid.UUID(pair_key)
    except ValueError:
        return None


def _unknown_pair() -> RowError:
    return error("pair_key", ErrorCode.UNKNOWN_REFERENCE, "no pair was imported with this key")
