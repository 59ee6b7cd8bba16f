"""The partnership and the narrative of each period's review: this service's own data."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg

from ..domain.model import Narrative, Partnership, PartnershipTerms, Period


class VersionConflict(Exception):
    """The partnership changed since the caller read it."""


def _partnership(row: asyncpg.Record) -> Partnership:
    return Partnership(
        id=row["partnership_id"],
        organisation_id=row["organisation_id"],
        terms=PartnershipTerms.model_validate(row["terms"]),
        version=row["version"],
    )


async def add(conn: asyncpg.Connection, organisation_id: str, terms: PartnershipTerms, by: str) -> Partnership:
    row = await conn.fetchrow(
        """INSERT INTO partnerships (partnership_id, organisation_id, terms, version, updated_at, updated_by)
           VALUES ($1, $2, $3, 1, $4, $5) RETURNING *""",
        uuid.uuid4(),
        organisation_id,
        terms.model_dump(mode="json"),
        datetime.now(UTC),
        by,
    )
    return _partnership(row)


async def replace(
    conn: asyncpg.Connection,
    organisation_id: str,
    partnership_id: uuid.UUID,
    terms: PartnershipTerms,
    by: str,
    expected_version: int | None,
) -> Partnership | None:
    """None when there is no such partnership in the organisation."""
    row = await conn.fetchrow(
        """UPDATE partnerships SET terms = $3, version = version + 1, updated_at = $4, updated_by = $5
           WHERE organisation_id = $1 AND partnership_id = $2 AND ($6::integer IS NULL OR version = $6)
           RETURNING *""",
        organisation_id,
        partnership_id,
        terms.model_dump(mode="json"),
        datetime.now(UTC),
        by,
        expected_version,
    )
    if row is None:
        if expected_version is not None and await get(conn, organisation_id, partnership_id) is not None:
            raise VersionConflict(str(partnership_id))
        return None
    return _partnership(row)


async def get(conn: asyncpg.Connection, organisation_id: str, partnership_id: uuid.UUID) -> Partnership | None:
    row = await conn.fetchrow(
        "SELECT * FROM partnerships WHERE organisation_id = $1 AND partnership_id = $2", organisation_id, partnership_id
    )
    return _partnership(row) if row else None


async def list_all(conn: asyncpg.Connection, organisation_id: str) -> list[Partnership]:
    rows = await conn.fetch(
        "SELECT * FROM partnerships WHERE organisation_id = $1 ORDER BY terms->>'valid_from', partnership_id",
        organisation_id,
    )
    return [_partnership(r) for r in rows]


async def find_for(
    conn: asyncpg.Connection, organisation_id: str, programme: str | None, period: Period
) -> Partnership | None:
    """The partnership of this scope whose validity overlaps the period (the latest starting one)."""
    candidates = [
        p
        for p in await list_all(conn, organisation_id)
        if p.terms.programme == programme and p.terms.valid_from <= period.end and p.terms.valid_to >= period.start
    ]
    return max(candidates, key=lambda p: (p.terms.valid_from, str(p.id)), default=None)


class NarrativeConflict(Exception):
    """The narrative changed (or was first written) since the caller read it."""


async def save_narrative(
    conn: asyncpg.Connection,
    partnership_id: uuid.UUID,
    period: Period,
    narrative: Narrative,
    by: str,
    expected_version: int | None = None,
) -> int:
    """The narrative's new version. ``expected_version`` (0: none written yet) guards against overwriting
    what someone else saved in between; None writes whatever is there."""
    row = await conn.fetchrow(
        """INSERT INTO narratives AS n (partnership_id, period_start, period_end, background, future, summary,
                                        updated_at, updated_by, version)
           SELECT $1, $2, $3, $4, $5, $6, $7, $8, 1 WHERE $9::integer IS NULL OR $9 = 0
           ON CONFLICT (partnership_id, period_start, period_end) DO UPDATE SET
               background = excluded.background, future = excluded.future, summary = excluded.summary,
               updated_at = excluded.updated_at, updated_by = excluded.updated_by, version = n.version + 1
           WHERE $9::integer IS NULL
           RETURNING version""",
        partnership_id,
        period.start,
        period.end,
        narrative.background,
        narrative.future,
        narrative.summary,
        datetime.now(UTC),
        by,
        expected_version,
    )
    if row is None and expected_version:
        row = await conn.fetchrow(
            """UPDATE narratives SET background = $4, future = $5, summary = $6, updated_at = $7, updated_by = $8,
                                     version = version + 1
               WHERE partnership_id = $1 AND period_start = $2 AND period_end = $3 AND version = $9
               RETURNING version""",
            partnership_id,
            period.start,
            period.end,
            narrative.background,
            narrative.future,
            narrative.summary,
            datetime.now(UTC),
            by,
            expected_version,
        )
    if row is None:
        raise NarrativeConflict(str(partnership_id))
    return row["version"]


async def get_narrative(conn: asyncpg.Connection, partnership_id: uuid.UUID, period: Period) -> Narrative | None:
    found = await get_narrative_version(conn, partnership_id, period)
    return found[0] if found else None


async def get_narrative_version(
    conn: asyncpg.Connection, partnership_id: uuid.UUID, period: Period
) -> tuple[Narrative, int] | None:
    row = await conn.fetchrow(
        """SELECT background, future, summary, version FROM narratives
           WHERE partnership_id = $1 AND period_start = $2 AND period_end = $3""",
        partnership_id,
        period.start,
        period.end,
    )
    if row is None:
        return None
    return Narrative(background=row["background"], future=row["future"], summary=row["summary"]), row["version"]
