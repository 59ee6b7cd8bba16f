import json
from datetime import timedelta
from typing import Annotated, Self

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from sprakvan_shared.auth import DEFAULT_AUDIENCE
from sprakvan_shared.settings import ServiceSettings

from .domain.role_mapping import Grant, parse_grant


class WebSettings(ServiceSettings):
    """The web front's settings: its own knobs take the ``WEB_`` prefix."""

    model_config = SettingsConfigDict(env_prefix="WEB_", extra="ignore", populate_by_name=True)

    # The spreadsheet upload of the history import takes files up to 10 MB (and its form's other fields).
    http_upload_limits: dict[str, int] = Field(
        default_factory=lambda: {"/workspace/settings/import": 10 * 1024 * 1024 + 64 * 1024},
        description="Path prefix -> the largest body there (the import's upload page).",
    )

    intake_url: str = Field(
        "http://127.0.0.1:8001",
        validation_alias=AliasChoices("WEB_INTAKE_URL", "INTAKE_URL", "intake_url"),
        description="Intake's HTTP API (`sprakvan up` sets INTAKE_URL).",
    )
    matching_url: str = Field(
        "http://127.0.0.1:8002",
        validation_alias=AliasChoices("WEB_MATCHING_URL", "MATCHING_URL", "matching_url"),
        description="Matching's HTTP API (`sprakvan up` sets MATCHING_URL).",
    )
    events_url: str = Field(
        "http://127.0.0.1:8003",
        validation_alias=AliasChoices("WEB_EVENTS_URL", "EVENTS_URL", "events_url"),
        description="The events service's HTTP API (`sprakvan up` sets EVENTS_URL).",
    )
    reporting_url: str = Field(
        "http://127.0.0.1:8004",
        validation_alias=AliasChoices("WEB_REPORTING_URL", "REPORTING_URL", "reporting_url"),
        description="Reporting's HTTP API (`sprakvan up` sets REPORTING_URL).",
    )
    # The audience intake verifies (its JWT_AUDIENCE): the deployment-wide default, or "intake" where each
    # service is given its own name as audience.
    intake_audience: str = Field(DEFAULT_AUDIENCE, description="`aud` of the tokens for intake.")
    matching_audience: str = Field(DEFAULT_AUDIENCE, description="`aud` of the tokens for matching.")
    events_audience: str = Field(DEFAULT_AUDIENCE, description="`aud` of the tokens for the events service.")
    reporting_audience: str = Field(DEFAULT_AUDIENCE, description="`aud` of the tokens for reporting.")
    # The token issuer: a PEM private key (Ed25519 or RSA); no default.
    signing_key: SecretStr | None = Field(None, description="PEM private key the web service signs tokens with.")
    signing_key_file: str | None = Field(None, description="File holding that key.")
    token_issuer: str = Field("sprakvan", description="`iss` of the tokens it signs.")
    token_ttl_seconds: int = Field(300, ge=30, le=3600, description="Lifetime of each token it signs.")
    # Sessions and forms.
    session_hours: float = Field(8.0, gt=0)
    cookie_secure: bool = Field(False, description="Send cookies over HTTPS only (set true behind TLS).")
    form_secret: SecretStr | None = Field(
        None, description="Signs the forms' time tokens; the same on every replica (random per process if unset)."
    )
    form_min_seconds: float = Field(3.0, ge=0, description="A sign-up posted sooner than this is a script.")
    form_max_age_minutes: float = Field(120.0, gt=0, description="A form older than this is served again.")
    rate_limit_posts: int = Field(60, ge=1, description="Sign-ups per address and window (a whole SFI class).")
    rate_limit_window_minutes: float = Field(60.0, gt=0)
    trust_forwarded_for: bool = Field(False, description="Take the client address from X-Forwarded-For.")
    # The accessibility statement (Digg's required sections), filled from configuration.
    operator_name: str = Field("Språkvän demo", description="Who runs this site (the statement names them).")
    accessibility_contact: str = Field("tillganglighet@example.org", description="Where to report barriers.")
    statement_assessed_on: str = Field("2026-12-01", description="When the site was last assessed (ISO date).")

    # The first admin of an organisation, created when it has no user yet (`sprakvan up` sets these).
    bootstrap_admin_org: str | None = None
    bootstrap_admin_user: str | None = None
    bootstrap_admin_password: SecretStr | None = None

    # OpenID Connect login, off unless an issuer is set. Without a roles claim its users belong to one
    # organisation and start with `oidc_default_role` until an admin changes it; with one, the provider's
    # groups decide organisation and role at every login. The local admin stays as break-glass.
    oidc_issuer: str | None = Field(None, description="The provider's issuer URL (`iss` of its ID tokens).")
    oidc_discovery_url: str | None = Field(
        None,
        description="Where this service reads the provider's metadata, when it reaches the provider by another "
        "address than browsers do (default: the issuer's /.well-known/openid-configuration).",
    )
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_redirect_uri: str | None = Field(None, description="This site's /login/oidc/callback, as registered.")
    oidc_organisation: str | None = Field(None, description="The organisation the provider's users belong to.")
    oidc_default_role: str = Field("viewer", pattern="^(admin|coordinator|viewer)$")
    oidc_roles_claim: str | None = Field(
        None, description="The ID token claim whose values decide the role: `groups`, `roles`, `realm_access.roles`."
    )
    # JSON, e.g. {"sg-sprakvan-admins": "admin", "sg-sprakvan-ryd": "linkoping:coordinator"}.
    oidc_role_map: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="Claim value -> `role` (of WEB_OIDC_ORGANISATION) or `organisation:role`; no match, no access.",
    )

    @field_validator("oidc_role_map", mode="before")
    @classmethod
    def _role_map_from_json(cls, value: object) -> object:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    @model_validator(mode="after")
    def _role_map_is_complete(self) -> Self:
        if self.oidc_roles_claim and not self.oidc_role_map:
            raise ValueError("WEB_OIDC_ROLES_CLAIM needs WEB_OIDC_ROLE_MAP (claim value -> role)")
        for value in self.oidc_role_map.values():
            parse_grant(value, self.oidc_organisation)  # a typo stops the start, naming the entry
        return self

    @property
    def oidc_grants(self) -> dict[str, Grant]:
        return {value: parse_grant(grant, self.oidc_organisation) for value, grant in self.oidc_role_map.items()}

    @property
    def session_ttl(self) -> timedelta:
        return timedelta(hours=self.session_hours)
