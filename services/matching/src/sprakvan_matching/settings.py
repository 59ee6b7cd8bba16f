from pydantic import Field
from pydantic_settings import SettingsConfigDict

from sprakvan_shared.settings import ServiceSettings


class MatchingSettings(ServiceSettings):
    """Matching's settings. Its own knobs take the ``MATCHING_`` prefix; the connection settings are the
    unprefixed ``DATABASE_URL`` / ``NATS_URL`` / ``JWT_PUBLIC_KEY`` of ``ServiceSettings``."""

    model_config = SettingsConfigDict(env_prefix="MATCHING_", extra="ignore", populate_by_name=True)

    timezone: str = Field("Europe/Stockholm", description="What 'today' is for waiting times and follow-ups.")
    lock_timeout_ms: int = Field(
        5000, ge=100, description="How long a write waits for another coordinator's lock on the same people."
    )
