"""Fixtures shared by the tests: real NATS and PostgreSQL (see ``infra.py``), a clean database and clean
streams per test, a running intake service, and tokens."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
import pytest
from nats.js.errors import NotFoundError

from sprakvan_shared.auth import HS256Verifier, Role
from sprakvan_shared.contracts.subjects import DEFAULT_NAMESPACE

from .infra import Infrastructure, infrastructure

JWT_SECRET = "test-secret-0123456789-0123456789-abcdef"
ORG_A = "linkoping"
ORG_B = "norrkoping"


@pytest.fixture(scope="session")
def infra() -> Iterator[Infrastructure]:
    with infrastructure() as found:
        yield found


def _dsn_for(admin_dsn: str, database: str) -> str:
    base, _, query = admin_dsn.partition("?")
    base = base.rsplit("/", 1)[0]
    return f"{base}/{database}" + (f"?{query}" if query else "")


@contextlib.asynccontextmanager
async def fresh_database(admin_dsn: str) -> AsyncIterator[str]:
    name = f"test_{uuid.uuid4().hex[:16]}"
    await _admin(admin_dsn, f'CREATE DATABASE "{name}"')
    try:
        yield _dsn_for(admin_dsn, name)
    finally:
        await _admin(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _admin(admin_dsn: str, statement: str) -> None:
    # A connection per statement: a test may restart the server in between.
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


@pytest.fixture
async def database_url(infra: Infrastructure) -> AsyncIterator[str]:
    """A new, empty database for this test alone."""
    async with fresh_database(infra.postgres_url) as dsn:
        yield dsn


async def delete_project_streams(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        for name in await js.streams_info():
            if name.config.name.startswith(DEFAULT_NAMESPACE.upper() + "_"):
                with contextlib.suppress(NotFoundError):
                    await js.delete_stream(name.config.name)
    finally:
        await nc.close()


@pytest.fixture
async def nats_url(infra: Infrastructure) -> AsyncIterator[str]:
    """The shared NATS with none of the project's streams (and so none of their consumers)."""
    await delete_project_streams(infra.nats_url)
    yield infra.nats_url
    await delete_project_streams(infra.nats_url)


@pytest.fixture
def mint() -> Callable[..., str]:
    verifier = HS256Verifier(JWT_SECRET)

    def mint_token(org: str = ORG_A, role: Role | str = Role.COORDINATOR, sub: str = "coordinator-1") -> str:
        return verifier.mint(subject=sub, organisation_id=org, role=Role(role))

    return mint_token


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[nats.NATS]:
    client = await nats.connect(nats_url)
    yield client
    await client.close()


@pytest.fixture
def embedded_nats(tmp_path: Path) -> Iterator[Any]:
    """A NATS server of this test's own, which it may stop, kill and restart."""
    from sprakvan_cli.embedded import EmbeddedNats

    with EmbeddedNats(tmp_path / "own-nats") as server:
        yield server


async def eventually(check: Callable[[], Awaitable[Any]], *, timeout: float = 15.0, interval: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy; fail with its last result."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last result: {last!r}")


IntakeFactory = Callable[..., contextlib.AbstractAsyncContextManager[tuple[Any, httpx.AsyncClient]]]


@pytest.fixture
def start_intake(mint: Callable[..., str]) -> IntakeFactory:
    """``async with start_intake(database_url, nats_url, **settings) as (app, client)``: the intake
    service with its lifespan (migrations, broker, relay) running, and an HTTP client for it."""
    from sprakvan_intake.entrypoints.http import create_app
    from sprakvan_intake.settings import IntakeSettings

    @contextlib.asynccontextmanager
    async def start(database_url: str, nats_url: str, **overrides: Any) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
        settings = IntakeSettings(
            DATABASE_URL=database_url,
            NATS_URL=nats_url,
            JWT_SECRET=JWT_SECRET,
            LOG_JSON=True,
            relay_poll_interval=0.2,
            **overrides,
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://intake", headers={"Authorization": f"Bearer {mint()}"}
            ) as client:
                yield app, client

    return start


@pytest.fixture
async def intake(start_intake: IntakeFactory, database_url: str, nats_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with start_intake(database_url, nats_url) as (_, client):
        yield client


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()
