"""Matching's copy of intake's participants (candidates) and of the organisation's configuration.

Every query takes the organisation id: a caller never reaches another organisation's rows. JSON columns
go in and come out as Python values (the shared pool's jsonb codec).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import asyncpg

from sprakvan_shared.contracts.intake import OrganisationConfiguration, ParticipantState

from ..domain.model import Candidate, ParticipantStatus, Role, Wishes


# -- organisations -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Organisation:
    organisation_id: str
    programmes: tuple[str, ...]
    districts: tuple[str, ...]
    neighbours: dict[str, frozenset[str]] = field(default_factory=dict)
    interest_labels: dict[str, dict[str, str]] = field(default_factory=dict)


async def upsert_organisation(
    conn: asyncpg.Connection, organisation_id: str, config: OrganisationConfiguration
) -> None:
    await conn.execute(
        """
        INSERT INTO organisations (organisation_id, programmes, districts, interests, updated_at)
        VALUES ($1, $2::jsonb, $3::jsonb, $4::jsonb, now())
        ON CONFLICT (organisation_id) DO UPDATE
        SET programmes = EXCLUDED.programmes, districts = EXCLUDED.districts,
            interests = EXCLUDED.interests, updated_at = now()
        """,
        organisation_id,
        [p.model_dump(mode="json") for p in config.programmes],
        [d.model_dump(mode="json") for d in config.districts],
        [i.model_dump(mode="json") for i in config.interests],
    )


async def load_organisation(conn: asyncpg.Connection, organisation_id: str) -> Organisation | None:
    row = await conn.fetchrow(
        "SELECT programmes, districts, interests FROM organisations WHERE organisation_id = $1", organisation_id
    )
    if row is None:
        return None
    districts = row["districts"]
    return Organisation(
        organisation_id=organisation_id,
        programmes=tuple(p["code"] for p in row["programmes"]),
        districts=tuple(d["code"] for d in districts),
        neighbours={d["code"]: frozenset(d.get("neighbours", ())) for d in districts},
        interest_labels={i["code"]: i["labels"] for i in row["interests"]},
    )


async def programmes_of_candidates(conn: asyncpg.Connection, organisation_id: str) -> tuple[str, ...]:
    rows = await conn.fetch(
        "SELECT DISTINCT programme FROM candidates WHERE organisation_id = $1 ORDER BY programme", organisation_id
    )
    return tuple(r["programme"] for r in rows)


# -- candidates --------------------------------------------------------------------------------------
_CANDIDATE_COLUMNS = (
    "participant_id, organisation_id, programme, role, status, gender, birth_year, district, languages, "
    "interests, availability, same_gender, age_min, age_max, capacity, registered_at, interviewed_on"
)


async def upsert_candidate(conn: asyncpg.Connection, organisation_id: str, state: ParticipantState) -> None:
    await conn.execute(
        f"""
        INSERT INTO candidates ({_CANDIDATE_COLUMNS})
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
        ON CONFLICT (participant_id) DO UPDATE SET
            programme = EXCLUDED.programme, role = EXCLUDED.role, status = EXCLUDED.status,
            gender = EXCLUDED.gender, birth_year = EXCLUDED.birth_year, district = EXCLUDED.district,
            languages = EXCLUDED.languages, interests = EXCLUDED.interests,
            availability = EXCLUDED.availability, same_gender = EXCLUDED.same_gender,
            age_min = EXCLUDED.age_min, age_max = EXCLUDED.age_max, capacity = EXCLUDED.capacity,
            registered_at = EXCLUDED.registered_at, interviewed_on = EXCLUDED.interviewed_on
        WHERE candidates.organisation_id = EXCLUDED.organisation_id
        """,
        state.participant_id,
        organisation_id,
        state.programme,
        state.role.value,
        state.status.value,
        state.gender.value,
        state.birth_year,
        state.district,
        sorted({skill.code for skill in state.languages}),
        sorted(set(state.interests)),
        sorted({f"{a.weekday.value}_{a.part_of_day.value}" for a in state.availability}),
        state.wishes.same_gender,
        state.wishes.age_min,
        state.wishes.age_max,
        state.capacity or 1,
        state.registered_at,
        state.interviewed_on,
    )


async def delete_candidate(conn: asyncpg.Connection, organisation_id: str, participant_id: uuid.UUID) -> None:
    await conn.execute(
        "DELETE FROM candidates WHERE organisation_id = $1 AND participant_id = $2", organisation_id, participant_id
    )


def candidate_of(row: asyncpg.Record, zone: ZoneInfo) -> Candidate:
    """``zone`` is the programme's calendar: the domain counts days (waiting, ages) from the registration's
    local date, and asyncpg gives every timestamptz in UTC, a day earlier in the late evening."""
    return Candidate(
        participant_id=row["participant_id"],
        organisation_id=row["organisation_id"],
        programme=row["programme"],
        role=Role(row["role"]),
        status=ParticipantStatus(row["status"]),
        gender=row["gender"],
        birth_year=row["birth_year"],
        district=row["district"],
        registered_at=row["registered_at"].astimezone(zone),
        languages=frozenset(row["languages"]),
        interests=frozenset(row["interests"]),
        availability=frozenset(tuple(slot.split("_", 1)) for slot in row["availability"]),
        wishes=Wishes(row["same_gender"], row["age_min"], row["age_max"]),
        capacity=row["capacity"],
        interviewed_on=row["interviewed_on"],
    )


async def load_candidates(
    conn: asyncpg.Connection, organisation_id: str, programme: str, *, zone: ZoneInfo
) -> list[Candidate]:
    rows = await conn.fetch(
        f"SELECT {_CANDIDATE_COLUMNS} FROM candidates WHERE organisation_id = $1 AND programme = $2 "
        "ORDER BY participant_id",
        organisation_id,
        programme,
    )
    return [candidate_of(r, zone) for r in rows]


async def lock_candidates(
    conn: asyncpg.Connection, organisation_id: str, ids: Iterable[uuid.UUID], *, zone: ZoneInfo
) -> dict[uuid.UUID, Candidate]:
    """Lock the people of a write in id order (two coordinators never wait on each other in a circle)."""
    rows = await conn.fetch(
        f"SELECT {_CANDIDATE_COLUMNS} FROM candidates WHERE organisation_id = $1 AND participant_id = ANY($2) "
        "ORDER BY participant_id FOR UPDATE",
        organisation_id,
        sorted(set(ids)),
    )
    return {r["participant_id"]: candidate_of(r, zone) for r in rows}
