"""PostgreSQL storage of participants. Every statement is scoped to an organisation."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from sprakvan_shared import coalesce, outbox
from sprakvan_shared.contracts.envelope import IntegrationEvent

from ..domain.model import Interview, Participant, ParticipantDetails

_IDENTITY = ("first_name", "last_name", "email", "phone")
_COLUMNS = """id, organisation_id, role, status, first_name, last_name, email, phone, district, details,
              registered_at, updated_at, version, interviewed_on, withdrawn_at, withdrawal_reason, erased_at,
              name_search"""


# ``details`` ($10) travels as JSON text that pydantic wrote in one pass (``model_dump_json``), cast to
# jsonb by PostgreSQL: not a dict that the pool's jsonb codec turns into text again with json.dumps.
_DETAILS = "$10::text::jsonb"
_INSERT = (
    f"INSERT INTO participants ({_COLUMNS}) "
    f"VALUES ({', '.join(_DETAILS if i == 10 else f'${i}' for i in range(1, 19))})"
)
# The same for many participants at once, a column's values in one array each (coalesce.CoalescedStatement).
_TYPES = (
    "uuid", "text", "text", "text", "text", "text", "text", "text", "text", "text",
    "timestamptz", "timestamptz", "int4", "date", "timestamptz", "text", "timestamptz", "text",
)  # fmt: skip
_INSERT_MANY = (
    f"INSERT INTO participants ({_COLUMNS}) "
    f"SELECT {', '.join(f'c{i}::jsonb' if i == 10 else f'c{i}' for i in range(1, 19))} "
    f"FROM unnest({', '.join(f'${i}::{kind}[]' for i, kind in enumerate(_TYPES, 1))}) "
    f"AS registered({', '.join(f'c{i}' for i in range(1, 19))})"
)
# A registration, and the event announcing it: concurrent ones go to PostgreSQL together.
_REGISTER = coalesce.CoalescedStatement(outbox.insert_after(_INSERT, 18), outbox.insert_many_after(_INSERT_MANY, 18))


async def register_announced(pool: asyncpg.Pool, p: Participant, event: IntegrationEvent) -> None:
    """Insert the participant and its event's outbox row, auto-committed, with any registrations made at
    the same moment (``coalesce``): returns once they are committed."""
    await _REGISTER.execute(pool, (*_to_row(p), *outbox.outbox_row(event)))


def name_search(first_name: str | None, last_name: str | None) -> str | None:
    """The names as the search reads them, case-folded here: PostgreSQL's lower() leaves Å and Ö as they
    are in a database without a locale (the embedded one)."""
    if first_name is None:
        return None
    return f"{first_name} {last_name or ''}".casefold().strip()


def name_query(searched: str) -> str:
    """A text-search query (``to_tsquery('simple', ...)``) for names whose words begin with each word
    searched for, every word quoted so that nothing typed is read as an operator."""
    words = searched.casefold().split()[:10]
    quoted = ("'" + word.replace("\\", "\\\\").replace("'", "''") + "':*" for word in words)
    return " & ".join(quoted)


# The identity fields come first in the details' JSON, and the stored part begins with the next field.
assert tuple(ParticipantDetails.model_fields)[: len(_IDENTITY)] == _IDENTITY
_STORED_START = f',"{tuple(ParticipantDetails.model_fields)[len(_IDENTITY)]}":'


def stored_details(details: ParticipantDetails) -> str:
    """The details without the identity (which has columns of its own), as JSON: the details' JSON from
    the first field after the identity on. No identity value can hold ``,"programme":``: its quotes are
    escaped in JSON."""
    document = details.as_json
    return "{" + document[document.index(_STORED_START) + 1 :]


def _to_row(p: Participant) -> tuple[Any, ...]:
    identity: dict[str, Any] = dict.fromkeys(_IDENTITY)
    details = None
    district = None
    if p.details is not None:
        identity = {name: getattr(p.details, name) for name in _IDENTITY}  # plain strings (or None)
        details = stored_details(p.details)
        district = p.details.district
    return (
        p.id,
        p.organisation_id,
        p.role.value,
        p.status.value,
        identity["first_name"],
        identity["last_name"],
        identity["email"],
        identity["phone"],
        district,
        details,
        p.registered_at,
        p.updated_at,
        p.version,
        p.interviewed_on,
        p.withdrawn_at,
        p.withdrawal_reason.value if p.withdrawal_reason else None,
        p.erased_at,
        name_search(identity["first_name"], identity["last_name"]),
    )


def _from_row(row: asyncpg.Record) -> Participant:
    details = None
    if row["details"] is not None:
        details = ParticipantDetails.model_validate({**row["details"], **{k: row[k] for k in _IDENTITY}})
    return Participant(
        id=row["id"],
        organisation_id=row["organisation_id"],
        role=row["role"],
        status=row["status"],
        details=details,
        registered_at=row["registered_at"],
        updated_at=row["updated_at"],
        version=row["version"],
        interviewed_on=row["interviewed_on"],
        withdrawn_at=row["withdrawn_at"],
        withdrawal_reason=row["withdrawal_reason"],
        erased_at=row["erased_at"],
    )


@dataclass(frozen=True)
class ParticipantFilter:
    role: str | None = None
    status: str | None = None
    district: str | None = None
    registered_from: datetime | None = None  # inclusive
    registered_before: datetime | None = None  # exclusive
    ids: tuple[uuid.UUID, ...] = ()  # only these participants (a page's names, in one call)
    programme: str | None = None
    interviewed: bool | None = None  # an interview recorded (whatever the status since), or none
    name: str | None = None  # the beginnings of words of the first or last name, any case
    newest_first: bool = False


# What participants_by_name (migration 0005) indexes: a name search is an index scan, also for 10,000.
_NAME_WORDS = "to_tsvector('simple', coalesce(name_search, ''))"


class ParticipantRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def get(
        self, organisation_id: str, participant_id: uuid.UUID, *, for_update: bool = False
    ) -> Participant | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM participants WHERE organisation_id = $1 AND id = $2{lock}",
            organisation_id,
            participant_id,
        )
        return _from_row(row) if row else None

    async def add_announced(self, p: Participant, event: IntegrationEvent) -> None:
        """Insert the participant and its event's outbox row in one atomic statement."""
        await self._conn.execute(_REGISTER.one, *_to_row(p), *outbox.outbox_row(event))

    async def add_many(self, participants: list[Participant]) -> None:
        if participants:
            await self._conn.executemany(_INSERT, [_to_row(p) for p in participants])

    async def save(self, p: Participant, *, registered_at_may_change: bool = False) -> None:
        """Registration time and role never change, but for a corrected import of a past registration."""
        row = _to_row(p)
        # $11 is in the statement either way: set (a corrected import) or checked (everything else).
        registered = ", registered_at = $11" if registered_at_may_change else ""
        unchanged = "" if registered_at_may_change else " AND registered_at = $11"
        await self._conn.execute(
            f"""UPDATE participants SET status = $4, first_name = $5, last_name = $6, email = $7, phone = $8,
                   district = $9, details = {_DETAILS}, updated_at = $12, version = $13, interviewed_on = $14,
                   withdrawn_at = $15, withdrawal_reason = $16, erased_at = $17,
                   name_search = $18{registered}
               WHERE id = $1 AND organisation_id = $2 AND role = $3{unchanged}""",
            *row,
        )

    async def add_interview(self, p: Participant, interview: Interview, *, recorded_by: str, now: datetime) -> None:
        await self.add_interviews([(p, interview)], recorded_by=recorded_by, now=now)

    async def add_interviews(
        self, interviews: list[tuple[Participant, Interview]], *, recorded_by: str, now: datetime
    ) -> None:
        """New interviews; one with the id of a stored one replaces it (an imported row's, changed)."""
        if not interviews:
            return
        await self._conn.executemany(
            """INSERT INTO interviews (id, participant_id, organisation_id, held_on, coordinator, notes,
                                       recorded_by, recorded_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
               ON CONFLICT (id) DO UPDATE SET held_on = excluded.held_on, coordinator = excluded.coordinator,
                   notes = excluded.notes, recorded_by = excluded.recorded_by, recorded_at = excluded.recorded_at""",
            [
                (i.id, p.id, p.organisation_id, i.held_on, i.coordinator, i.notes, recorded_by, now)
                for p, i in interviews
            ],
        )

    async def latest_interviews(
        self, organisation_id: str, participant_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, Interview]:
        rows = await self._conn.fetch(
            """SELECT DISTINCT ON (participant_id) participant_id, id, held_on, coordinator, notes FROM interviews
               WHERE organisation_id = $1 AND participant_id = ANY($2::uuid[])
               ORDER BY participant_id, held_on DESC, recorded_at DESC""",
            organisation_id,
            participant_ids,
        )
        return {r["participant_id"]: Interview(id=r["id"], held_on=r["held_on"], coordinator=r["coordinator"],
                                               notes=r["notes"]) for r in rows}  # fmt: skip

    async def interviews(self, p: Participant) -> list[Interview]:
        rows = await self._conn.fetch(
            """SELECT id, held_on, coordinator, notes FROM interviews
               WHERE participant_id = $1 AND organisation_id = $2 ORDER BY held_on, recorded_at""",
            p.id,
            p.organisation_id,
        )
        return [Interview(**dict(row)) for row in rows]

    async def forget(self, p: Participant) -> None:
        """Erasure beyond the participant row: interview notes and the already published outbox rows that
        described the participant (unpublished ones must still go out). Idempotency-Key records are
        the shared mechanism's (``idempotency.forget_resource``)."""
        await self._conn.execute("DELETE FROM interviews WHERE participant_id = $1", p.id)
        await self._conn.execute("DELETE FROM outbox WHERE aggregate_id = $1 AND published_at IS NOT NULL", str(p.id))

    async def erasure_statistics(self, organisation_id: str, year: int) -> tuple[list[dict[str, Any]], int]:
        """The anonymous records of the organisation's erased participants of one registration year, and
        the version of that aggregate, locked for this transaction (0 when there is none yet)."""
        await self._conn.execute(
            """INSERT INTO erasure_statistics (organisation_id, year, records, version) VALUES ($1, $2, '[]', 0)
               ON CONFLICT DO NOTHING""",
            organisation_id,
            year,
        )
        row = await self._conn.fetchrow(
            "SELECT records, version FROM erasure_statistics WHERE organisation_id = $1 AND year = $2 FOR UPDATE",
            organisation_id,
            year,
        )
        return list(row["records"]), row["version"]

    async def save_erasure_statistics(
        self, organisation_id: str, year: int, records: list[dict[str, Any]], version: int
    ) -> None:
        await self._conn.execute(
            "UPDATE erasure_statistics SET records = $3, version = $4 WHERE organisation_id = $1 AND year = $2",
            organisation_id,
            year,
            records,
            version,
        )

    async def list(
        self, organisation_id: str, where: ParticipantFilter, *, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[Participant]:
        clauses = ["organisation_id = $1", "status <> 'erased'"]
        args: list[Any] = [organisation_id]

        def add(clause: str, value: Any) -> None:
            args.append(value)
            clauses.append(clause.format(f"${len(args)}"))

        if where.role:
            add("role = {}", where.role)
        if where.status:
            add("status = {}", where.status)
        if where.district:
            add("district = {}", where.district)
        if where.registered_from:
            add("registered_at >= {}", where.registered_from)
        if where.registered_before:
            add("registered_at < {}", where.registered_before)
        if where.ids:
            add("id = ANY({}::uuid[])", list(where.ids))
        if where.programme:
            add("details->>'programme' = {}", where.programme)
        if where.interviewed is not None:
            clauses.append(f"interviewed_on IS {'NOT ' if where.interviewed else ''}NULL")
        if where.name:
            add(f"{_NAME_WORDS} @@ to_tsquery('simple', {{}})", name_query(where.name))
        order, later = ("DESC", "<") if where.newest_first else ("ASC", ">")
        if after:
            args.extend(after)
            clauses.append(f"(registered_at, id) {later} (${len(args) - 1}, ${len(args)})")
        args.append(limit)
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM participants WHERE {' AND '.join(clauses)} "
            f"ORDER BY registered_at {order}, id {order} LIMIT ${len(args)}",
            *args,
        )
        return [_from_row(row) for row in rows]
