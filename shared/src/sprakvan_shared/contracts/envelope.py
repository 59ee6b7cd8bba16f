"""The integration-event envelope every message between services travels in.

Changes are additive: new optional fields only. Consumers ignore fields they do not know
(``extra="ignore"``), so a producer on a newer schema version never breaks an older consumer.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from .subjects import OrganisationId, event_subject

PayloadT = TypeVar("PayloadT", bound=BaseModel)


class Payload(BaseModel):
    """Base for event payloads: immutable, tolerant of fields added by newer producers."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class IntegrationEvent(BaseModel, Generic[PayloadT]):
    model_config = ConfigDict(frozen=True, extra="ignore")

    # Set by each concrete event class; the subject is derived from them.
    PRODUCER: ClassVar[str]
    EVENT_TYPE: ClassVar[str]
    SCHEMA_VERSION: ClassVar[int] = 1

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str = ""
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    organisation_id: OrganisationId
    schema_version: int = 0
    correlation_id: str | None = None
    payload: PayloadT

    @classmethod
    def subject(cls) -> str:
        return event_subject(cls.PRODUCER, cls.EVENT_TYPE)

    def model_post_init(self, __context: object) -> None:
        # Fill type and version from the class, so a producer cannot mislabel an event.
        if not self.type:
            object.__setattr__(self, "type", self.EVENT_TYPE)
        if not self.schema_version:
            object.__setattr__(self, "schema_version", self.SCHEMA_VERSION)
