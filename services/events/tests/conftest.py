"""Fixtures of the events service's tests; ``infra``, ``database_url`` and ``start_service`` come from the
project's test kit (``tests/kit.py``, registered by the root ``conftest.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from importlib import resources

import asyncpg
import pytest

from sprakvan_shared.db import create_pool, load_migrations, migrate, shared_migrations

EVENTS_MIGRATIONS = load_migrations("events", resources.files("sprakvan_events") / "migrations")


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A migrated events database of this test's own, with the service's pool settings."""
    pool = await create_pool(database_url, min_size=2, max_size=20)
    async with pool.acquire() as conn:
        await migrate(conn, [*shared_migrations(), *EVENTS_MIGRATIONS])
    yield pool
    await pool.close()
