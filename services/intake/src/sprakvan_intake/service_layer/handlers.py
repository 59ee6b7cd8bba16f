"""Use cases: load, apply the domain, store, and enqueue the events, all in one transaction."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

import asyncpg
import structlog

from sprakvan_shared import outbox
from sprakvan_shared.auth import Principal
from sprakvan_shared.contracts.intake import AnonymousParticipantRecord

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


class IdempotencyKeyReused(Exception):
    """The same Idempotency-Key came with a different request."""


@dataclass(frozen=True)
class Registration:
    participant: Participant
    replayed: bool


@asynccontextmanager
async def _unit_of_work(pool: asyncpg.Pool) -> AsyncIterator[tuple[asyncpg.Connection, ParticipantRepository]]:
    async with pool.acquire() as conn, conn.transaction():
        yield conn, ParticipantRepository(conn)


def request_hash(command: RegisterParticipant) -> str:
    return hashlib.sha256(command.model_dump_json().encode()).hexdigest()


class _ConcurrentDuplicate(Exception):
    """Another request with the same Idempotency-Key committed first."""


async def register_participant(
    pool: asyncpg.Pool,
    principal: Principal,
    command: RegisterParticipant,
    *,
    idempotency_key: str | None = None,
    clock: Clock = utcnow,
) -> Registration:
    fingerprint = request_hash(command) if idempotency_key else ""
    if idempotency_key and (replay := await _replay(pool, principal, idempotency_key, fingerprint)):
        return replay
    # The command is a validated ParticipantDetails plus the role: no need to validate it again.
    details = ParticipantDetails.model_construct(
        **{name: getattr(command, name) for name in ParticipantDetails.model_fields}
    )
    code_errors = await unknown_registration_codes(pool, principal.organisation_id, dict(details))
    participant = _also_failing(
        code_errors,
        lambda: Participant.register(
            organisation_id=principal.organisation_id, role=command.role, details=details, now=clock()
        ),
    )
    registered = events.registered(participant)
    if idempotency_key:
        try:
            async with _unit_of_work(pool) as (_, repo):
                await repo.add_announced(participant, registered)
                if not await repo.remember_idempotent(
                    principal.organisation_id, idempotency_key, fingerprint, participant.id
                ):
                    raise _ConcurrentDuplicate  # rolls this registration back: nothing written
        except _ConcurrentDuplicate:
            replay = await _replay(pool, principal, idempotency_key, fingerprint)
            assert replay is not None
            return replay
    else:  # one atomic statement, no transaction block: the hot path
        async with pool.acquire() as conn:
            await ParticipantRepository(conn).add_announced(participant, registered)
    log.info("participant_registered", participant_id=str(participant.id), role=participant.role.value)
    return Registration(participant, replayed=False)


def _also_failing(code_errors: list[FieldError], apply: Callable[[], _T]) -> _T:
    """``apply()``, failing with the codes unknown to the organisation's configuration besides its own errors."""
    try:
        result = apply()
    except InvalidParticipant as exc:
        raise InvalidParticipant([*code_errors, *exc.errors]) from None
    if code_errors:
        raise InvalidParticipant(code_errors)
    return result


async def _replay(pool: asyncpg.Pool, principal: Principal, key: str, fingerprint: str) -> Registration | None:
    async with pool.acquire() as conn:
        repo = ParticipantRepository(conn)
        found = await repo.find_idempotent(principal.organisation_id, key)
        if found is None:
            return None
        stored_hash, participant_id = found
        if stored_hash != fingerprint:
            raise IdempotencyKeyReused(key)
        participant = await repo.get(principal.organisation_id, participant_id)
        assert participant is not None  # the key is deleted with the participant's data
        return Registration(participant, replayed=True)


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
    clock: Clock = utcnow,
) -> Participant:
    async with _unit_of_work(pool) as (conn, repo):
        participant = await _load_for_change(repo, principal, participant_id)
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
        return datetime.fromisoformat(registered_at), uuid.UUID(participant_id)
    except (ValueError, TypeError) as exc:
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
