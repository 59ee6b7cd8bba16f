"""A running web front beside a real intake, both served over HTTP on free ports (as a browser and the
services see them), on the test kit's real NATS and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import uvicorn

from sprakvan_intake.service import SERVICE as INTAKE
from sprakvan_shared.auth import JwtVerifier
from sprakvan_web.service import SERVICE as WEB
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
