"""The history export (``GET /exports/{kind}``): a kind's rows in the import's shape, a page at a time in the
order of their aggregate id, scoped to the organisation. References are ids here; ``keyed`` names them by
import key where they were imported."""

from __future__ import annotations

from typing import Any

import asyncpg

from sprakvan_shared.imports import keys_of_aggregates

from ..domain.recurrence import LOCAL

# Per kind: the rows with their aggregate id (``aggregate``) and the ids they refer to (``*_key``), in the
# order of the aggregate id; $1 the organisation, $2 the cursor (the last aggregate id of the page before).
_QUERIES = {
    "venues": """SELECT id::text AS aggregate, name, district, address, capacity, accessibility
                 FROM venues WHERE organisation_id = $1""",
    "activities": """SELECT id::text AS aggregate, title, type_code, venue_id::text AS venue_key,
                            CASE WHEN venue_id IS NULL THEN district END AS district, capacity, programmes,
                            campaign, description
                     FROM activities WHERE organisation_id = $1""",
    "occurrences": """SELECT o.id::text AS aggregate, o.activity_id::text AS activity_key, o.starts_at, o.ends_at,
                             CASE WHEN o.capacity IS DISTINCT FROM a.capacity THEN o.capacity END AS capacity,
                             CASE WHEN o.venue_id IS DISTINCT FROM a.venue_id THEN o.venue_id::text END AS venue_key,
                             o.status = 'cancelled' AS cancelled
                      FROM occurrences o JOIN activities a ON a.id = o.activity_id WHERE o.organisation_id = $1""",
    "signups": """SELECT id::text AS aggregate, occurrence_id::text AS occurrence_key, participant_id, status,
                         signed_up_at, cancelled_at
                  FROM signups WHERE organisation_id = $1""",
    "attendance": """SELECT occurrence_id::text || '/' || participant_id::text AS aggregate,
                            occurrence_id::text AS occurrence_key, participant_id, outcome
                     FROM check_ins WHERE organisation_id = $1""",
    "walk_ins": """SELECT o.id::text || '/' || (c->>'role') || '/' || (c->>'gender') AS aggregate,
                          o.id::text AS occurrence_key, c->>'role' AS role, c->>'gender' AS gender,
                          (c->>'count')::int AS count
                   FROM occurrences o CROSS JOIN jsonb_array_elements(o.walk_ins) c WHERE o.organisation_id = $1""",
    "campaign_signups": """SELECT o.id::text || '/' || (c->>'campaign') AS aggregate, o.id::text AS occurrence_key,
                                  c->>'campaign' AS campaign, (c->>'count')::int AS count
                           FROM occurrences o CROSS JOIN jsonb_array_elements(o.campaign_signups) c
                           WHERE o.organisation_id = $1""",
}
_REFERENCES = {"venue_key": "venues", "activity_key": "activities", "occurrence_key": "occurrences"}


async def export_page(
    conn: asyncpg.Connection, organisation_id: str, kind: str, cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """Up to ``limit`` rows after ``cursor``, and the cursor of the next page (None: this was the last)."""
    found = await conn.fetch(
        f"""SELECT * FROM ({_QUERIES[kind]}) AS page WHERE $2::text IS NULL OR aggregate COLLATE "C" > $2
            ORDER BY aggregate COLLATE "C" LIMIT $3""",
        organisation_id,
        cursor,
        limit + 1,
    )
    rows = [dict(r) for r in found[:limit]]
    for row in rows:
        _in_import_shape(row)
    await _keyed(conn, organisation_id, kind, rows)
    return rows, (found[limit - 1]["aggregate"] if len(found) > limit else None)


def _in_import_shape(row: dict[str, Any]) -> None:
    """Times as the import takes them: a meeting's local day and times, a sign-up's instants with offset."""
    if "starts_at" in row:
        starts, ends = row.pop("starts_at").astimezone(LOCAL), row.pop("ends_at").astimezone(LOCAL)
        row.update(date=starts.date().isoformat(), starts=f"{starts:%H:%M}", ends=f"{ends:%H:%M}")
    for field in ("signed_up_at", "cancelled_at"):
        if row.get(field) is not None:
            row[field] = row[field].isoformat()
    if "participant_id" in row:
        row["participant_id"] = str(row["participant_id"])
    if "programmes" in row:
        row["programmes"] = list(row["programmes"])


async def _keyed(conn: asyncpg.Connection, organisation_id: str, kind: str, rows: list[dict[str, Any]]) -> None:
    """Each row's ``key`` and references: the import key where there is one, else the id."""
    own = await keys_of_aggregates(conn, organisation_id, kind, [r["aggregate"] for r in rows])
    for field, target in _REFERENCES.items():
        ids = [r[field] for r in rows if r.get(field) is not None]
        if ids:
            keys = await keys_of_aggregates(conn, organisation_id, target, ids)
            for r in rows:
                if r.get(field) is not None:
                    r[field] = keys.get(r[field], r[field])
    for r in rows:
        aggregate = r.pop("aggregate")
        r["key"] = own.get(aggregate, aggregate)
