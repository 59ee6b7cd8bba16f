"""The importer's ``Services`` for one admin's request: an HTTP client per service, each request carrying a
token minted for that service's audience just then (so a long import never outlives its token), and only
while the admin still is one: a run that takes minutes stops at its next request once the admin was demoted
or disabled (``AccessRevoked``), instead of writing on in a role nobody holds any more."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncGenerator, AsyncIterator

import asyncpg
import httpx

from sprakvan_importer import Services

from ...adapters.services import Caller
from ...adapters.tokens import TokenIssuer
from ...service_layer.accounts import still_holds
from ...settings import WebSettings

SERVICE_NAMES = ("intake", "matching", "events", "reporting")
TIMEOUT = 60.0  # one chunk of 1000 rows, validated and written in one transaction


class AccessRevoked(Exception):
    """The user an import runs for no longer holds the role it started with (or was disabled)."""


class ServiceToken(httpx.Auth):
    def __init__(
        self, issuer: TokenIssuer, caller: Caller, audience: str, *, pool: asyncpg.Pool, user_id: uuid.UUID
    ) -> None:
        self._issuer, self._caller, self._audience = issuer, caller, audience
        self._pool, self._user_id = pool, user_id

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        caller = self._caller
        if not await still_holds(self._pool, self._user_id, caller.organisation_id, caller.role):
            raise AccessRevoked
        token = self._issuer.mint(
            subject=self._caller.subject,
            organisation_id=self._caller.organisation_id,
            role=self._caller.role,
            audience=self._audience,
        )
        request.headers["Authorization"] = f"Bearer {token}"
        yield request


@contextlib.asynccontextmanager
async def services_for(
    settings: WebSettings, issuer: TokenIssuer, caller: Caller, *, pool: asyncpg.Pool, user_id: uuid.UUID
) -> AsyncIterator[Services]:
    async with contextlib.AsyncExitStack() as stack:
        clients = {}
        for name in SERVICE_NAMES:
            audience = getattr(settings, f"{name}_audience")
            auth = ServiceToken(issuer, caller, audience, pool=pool, user_id=user_id)
            client = httpx.AsyncClient(
                base_url=getattr(settings, f"{name}_url"), auth=auth, timeout=TIMEOUT, trust_env=False
            )
            clients[name] = await stack.enter_async_context(client)
        yield Services(clients)
