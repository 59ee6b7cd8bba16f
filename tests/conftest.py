"""Fixtures of the cross-service tests: a running intake, and the test kit's helpers (``tests/kit.py``)
under the names the tests import."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from sprakvan_intake.service import SERVICE as INTAKE

from . import factories
from .kit import ORG_A, ORG_B, PUBLIC_KEY, RunningService, ServiceStarter, eventually, fresh_database, mint_token

__all__ = ["ORG_A", "ORG_B", "PUBLIC_KEY", "eventually", "fresh_database", "mint_token"]

IntakeFactory = Callable[..., contextlib.AbstractAsyncContextManager[tuple[Any, httpx.AsyncClient]]]


@pytest.fixture
def start_intake(start_service: ServiceStarter) -> IntakeFactory:
    """``async with start_intake(database_url, nats_url, **settings) as (app, client)``: intake with
    its lifespan (migrations, relay) running, in this test's namespace, and an HTTP client for it."""

    @contextlib.asynccontextmanager
    async def start(database_url: str, nats_url: str, **overrides: Any) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
        async with start_service(
            INTAKE, database_url=database_url, nats_url=nats_url, wait_for_messaging=False, **overrides
        ) as svc:
            await factories.configure(svc.client, [mint_token(org, "admin") for org in (ORG_A, ORG_B)])
            yield svc.app, svc.client

    return start


@pytest.fixture
async def intake_service(start_service: ServiceStarter, database_url: str) -> AsyncIterator[RunningService]:
    async with start_service(INTAKE, database_url=database_url) as svc:
        await factories.configure(svc.client, [mint_token(org, "admin") for org in (ORG_A, ORG_B)])
        yield svc


@pytest.fixture
def intake(intake_service: RunningService) -> httpx.AsyncClient:
    return intake_service.client


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()
