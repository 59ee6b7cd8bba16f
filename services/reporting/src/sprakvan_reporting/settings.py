from pydantic import Field
from pydantic_settings import SettingsConfigDict

from sprakvan_shared.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    """Reporting's settings. Its own knobs take the ``REPORTING_`` prefix; the connection settings are the
    unprefixed ``DATABASE_URL`` / ``NATS_URL`` / ``JWT_PUBLIC_KEY`` of ``ServiceSettings``."""

    model_config = SettingsConfigDict(env_prefix="REPORTING_", extra="ignore", populate_by_name=True)

    # A registration is counted once its event is in the read model: when the consumer falls behind (a busy
    # machine stretches each of its round trips), a fetched batch is applied 16 aggregates at a time rather
    # than the kit's 4, and the pool has room for that beside a review's three connections.
    consumer_parallel_aggregates: int = Field(
        16, ge=1, le=64, description="Aggregates of one batch applied at once (each in its own order)."
    )
    db_pool_max: int = 24

    timezone: str = Field("Europe/Stockholm", description="Events' timestamps become local days in this zone.")
    replay_batch_size: int = Field(5000, ge=1, le=100_000, description="Events applied per statement in a replay.")
