"""The importer's ``Services`` for one admin's request: an HTTP client per service, each request carrying a
token minted for that service's audience just then (so a long import never outlives its token)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Generator

import httpx

from sprakvan_importer import Services

from ...adapters.services import Caller
from ...adapters.tokens import TokenIssuer
from ...settings import WebSettings

SERVICE_NAMES = ("intake", "matching", "events", "reporting")
TIMEOUT = 60.0  # one chunk of 1000 rows, validated and written in one transaction


class ServiceToken(httpx.Auth):
    def __init__(self, issuer: TokenIssuer, caller: Caller, audience: str) -> None:
        self._issuer, self._caller, self._audience = issuer, caller, audience

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._issuer.mint(
            subject=self._caller.subject,
            organisation_id=self._caller.organisation_id,
            role=self._caller.role,
            audience=self._audience,
        )
        request.headers["Authorization"] = f"Bearer {token}"
        yield request


@contextlib.asynccontextmanager
async def services_for(settings: WebSettings, issuer: TokenIssuer, caller: Caller) -> AsyncIterator[Services]:
    async with contextlib.AsyncExitStack() as stack:
        clients = {}
        for name in SERVICE_NAMES:
            auth = ServiceToken(issuer, caller, getattr(settings, f"{name}_audience"))
            client = httpx.AsyncClient(
                base_url=getattr(settings, f"{name}_url"), auth=auth, timeout=TIMEOUT, trust_env=False
            )
            clients[name] = await stack.enter_async_context(client)
        yield Services(clients)
