"""Per programme: the coordinators' forbidden pairs, the settings, the record of rounds."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from ..domain.settings import ProgrammeSettings


async def forbidden_pairs(
    conn: asyncpg.Connection, organisation_id: str, programme: str
) -> set[tuple[uuid.UUID, uuid.UUID]]:
    rows = await conn.fetch(
        "SELECT newcomer_id, established_id FROM forbidden_pairs WHERE organisation_id = $1 AND programme = $2",
        organisation_id,
        programme,
    )
    return {(r["newcomer_id"], r["established_id"]) for r in rows}


async def is_forbidden(
    conn: asyncpg.Connection, organisation_id: str, newcomer_id: uuid.UUID, established_id: uuid.UUID
) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM forbidden_pairs WHERE organisation_id = $1 AND newcomer_id = $2 "
            "AND established_id = $3)",
            organisation_id,
            newcomer_id,
            established_id,
        )
    )


async def add_forbidden(
    conn: asyncpg.Connection, organisation_id: str, programme: str, pair: tuple[uuid.UUID, uuid.UUID], by: str
) -> None:
    await conn.execute(
        "INSERT INTO forbidden_pairs (organisation_id, programme, newcomer_id, established_id, created_by) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        organisation_id,
        programme,
        *pair,
        by,
    )


async def remove_forbidden(conn: asyncpg.Connection, organisation_id: str, pair: tuple[uuid.UUID, uuid.UUID]) -> bool:
    status = await conn.execute(
        "DELETE FROM forbidden_pairs WHERE organisation_id = $1 AND newcomer_id = $2 AND established_id = $3",
        organisation_id,
        *pair,
    )
    return status != "DELETE 0"


async def forget_forbids_of(conn: asyncpg.Connection, organisation_id: str, participant_id: uuid.UUID) -> None:
    await conn.execute(
        "DELETE FROM forbidden_pairs WHERE organisation_id = $1 AND (newcomer_id = $2 OR established_id = $2)",
        organisation_id,
        participant_id,
    )


async def load_settings(conn: asyncpg.Connection, organisation_id: str, programme: str) -> ProgrammeSettings:
    return (await load_versioned_settings(conn, organisation_id, programme))[0]


async def load_versioned_settings(
    conn: asyncpg.Connection, organisation_id: str, programme: str, *, for_update: bool = False
) -> tuple[ProgrammeSettings, int]:
    """The settings and their version; the defaults at version 0 when none were ever saved."""
    row = await conn.fetchrow(
        "SELECT settings, version FROM programme_settings WHERE organisation_id = $1 AND programme = $2"
        + (" FOR UPDATE" if for_update else ""),
        organisation_id,
        programme,
    )
    return (ProgrammeSettings.model_validate(row["settings"]), row["version"]) if row else (ProgrammeSettings(), 0)


async def save_settings(
    conn: asyncpg.Connection,
    organisation_id: str,
    programme: str,
    settings: ProgrammeSettings,
    by: str,
    *,
    replacing: bool,
) -> int | None:
    """Store the settings one version on (the first ones at 1). ``replacing``: the caller locked the row it
    replaces; otherwise it saves the first ones, and gets None when another transaction did meanwhile."""
    return await conn.fetchval(
        """
        INSERT INTO programme_settings (organisation_id, programme, settings, updated_by)
        VALUES ($1, $2, $3::jsonb, $4)
        ON CONFLICT (organisation_id, programme) DO UPDATE
        SET settings = EXCLUDED.settings, updated_by = EXCLUDED.updated_by, updated_at = now(),
            version = programme_settings.version + 1
        WHERE $5
        RETURNING version
        """,
        organisation_id,
        programme,
        settings.model_dump(mode="json"),
        by,
        replacing,
    )


async def record_round(
    conn: asyncpg.Connection,
    *,
    round_id: uuid.UUID,
    organisation_id: str,
    programme: str,
    run_at: datetime,
    run_by: str,
    waiting: int,
    proposals: int,
    candidates: int,
    objective: int,
) -> None:
    await conn.execute(
        "INSERT INTO rounds (round_id, organisation_id, programme, run_at, run_by, waiting, proposals, candidates, "
        "objective) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        round_id,
        organisation_id,
        programme,
        run_at,
        run_by,
        waiting,
        proposals,
        candidates,
        objective,
    )
