"""The test kit: real NATS and PostgreSQL for any service, isolated per test, safe to run in parallel.

Registered for every test directory by the root ``conftest.py`` (``pytest_plugins``), so the tests of
``services/<name>/tests/`` use the same fixtures:

* ``infra`` (session): where NATS and PostgreSQL are (``tests/infra.py``).
* ``database_url``: a new, empty database for this test.
* ``ns``: a NATS namespace of this test's own (``t1a2b3c4d``): its streams and consumers are invisible
  to every other test, so nothing is deleted between tests and tests can run side by side
  (pytest-xdist). Its streams are deleted when the test ends.
* ``start_service``: ``async with start_service(SERVICE, **settings) as svc`` runs any kit service
  (migrations, NATS, relay, consumers) in-process with an HTTP client: ``svc.client`` (a coordinator
  of ``ORG_A``), ``svc.as_(org=..., role=...)`` for another caller, ``svc.runtime``, ``svc.settings``.
  By default it waits until the service's messaging is running.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
import pytest

from sprakvan_shared.auth import Role, TokenSigner, generate_private_key_pem, public_key_pem
from sprakvan_shared.contracts.subjects import Namespace
from sprakvan_shared.kit import Service
from sprakvan_shared.runtime import ServiceRuntime

from .infra import Infrastructure, infrastructure

# One key pair per test run: tests sign with the private key; services get only the public one.
PRIVATE_KEY = generate_private_key_pem()
PUBLIC_KEY = public_key_pem(PRIVATE_KEY)
_SIGNER = TokenSigner(PRIVATE_KEY)
ORG_A = "linkoping"
ORG_B = "norrkoping"


def mint_token(org: str = ORG_A, role: Role | str = Role.COORDINATOR, sub: str = "coordinator-1") -> str:
    return _SIGNER.mint(subject=sub, organisation_id=org, role=Role(role))


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


async def terminate_backend_running(db: asyncpg.Connection, query_part: str) -> None:
    """Terminate the backend of ``db``'s database that is running ``query_part`` (a connection lost to
    PostgreSQL mid-request), and wait until it is gone."""

    async def running() -> int | None:
        return await db.fetchval(
            # This test's database only: a shared server (DATABASE_URL) runs other tests' statements too.
            "SELECT pid FROM pg_stat_activity WHERE query LIKE $1 AND state = 'active' AND pid <> pg_backend_pid()"
            " AND datname = current_database()",
            f"%{query_part}%",
        )

    pid = await eventually(running, timeout=10, interval=0.02)
    await db.execute("SELECT pg_terminate_backend($1)", pid)

    async def gone() -> bool:  # else the next cut may find this dying backend still listed as active
        return not await db.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid)

    await eventually(gone, timeout=10, interval=0.02)


# -- the session's event loop -------------------------------------------------------------------------
@pytest.fixture(scope="session", autouse=True)
async def _no_task_outlives_the_session() -> AsyncIterator[None]:
    """At the end, cancel what the tests left running on the session's loop, again and again until it is
    done. pytest-asyncio cancels each leftover task once and then waits for all of them: a task that
    swallows one cancellation and goes on awaiting held a CI run's teardown for its whole timeout (240 s).
    What still runs after 20 s is printed with its stack, so that the next such task is named."""
    yield
    current = asyncio.current_task()
    deadline = asyncio.get_running_loop().time() + 20
    while left := [task for task in asyncio.all_tasks() if task is not current and not task.done()]:
        if asyncio.get_running_loop().time() > deadline:
            for task in left:
                print(f"still running at the end of the session: {task!r}", file=sys.stderr)
                task.print_stack(file=sys.stderr)
            return
        for task in left:
            task.cancel()
        await asyncio.wait(left, timeout=0.5)


# -- infrastructure --------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def infra() -> Iterator[Infrastructure]:
    with infrastructure() as found:
        yield found


def _dsn_for(admin_dsn: str, database: str) -> str:
    base, _, query = admin_dsn.partition("?")
    base = base.rsplit("/", 1)[0]
    return f"{base}/{database}" + (f"?{query}" if query else "")


async def _admin(admin_dsn: str, statement: str) -> None:
    # A connection per statement: a test may restart the server in between.
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def fresh_database(admin_dsn: str, name: str | None = None) -> AsyncIterator[str]:
    """A new, empty database (``name``, else ``test_<random>``), dropped afterwards; the benchmarks use it too."""
    name = name or f"test_{uuid.uuid4().hex[:16]}"
    await _admin(admin_dsn, f'CREATE DATABASE "{name}"')
    try:
        yield _dsn_for(admin_dsn, name)
    finally:
        await _admin(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def database_url(infra: Infrastructure) -> AsyncIterator[str]:
    """A new, empty database for this test alone."""
    async with fresh_database(infra.postgres_url) as dsn:
        yield dsn


async def delete_streams(nats_url: str, namespace: Namespace) -> None:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        prefix = namespace.root.upper() + "_"
        for info in await js.streams_info():
            if info.config.name.startswith(prefix):
                with contextlib.suppress(Exception):
                    await js.delete_stream(info.config.name)
    finally:
        await nc.close()


@pytest.fixture
def nats_url(infra: Infrastructure) -> str:
    return infra.nats_url


@pytest.fixture
async def ns(infra: Infrastructure) -> AsyncIterator[Namespace]:
    """This test's own NATS namespace; its streams are deleted afterwards."""
    namespace = Namespace(f"t{uuid.uuid4().hex[:12]}")
    yield namespace
    with contextlib.suppress(Exception):  # a chaos test may have stopped the server
        await delete_streams(infra.nats_url, namespace)


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


@pytest.fixture
def mint() -> Callable[..., str]:
    return mint_token


# -- services --------------------------------------------------------------------------------------
@dataclass
class RunningService:
    app: Any
    client: httpx.AsyncClient
    settings: Any

    @property
    def runtime(self) -> ServiceRuntime:
        return self.app.state.runtime

    @property
    def pool(self) -> asyncpg.Pool:
        return self.runtime.pool

    def as_(self, org: str = ORG_A, role: Role | str = Role.COORDINATOR, sub: str = "coordinator-1") -> dict[str, str]:
        """Headers of another caller, for ``client.get(..., headers=svc.as_(org=ORG_B))``."""
        return {"Authorization": f"Bearer {mint_token(org, role, sub)}"}


ServiceStarter = Callable[..., contextlib.AbstractAsyncContextManager[RunningService]]


@pytest.fixture
def start_service(infra: Infrastructure, ns: Namespace) -> ServiceStarter:
    """``async with start_service(SERVICE, database_url=None, nats_url=None, **settings) as svc``."""

    @contextlib.asynccontextmanager
    async def start(
        service: Service,
        *,
        database_url: str | None = None,
        nats_url: str | None = None,
        namespace: Namespace | None = None,
        wait_for_messaging: bool = True,
        **overrides: Any,
    ) -> AsyncIterator[RunningService]:
        async with contextlib.AsyncExitStack() as stack:
            if database_url is None:
                database_url = await stack.enter_async_context(fresh_database(infra.postgres_url))
            settings = service.settings(
                DATABASE_URL=database_url,
                NATS_URL=nats_url or infra.nats_url,
                NATS_NAMESPACE=(namespace or ns).root,
                JWT_PUBLIC_KEY=PUBLIC_KEY,
                LOG_JSON=True,
                relay_poll_interval=0.2,
                # A stop waits out the consumers' current fetch: a second each, for every service of every test.
                consumer_fetch_timeout_seconds=0.2,
                # The relay in this process, where a test can reach it (a child to start adds a second to
                # every service); tests/test_relay_process.py runs the child, as deployed.
                **{"relay_process": False, **overrides},
            )
            app = service.create_app(settings)
            await stack.enter_async_context(app.router.lifespan_context(app))
            client = await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app),
                    base_url=f"http://{service.name}",
                    headers={"Authorization": f"Bearer {mint_token()}"},
                )
            )
            running = RunningService(app, client, settings)
            if wait_for_messaging:
                await asyncio.wait_for(running.runtime.messaging_ready.wait(), timeout=30)
            yield running

    return start
