"""Bearer-token authentication and roles.

Tokens are JWTs signed with an asymmetric key (EdDSA or RS256): services hold only the PUBLIC key, so
no service can mint a token. Claims: ``sub`` (who), ``org`` (organisation id), ``role``, and the
required ``iss``, ``aud``, ``iat`` and ``exp``; a token whose lifetime (``exp - iat``) exceeds
``JWT_MAX_LIFETIME_SECONDS`` is refused. The key comes from ``JWT_PUBLIC_KEY`` (PEM),
``JWT_PUBLIC_KEY_FILE`` or ``JWT_JWKS_URL`` (an OIDC provider's JWKS, e.g. Keycloak or Entra ID);
there is no default: a service without one does not start (``verifier_from_settings``).

Signing (``TokenSigner``) is for the ``sprakvan`` CLI and the tests, which hold the private key.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from pydantic import TypeAdapter, ValidationError

from .contracts.subjects import OrganisationId

if TYPE_CHECKING:
    from .settings import ServiceSettings

_ORGANISATION_ID = TypeAdapter(OrganisationId)
ALGORITHMS = ("EdDSA", "RS256")
DEFAULT_ISSUER = "sprakvan"
DEFAULT_AUDIENCE = "sprakvan"
DEFAULT_MAX_LIFETIME = timedelta(hours=1)


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
    # An opaque, stable form of the subject for logs (an OIDC subject may be an email address).
    pseudonym: str = field(default="", compare=False)


class InvalidToken(Exception):
    pass


class MissingTokenKey(RuntimeError):
    """The service has no public key to verify tokens with, and so must not start."""


class TokenVerifier(Protocol):
    async def verify(self, token: str) -> Principal: ...


class Pseudonymiser:
    """HMAC-SHA256 of the subject, first 16 hex digits. With ``LOG_PSEUDONYM_KEY`` set (the same in every
    service) the same person has the same pseudonym everywhere; without it, a random key per process."""

    def __init__(self, key: str | None = None) -> None:
        self._key = (key or secrets.token_hex(32)).encode()

    def __call__(self, subject: str) -> str:
        return "sub-" + hmac.new(self._key, subject.encode(), hashlib.sha256).hexdigest()[:16]


class JwtVerifier:
    """Verifies signature, ``iss``, ``aud``, ``exp`` and the lifetime; caches verified tokens until
    they expire (a client sends the same token with every request)."""

    def __init__(
        self,
        *,
        public_key: Any = None,
        jwks_url: str | None = None,
        issuer: str = DEFAULT_ISSUER,
        audience: str = DEFAULT_AUDIENCE,
        max_lifetime: timedelta = DEFAULT_MAX_LIFETIME,
        leeway: timedelta = timedelta(seconds=30),
        pseudonymise: Pseudonymiser | None = None,
        cache_size: int = 1024,
    ) -> None:
        if (public_key is None) == (jwks_url is None):
            raise MissingTokenKey("give exactly one of a public key or a JWKS URL")
        self._key = public_key
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300) if jwks_url else None
        self._issuer, self._audience = issuer, audience
        self._max_lifetime = max_lifetime.total_seconds()
        self._leeway = leeway
        self._pseudonymise = pseudonymise or Pseudonymiser()
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._cache_size = cache_size

    async def verify(self, token: str) -> Principal:
        cached = self._verified.get(token)
        if cached is not None:
            principal, expires_at = cached
            if time.time() < expires_at:
                self._verified.move_to_end(token)
                return principal
            del self._verified[token]
        key = self._key
        if self._jwks is not None:
            try:  # the JWKS client fetches over blocking HTTP (rarely: keys are cached)
                key = (await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)).key
            except jwt.PyJWKClientError as exc:
                raise InvalidToken(type(exc).__name__) from exc
            except jwt.PyJWTError as exc:
                raise InvalidToken(type(exc).__name__) from exc
        principal, expires_at = self._decode(token, key)
        self._verified[token] = (principal, expires_at)
        if len(self._verified) > self._cache_size:
            self._verified.popitem(last=False)
        return principal

    def _decode(self, token: str, key: Any) -> tuple[Principal, float]:
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=list(ALGORITHMS),
                issuer=self._issuer,
                audience=self._audience,
                options={"require": ["sub", "org", "role", "exp", "iat", "iss", "aud"]},
                leeway=self._leeway,
            )
            if float(claims["exp"]) - float(claims["iat"]) > self._max_lifetime:
                raise InvalidToken("token lifetime too long")
            subject = str(claims["sub"])
            principal = Principal(
                subject=subject,
                organisation_id=_ORGANISATION_ID.validate_python(claims["org"]),
                role=Role(claims["role"]),
                pseudonym=self._pseudonymise(subject),
            )
            return principal, float(claims["exp"]) + self._leeway.total_seconds()
        except (jwt.PyJWTError, ValueError, TypeError, ValidationError) as exc:
            raise InvalidToken(type(exc).__name__) from exc


def load_public_key(pem: str) -> Any:
    # Environment files often carry a PEM on one line with literal "\n".
    return serialization.load_pem_public_key(pem.replace("\\n", "\n").strip().encode())


def verifier_from_settings(settings: ServiceSettings) -> JwtVerifier:
    """The verifier a service uses; ``MissingTokenKey`` with a clear message when no key is configured."""
    sources = {
        "JWT_PUBLIC_KEY": settings.jwt_public_key,
        "JWT_PUBLIC_KEY_FILE": settings.jwt_public_key_file,
        "JWT_JWKS_URL": settings.jwt_jwks_url,
    }
    given = {name: value for name, value in sources.items() if value}
    if len(given) != 1:
        problem = "none is set" if not given else f"{' and '.join(given)} are all set"
        raise MissingTokenKey(
            "this service verifies bearer tokens with a public key, and there is no default: set exactly one of "
            f"JWT_PUBLIC_KEY (PEM), JWT_PUBLIC_KEY_FILE or JWT_JWKS_URL ({problem}). "
            "`sprakvan up` makes a key pair for local use."
        )
    common: dict[str, Any] = {
        "issuer": settings.jwt_issuer,
        "audience": settings.jwt_audience,
        "max_lifetime": timedelta(seconds=settings.jwt_max_lifetime_seconds),
        "pseudonymise": Pseudonymiser(
            settings.log_pseudonym_key.get_secret_value() if settings.log_pseudonym_key else None
        ),
    }
    if settings.jwt_jwks_url:
        return JwtVerifier(jwks_url=settings.jwt_jwks_url, **common)
    try:
        pem = settings.jwt_public_key or Path(settings.jwt_public_key_file or "").read_text()
        key = load_public_key(pem)
    except (OSError, ValueError, TypeError) as exc:
        raise MissingTokenKey(f"the token public key cannot be read: {type(exc).__name__}: {exc}") from None
    return JwtVerifier(public_key=key, **common)


# -- signing: CLI and tests only ---------------------------------------------------------------------
def generate_private_key_pem() -> str:
    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_key_pem(private_key_pem: str) -> str:
    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


class TokenSigner:
    """Mints tokens with a private key (Ed25519 gives EdDSA, RSA gives RS256)."""

    def __init__(
        self,
        private_key_pem: str,
        *,
        issuer: str = DEFAULT_ISSUER,
        audience: str = DEFAULT_AUDIENCE,
        key_id: str | None = None,  # the JWT header's `kid`, for verifiers that read a JWKS
    ) -> None:
        self._key = serialization.load_pem_private_key(private_key_pem.replace("\\n", "\n").encode(), password=None)
        self._algorithm = "EdDSA" if isinstance(self._key, ed25519.Ed25519PrivateKey) else "RS256"
        self._issuer, self._audience = issuer, audience
        self._headers = {"kid": key_id} if key_id else None

    def mint(
        self, *, subject: str, organisation_id: str, role: Role, ttl: timedelta = DEFAULT_MAX_LIFETIME, **extra: Any
    ) -> str:
        now = datetime.now(UTC)
        claims = {
            "sub": subject,
            "org": _ORGANISATION_ID.validate_python(organisation_id),
            "role": Role(role).value,
            "iss": self._issuer,
            "aud": self._audience,
            "iat": now,
            "exp": now + ttl,
            **extra,
        }
        return jwt.encode(claims, self._key, algorithm=self._algorithm, headers=self._headers)
