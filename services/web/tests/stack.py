"""A running web front beside a real intake, both served over HTTP on free ports (as a browser and the
services see them), on the test kit's real NATS and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import uvicorn

from sprakvan_intake.service import SERVICE as INTAKE
from sprakvan_shared.auth import InvalidToken, Principal, Role
from sprakvan_web.service import SERVICE as WEB
from tests import factories
from tests.kit import ORG_A, RunningService, ServiceStarter, mint_token

PROGRAMME = "sprakvan"


class JwksVerifier:
    """Intake's side of the web service's tokens until the API-safety branch brings its ``JwtVerifier``
    to main: EdDSA/RS256 against the keys the web service publishes, ``aud`` = intake, ``iss`` required."""

    def __init__(self, jwks: dict[str, Any], *, audience: str, issuer: str) -> None:
        self._keys = {key["kid"]: jwt.PyJWK(key).key for key in jwks["keys"]}
        self._audience, self._issuer = audience, issuer

    def verify(self, token: str) -> Principal:
        try:
            key = self._keys[jwt.get_unverified_header(token).get("kid", "")]
            claims = jwt.decode(
                token,
                key,
                algorithms=["EdDSA", "RS256"],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["sub", "org", "role", "iss", "aud", "iat", "exp"]},
            )
            return Principal(str(claims["sub"]), str(claims["org"]), Role(claims["role"]))
        except (KeyError, jwt.PyJWTError, ValueError) as exc:
            raise InvalidToken(type(exc).__name__) from exc


def intake_verifier(web_url: str, keys: dict[str, Any]) -> Any:
    """The API-safety branch's own verifier on the web front's JWKS URL once it is on main, else ours."""
    from sprakvan_shared import auth

    verifier = getattr(auth, "JwtVerifier", None)
    if verifier is not None:
        return verifier(jwks_url=f"{web_url}/.well-known/jwks.json", audience="intake", issuer="sprakvan")
    return JwksVerifier(keys, audience="intake", issuer="sprakvan")


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
            settings = {"intake_url": intake_url, "signing_key": signing_key(), "form_min_seconds": 0}
            async with start_service(WEB, wait_for_messaging=False, **(settings | web_settings)) as web:
                async with serve(web.app) as web_url:
                    async with httpx.AsyncClient(trust_env=False) as client:
                        keys = (await client.get(f"{web_url}/.well-known/jwks.json")).json()
                    intake.app.state.token_verifier = intake_verifier(web_url, keys)
                    yield Stack(web, intake, web_url, intake_url)
