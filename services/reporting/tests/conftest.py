"""Fixtures for the reporting tests: a real PostgreSQL (from the repository's ``tests/infra.py``), a new
database per test with the service's migrations applied."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from importlib import resources

import asyncpg
import pytest

from sprakvan_shared.db import _init_connection, load_migrations, migrate, shared_migrations
from tests.conftest import fresh_database
from tests.infra import Infrastructure, infrastructure


def reporting_migrations():
    return [*shared_migrations(), *load_migrations("reporting", resources.files("sprakvan_reporting") / "migrations")]


@pytest.fixture(scope="session")
def infra() -> Iterator[Infrastructure]:
    with infrastructure() as found:
        yield found


@pytest.fixture
async def reporting_db(infra: Infrastructure) -> AsyncIterator[str]:
    async with fresh_database(infra.postgres_url) as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            await migrate(conn, reporting_migrations())
        finally:
            await conn.close()
        yield dsn


@pytest.fixture
async def conn(reporting_db: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(reporting_db)
    await _init_connection(connection)
    yield connection
    await connection.close()
