"""A running web front beside a real intake, both served over HTTP on free ports (as a browser and the
services see them), on the test kit's real NATS and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from sprakvan_intake.service import SERVICE as INTAKE
from sprakvan_shared.auth import InvalidToken, JwtVerifier, Principal, Role, TokenVerifier
from sprakvan_web.service import SERVICE as WEB
from sprakvan_web.service_layer import accounts
from tests import factories
from tests.kit import ORG_A, RunningService, ServiceStarter, mint_token

PROGRAMME = "sprakvan"


def intake_verifier(web_url: str) -> JwtVerifier:
    """Intake verifying the web front's tokens as a deployment with one audience per service would: the
    keys from the web front's JWKS URL, ``aud`` = intake (the kit's verifier of the test key is replaced)."""
    return JwtVerifier(jwks_url=f"{web_url}/.well-known/jwks.json", audience="intake", issuer="sprakvan")


@contextlib.asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """``app`` (already started) over HTTP on a free port; its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    # Inherited by every accepted connection: uvicorn sets no TCP_NODELAY on sockets it is handed, and a
    # response written in two parts then waits ~40 ms for the client's delayed ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_config=None, access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@dataclass
class Stack:
    web: RunningService
    intake: RunningService
    web_url: str
    intake_url: str

    def signup_url(self, lang: str = "sv", organisation: str = ORG_A) -> str:
        return f"{self.web_url}/signup/{organisation}/{PROGRAMME}?lang={lang}"


def signing_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@contextlib.asynccontextmanager
async def web_stack(start_service: ServiceStarter, **web_settings: Any) -> AsyncIterator[Stack]:
    async with start_service(INTAKE, wait_for_messaging=False) as intake:
        await factories.configure(intake.client, [mint_token(ORG_A, "admin")])
        async with serve(intake.app) as intake_url:
            settings = {
                "intake_url": intake_url,
                "intake_audience": "intake",
                "signing_key": signing_key(),
                "form_min_seconds": 0,
            }
            async with start_service(WEB, wait_for_messaging=False, **(settings | web_settings)) as web:
                async with serve(web.app) as web_url:
                    intake.app.state.token_verifier = intake_verifier(web_url)
                    yield Stack(web, intake, web_url, intake_url)


@dataclass
class WorkspaceStack:
    """The whole system behind the coordinators' workspace: intake, matching, events, reporting and the web
    front, each served over HTTP on a free port and verifying the web front's tokens (JWKS, audience = its
    name), on the test kit's real NATS and PostgreSQL."""

    web: RunningService
    intake: RunningService
    matching: RunningService
    events: RunningService
    reporting: RunningService
    web_url: str

    @contextlib.asynccontextmanager
    async def user(
        self, role: Role | str, organisation: str = ORG_A, username: str | None = None
    ) -> AsyncIterator[httpx.AsyncClient]:
        """``async with stack.user("coordinator") as client``: a browser-less client logged in as a new local
        user of ``role`` (its base URL the web front)."""
        username = username or f"{Role(role).value}-{organisation}-{secrets.token_hex(3)}"
        password = f"password of {username}"
        await accounts.create_local_user(
            self.web.pool, organisation_id=organisation, username=username, password=password, role=Role(role)
        )
        async with httpx.AsyncClient(base_url=self.web_url, trust_env=False) as client:
            page = await client.get("/login")
            login = {"csrf_token": csrf_of(page.text), "username": username, "password": password}
            response = await client.post("/login", data=login)
            assert response.status_code == 303, response.text
            yield client


class _EitherVerifier:
    """The web front's tokens, and the test kit's (``stack.intake.client`` still works, for arranging and
    checking what a test needs beside the pages)."""

    def __init__(self, first: TokenVerifier, second: TokenVerifier) -> None:
        self._first, self._second = first, second

    async def verify(self, token: str) -> Principal:
        try:
            return await self._first.verify(token)
        except InvalidToken:
            return await self._second.verify(token)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@contextlib.asynccontextmanager
async def workspace_stack(start_service: ServiceStarter, **web_settings: Any) -> AsyncIterator[WorkspaceStack]:
    """Every service and the web front, ORG_A configured (``factories.configure``)."""
    from sprakvan_events.service import SERVICE as EVENTS
    from sprakvan_matching.service import SERVICE as MATCHING
    from sprakvan_reporting.service import SERVICE as REPORTING

    async with contextlib.AsyncExitStack() as stack:
        running, urls = {}, {}
        for name, spec in (("intake", INTAKE), ("matching", MATCHING), ("events", EVENTS), ("reporting", REPORTING)):
            running[name] = await stack.enter_async_context(start_service(spec, wait_for_messaging=False))
            urls[name] = await stack.enter_async_context(serve(running[name].app))
        await factories.configure(running["intake"].client, [mint_token(ORG_A, "admin")])
        settings = {f"{name}_url": url for name, url in urls.items()}
        settings |= {f"{name}_audience": name for name in urls}
        settings |= {"signing_key": signing_key(), "form_min_seconds": 0}
        web = await stack.enter_async_context(start_service(WEB, wait_for_messaging=False, **(settings | web_settings)))
        web_url = await stack.enter_async_context(serve(web.app))
        for name, service in running.items():
            web_tokens = JwtVerifier(jwks_url=f"{web_url}/.well-known/jwks.json", audience=name, issuer="sprakvan")
            service.app.state.token_verifier = _EitherVerifier(web_tokens, service.app.state.token_verifier)
        yield WorkspaceStack(web=web, web_url=web_url, **running)
