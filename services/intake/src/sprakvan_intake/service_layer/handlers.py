"""Use cases: load, apply the domain, store, and enqueue the events, all in one transaction."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

import asyncpg
import structlog

from sprakvan_shared import db, idempotency, imports, outbox, text
from sprakvan_shared.auth import Principal
from sprakvan_shared.contracts.intake import AnonymousParticipantRecord

from ..adapters import repository
from ..adapters.repository import ParticipantFilter, ParticipantRepository
from ..domain.commands import RecordInterview, RegisterParticipant, WithdrawParticipant
from ..domain.configuration import unknown_codes
from ..domain.model import FieldError, Interview, InvalidParticipant, Participant, ParticipantDetails, ParticipantStatus
from . import events
from .configuration import configuration_of, unknown_registration_codes

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]
_T = TypeVar("_T")


STOCKHOLM = ZoneInfo("Europe/Stockholm")


def utcnow() -> datetime:
    return datetime.now(UTC)


class ParticipantNotFound(Exception):
    pass


class VersionMismatch(Exception):
    """``If-Match`` named another version than the current one: someone else changed the participant."""

    def __init__(self, current: int) -> None:
        super().__init__(f"the participant is at version {current}")
        self.current = current


@asynccontextmanager
async def _unit_of_work(pool: asyncpg.Pool) -> AsyncIterator[tuple[asyncpg.Connection, ParticipantRepository]]:
    # db.transaction: honest outage errors, and the request's Idempotency-Key recorded in the same commit.
    async with db.transaction(pool) as conn:
        yield conn, ParticipantRepository(conn)


async def register_participant(
    pool: asyncpg.Pool, principal: Principal, command: RegisterParticipant, *, clock: Clock = utcnow
) -> Participant:
    """A retry with the same Idempotency-Key never gets here: the shared mechanism replays the first
    response (``sprakvan_shared.idempotency``)."""
    # The command is a validated ParticipantDetails plus the role: no need to validate it again.
    details = ParticipantDetails.model_construct(
        **{name: getattr(command, name) for name in ParticipantDetails.model_fields}
    )
    # vars(): the model's own field values, read only (dict(details) copies them through a generator).
    code_errors = await unknown_registration_codes(pool, principal.organisation_id, vars(details))
    participant = _also_failing(
        code_errors,
        lambda: Participant.register(
            organisation_id=principal.organisation_id, role=command.role, details=details, now=clock()
        ),
    )
    registered = events.registered(participant)
    if idempotency.active():
        idempotency.bind_resource(participant.id)
        async with _unit_of_work(pool) as (_, repo):
            await repo.add_announced(participant, registered)
    else:  # one atomic statement, no transaction block, shared with concurrent registrations: the hot path
        await repository.register_announced(pool, participant, registered)
    log.info("participant_registered", participant_id=str(participant.id), role=participant.role.value)
    return participant


def _also_failing(code_errors: list[FieldError], apply: Callable[[], _T]) -> _T:
    """``apply()``, failing with the codes unknown to the organisation's configuration besides its own errors."""
    try:
        result = apply()
    except InvalidParticipant as exc:
        raise InvalidParticipant([*code_errors, *exc.errors]) from None
    if code_errors:
        raise InvalidParticipant(code_errors)
    return result


async def get_participant(
    pool: asyncpg.Pool, principal: Principal, participant_id: uuid.UUID
) -> tuple[Participant, list[Interview]]:
    async with pool.acquire() as conn:
        repo = ParticipantRepository(conn)
        participant = await repo.get(principal.organisation_id, participant_id)
        if participant is None or participant.status is ParticipantStatus.ERASED:
            raise ParticipantNotFound(participant_id)
        return participant, await repo.interviews(participant)


async def _load_for_change(repo: ParticipantRepository, principal: Principal, participant_id: uuid.UUID) -> Participant:
    participant = await repo.get(principal.organisation_id, participant_id, for_update=True)
    if participant is None or participant.status is ParticipantStatus.ERASED:
        raise ParticipantNotFound(participant_id)
    return participant


async def update_participant(
    pool: asyncpg.Pool,
    principal: Principal,
    participant_id: uuid.UUID,
    changes: dict[str, object],
    *,
    expected_version: int | None,
    clock: Clock = utcnow,
) -> Participant:
    """``expected_version`` (from If-Match; None for ``*``) must be the current one: two coordinators
    editing at once do not silently overwrite each other."""
    async with _unit_of_work(pool) as (conn, repo):
        participant = await _load_for_change(repo, principal, participant_id)
        if expected_version is not None and participant.version != expected_version:
            raise VersionMismatch(participant.version)
        code_errors = unknown_codes(await configuration_of(conn, principal.organisation_id), changes)
        if _also_failing(code_errors, lambda: participant.update(changes, clock())):
            await repo.save(participant)
            await outbox.enqueue(conn, events.updated(participant))
            log.info("participant_updated", participant_id=str(participant.id), fields=sorted(changes))
        return participant


async def record_interview(
    pool: asyncpg.Pool,
    principal: Principal,
    participant_id: uuid.UUID,
    command: RecordInterview,
    *,
    clock: Clock = utcnow,
) -> Interview:
    now = clock()
    interview = Interview(
        held_on=command.held_on, coordinator=command.coordinator or principal.subject, notes=command.notes
    )
    idempotency.bind_resource(participant_id)
    async with _unit_of_work(pool) as (conn, repo):
        participant = await _load_for_change(repo, principal, participant_id)
        participant.record_interview(interview, now)
        await repo.save(participant)
        await repo.add_interview(participant, interview, recorded_by=principal.subject, now=now)
        await outbox.enqueue(conn, events.interviewed(participant))
    log.info("participant_interviewed", participant_id=str(participant_id), interview_id=str(interview.id))
    return interview


async def withdraw_participant(
    pool: asyncpg.Pool,
    principal: Principal,
    participant_id: uuid.UUID,
    command: WithdrawParticipant,
    *,
    clock: Clock = utcnow,
) -> Participant:
    idempotency.bind_resource(participant_id)
    async with _unit_of_work(pool) as (conn, repo):
        participant = await _load_for_change(repo, principal, participant_id)
        participant.withdraw(command.reason, clock())
        await repo.save(participant)
        await outbox.enqueue(conn, events.withdrawn(participant))
    log.info("participant_withdrawn", participant_id=str(participant_id), reason=command.reason.value)
    return participant


async def erase_participant(
    pool: asyncpg.Pool,
    principal: Principal,
    participant_id: uuid.UUID,
    *,
    zone: ZoneInfo = STOCKHOLM,
    clock: Clock = utcnow,
) -> None:
    """Forget the person; keep an anonymous record for the statistics (``ErasureStatisticsRecorded``)."""
    now = clock()
    idempotency.bind_resource(participant_id)
    async with _unit_of_work(pool) as (conn, repo):
        participant = await _load_for_change(repo, principal, participant_id)
        record = events.anonymous_record(participant, now, zone)
        year = participant.registered_at.astimezone(zone).year
        records, version = await repo.erasure_statistics(participant.organisation_id, year)
        records.append(record.model_dump(mode="json"))
        participant.erase(now)
        await repo.save(participant)
        await repo.forget(participant)
        await repo.save_erasure_statistics(participant.organisation_id, year, records, version + 1)
        statistics = events.erasure_statistics(
            participant.organisation_id,
            year,
            [AnonymousParticipantRecord.model_validate(r) for r in records],
            version + 1,
        )
        # Its Idempotency-Keys answer 410 from now on; their stored responses (names, contacts) go.
        await idempotency.forget_resource(conn, principal.organisation_id, participant.id)
        await imports.forget_aggregate(conn, principal.organisation_id, str(participant.id))  # re-import: a new person
        await outbox.enqueue(conn, events.erased(participant), statistics)
    log.info("participant_erased", participant_id=str(participant_id))


# -- listing -------------------------------------------------------------------------------------
def encode_cursor(p: Participant) -> str:
    raw = json.dumps([p.registered_at.isoformat(), str(p.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """Raises ValueError on a cursor this service did not make."""
    try:
        registered_at, participant_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        after = datetime.fromisoformat(registered_at)
        # A crafted cursor (year 1, no time zone) must not reach PostgreSQL: out of its range, a 500.
        if after.tzinfo is None or not text.EARLIEST <= after.date() <= text.LATEST:
            raise ValueError("out of range")
        return after, uuid.UUID(participant_id)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError("invalid cursor") from exc


async def list_participants(
    pool: asyncpg.Pool, principal: Principal, where: ParticipantFilter, *, cursor: str | None, limit: int
) -> tuple[list[Participant], str | None]:
    after = decode_cursor(cursor) if cursor else None
    async with pool.acquire() as conn:
        page = await ParticipantRepository(conn).list(principal.organisation_id, where, after=after, limit=limit + 1)
    has_more = len(page) > limit
    page = page[:limit]
    return page, (encode_cursor(page[-1]) if has_more else None)
