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


JWT_SECRET = "test-secret-0123456789-0123456789-abcdef"


@pytest.fixture
def token():
    from sprakvan_shared.auth import HS256Verifier, Role

    verifier = HS256Verifier(JWT_SECRET)

    def mint(role: str = "viewer", org: str = "linkoping") -> dict[str, str]:
        return {"Authorization": f"Bearer {verifier.mint(subject=f'{role}-1', organisation_id=org, role=Role(role))}"}

    return mint


@pytest.fixture
async def reporting_app(infra: Infrastructure):
    """The reporting service with its lifespan running (migrations, NATS, PDF worker), on a new
    database and a namespace of its own; yields (app, httpx client without a token)."""
    import uuid

    import httpx

    from sprakvan_reporting.entrypoints.http import create_app
    from sprakvan_reporting.settings import ReportingSettings

    async with fresh_database(infra.postgres_url) as dsn:
        settings = ReportingSettings(
            DATABASE_URL=dsn,
            NATS_URL=infra.nats_url,
            NATS_NAMESPACE=f"t{uuid.uuid4().hex[:12]}",
            JWT_SECRET=JWT_SECRET,
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://reporting") as client:
                yield app, client
