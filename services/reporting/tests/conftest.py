"""Fixtures for the reporting tests, on top of the test kit (``tests/kit.py``: real PostgreSQL and NATS,
a database and a namespace per test): a database with reporting's migrations applied, and tokens."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path

import asyncpg
import pytest

from sprakvan_shared.auth import Role
from sprakvan_shared.db import _init_connection, load_migrations, migrate, shared_migrations
from tests.kit import mint_token

# The helpers beside this file (reporting_builders, reporting_events) import by name under importlib mode.
sys.path.insert(0, str(Path(__file__).parent))


def reporting_migrations():
    return [*shared_migrations(), *load_migrations("reporting", resources.files("sprakvan_reporting") / "migrations")]


@pytest.fixture
async def reporting_db(database_url: str) -> str:
    conn = await asyncpg.connect(database_url)
    try:
        await migrate(conn, reporting_migrations())
    finally:
        await conn.close()
    return database_url


@pytest.fixture
async def conn(reporting_db: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(reporting_db)
    await _init_connection(connection)
    yield connection
    await connection.close()


@pytest.fixture
def token():
    def mint(role: str = "viewer", org: str = "linkoping") -> dict[str, str]:
        return {"Authorization": f"Bearer {mint_token(org, Role(role), f'{role}-1')}"}

    return mint
