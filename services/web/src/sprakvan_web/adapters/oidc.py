"""OpenID Connect login (authorisation code flow with PKCE) against a municipality's provider, e.g.
Entra ID, ADFS or a Keycloak that brokers SAML sources (Sweden Connect, SITHS, Freja).

Small on purpose: discovery, the redirect, the code exchange over httpx, and the ID token checked with
PyJWT (signature against the provider's JWKS, ``iss``, ``aud`` = our client id, ``exp``, ``nonce``).
Users are keyed on the token's issuer and subject, never on an email address.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt


class OidcError(Exception):
    """The provider's answer was not a valid login (logged by type only, never by content)."""


@dataclass(frozen=True)
class OidcIdentity:
    issuer: str
    subject: str
    name: str
    # The verified ID token's claims, for the role mapping (groups, roles); never logged.
    claims: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class LoginStart:
    url: str
    state: str
    nonce: str
    code_verifier: str


class OidcClient:
    def __init__(
        self, issuer: str, client_id: str, client_secret: str, redirect_uri: str, discovery_url: str | None = None
    ) -> None:
        self._issuer = issuer.rstrip("/")
        # In compose the service reaches Keycloak as http://keycloak:8080 while browsers (and `iss`) say localhost.
        self._discovery_url = discovery_url or f"{self._issuer}/.well-known/openid-configuration"
        self._client_id, self._client_secret, self._redirect_uri = client_id, client_secret, redirect_uri
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._jwks: jwt.PyJWKClient | None = None

    async def _discover(self) -> dict[str, Any]:
        if self._metadata is None or time.monotonic() - self._metadata_at > 3600:
            async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
                response = await client.get(self._discovery_url)
            if response.status_code != 200:
                raise OidcError("discovery failed")
            if str(response.json().get("issuer", "")).rstrip("/") != self._issuer:
                raise OidcError("discovery names another issuer")  # OpenID Connect Discovery 1.0, 4.3
            self._metadata, self._metadata_at = response.json(), time.monotonic()
            self._jwks = jwt.PyJWKClient(self._metadata["jwks_uri"], cache_keys=True, lifespan=3600)
        return self._metadata

    async def start(self) -> LoginStart:
        metadata = await self._discover()
        state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self._client_id,
                "redirect_uri": self._redirect_uri,
                "scope": "openid profile",
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        return LoginStart(f"{metadata['authorization_endpoint']}?{query}", state, nonce, verifier)

    async def finish(self, code: str, *, nonce: str, code_verifier: str) -> OidcIdentity:
        metadata = await self._discover()
        async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
            response = await client.post(
                metadata["token_endpoint"],
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": self._redirect_uri,
                    "code_verifier": code_verifier,
                },
                auth=(self._client_id, self._client_secret),
            )
        if response.status_code != 200 or "id_token" not in response.json():
            raise OidcError("token exchange failed")
        id_token = response.json()["id_token"]
        assert self._jwks is not None
        try:
            key = (await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, id_token)).key
            claims = jwt.decode(
                id_token,
                key,
                algorithms=["RS256", "ES256", "EdDSA", "PS256"],
                audience=self._client_id,
                issuer=metadata["issuer"],
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
                leeway=30,
            )
        except jwt.PyJWTError as exc:
            raise OidcError(type(exc).__name__) from exc
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise OidcError("nonce mismatch")
        name = str(claims.get("name") or claims.get("preferred_username") or claims["sub"])[:200]
        return OidcIdentity(issuer=str(claims["iss"]), subject=str(claims["sub"]), name=name, claims=claims)
