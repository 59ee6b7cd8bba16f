"""A registration over HTTP lands in PostgreSQL, and its event reaches JetStream in the full envelope,
without names or contact details."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg
import httpx
import nats

from sprakvan_shared.contracts.intake import INTAKE_EVENTS, ParticipantRegistered
from sprakvan_shared.contracts.subjects import HEADER_CORRELATION_ID, HEADER_MSG_ID, INTAKE_STREAM, Namespace

from .conftest import ORG_A, eventually
from .factories import established, newcomer
from .streams import PARTICIPANT_AGGREGATES, stream_messages

PERSONAL = ("Amina", "Haddad", "amina.haddad@example.org", "70 123 45 67", "Karin", "Lindqvist")


async def test_registration_lands_in_postgres_and_its_event_on_jetstream(
    intake: httpx.AsyncClient, db: asyncpg.Connection, nc: nats.NATS, ns: Namespace
) -> None:
    response = await intake.post("/participants", json=newcomer(), headers={HEADER_CORRELATION_ID: "req-42"})
    assert response.status_code == 201, response.text
    participant_id = uuid.UUID(response.json()["id"])
    assert response.headers["location"] == f"/participants/{participant_id}"

    row = await db.fetchrow(
        "SELECT organisation_id, role, status, first_name, district FROM participants WHERE id = $1", participant_id
    )
    assert dict(row) == {
        "organisation_id": ORG_A,
        "role": "newcomer",
        "status": "registered",
        "first_name": "Amina",
        "district": "skaggetorp",
    }

    js = nc.jetstream()
    messages = await eventually(
        lambda: stream_messages(js, ns.stream(INTAKE_STREAM), aggregates=PARTICIPANT_AGGREGATES)
    )
    assert len(messages) == 1
    message = messages[0]
    assert message.subject == ns.subject(f"intake.participant.{participant_id}.registered")
    envelope = message.json
    assert set(envelope) == {
        "event_id",
        "type",
        "occurred_at",
        "organisation_id",
        "schema_version",
        "correlation_id",
        "aggregate_id",
        "version",
        "payload",
    }
    assert envelope["type"] == "participant.registered"
    assert envelope["organisation_id"] == ORG_A
    assert envelope["schema_version"] == 1
    assert envelope["correlation_id"] == "req-42"
    datetime.fromisoformat(envelope["occurred_at"])
    assert message.headers[HEADER_MSG_ID] == envelope["event_id"]
    assert message.headers[HEADER_CORRELATION_ID] == "req-42"

    event = ParticipantRegistered.model_validate_json(message.data)
    assert event.payload.participant_id == participant_id
    assert event.payload.district == "skaggetorp"
    assert [skill.code for skill in event.payload.languages] == ["ar", "en"]
    assert event.version == 1 and event.aggregate_id == str(participant_id)
    assert event.payload.status == "registered" and event.payload.programme == "sprakvan"
    for word in PERSONAL:
        assert word not in message.data.decode(), f"{word!r} left intake"
    assert not {"first_name", "last_name", "email", "phone", "consent"} & set(envelope["payload"])

    # Marked published once the relay's transaction commits, right after the publish ack.
    published = (
        "SELECT count(*) = 1 FROM outbox WHERE published_at IS NOT NULL AND event_type = 'participant.registered'"
    )
    await eventually(lambda: db.fetchval(published))


async def test_every_change_publishes_the_full_state_in_order_and_erasure_purges_the_stream(
    intake: httpx.AsyncClient, nc: nats.NATS, ns: Namespace
) -> None:
    created = (await intake.post("/participants", json=established())).json()
    pid = created["id"]
    assert (
        await intake.patch(f"/participants/{pid}", json={"capacity": 3}, headers={"If-Match": "*"})
    ).status_code == 200
    assert (
        await intake.post(
            f"/participants/{pid}/interviews", json={"held_on": "2026-11-20", "notes": "Vill träffa en familj"}
        )
    ).status_code == 201
    assert (await intake.post(f"/participants/{pid}/withdraw", json={"reason": "moved"})).status_code == 200

    js = nc.jetstream()
    messages = await eventually(
        lambda: _when_count(stream_messages(js, ns.stream(INTAKE_STREAM), aggregates=PARTICIPANT_AGGREGATES), 4)
    )
    assert [m.json["type"] for m in messages] == [
        "participant.registered",
        "participant.updated",
        "participant.interviewed",
        "participant.withdrawn",
    ]
    by_type = {cls.EVENT_TYPE: cls for cls in INTAKE_EVENTS}
    events = [by_type[m.json["type"]].model_validate_json(m.data) for m in messages]
    assert [e.version for e in events] == [1, 2, 3, 4]
    assert all(str(e.payload.participant_id) == pid and e.aggregate_id == pid for e in events)
    for message in messages:
        assert "Vill träffa" not in message.data.decode()  # interview notes stay in intake
        assert "Karin" not in message.data.decode()
    # Full state in every event: the last one alone tells everything a consumer needs.
    last = events[-1].payload
    assert (last.status, last.capacity, str(last.interviewed_on)) == ("withdrawn", 3, "2026-11-20")
    assert last.withdrawal_reason == "moved" and last.withdrawn_at is not None

    assert (await intake.delete(f"/participants/{pid}")).status_code == 204

    async def purged() -> list | None:
        found = await stream_messages(js, ns.stream(INTAKE_STREAM), aggregates=PARTICIPANT_AGGREGATES)
        return (
            found if [m.json["type"] for m in found] == ["participant.erased", "erasure_statistics.recorded"] else None
        )

    tombstone, statistics = await eventually(purged)
    assert tombstone.json["version"] == 5 and tombstone.json["payload"]["status"] == "erased"
    assert set(tombstone.json["payload"]) == {"participant_id", "status", "erased_at"}
    assert pid not in statistics.data.decode()
    (record,) = statistics.json["payload"]["records"]
    assert (record["role"], record["district"], record["birth_year"]) == ("established", "innerstaden", 1962)


async def _when_count(messages_coro, count: int):  # noqa: ANN001, ANN202
    messages = await messages_coro
    return messages if len(messages) >= count else None
