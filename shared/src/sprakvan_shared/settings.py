"""Settings common to every service. Each service subclasses ``ServiceSettings`` once, with its own
env prefix for its own knobs (``INTAKE_PORT``...).

The connection settings are deployment-wide names without a prefix, because that is how compose and
``sprakvan serve`` hand them to each service process: ``DATABASE_URL`` (the service's own database),
``NATS_URL``, ``JWT_PUBLIC_KEY`` (or ``JWT_PUBLIC_KEY_FILE`` / ``JWT_JWKS_URL``), ``JWT_ISSUER``,
``JWT_AUDIENCE``, ``LOG_LEVEL``. There is no default token key: see ``auth.verifier_from_settings``.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from .contracts.subjects import DEFAULT_NAMESPACE, NAMESPACE_PATTERN, Namespace


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/postgres",
        validation_alias=AliasChoices("DATABASE_URL", "database_url"),
        description="PostgreSQL DSN of this service's own database.",
    )
    nats_url: str = Field(
        "nats://127.0.0.1:4222",
        validation_alias=AliasChoices("NATS_URL", "nats_url"),
        description="NATS server(s), comma separated.",
    )
    nats_namespace: str = Field(
        DEFAULT_NAMESPACE,
        pattern=NAMESPACE_PATTERN.pattern,
        validation_alias=AliasChoices("NATS_NAMESPACE", "nats_namespace"),
        description="First token of every subject and stream name; deployments (or tests) sharing a NATS differ here.",
    )
    nats_stream_replicas: int = Field(
        1, ge=1, le=5, validation_alias=AliasChoices("NATS_STREAM_REPLICAS", "nats_stream_replicas")
    )
    # Bearer tokens: services verify only, with a public key (no default, on purpose).
    jwt_public_key: str | None = Field(None, validation_alias=_env("JWT_PUBLIC_KEY"), description="PEM public key.")
    jwt_public_key_file: str | None = Field(None, validation_alias=_env("JWT_PUBLIC_KEY_FILE"))
    jwt_jwks_url: str | None = Field(
        None, validation_alias=_env("JWT_JWKS_URL"), description="An OIDC provider's JWKS endpoint."
    )
    jwt_issuer: str = Field("sprakvan", validation_alias=_env("JWT_ISSUER"), description="Required `iss`.")
    jwt_audience: str = Field("sprakvan", validation_alias=_env("JWT_AUDIENCE"), description="Required `aud`.")
    jwt_max_lifetime_seconds: int = Field(
        3600, ge=60, validation_alias=_env("JWT_MAX_LIFETIME_SECONDS"), description="Longest accepted exp - iat."
    )
    log_pseudonym_key: SecretStr | None = Field(
        None,
        validation_alias=_env("LOG_PSEUDONYM_KEY"),
        description="HMAC key for the token subject's pseudonym in logs; set the same in every service to "
        "correlate, else random per process.",
    )
    log_level: str = Field("INFO", validation_alias=AliasChoices("LOG_LEVEL", "log_level"))
    log_json: bool = Field(True, validation_alias=AliasChoices("LOG_JSON", "log_json"))

    host: str = Field("127.0.0.1", validation_alias=AliasChoices("HOST", "host"))
    port: int = Field(8000, validation_alias=AliasChoices("PORT", "port"))
    db_pool_min: int = 2
    db_pool_max: int = 10
    db_command_timeout: float = Field(10.0, gt=0, description="Seconds any statement may run (client side).")
    db_acquire_timeout: float = Field(5.0, gt=0, description="Seconds a request waits for a free connection.")
    db_lock_timeout: float = Field(3.0, gt=0, description="Seconds a statement waits for a lock (server side).")

    # HTTP
    http_max_body_bytes: int = Field(1_048_576, ge=1024, description="Larger request bodies get 413.")
    http_upload_limits: dict[str, int] = Field(
        default_factory=dict,
        description="Path prefix -> the largest body there, for the few paths that take a file (JSON in the "
        'environment, e.g. {"/uploads": 10485760}); every other path keeps http_max_body_bytes.',
    )
    http_native_telemetry: bool = Field(
        False,
        description="FastAPI's native OpenTelemetry (a span, metrics and logs per request through the global "
        "providers). Off by default: no service configures a provider, and looking the three global ones up "
        "cost every request 6.9 µs (0.2 µs off).",
    )
    idempotency_ttl_hours: float = Field(24.0, gt=0, description="How long an Idempotency-Key is remembered.")

    # Outbox relay
    relay_batch_size: int = Field(500, ge=1, le=5000)
    relay_poll_interval: float = Field(1.0, gt=0, description="Fallback poll when no NOTIFY arrives.")
    relay_publish_timeout: float = Field(5.0, gt=0)
    relay_linger: float = Field(0.02, ge=0, description="After a wake-up, wait this long to batch more commits.")
    relay_retention_days: int = Field(7, ge=2, description="Published outbox rows are pruned after this.")
    relay_process: bool = Field(
        True,
        description="Run the outbox relay in a child process of its own (relay_process.py), not in the HTTP "
        "worker's event loop.",
    )

    # Consumers: redelivery with backoff, then dead-letter.
    consumer_max_deliveries: int = Field(5, ge=1)
    consumer_backoff_seconds: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0)
    consumer_ack_wait_seconds: float = 60.0
    consumer_fetch_timeout_seconds: float = Field(
        1.0,
        gt=0,
        le=30,
        description="An idle consumer's wait for messages: a stop waits out the current one (the tests use less).",
    )
    consumer_batch_size: int = Field(64, ge=1, le=1000, description="Messages fetched at once per consumer.")
    consumer_parallel_aggregates: int = Field(
        4, ge=1, le=64, description="Aggregates of one batch applied at once (each in its own order)."
    )

    @property
    def namespace(self) -> Namespace:
        return Namespace(self.nats_namespace)
