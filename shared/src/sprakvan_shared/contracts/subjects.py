"""Subjects and JetStream streams: the one place where their names are defined.

Subject scheme: ``sprakvan.<service>.<aggregate>.<event>``, e.g. ``sprakvan.intake.participant.registered``.
Each publishing service owns one stream capturing ``sprakvan.<service>.>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from pydantic import StringConstraints

ROOT = "sprakvan"

# Organisation ids are short slugs ("linkoping", "dalarna-tillsammans"); they appear in tokens and events.
OrganisationId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{1,62}$")]

# JetStream drops a re-published message whose Nats-Msg-Id it has seen within this window. The outbox
# relay republishes only rows it could not mark after a publish, which it retries within seconds, so a
# day is ample and still cheap for the server.
DUPLICATE_WINDOW = timedelta(hours=24)
# How long a stream keeps events: consumers that are down longer than this must be rebuilt from source.
STREAM_MAX_AGE = timedelta(days=90)


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    description: str


def service_stream(service: str) -> StreamSpec:
    return StreamSpec(
        name=f"SPRAKVAN_{service.upper()}",
        subjects=(f"{ROOT}.{service}.>",),
        description=f"Integration events published by the {service} service",
    )


def event_subject(service: str, event_type: str) -> str:
    """``participant.registered`` from intake -> ``sprakvan.intake.participant.registered``."""
    return f"{ROOT}.{service}.{event_type}"


INTAKE_STREAM = service_stream("intake")

# Messages a consumer gave up on, with the reason. One stream for all services:
# ``sprakvan.deadletter.<service>.<consumer>``.
DEAD_LETTER_STREAM = StreamSpec(
    name="SPRAKVAN_DEADLETTER",
    subjects=(f"{ROOT}.deadletter.>",),
    description="Messages that consumers could not process, with the error",
)


def dead_letter_subject(service: str, consumer: str) -> str:
    return f"{ROOT}.deadletter.{service}.{consumer}"


ALL_STREAMS: tuple[StreamSpec, ...] = (INTAKE_STREAM, DEAD_LETTER_STREAM)

# Headers set on every published integration event.
HEADER_MSG_ID = "Nats-Msg-Id"
HEADER_CORRELATION_ID = "X-Correlation-ID"
HEADER_EVENT_TYPE = "Sprakvan-Event-Type"
