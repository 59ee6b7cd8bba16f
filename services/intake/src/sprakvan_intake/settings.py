from pydantic import Field
from pydantic_settings import SettingsConfigDict

from sprakvan_shared.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    """Intake's settings. Its own knobs take the ``INTAKE_`` prefix; the connection settings are the
    unprefixed ``DATABASE_URL`` / ``NATS_URL`` / ``JWT_PUBLIC_KEY`` of ``ServiceSettings``."""

    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore", populate_by_name=True)

    timezone: str = Field("Europe/Stockholm", description="Day boundaries of the registered-between filter.")
