"""NATS plumbing: the broker factory, stream declaration, and durable consumers with a chosen ack policy.

FastStream's default for NATS terminates a message whose handler raises, which would silently drop
it. Our consumers ack by hand (``AckPolicy.MANUAL``) instead:

* success: ack;
* the handler raised: nak with a growing delay (``RetryPolicy.backoff``) so the message is redelivered;
* still failing after ``max_deliveries`` attempts, or the message is not a valid event at all:
  publish it, with the reason in headers, to ``sprakvan.deadletter.<service>.<consumer>`` and ack it,
  so the consumer moves on to the next message.

The JetStream consumer itself has no ``max_deliver`` limit: a message is never dropped by the server
because a process crashed while handling it; only this code gives up on a message, and then only into
the dead-letter stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

import structlog
from faststream import AckPolicy
from faststream.nats import ConsumerConfig, JStream, NatsBroker, NatsMessage, PullSub
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError
from pydantic import ValidationError

from .contracts.envelope import IntegrationEvent
from .contracts.subjects import (
    DEAD_LETTER_STREAM,
    DUPLICATE_WINDOW,
    HEADER_MSG_ID,
    Namespace,
    StreamSpec,
    dead_letter_subject,
)
from .logging import bind_correlation_id

log = structlog.get_logger(__name__)

EventT = TypeVar("EventT", bound=IntegrationEvent)

# Dead-letter headers: the original message stays byte for byte in the body, the reason goes here.
DLQ_ERROR = "Sprakvan-Error"
DLQ_ERROR_TYPE = "Sprakvan-Error-Type"
DLQ_ORIGINAL_SUBJECT = "Sprakvan-Original-Subject"
DLQ_ORIGINAL_SEQUENCE = "Sprakvan-Original-Sequence"
DLQ_DELIVERIES = "Sprakvan-Deliveries"
DLQ_CONSUMER = "Sprakvan-Consumer"


def make_broker(nats_url: str, *, service: str) -> NatsBroker:
    return NatsBroker(
        [url.strip() for url in nats_url.split(",")],
        name=f"sprakvan-{service}",
        # Never give up reconnecting: a service outlives any NATS restart.
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        connect_timeout=5,
        logger=structlog.get_logger("faststream"),
        ack_policy=AckPolicy.MANUAL,
        graceful_timeout=10.0,
    )


def stream_config(spec: StreamSpec, namespace: Namespace, *, replicas: int = 1) -> StreamConfig:
    """A stream's server configuration, from its one definition in ``contracts.subjects``."""
    return StreamConfig(
        name=namespace.stream(spec),
        subjects=[namespace.subject(s) for s in spec.subjects],
        description=spec.description,
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=spec.max_age.total_seconds() if spec.max_age else 0,
        max_msgs_per_subject=1 if spec.compacted else -1,
        duplicate_window=DUPLICATE_WINDOW.total_seconds(),
        num_replicas=replicas,
    )


async def ensure_streams(
    js: JetStreamContext, specs: Iterable[StreamSpec], namespace: Namespace, *, replicas: int = 1
) -> None:
    """Create or update the streams from their single definition in ``contracts.subjects``."""
    for spec in specs:
        config = stream_config(spec, namespace, replicas=replicas)
        try:
            await js.add_stream(config)
        except BadRequestError:  # exists with another config: bring it in line
            await js.update_stream(config)


@dataclass(frozen=True)
class RetryPolicy:
    max_deliveries: int = 5
    backoff: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0)
    ack_wait: float = 60.0

    def delay_after(self, delivery: int) -> float:
        return self.backoff[min(delivery, len(self.backoff)) - 1] if self.backoff else 0.0


def _header_safe(text: str, limit: int = 500) -> str:
    return " ".join(text.split())[:limit]


async def dead_letter(
    broker: NatsBroker, msg: NatsMessage, *, service: str, consumer: str, error: BaseException, deliveries: int
) -> None:
    raw = msg.raw_message
    sequence = raw.metadata.sequence.stream
    await broker.publish(
        raw.data,
        subject=dead_letter_subject(service, consumer),
        stream=DEAD_LETTER_STREAM.name,
        headers={
            # Idempotent: a crash between this publish and the ack does not dead-letter twice.
            HEADER_MSG_ID: f"{service}.{consumer}.{raw.metadata.stream}.{sequence}",
            DLQ_ERROR: _header_safe(str(error)) or type(error).__name__,
            DLQ_ERROR_TYPE: type(error).__name__,
            DLQ_ORIGINAL_SUBJECT: raw.subject,
            DLQ_ORIGINAL_SEQUENCE: str(sequence),
            DLQ_DELIVERIES: str(deliveries),
            DLQ_CONSUMER: f"{service}.{consumer}",
        },
    )


def consume_events(
    broker: NatsBroker,
    *,
    service: str,
    consumer: str,
    event: type[EventT],
    stream: StreamSpec,
    retry: RetryPolicy = RetryPolicy(),
    batch_size: int = 16,
) -> Callable[[Callable[[EventT], Awaitable[None]]], Callable[[EventT], Awaitable[None]]]:
    """Register ``handler(event)`` on a durable pull consumer ``<service>-<consumer>`` for one event type.

    The handler should be idempotent through ``inbox.apply_once``: JetStream delivers at least once.
    """
    durable = f"{service}-{consumer}"

    def register(handler: Callable[[EventT], Awaitable[None]]) -> Callable[[EventT], Awaitable[None]]:
        @broker.subscriber(
            event.subject(),
            stream=JStream(stream.name, declare=False),
            durable=durable,
            pull_sub=PullSub(batch_size=batch_size, timeout=2.0),
            ack_policy=AckPolicy.MANUAL,
            config=ConsumerConfig(ack_wait=retry.ack_wait, max_deliver=-1),
            title=f"{durable}:{event.EVENT_TYPE}",
        )
        async def on_message(msg: NatsMessage) -> None:
            deliveries = msg.raw_message.metadata.num_delivered or 1
            try:
                parsed = event.model_validate_json(msg.raw_message.data)
            except ValidationError as exc:  # a poison message: retrying cannot help
                log.error("event_invalid", consumer=durable, errors=exc.error_count())
                await dead_letter(broker, msg, service=service, consumer=consumer, error=exc, deliveries=deliveries)
                await msg.ack()
                return
            bind_correlation_id(parsed.correlation_id)
            bound = log.bind(consumer=durable, event_id=str(parsed.event_id), event_type=parsed.type)
            try:
                await handler(parsed)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if deliveries >= retry.max_deliveries:
                    bound.error("event_dead_lettered", deliveries=deliveries, error=type(exc).__name__)
                    await dead_letter(broker, msg, service=service, consumer=consumer, error=exc, deliveries=deliveries)
                    await msg.ack()
                else:
                    delay = retry.delay_after(deliveries)
                    bound.warning(
                        "event_failed_will_retry", deliveries=deliveries, retry_in=delay, error=type(exc).__name__
                    )
                    await msg.nack(delay=delay)
            else:
                await msg.ack()
                bound.debug("event_handled", deliveries=deliveries)

        return handler

    return register
