"""A registration over HTTP lands in PostgreSQL, and its event reaches JetStream in the full envelope,
without names or contact details."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg
import httpx
import nats

from sprakvan_shared.contracts.intake import INTAKE_EVENTS, ParticipantRegistered
from sprakvan_shared.contracts.subjects import HEADER_CORRELATION_ID, HEADER_MSG_ID, INTAKE_STREAM

from .conftest import ORG_A, eventually
from .factories import established, newcomer
from .streams import stream_messages

PERSONAL = ("Amina", "Haddad", "amina.haddad@example.org", "70 123 45 67", "Karin", "Lindqvist")


async def test_registration_lands_in_postgres_and_its_event_on_jetstream(
    intake: httpx.AsyncClient, db: asyncpg.Connection, nc: nats.NATS
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
        "district": "Skäggetorp",
    }

    js = nc.jetstream()
    messages = await eventually(lambda: stream_messages(js, INTAKE_STREAM.name))
    assert len(messages) == 1
    message = messages[0]
    assert message.subject == "sprakvan.intake.participant.registered" == ParticipantRegistered.subject()
    envelope = message.json
    assert set(envelope) == {
        "event_id",
        "type",
        "occurred_at",
        "organisation_id",
        "schema_version",
        "correlation_id",
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
    assert event.payload.district == "Skäggetorp"
    assert [skill.code for skill in event.payload.languages] == ["ar", "en"]
    assert event.payload.version == 1
    for word in PERSONAL:
        assert word not in message.data.decode(), f"{word!r} left intake"
    assert not {"first_name", "last_name", "email", "phone", "consent"} & set(envelope["payload"])

    # Marked published once the relay's transaction commits, right after the publish ack.
    await eventually(lambda: db.fetchval("SELECT count(*) = 1 FROM outbox WHERE published_at IS NOT NULL"))


async def test_every_change_publishes_its_event_in_order(intake: httpx.AsyncClient, nc: nats.NATS) -> None:
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
    assert (await intake.delete(f"/participants/{pid}")).status_code == 204

    js = nc.jetstream()
    messages = await eventually(lambda: _when_count(stream_messages(js, INTAKE_STREAM.name), 5))
    assert [m.json["type"] for m in messages] == [
        "participant.registered",
        "participant.updated",
        "participant.interviewed",
        "participant.withdrawn",
        "participant.erased",
    ]
    by_type = {cls.EVENT_TYPE: cls for cls in INTAKE_EVENTS}
    versions = []
    for message in messages:
        event = by_type[message.json["type"]].model_validate_json(message.data)
        assert str(event.payload.participant_id) == pid
        versions.append(getattr(event.payload, "version", None))
        assert "Vill träffa" not in message.data.decode()  # interview notes stay in intake
        assert "Karin" not in message.data.decode()
    assert versions[:4] == [1, 2, 3, 4]
    updated = messages[1].json["payload"]
    assert updated["capacity"] == 3


async def _when_count(messages_coro, count: int):  # noqa: ANN001, ANN202
    messages = await messages_coro
    return messages if len(messages) >= count else None
