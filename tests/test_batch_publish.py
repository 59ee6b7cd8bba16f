"""The relay's batch publisher (``sprakvan_shared.batch_publish``) against a real NATS: what each reply,
or its absence, means for the message it answers."""

from __future__ import annotations

import nats
import nats.errors
import nats.js.errors
import pytest

from sprakvan_shared.batch_publish import PENDING, BatchPublisher
from sprakvan_shared.contracts.subjects import INTAKE_STREAM, Namespace
from sprakvan_shared.messaging import ensure_streams

from .streams import stream_messages


@pytest.fixture
async def publisher(nc: nats.NATS, ns: Namespace):  # noqa: ANN201
    await ensure_streams(nc.jetstream(), [INTAKE_STREAM], ns)
    publisher = BatchPublisher(nc)
    await publisher.start()
    yield publisher
    await publisher.stop()


def subject(ns: Namespace, n: int) -> str:
    return ns.subject(f"intake.participant.p{n}.registered")


async def test_each_message_gets_its_own_outcome_and_the_stream_holds_the_acknowledged_ones(
    publisher: BatchPublisher, nc: nats.NATS, ns: Namespace
) -> None:
    batch = publisher.batch(4)
    await publisher.publish(batch, 0, subject(ns, 0), b"zero", {"Nats-Msg-Id": "m0"})
    await publisher.publish(batch, 1, ns.subject("nowhere.at.all"), b"lost", {"Nats-Msg-Id": "m1"})
    # JetStream refuses it: the stream it expects is not the one that captures the subject.
    await publisher.publish(batch, 2, subject(ns, 2), b"two", {"Nats-Msg-Id": "m2", "Nats-Expected-Stream": "OTHER"})
    await publisher.publish(batch, 3, subject(ns, 0), b"zero again", {"Nats-Msg-Id": "m0"})  # a duplicate
    outcomes = await batch.wait(timeout=5)
    assert outcomes[0] is None and outcomes[3] is None  # JetStream acknowledges a duplicate and drops it
    assert isinstance(outcomes[1], nats.js.errors.NoStreamResponseError)
    assert isinstance(outcomes[2], nats.js.errors.APIError) and outcomes[2].err_code == 10060
    stored = await stream_messages(nc.jetstream(), ns.stream(INTAKE_STREAM))
    assert [m.data for m in stored] == [b"zero"]


async def test_a_message_nobody_acknowledges_is_a_timeout_and_a_late_reply_changes_nothing(
    publisher: BatchPublisher, nc: nats.NATS, ns: Namespace
) -> None:
    silent = await nc.subscribe(ns.subject("silent.x"))  # a responder that never answers: no 503 either
    batch = publisher.batch(2)
    await publisher.publish(batch, 0, subject(ns, 5), b"five", {"Nats-Msg-Id": "m5"})
    await publisher.publish(batch, 1, ns.subject("silent.x"), b"unheard", {"Nats-Msg-Id": "m6"})
    request = await silent.next_msg(timeout=5)
    outcomes = await batch.wait(timeout=0.3)
    assert outcomes[0] is None and isinstance(outcomes[1], TimeoutError)
    await nc.publish(request.reply, b'{"stream":"X","seq":9}')  # an answer after the batch gave up
    await nc.flush()
    assert batch.outcomes[1] is PENDING  # the finished batch took no more replies


async def test_a_message_that_cannot_go_out_fails_alone(
    publisher: BatchPublisher, nc: nats.NATS, ns: Namespace
) -> None:
    batch = publisher.batch(2)
    await publisher.publish(batch, 0, subject(ns, 7), b"x" * (nc.max_payload + 1), {"Nats-Msg-Id": "m7"})
    await publisher.publish(batch, 1, subject(ns, 8), b"fits", {"Nats-Msg-Id": "m8"})
    outcomes = await batch.wait(timeout=5)
    assert isinstance(outcomes[0], nats.errors.MaxPayloadError) and outcomes[1] is None
