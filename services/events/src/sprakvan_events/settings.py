from datetime import timedelta

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from sprakvan_shared.settings import ServiceSettings


class EventsSettings(ServiceSettings):
    """The events service's settings. Its own knobs take the ``EVENTS_`` prefix; the connection settings
    are the unprefixed ``DATABASE_URL`` / ``NATS_URL`` / ``JWT_PUBLIC_KEY`` of ``ServiceSettings``."""

    model_config = SettingsConfigDict(env_prefix="EVENTS_", extra="ignore", populate_by_name=True)

    horizon_days: int = Field(180, ge=7, le=800, description="Series' occurrences exist this far ahead.")
    extend_every_seconds: float = Field(
        3600, gt=0, description="How often (at most) a request extends every series to the horizon."
    )

    @property
    def horizon(self) -> timedelta:
        return timedelta(days=self.horizon_days)
