"""Reference data: venues, partners, a programme's activity types, and what intake told us (participants,
the organisation's vocabularies). Every statement is scoped to an organisation."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import asyncpg

from sprakvan_shared.http import PreconditionFailed, PreconditionRequired

from ..domain.model import (
    ActivityType,
    Partner,
    PartnerKind,
    Venue,
)
from ..domain.signups import KnownParticipant, ParticipantStanding
from .rows import (
    NotFound,
    from_json,
)


async def save_venue(conn: asyncpg.Connection, venue: Venue) -> None:
    """A new venue, or the venue of that id as given (the history import corrects them)."""
    await conn.execute(
        """INSERT INTO venues (id, organisation_id, name, district, address, capacity, accessibility)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, district = EXCLUDED.district,
               address = EXCLUDED.address, capacity = EXCLUDED.capacity, accessibility = EXCLUDED.accessibility
           WHERE venues.organisation_id = EXCLUDED.organisation_id""",
        venue.id,
        venue.organisation_id,
        venue.name,
        venue.district,
        venue.address,
        venue.capacity,
        venue.accessibility,
    )


async def update_venue(conn: asyncpg.Connection, venue: Venue, expected: int | None) -> Venue:
    """Replaces the venue's details if it is at ``expected`` (None: any), one version on. ``NotFound`` when
    the organisation has no such venue, ``PreconditionFailed`` (with the current version) when it is at
    another version: compared and written in one statement, so two writers never both win."""
    version = await conn.fetchval(
        """UPDATE venues SET name = $3, district = $4, address = $5, capacity = $6, accessibility = $7,
                  version = version + 1
           WHERE id = $1 AND organisation_id = $2 AND ($8::integer IS NULL OR version = $8)
           RETURNING version""",
        venue.id,
        venue.organisation_id,
        venue.name,
        venue.district,
        venue.address,
        venue.capacity,
        venue.accessibility,
        expected,
    )
    if version is None:
        current = await conn.fetchval(
            "SELECT version FROM venues WHERE id = $1 AND organisation_id = $2", venue.id, venue.organisation_id
        )
        if current is None:
            raise NotFound("venue")
        raise PreconditionFailed(current)
    return replace(venue, version=version)


def _venue_from(row: asyncpg.Record) -> Venue:
    return Venue(
        row["id"],
        row["organisation_id"],
        row["name"],
        row["district"],
        row["address"],
        row["capacity"],
        row["accessibility"],
        row["version"],
    )


async def load_venue(conn: asyncpg.Connection, organisation_id: str, venue_id: uuid.UUID) -> Venue | None:
    row = await conn.fetchrow("SELECT * FROM venues WHERE id = $1 AND organisation_id = $2", venue_id, organisation_id)
    return _venue_from(row) if row else None


async def load_venues(
    conn: asyncpg.Connection, organisation_id: str, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Venue]:
    rows = await conn.fetch(
        "SELECT * FROM venues WHERE organisation_id = $1 AND id = ANY($2::uuid[])", organisation_id, list(set(ids))
    )
    return {r["id"]: _venue_from(r) for r in rows}


async def list_venues(conn: asyncpg.Connection, organisation_id: str) -> list[Venue]:
    rows = await conn.fetch("SELECT * FROM venues WHERE organisation_id = $1 ORDER BY name, id", organisation_id)
    return [_venue_from(r) for r in rows]


async def insert_partner(conn: asyncpg.Connection, partner: Partner) -> None:
    await conn.execute(
        "INSERT INTO partners (id, organisation_id, name, kind) VALUES ($1, $2, $3, $4)",
        partner.id,
        partner.organisation_id,
        partner.name,
        partner.kind.value,
    )


async def list_partners(conn: asyncpg.Connection, organisation_id: str) -> list[Partner]:
    rows = await conn.fetch("SELECT * FROM partners WHERE organisation_id = $1 ORDER BY name, id", organisation_id)
    return [Partner(r["id"], r["organisation_id"], r["name"], PartnerKind(r["kind"])) for r in rows]


async def known_partners(conn: asyncpg.Connection, organisation_id: str, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    rows = await conn.fetch(
        "SELECT id FROM partners WHERE organisation_id = $1 AND id = ANY($2::uuid[])", organisation_id, list(ids)
    )
    return {r["id"] for r in rows}


async def put_type(
    conn: asyncpg.Connection,
    organisation_id: str,
    activity_type: ActivityType,
    expected: int | None,
    *,
    precondition: bool,
) -> tuple[ActivityType, bool]:
    """Define a programme's type (new: no If-Match needed, as intake's first configuration) or replace it at
    ``expected`` (None: any). The type as stored and whether it was created. Without a ``precondition`` a
    type already there is ``PreconditionRequired``; at another version, or a precondition naming a type that
    does not exist, ``PreconditionFailed``. Compared and written in one statement."""
    if not precondition:
        created = await conn.fetchval(
            """INSERT INTO activity_types (organisation_id, code, labels, programme) VALUES ($1, $2, $3, $4)
               ON CONFLICT (organisation_id, code) DO NOTHING RETURNING version""",
            organisation_id,
            activity_type.code,
            activity_type.labels,
            activity_type.programme,
        )
        if created is None:
            raise PreconditionRequired
        return replace(activity_type, version=created), True
    version = await conn.fetchval(
        """UPDATE activity_types SET labels = $3, programme = $4, version = version + 1
           WHERE organisation_id = $1 AND code = $2 AND ($5::integer IS NULL OR version = $5) RETURNING version""",
        organisation_id,
        activity_type.code,
        activity_type.labels,
        activity_type.programme,
        expected,
    )
    if version is None:
        current = await conn.fetchval(
            "SELECT version FROM activity_types WHERE organisation_id = $1 AND code = $2",
            organisation_id,
            activity_type.code,
        )
        raise PreconditionFailed(current)
    return replace(activity_type, version=version), False


async def custom_types(conn: asyncpg.Connection, organisation_id: str) -> dict[str, ActivityType]:
    rows = await conn.fetch("SELECT * FROM activity_types WHERE organisation_id = $1", organisation_id)
    return {r["code"]: ActivityType(r["code"], from_json(r["labels"]), r["programme"], r["version"]) for r in rows}


async def load_participant(
    conn: asyncpg.Connection, organisation_id: str, participant_id: uuid.UUID, *, share_lock: bool = False
) -> KnownParticipant | None:
    """``share_lock``: hold off a concurrent withdrawal or erasure until this transaction ends."""
    row = await conn.fetchrow(
        "SELECT * FROM participants WHERE participant_id = $1 AND organisation_id = $2"
        + (" FOR SHARE" if share_lock else ""),
        participant_id,
        organisation_id,
    )
    return _participant_from(row) if row else None


async def load_participants(
    conn: asyncpg.Connection, organisation_id: str, ids: Iterable[uuid.UUID], *, share_lock: bool = False
) -> dict[uuid.UUID, KnownParticipant]:
    """``share_lock``: as ``load_participant``'s, taken in id order (the sorted order group sign-ups use)."""
    rows = await conn.fetch(
        "SELECT * FROM participants WHERE organisation_id = $1 AND participant_id = ANY($2::uuid[])"
        + (" ORDER BY participant_id FOR SHARE" if share_lock else ""),
        organisation_id,
        list(set(ids)),
    )
    return {r["participant_id"]: _participant_from(r) for r in rows}


def _participant_from(row: asyncpg.Record) -> KnownParticipant:
    return KnownParticipant(
        row["participant_id"],
        row["organisation_id"],
        row["role"],
        row["gender"],
        ParticipantStanding(row["status"]),
        row["programme"],
    )


async def upsert_participant(conn: asyncpg.Connection, p: KnownParticipant, version: int) -> None:
    await conn.execute(
        """INSERT INTO participants (participant_id, organisation_id, role, gender, status, programme, version)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (participant_id) DO UPDATE SET role = EXCLUDED.role, gender = EXCLUDED.gender,
               status = EXCLUDED.status, programme = EXCLUDED.programme, version = EXCLUDED.version
           WHERE participants.organisation_id = EXCLUDED.organisation_id AND participants.version < EXCLUDED.version""",
        p.participant_id,
        p.organisation_id,
        p.role,
        p.gender,
        p.status.value,
        p.programme,
        version,
    )


@dataclass(frozen=True)
class Vocabulary:
    programmes: frozenset[str]
    districts: frozenset[str]
    campaigns: frozenset[str]


async def upsert_vocabulary(
    conn: asyncpg.Connection, organisation_id: str, vocabulary: Vocabulary, version: int
) -> None:
    await conn.execute(
        """INSERT INTO organisations (organisation_id, programmes, districts, campaigns, version)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (organisation_id) DO UPDATE SET programmes = EXCLUDED.programmes,
               districts = EXCLUDED.districts, campaigns = EXCLUDED.campaigns, version = EXCLUDED.version
           WHERE organisations.version < EXCLUDED.version""",
        organisation_id,
        sorted(vocabulary.programmes),
        sorted(vocabulary.districts),
        sorted(vocabulary.campaigns),
        version,
    )


async def load_vocabulary(conn: asyncpg.Connection, organisation_id: str) -> Vocabulary | None:
    """None until intake has told us the organisation's configuration."""
    row = await conn.fetchrow("SELECT * FROM organisations WHERE organisation_id = $1", organisation_id)
    if row is None:
        return None
    return Vocabulary(frozenset(row["programmes"]), frozenset(row["districts"]), frozenset(row["campaigns"]))
