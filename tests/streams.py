"""Reading what is in a JetStream stream, message by message, for assertions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError


@dataclass(frozen=True)
class StoredMessage:
    subject: str
    headers: dict[str, str]
    data: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.data)


# What intake's stream holds besides the organisations' configurations (which every test's intake has).
PARTICIPANT_AGGREGATES = frozenset({"participant", "erasure_statistics"})


async def stream_messages(
    js: JetStreamContext, stream: str, subject: str | None = None, *, aggregates: frozenset[str] | None = None
) -> list[StoredMessage]:
    """The stream's messages in order; only those of ``subject``, or of the ``aggregates`` (the subject's
    third token, ``<ns>.<service>.<aggregate>.<id>.<event>``), when given."""
    try:
        info = await js.stream_info(stream)
    except NotFoundError:
        return []
    found: list[StoredMessage] = []
    if not info.state.messages:
        return found
    for sequence in range(max(info.state.first_seq, 1), info.state.last_seq + 1):
        try:
            raw = await js.get_msg(stream, sequence)
        except NotFoundError:  # deleted or purged
            continue
        if aggregates is not None and raw.subject.split(".")[2] not in aggregates:
            continue
        if subject is None or raw.subject == subject:
            found.append(StoredMessage(raw.subject, dict(raw.headers or {}), raw.data or b""))
    return found
