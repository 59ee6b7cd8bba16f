"""Calendar feeds per organisation, programme, district or venue, reached by an unguessable token.

The token is 256 random bits in the URL (a phone calendar cannot send a bearer token); only its SHA-256
is stored, so a database dump does not leak working feed URLs. Revoking a feed kills its URL.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta

import asyncpg

from ..adapters import repository as repo
from ..adapters.ical import render_feed
from ..domain.model import InvalidInput

SCOPES = ("organisation", "programme", "district", "venue")
PAST = timedelta(days=60)  # recent history stays visible (and cancelled ones stay cancelled)
AHEAD = timedelta(days=400)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def create_feed(
    conn: asyncpg.Connection, organisation_id: str, scope: str, scope_value: str | None, name: str, *, now: datetime
) -> tuple[repo.Feed, str]:
    if scope not in SCOPES:
        raise InvalidInput.one(f"scope is one of {', '.join(SCOPES)}", "scope")
    if (scope == "organisation") != (scope_value is None):
        raise InvalidInput.one("give a value for a programme, district or venue feed (and none otherwise)", "value")
    if scope == "venue" and (
        scope_value is None
        or not _is_uuid(scope_value)
        or not await repo.load_venue(conn, organisation_id, uuid.UUID(scope_value))
    ):
        raise InvalidInput.one("unknown venue", "value")
    feed = repo.Feed(uuid.uuid4(), organisation_id, scope, scope_value, name)
    token = secrets.token_urlsafe(32)
    await repo.insert_feed(conn, feed, token_hash(token), now)
    return feed, token


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


async def render(conn: asyncpg.Connection, token: str, *, now: datetime) -> bytes | None:
    """The feed's iCalendar text, or None for an unknown or revoked token."""
    if len(token) > 100:
        return None
    feed = await repo.feed_by_token(conn, token_hash(token))
    if feed is None:
        return None
    entries = await repo.feed_entries(conn, feed, now - PAST, now + AHEAD)
    return render_feed(feed.name, entries)
