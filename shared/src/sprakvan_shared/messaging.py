"""NATS plumbing: stream declaration from the one definition in ``contracts.subjects``, and the
FastStream broker that documents a service's channels (AsyncAPI). Consumption is in ``consumer.py``."""

from __future__ import annotations

from collections.abc import Iterable

import structlog
from faststream import AckPolicy
from faststream.nats import NatsBroker
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError

from .contracts.subjects import DUPLICATE_WINDOW, Namespace, StreamSpec


def make_broker(nats_url: str, *, service: str) -> NatsBroker:
    return NatsBroker(
        [url.strip() for url in nats_url.split(",")],
        name=f"sprakvan-{service}",
        logger=structlog.get_logger("faststream"),
        ack_policy=AckPolicy.MANUAL,
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
    """Create or update the streams."""
    for spec in specs:
        config = stream_config(spec, namespace, replicas=replicas)
        try:
            await js.add_stream(config)
        except BadRequestError:  # exists with another config: bring it in line
            await js.update_stream(config)
