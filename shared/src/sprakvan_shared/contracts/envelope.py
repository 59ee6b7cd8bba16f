"""The integration-event envelope every message between services travels in.

Rules every event follows (the consumer kit relies on them):

* The payload is the aggregate's *full state* after the change, never a delta, and ``version`` grows
  by one with every change of the aggregate. "Highest version wins" is then always right, even when a
  consumer missed events (gaps) or the stream kept only the latest event of each type.
* ``aggregate_id`` is part of the subject (``<service>.<aggregate>.<aggregate_id>.<event>``).
* A tombstone event (``TOMBSTONE = True``, e.g. ``participant.erased``) ends an aggregate for good: the
  consumers' gate never lets an older event recreate it, and the producer purges the aggregate's
  earlier messages from the streams once the tombstone is published.
* Changes are additive: new optional fields only. Consumers ignore fields they do not know
  (``extra="ignore"``), so a producer on a newer schema version never breaks an older consumer.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from .subjects import AggregateId, OrganisationId

PayloadT = TypeVar("PayloadT", bound=BaseModel)


class Payload(BaseModel):
    """Base for event payloads: immutable, tolerant of fields added by newer producers."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class IntegrationEvent(BaseModel, Generic[PayloadT]):
    model_config = ConfigDict(frozen=True, extra="ignore")

    # Set by each concrete event class; the subject is derived from them.
    PRODUCER: ClassVar[str]
    EVENT_TYPE: ClassVar[str]  # "<aggregate>.<event>", e.g. "participant.registered"
    SCHEMA_VERSION: ClassVar[int] = 1
    TOMBSTONE: ClassVar[bool] = False

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str = ""
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    organisation_id: OrganisationId
    schema_version: int = 0
    correlation_id: str | None = None
    aggregate_id: AggregateId
    version: int = Field(ge=1, description="The aggregate's version after this change.")
    payload: PayloadT

    @classmethod
    def aggregate_type(cls) -> str:
        return cls.EVENT_TYPE.split(".", 1)[0]

    @classmethod
    def action(cls) -> str:
        return cls.EVENT_TYPE.split(".", 1)[1]

    @classmethod
    def subject_filter(cls) -> str:
        """The relative subject filter of every event of this type: ``intake.participant.*.registered``."""
        return f"{cls.PRODUCER}.{cls.aggregate_type()}.*.{cls.action()}"

    @classmethod
    def aggregate_subjects(cls, aggregate_id: str) -> str:
        """Every event of one aggregate: ``intake.participant.<id>.*``."""
        return f"{cls.PRODUCER}.{cls.aggregate_type()}.{aggregate_id}.*"

    @property
    def subject(self) -> str:
        """This event's relative subject: ``intake.participant.<id>.registered``."""
        return f"{self.PRODUCER}.{self.aggregate_type()}.{self.aggregate_id}.{self.action()}"

    def model_post_init(self, __context: object) -> None:
        # Fill type and version from the class, so a producer cannot mislabel an event.
        if not self.type:
            object.__setattr__(self, "type", self.EVENT_TYPE)
        if not self.schema_version:
            object.__setattr__(self, "schema_version", self.SCHEMA_VERSION)


def parse_subject(relative_subject: str) -> tuple[str, str, str, str]:
    """``intake.participant.<id>.registered`` -> (producer, aggregate type, aggregate id, action)."""
    parts = relative_subject.split(".")
    if len(parts) != 4:
        raise ValueError(f"not an event subject: {relative_subject!r}")
    producer, aggregate, aggregate_id, action = parts
    return producer, aggregate, aggregate_id, action
