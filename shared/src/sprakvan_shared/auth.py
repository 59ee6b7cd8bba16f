"""Bearer-token authentication and roles.

Tokens are JWTs with claims ``sub`` (who), ``org`` (organisation id) and ``role``. Today they are HS256
with a shared secret; ``TokenVerifier`` is the seam for an OIDC/JWKS verifier later, which only has to
turn a token into a ``Principal``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

import jwt
from pydantic import TypeAdapter, ValidationError

from .contracts.subjects import OrganisationId

_ORGANISATION_ID = TypeAdapter(OrganisationId)


class Role(StrEnum):
    ADMIN = "admin"
    COORDINATOR = "coordinator"
    VIEWER = "viewer"


WRITERS = frozenset({Role.ADMIN, Role.COORDINATOR})
READERS = frozenset(Role)


@dataclass(frozen=True)
class Principal:
    subject: str
    organisation_id: str
    role: Role


class InvalidToken(Exception):
    pass


class TokenVerifier(Protocol):
    def verify(self, token: str) -> Principal: ...


class HS256Verifier:
    algorithm = "HS256"

    def __init__(self, secret: str, *, leeway: timedelta = timedelta(seconds=30), cache_size: int = 1024) -> None:
        if len(secret) < 32:
            raise ValueError("JWT secret must be at least 32 characters")
        self._secret = secret
        self._leeway = leeway
        # A client sends the same token with every request; checking its signature again each time was
        # a measurable share of a registration's CPU. A cached token still expires on time.
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._cache_size = cache_size

    def verify(self, token: str) -> Principal:
        cached = self._verified.get(token)
        if cached is not None:
            principal, expires_at = cached
            if time.time() < expires_at:
                self._verified.move_to_end(token)
                return principal
            del self._verified[token]
        principal, expires_at = self._decode(token)
        self._verified[token] = (principal, expires_at)
        if len(self._verified) > self._cache_size:
            self._verified.popitem(last=False)
        return principal

    def _decode(self, token: str) -> tuple[Principal, float]:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[self.algorithm],
                options={"require": ["sub", "org", "role", "exp"]},
                leeway=self._leeway,
            )
            principal = Principal(
                subject=str(claims["sub"]),
                organisation_id=_ORGANISATION_ID.validate_python(claims["org"]),
                role=Role(claims["role"]),
            )
            return principal, float(claims["exp"]) + self._leeway.total_seconds()
        except (jwt.PyJWTError, ValueError, ValidationError) as exc:
            raise InvalidToken(type(exc).__name__) from exc

    def mint(self, *, subject: str, organisation_id: str, role: Role, ttl: timedelta = timedelta(hours=12)) -> str:
        now = datetime.now(UTC)
        claims = {
            "sub": subject,
            "org": _ORGANISATION_ID.validate_python(organisation_id),
            "role": Role(role).value,
            "iat": now,
            "exp": now + ttl,
        }
        return jwt.encode(claims, self._secret, algorithm=self.algorithm)
