"""What the pages share: the settings, the token issuer, the intake client, the form secret, the session."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import asyncpg
from fastapi import Request

from sprakvan_shared.contracts.intake import OrganisationConfiguration

from ..adapters.intake import IntakeClient
from ..adapters.oidc import OidcClient
from ..adapters.services import ServiceClient
from ..adapters.tokens import AsymmetricIssuer, TokenIssuer
from ..domain.spam import RateLimit
from ..service_layer.accounts import Session, session_of
from ..settings import WebSettings

SESSION_COOKIE = "sprakvan_session"


def make_issuer(settings: WebSettings) -> TokenIssuer:
    ttl = timedelta(seconds=settings.token_ttl_seconds)
    pem = settings.signing_key.get_secret_value() if settings.signing_key else None
    if pem is None and settings.signing_key_file:
        pem = Path(settings.signing_key_file).read_text()
    if not pem:
        # No default key, on purpose (as for the services' public key): a default would let anyone mint.
        raise RuntimeError(
            "the web front signs the tokens: set WEB_SIGNING_KEY_FILE (or WEB_SIGNING_KEY) to the PEM private key "
            "whose public half the services verify with (`sprakvan up` passes its own)"
        )
    return AsymmetricIssuer(pem, issuer=settings.token_issuer, ttl=ttl)


@dataclass
class Web:
    settings: WebSettings
    issuer: TokenIssuer
    intake: IntakeClient
    matching: ServiceClient
    events: ServiceClient
    reporting: ServiceClient
    form_secret: bytes
    rate_limit: RateLimit
    oidc: OidcClient | None
    # Organisations' configurations as last fetched from intake: (monotonic time, configuration or None).
    configurations: dict[str, tuple[float, OrganisationConfiguration | None]] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: WebSettings) -> Web:
        issuer = make_issuer(settings)
        secret = settings.form_secret.get_secret_value().encode() if settings.form_secret else secrets.token_bytes(32)
        return cls(
            settings=settings,
            issuer=issuer,
            intake=IntakeClient(settings.intake_url, issuer, audience=settings.intake_audience),
            matching=ServiceClient("matching", settings.matching_url, issuer, audience=settings.matching_audience),
            events=ServiceClient("events", settings.events_url, issuer, audience=settings.events_audience),
            reporting=ServiceClient("reporting", settings.reporting_url, issuer, audience=settings.reporting_audience),
            form_secret=secret,
            rate_limit=RateLimit(settings.rate_limit_posts, timedelta(minutes=settings.rate_limit_window_minutes)),
            oidc=_oidc(settings),
        )


def _oidc(settings: WebSettings) -> OidcClient | None:
    if not settings.oidc_issuer:
        return None
    if not (settings.oidc_client_id and settings.oidc_redirect_uri):
        raise RuntimeError("OpenID Connect needs WEB_OIDC_CLIENT_ID and WEB_OIDC_REDIRECT_URI")
    if not (settings.oidc_organisation or settings.oidc_roles_claim):
        raise RuntimeError("OpenID Connect needs WEB_OIDC_ORGANISATION (or WEB_OIDC_ROLES_CLAIM and its map)")
    secret = settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else ""
    return OidcClient(
        settings.oidc_issuer,
        settings.oidc_client_id,
        secret,
        settings.oidc_redirect_uri,
        discovery_url=settings.oidc_discovery_url or None,
    )


def secrets_match(expected: str, sent: object) -> bool:
    """A token the browser sent against ours, in constant time; as bytes, since ``compare_digest`` raises on
    a str that is not ASCII (a forged token would otherwise be a 500)."""
    return secrets.compare_digest(expected.encode(), str(sent).encode("utf-8", "surrogatepass"))


def web_of(request: Request) -> Web:
    return request.app.state.web


def pool_of(request: Request) -> asyncpg.Pool:
    return request.app.state.runtime.pool


async def load_session(request: Request) -> Session | None:
    token = request.cookies.get(SESSION_COOKIE)
    session = await session_of(pool_of(request), token) if token else None  # anonymous: no query
    request.state.session = session
    return session


def client_address(request: Request) -> str:
    if web_of(request).settings.trust_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for", "").split(",")[0].strip()
        if forwarded:
            return forwarded
    return request.client.host if request.client else "unknown"
