"""The token issuer: the web service is the only part of Språkvän that mints bearer tokens.

Each call to another service gets its own short-lived token (minutes), whose audience is that one
service, signed with the web service's private key. The public half is published as a JWKS
(``/.well-known/jwks.json``), with a ``kid`` (RFC 7638 thumbprint) so that keys can be rotated.

Claims and algorithm are those ``sprakvan_shared.auth.JwtVerifier`` checks: EdDSA (Ed25519) or RS256,
``sub``, ``org``, ``role`` (admin|coordinator|viewer), ``iss``, ``aud``, ``iat``, ``exp``.
"""

from __future__ import annotations

import hashlib
import json
from base64 import urlsafe_b64encode
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from sprakvan_shared.auth import Role


class TokenIssuer(Protocol):
    def mint(self, *, subject: str, organisation_id: str, role: Role, audience: str) -> str: ...

    def jwks(self) -> dict[str, Any]: ...


def _b64(data: bytes) -> str:
    return urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


class AsymmetricIssuer:
    def __init__(self, private_key_pem: str, *, issuer: str, ttl: timedelta) -> None:
        key = serialization.load_pem_private_key(private_key_pem.replace("\\n", "\n").encode(), password=None)
        if not isinstance(key, ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey):
            raise ValueError("the signing key must be Ed25519 or RSA")
        self._key = key
        self._algorithm = "EdDSA" if isinstance(key, ed25519.Ed25519PrivateKey) else "RS256"
        self._issuer, self._ttl = issuer, ttl
        self._jwk = self._public_jwk()

    def _public_jwk(self) -> dict[str, str]:
        public = self._key.public_key()
        if isinstance(public, ed25519.Ed25519PublicKey):
            raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            members = {"crv": "Ed25519", "kty": "OKP", "x": _b64(raw)}
        else:
            numbers = public.public_numbers()
            members = {"e": _b64(_int_bytes(numbers.e)), "kty": "RSA", "n": _b64(_int_bytes(numbers.n))}
        # RFC 7638: the thumbprint of the required members, sorted, without spaces.
        thumbprint = _b64(hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest())
        return {**members, "kid": thumbprint, "use": "sig", "alg": self._algorithm}

    @property
    def kid(self) -> str:
        return self._jwk["kid"]

    def mint(self, *, subject: str, organisation_id: str, role: Role, audience: str) -> str:
        now = datetime.now(UTC)
        claims = {
            "sub": subject,
            "org": organisation_id,
            "role": Role(role).value,
            "iss": self._issuer,
            "aud": audience,
            "iat": now,
            "exp": now + self._ttl,
        }
        return jwt.encode(claims, self._key, algorithm=self._algorithm, headers={"kid": self.kid})

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self._jwk]}
