"""Subjects and JetStream streams: the one place where their names and their retention are defined.

Subject scheme (decided once; changes are additive):

    <ns>.<service>.<aggregate>.<aggregate_id>.<event>
    sprakvan.intake.participant.6f1c2e0a-...-9b.registered

* ``<ns>`` is the deployment's namespace (``NATS_NAMESPACE``, default ``sprakvan``). Two deployments,
  or two tests, share one NATS without seeing each other's streams.
* The aggregate id is a subject token, so one aggregate's messages can be purged (erasure) and a
  consumer can partition by aggregate.
* Code works with *relative* subjects (``intake.participant.<id>.registered``); ``Namespace.subject``
  puts the namespace in front at the edge (publishing, subscribing, purging).

Retention: each publishing service owns one stream ``<NS>_<SERVICE>`` capturing ``<ns>.<service>.>``,
with no age limit and ``max_msgs_per_subject = 1``. Every event carries its aggregate's full state, so
the latest event of each type per aggregate is all a consumer ever needs: the stream is a compacted
log that stays as small as the data, and a service that joins years later still learns the current
state of every aggregate and every date in its life (what a funder report compares year on year).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from pydantic import StringConstraints

DEFAULT_NAMESPACE = "sprakvan"
NAMESPACE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

# Organisation ids are short slugs ("linkoping", "dalarna-tillsammans"); they appear in tokens and events.
OrganisationId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{1,62}$")]
# An aggregate id is one subject token: a UUID or a slug, never a dot, space or wildcard.
AGGREGATE_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
AggregateId = Annotated[str, StringConstraints(pattern=AGGREGATE_ID_PATTERN)]

# JetStream drops a re-published message whose Nats-Msg-Id it has seen within this window. The outbox
# relay republishes only rows it could not mark after a publish, which it retries within seconds, so a
# day is ample and still cheap for the server.
DUPLICATE_WINDOW = timedelta(hours=24)
# Dead letters wait for an operator (``sprakvan deadletters``) this long; an erasure purges them earlier.
DEAD_LETTER_MAX_AGE = timedelta(days=180)


@dataclass(frozen=True)
class StreamSpec:
    """A stream, namespace-free. ``compacted`` streams keep the latest message per subject forever."""

    key: str  # INTAKE -> stream <NS>_INTAKE
    subjects: tuple[str, ...]  # relative
    description: str
    compacted: bool = True
    max_age: timedelta | None = None


def service_stream(service: str) -> StreamSpec:
    return StreamSpec(
        key=service.upper(),
        subjects=(f"{service}.>",),
        description=f"Integration events published by the {service} service (latest per aggregate and type)",
    )


INTAKE_STREAM = service_stream("intake")
MATCHING_STREAM = service_stream("matching")
EVENTS_STREAM = service_stream("events")
REPORTING_STREAM = service_stream("reporting")

# Messages a consumer gave up on (``deadletter.<consumer service>.<original relative subject>``) and
# messages an operator sends back to one consumer (``redrive.<consumer service>.<original subject>``).
DEAD_LETTER_STREAM = StreamSpec(
    key="DEADLETTER",
    subjects=("deadletter.>", "redrive.>"),
    description="Messages that consumers could not process, with the reason in headers; and redrives",
    compacted=False,
    max_age=DEAD_LETTER_MAX_AGE,
)

ALL_STREAMS: tuple[StreamSpec, ...] = (
    INTAKE_STREAM,
    MATCHING_STREAM,
    EVENTS_STREAM,
    REPORTING_STREAM,
    DEAD_LETTER_STREAM,
)


def stream_of_subject(relative_subject: str) -> StreamSpec:
    """The stream that captures a relative subject (by its first token)."""
    first = relative_subject.split(".", 1)[0]
    for spec in ALL_STREAMS:
        if any(pattern.split(".", 1)[0] == first for pattern in spec.subjects):
            return spec
    raise LookupError(f"no stream captures {relative_subject!r}")


def dead_letter_subject(consumer_service: str, original_relative: str) -> str:
    return f"deadletter.{consumer_service}.{original_relative}"


def redrive_subject(consumer_service: str, original_relative: str) -> str:
    return f"redrive.{consumer_service}.{original_relative}"


@dataclass(frozen=True)
class Namespace:
    """Turns relative subjects and stream keys into the names on the server."""

    root: str = DEFAULT_NAMESPACE

    def __post_init__(self) -> None:
        if not NAMESPACE_PATTERN.match(self.root):
            raise ValueError(f"NATS namespace must match {NAMESPACE_PATTERN.pattern}: {self.root!r}")

    def subject(self, relative: str) -> str:
        return f"{self.root}.{relative}"

    def relative(self, subject: str) -> str:
        prefix = f"{self.root}."
        if not subject.startswith(prefix):
            raise ValueError(f"{subject!r} is not in namespace {self.root!r}")
        return subject[len(prefix) :]

    def stream(self, spec: StreamSpec) -> str:
        return f"{self.root.upper()}_{spec.key}"


# Headers set on every published integration event.
HEADER_MSG_ID = "Nats-Msg-Id"
HEADER_CORRELATION_ID = "X-Correlation-ID"
HEADER_EVENT_TYPE = "Sprakvan-Event-Type"
