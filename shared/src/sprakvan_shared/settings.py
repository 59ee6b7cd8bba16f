"""Settings common to every service. Each service subclasses ``ServiceSettings`` once, with its own
env prefix for its own knobs (``INTAKE_PORT``...).

The connection settings are deployment-wide names without a prefix, because that is how compose and
``sprakvan serve`` hand them to each service process: ``DATABASE_URL`` (the service's own database),
``NATS_URL``, ``JWT_SECRET``, ``LOG_LEVEL``.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from .contracts.subjects import DEFAULT_NAMESPACE, NAMESPACE_PATTERN, Namespace

DEV_JWT_SECRET = "dev-only-secret-change-me-0123456789abcdef"


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
    jwt_secret: SecretStr = Field(
        SecretStr(DEV_JWT_SECRET),
        validation_alias=AliasChoices("JWT_SECRET", "jwt_secret"),
        description="HS256 secret for bearer tokens. The default is for development only.",
    )
    log_level: str = Field("INFO", validation_alias=AliasChoices("LOG_LEVEL", "log_level"))
    log_json: bool = Field(True, validation_alias=AliasChoices("LOG_JSON", "log_json"))

    host: str = Field("127.0.0.1", validation_alias=AliasChoices("HOST", "host"))
    port: int = Field(8000, validation_alias=AliasChoices("PORT", "port"))
    db_pool_min: int = 2
    db_pool_max: int = 10

    # Outbox relay
    relay_batch_size: int = Field(500, ge=1, le=5000)
    relay_poll_interval: float = Field(1.0, gt=0, description="Fallback poll when no NOTIFY arrives.")
    relay_publish_timeout: float = Field(5.0, gt=0)
    relay_linger: float = Field(0.05, ge=0, description="After a wake-up, wait this long to batch more commits.")
    relay_retention_days: int = Field(7, ge=1, description="Published outbox rows are pruned after this.")

    # Consumers: redelivery with backoff, then dead-letter.
    consumer_max_deliveries: int = Field(5, ge=1)
    consumer_backoff_seconds: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0)
    consumer_ack_wait_seconds: float = 60.0
    consumer_batch_size: int = Field(64, ge=1, le=1000, description="Messages fetched at once per consumer.")
    consumer_parallel_aggregates: int = Field(
        4, ge=1, le=64, description="Aggregates of one batch applied at once (each in its own order)."
    )

    @property
    def namespace(self) -> Namespace:
        return Namespace(self.nats_namespace)
