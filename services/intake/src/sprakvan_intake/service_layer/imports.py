"""Use cases of the history import and the export (issue 13): each row checked alone, the valid ones
applied in one transaction with their events, carrying the real dates."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import structlog
from pydantic import BaseModel

from sprakvan_shared import db, imports, outbox
from sprakvan_shared.auth import Principal, Role
from sprakvan_shared.contracts.envelope import IntegrationEvent
from sprakvan_shared.imports import ErrorCode, ImportRequest, ImportResult, Outcome, RowError, RowResult

from ..adapters.repository import ParticipantFilter, ParticipantRepository
from ..domain.configuration import unknown_codes
from ..domain.history import History, HistoryRuleBroken, Replayed, Step, correct_history, replay_history
from ..domain.model import Consent, FieldError, Interview, InvalidParticipant, ParticipantDetails, StatedDetails
from . import events
from .configuration import configuration_of
from .handlers import decode_cursor, encode_cursor

log = structlog.get_logger(__name__)
KIND = "participants"
STOCKHOLM = ZoneInfo("Europe/Stockholm")
PERSONAL = ("first_name", "last_name", "email", "phone", "interview_coordinator", "interview_notes")
_ANNOUNCE: dict[Step, Callable[[Any], IntegrationEvent]] = {
    Step.REGISTERED: events.registered,
    Step.INTERVIEWED: events.interviewed,
    Step.WITHDRAWN: events.withdrawn,
    Step.UPDATED: events.updated,
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def imported_interview_id(participant_id: uuid.UUID) -> uuid.UUID:
    """The interview a participant's import recorded: the same one again when its row changes."""
    return uuid.uuid5(participant_id, "imported-interview")


def history_of(row: Any, coordinator: str) -> History:
    """The life a row tells (its fields are a ``ParticipantRow``'s)."""
    stated = {name: getattr(row, name) for name in StatedDetails.model_fields}
    # A registration in the future is refused on its own field (History.rule_errors), not as a consent.
    consent = Consent(data_processing=True, photo=row.photo_consent, given_at=min(row.registered_on, utcnow()))
    interview = None
    if row.interviewed_on is not None:
        interview = Interview(
            id=uuid.UUID(int=0),  # replaced by the participant's imported_interview_id when stored
            held_on=row.interviewed_on.astimezone(STOCKHOLM).date(),
            coordinator=row.interview_coordinator or coordinator,
            notes=row.interview_notes,
        )
    return History(
        role=row.role,
        details=ParticipantDetails.model_validate({**stated, "consent": consent}),
        registered_at=row.registered_on,
        interview=interview,
        withdrawn_at=row.withdrawn_on,
        withdrawal_reason=row.withdrawal_reason,
    )


def _row_errors(row: Any, errors: list[FieldError], code: ErrorCode) -> list[RowError]:
    """Domain errors as row errors; a field left empty is ``required``. Messages never quote a cell."""
    found = []
    for e in errors:
        field = ".".join(map(str, e.field))
        missing = code is ErrorCode.INVALID and len(e.field) == 1 and getattr(row, str(e.field[0]), "") is None
        message = _UNKNOWN_CODE if e.message.startswith("unknown ") else e.message
        found.append(imports.error(field, ErrorCode.REQUIRED if missing else code, message))
    return found


_UNKNOWN_CODE = "not a code of the programme's configuration (GET /configuration lists them)"


def _withdrawal_errors(row: Any) -> list[RowError]:
    if (row.withdrawn_on is None) == (row.withdrawal_reason is None):
        return []
    if row.withdrawn_on is None:
        return [imports.error("withdrawn_on", ErrorCode.REQUIRED, "a withdrawal reason needs its date")]
    return [imports.error("withdrawal_reason", ErrorCode.REQUIRED, "a withdrawal needs its reason")]


@dataclass
class _Planned:
    parsed: imports.ParsedRow[Any]
    digest: str
    outcome: Outcome
    replayed: Replayed
    interview: Interview | None


async def import_participants(
    pool: asyncpg.Pool, principal: Principal, request: ImportRequest, row_model: type[BaseModel], *, clock=utcnow
) -> ImportResult:
    now = clock().astimezone(STOCKHOLM)  # "today" is Stockholm's, as a row's days are
    organisation_id = principal.organisation_id
    parsed, results = imports.parse_rows(row_model, request.rows)
    async with db.transaction(pool) as conn:
        # One import of an organisation's participants at a time: two of the same new key make one person.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('import:participants:' || $1))", organisation_id)
        configuration = await configuration_of(conn, organisation_id)
        known = await imports.known_keys(conn, organisation_id, KIND, [p.key for p in parsed])
        repo = ParticipantRepository(conn)
        planned: list[_Planned] = []
        for item in parsed:
            outcome_or_plan = await _plan(repo, principal, configuration, item, known.get(item.key), now)
            if isinstance(outcome_or_plan, RowResult):
                results.append(outcome_or_plan)
            else:
                planned.append(outcome_or_plan)
                results.append(RowResult(row=item.row, key=item.key, outcome=outcome_or_plan.outcome,
                                         id=str(outcome_or_plan.replayed.participant.id)))  # fmt: skip
        if not request.dry_run and planned:
            await _apply(conn, repo, principal, planned, now)
    result = ImportResult.of(KIND, request.dry_run, results)
    log.info(
        "participants_imported",
        dry_run=request.dry_run,
        created=result.created,
        updated=result.updated,
        unchanged=result.unchanged,
        refused=result.refused,
    )
    return result


async def _plan(
    repo: ParticipantRepository,
    principal: Principal,
    configuration: Any,
    item: imports.ParsedRow[Any],
    known: imports.KnownKey | None,
    now: datetime,
) -> RowResult | _Planned:
    row = item.value
    digest = imports.row_hash(row)
    outcome = imports.outcome_of(known, digest)
    if outcome is Outcome.UNCHANGED and known is not None:
        return RowResult(row=item.row, key=item.key, outcome=outcome, id=known.aggregate_id)
    errors = _row_errors(row, unknown_codes(configuration, dict(row)), ErrorCode.UNKNOWN_CODE)
    errors += _withdrawal_errors(row)
    history = history_of(row, principal.subject[:200])  # an interview names its coordinator in 200 characters
    replayed = None
    try:
        existing = None
        if known is not None:
            existing = await repo.get(principal.organisation_id, uuid.UUID(known.aggregate_id), for_update=True)
        if existing is None:
            outcome = Outcome.CREATED  # a key whose participant is gone makes the person anew
            replayed = replay_history(principal.organisation_id, history, now)
        else:
            replayed = correct_history(existing, history, now)
    except HistoryRuleBroken as exc:
        errors += _row_errors(row, exc.errors, ErrorCode.RULE)
    except InvalidParticipant as exc:
        errors += _row_errors(row, exc.errors, ErrorCode.INVALID)
    if errors or replayed is None:
        return imports.refused(item.row, item.key, *errors)
    interview = None
    if history.interview is not None:  # stored under an id of the participant's: a changed row replaces it
        interview = history.interview.model_copy(update={"id": imported_interview_id(replayed.participant.id)})
    return _Planned(item, digest, outcome, replayed, interview)


async def _apply(
    conn: asyncpg.Connection, repo: ParticipantRepository, principal: Principal, planned: list[_Planned], now: datetime
) -> None:
    await repo.add_many([p.replayed.participant for p in planned if p.outcome is Outcome.CREATED])
    for plan in planned:
        if plan.outcome is Outcome.UPDATED:
            await repo.save(plan.replayed.participant, registered_at_may_change=True)
    interviews = [(p.replayed.participant, p.interview) for p in planned if p.interview is not None]
    await repo.add_interviews(interviews, recorded_by=principal.subject, now=now)
    keys = [(p.parsed.key, str(p.replayed.participant.id), p.digest) for p in planned]
    await imports.remember_many(conn, principal.organisation_id, KIND, keys)
    if announced := [_ANNOUNCE[step](snapshot) for plan in planned for step, snapshot in plan.replayed.steps]:
        await outbox.enqueue(conn, *announced)


# -- export ---------------------------------------------------------------------------------------
async def export_participants(
    pool: asyncpg.Pool, principal: Principal, *, cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """Import rows of the organisation's participants (no personal data for viewers); ValueError for a
    cursor this service did not make."""
    after = decode_cursor(cursor) if cursor else None
    organisation_id = principal.organisation_id
    async with pool.acquire() as conn:
        repo = ParticipantRepository(conn)
        page = await repo.list(organisation_id, ParticipantFilter(), after=after, limit=limit + 1)
        has_more = len(page) > limit
        page = page[:limit]
        keys = await imports.keys_of_aggregates(conn, organisation_id, KIND, [str(p.id) for p in page])
        interviews = await repo.latest_interviews(organisation_id, [p.id for p in page])
    rows = []
    for p in page:
        assert p.details is not None
        interview = interviews.get(p.id)
        row = {
            "id": p.id,
            "key": keys.get(str(p.id), str(p.id)),
            "role": p.role,
            **{name: getattr(p.details, name) for name in StatedDetails.model_fields},
            "photo_consent": p.details.consent.photo,
            "registered_on": p.registered_at,
            "interviewed_on": p.interviewed_on,
            "interview_coordinator": interview.coordinator if interview else None,
            "interview_notes": interview.notes if interview else "",
            "withdrawn_on": p.withdrawn_at,
            "withdrawal_reason": p.withdrawal_reason,
        }
        if principal.role is Role.VIEWER:
            row.update(dict.fromkeys(PERSONAL))
        rows.append(row)
    return rows, (encode_cursor(page[-1]) if has_more else None)
