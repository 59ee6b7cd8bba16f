from pydantic import Field
from pydantic_settings import SettingsConfigDict

from sprakvan_shared.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    """Reporting's settings. Its own knobs take the ``REPORTING_`` prefix; the connection settings are the
    unprefixed ``DATABASE_URL`` / ``NATS_URL`` / ``JWT_PUBLIC_KEY`` of ``ServiceSettings``."""

    model_config = SettingsConfigDict(env_prefix="REPORTING_", extra="ignore", populate_by_name=True)

    timezone: str = Field("Europe/Stockholm", description="Events' timestamps become local days in this zone.")
    replay_batch_size: int = Field(5000, ge=1, le=100_000, description="Events applied per statement in a replay.")
