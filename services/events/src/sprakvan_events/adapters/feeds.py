"""Calendar feeds: the token's hash, the scope, and the occurrences a feed shows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from ..domain.model import (
    Venue,
)
from .ical import FeedEntry
from .rows import (
    O_COLUMNS,
    occurrence_from_row,
)


@dataclass(frozen=True)
class Feed:
    id: uuid.UUID
    organisation_id: str
    scope: str
    scope_value: str | None
    name: str


async def insert_feed(conn: asyncpg.Connection, feed: Feed, token_sha256: bytes, now: datetime) -> None:
    await conn.execute(
        """INSERT INTO feeds (id, organisation_id, token_sha256, scope, scope_value, name, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        feed.id,
        feed.organisation_id,
        token_sha256,
        feed.scope,
        feed.scope_value,
        feed.name,
        now,
    )


async def feed_by_token(conn: asyncpg.Connection, token_sha256: bytes) -> Feed | None:
    row = await conn.fetchrow("SELECT * FROM feeds WHERE token_sha256 = $1 AND revoked_at IS NULL", token_sha256)
    if row is None:
        return None
    return Feed(row["id"], row["organisation_id"], row["scope"], row["scope_value"], row["name"])


async def list_feeds(conn: asyncpg.Connection, organisation_id: str) -> list[Feed]:
    """The organisation's feeds that still work, oldest first (their URLs are not kept: only hashes)."""
    rows = await conn.fetch(
        "SELECT * FROM feeds WHERE organisation_id = $1 AND revoked_at IS NULL ORDER BY created_at, id",
        organisation_id,
    )
    return [Feed(r["id"], r["organisation_id"], r["scope"], r["scope_value"], r["name"]) for r in rows]


async def revoke_feed(conn: asyncpg.Connection, organisation_id: str, feed_id: uuid.UUID, now: datetime) -> bool:
    done = await conn.execute(
        "UPDATE feeds SET revoked_at = $3 WHERE id = $1 AND organisation_id = $2 AND revoked_at IS NULL",
        feed_id,
        organisation_id,
        now,
    )
    return done.endswith(" 1")


async def feed_entries(conn: asyncpg.Connection, feed: Feed, start: datetime, end: datetime) -> list[FeedEntry]:
    """The feed's occurrences starting in [start, end), with what a calendar shows of them."""
    rows = await conn.fetch(
        f"""SELECT {O_COLUMNS},
                   a.title, a.type_code, a.description,
                   v.id AS v_id, v.name AS v_name, v.district AS v_district, v.address AS v_address
            FROM occurrences o JOIN activities a ON a.id = o.activity_id LEFT JOIN venues v ON v.id = o.venue_id
            WHERE o.organisation_id = $1 AND o.starts_at >= $2 AND o.starts_at < $3
              AND CASE $4::text
                    WHEN 'programme' THEN a.programmes = '{{}}' OR $5 = ANY(a.programmes)
                    WHEN 'district' THEN o.district = $5
                    WHEN 'venue' THEN o.venue_id::text = $5
                    ELSE true END
            ORDER BY o.starts_at, o.id""",
        feed.organisation_id,
        start,
        end,
        feed.scope,
        feed.scope_value,
    )
    return [
        FeedEntry(
            occurrence_from_row(r),
            r["title"],
            r["type_code"],
            Venue(r["v_id"], feed.organisation_id, r["v_name"], r["v_district"], r["v_address"]) if r["v_id"] else None,
            r["description"],
        )
        for r in rows
    ]
