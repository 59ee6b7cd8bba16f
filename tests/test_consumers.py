"""Durable consumers: idempotent inbox, redelivery with backoff, dead-lettering, against real servers."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import nats
import pytest

from sprakvan_shared.contracts.intake import ParticipantErased, ParticipantErasedPayload
from sprakvan_shared.contracts.subjects import DEAD_LETTER_STREAM, HEADER_MSG_ID, INTAKE_STREAM, dead_letter_subject
from sprakvan_shared.db import Migration
from sprakvan_shared.inbox import apply_once
from sprakvan_shared.messaging import DLQ_DELIVERIES, DLQ_ERROR, DLQ_ERROR_TYPE, DLQ_ORIGINAL_SUBJECT, consume_events
from sprakvan_shared.runtime import ServiceRuntime
from sprakvan_shared.settings import ServiceSettings

from .conftest import ORG_A, eventually
from .streams import stream_messages

EFFECTS = Migration(
    "probe",
    1,
    "0001_effects.sql",
    "CREATE TABLE effects (id bigint GENERATED ALWAYS AS IDENTITY, participant_id uuid NOT NULL)",
)
CONSUMER = "eraser"


def erased(participant_id: uuid.UUID | None = None) -> ParticipantErased:
    return ParticipantErased(
        organisation_id=ORG_A,
        payload=ParticipantErasedPayload(participant_id=participant_id or uuid.uuid4(), erased_at=datetime.now(UTC)),
    )


Handler = Callable[[ServiceRuntime, ParticipantErased], Awaitable[None]]


@pytest.fixture
def start_probe(
    database_url: str, nats_url: str
) -> Callable[[Handler], contextlib.AbstractAsyncContextManager[ServiceRuntime]]:
    """A small consuming service built from the shared plumbing, as a real service would be."""

    @contextlib.asynccontextmanager
    async def start(handler: Handler) -> AsyncIterator[ServiceRuntime]:
        settings = ServiceSettings(
            DATABASE_URL=database_url,
            NATS_URL=nats_url,
            consumer_max_deliveries=3,
            consumer_backoff_seconds=(0.05, 0.1),
        )
        runtime = ServiceRuntime("probe", settings, migrations=[EFFECTS], streams=[INTAKE_STREAM], relay_outbox=False)

        @consume_events(
            runtime.broker,
            service="probe",
            consumer=CONSUMER,
            event=ParticipantErased,
            stream=INTAKE_STREAM,
            retry=runtime.retry_policy,
        )
        async def on_erased(event: ParticipantErased) -> None:
            await handler(runtime, event)

        await runtime.start()
        try:
            yield runtime
        finally:
            await runtime.stop()

    return start


async def record_effect(runtime: ServiceRuntime, event: ParticipantErased) -> None:
    await apply_once(
        runtime.pool,
        "probe.eraser",
        event.event_id,
        lambda conn: conn.execute("INSERT INTO effects (participant_id) VALUES ($1)", event.payload.participant_id),
    )


async def publish(
    nc: nats.NATS, event: ParticipantErased, *, msg_id: str | None = None, data: bytes | None = None
) -> None:
    await nc.jetstream().publish(
        event.subject(),
        data if data is not None else event.model_dump_json().encode(),
        headers={HEADER_MSG_ID: msg_id or str(event.event_id)},
    )


async def test_a_consumer_that_gets_the_same_event_twice_applies_it_once(start_probe, nc: nats.NATS) -> None:  # noqa: ANN001
    async with start_probe(record_effect) as runtime:
        twice, once = erased(), erased()
        # Two copies under different message ids get past JetStream's de-duplication, as a replay
        # after the duplicate window would.
        await publish(nc, twice, msg_id="copy-1")
        await publish(nc, twice, msg_id="copy-2")
        await publish(nc, once)

        await eventually(lambda: _consumer_done(nc, 3))
        rows = await runtime.pool.fetch("SELECT participant_id FROM effects")
        assert Counter(r["participant_id"] for r in rows) == {
            twice.payload.participant_id: 1,
            once.payload.participant_id: 1,
        }
        assert await runtime.pool.fetchval("SELECT count(*) FROM inbox WHERE consumer = 'probe.eraser'") == 2


async def test_a_failing_handler_is_retried_with_backoff_then_succeeds(start_probe, nc: nats.NATS) -> None:  # noqa: ANN001
    attempts: list[float] = []

    async def flaky(runtime: ServiceRuntime, event: ParticipantErased) -> None:
        attempts.append(asyncio.get_running_loop().time())
        if len(attempts) < 3:
            raise ConnectionError("the database blinked")
        await record_effect(runtime, event)

    async with start_probe(flaky) as runtime:
        await publish(nc, erased())
        await eventually(lambda: runtime.pool.fetchval("SELECT count(*) = 1 FROM effects"))
    assert len(attempts) == 3
    # Redelivered after the nak delays (0.05 s, then 0.1 s), not at once.
    assert attempts[1] - attempts[0] >= 0.04
    assert attempts[2] - attempts[1] >= 0.09
    assert await _dead_letters(nc) == []


async def test_a_handler_that_keeps_failing_dead_letters_the_message_and_the_next_is_processed(
    start_probe,
    nc: nats.NATS,  # noqa: ANN001
) -> None:
    poison = erased()
    calls: Counter[uuid.UUID] = Counter()

    async def fails_on_poison(runtime: ServiceRuntime, event: ParticipantErased) -> None:
        calls[event.event_id] += 1
        if event.event_id == poison.event_id:
            raise ValueError("cannot erase: no such pair")
        await record_effect(runtime, event)

    async with start_probe(fails_on_poison) as runtime:
        good = erased()
        await publish(nc, poison)
        await publish(nc, good)
        await eventually(lambda: runtime.pool.fetchval("SELECT count(*) = 1 FROM effects"))
        dead = await eventually(lambda: _dead_letters(nc))

    assert calls[poison.event_id] == 3  # max_deliveries
    assert calls[good.event_id] == 1
    assert len(dead) == 1
    message = dead[0]
    assert message.subject == dead_letter_subject("probe", CONSUMER)
    assert message.data == poison.model_dump_json().encode()  # byte for byte, ready to replay
    assert message.headers[DLQ_ERROR] == "cannot erase: no such pair"
    assert message.headers[DLQ_ERROR_TYPE] == "ValueError"
    assert message.headers[DLQ_DELIVERIES] == "3"
    assert message.headers[DLQ_ORIGINAL_SUBJECT] == poison.subject()


async def test_an_invalid_message_is_dead_lettered_at_once_with_the_reason(start_probe, nc: nats.NATS) -> None:  # noqa: ANN001
    calls: list[ParticipantErased] = []

    async def handler(runtime: ServiceRuntime, event: ParticipantErased) -> None:
        calls.append(event)
        await record_effect(runtime, event)

    async with start_probe(handler) as runtime:
        await publish(nc, erased(), data=b'{"type": "participant.erased", "payload": {}}')
        await publish(nc, erased())
        await eventually(lambda: runtime.pool.fetchval("SELECT count(*) = 1 FROM effects"))
        dead = await eventually(lambda: _dead_letters(nc))
    assert len(calls) == 1
    assert dead[0].headers[DLQ_ERROR_TYPE] == "ValidationError"
    assert dead[0].headers[DLQ_DELIVERIES] == "1"
    assert "organisation_id" in dead[0].headers[DLQ_ERROR]


async def _dead_letters(nc: nats.NATS):  # noqa: ANN202
    return await stream_messages(nc.jetstream(), DEAD_LETTER_STREAM.name)


async def _consumer_done(nc: nats.NATS, delivered: int) -> bool:
    info = await nc.jetstream().consumer_info(INTAKE_STREAM.name, f"probe-{CONSUMER}")
    return info.delivered.stream_seq >= delivered and info.num_ack_pending == 0 and info.num_pending == 0


async def test_the_correlation_id_travels_from_the_http_request_to_the_consumers_logs(
    start_probe,
    start_intake,
    database_url: str,
    nats_url: str,
    infra,  # noqa: ANN001
) -> None:
    import structlog

    from .conftest import fresh_database
    from .factories import newcomer

    seen: list[tuple[uuid.UUID, str | None]] = []

    async def remember(runtime: ServiceRuntime, event: ParticipantErased) -> None:
        # What every log line of this handler carries (merge_contextvars is in the log pipeline).
        seen.append((event.payload.participant_id, structlog.contextvars.get_contextvars().get("correlation_id")))

    async with start_probe(remember), fresh_database(infra.postgres_url) as intake_db:
        async with start_intake(intake_db, nats_url) as (_, client):
            pid = (await client.post("/participants", json=newcomer())).json()["id"]
            response = await client.delete(f"/participants/{pid}", headers={"X-Correlation-ID": "erase-req-9"})
            assert response.headers["x-correlation-id"] == "erase-req-9"
            await eventually(lambda: _seen(seen))
    assert seen == [(uuid.UUID(pid), "erase-req-9")]


async def _seen(seen: list) -> bool:
    return bool(seen)
