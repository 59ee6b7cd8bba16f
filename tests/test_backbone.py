"""The backbone end to end: intake publishes, a second kit service (``tests/probe_service``) consumes,
and an erasure leaves nothing about the person in any stream or log, while the statistics keep them."""

from __future__ import annotations

import uuid

import httpx
import nats
import pytest

from sprakvan_shared.contracts.subjects import DEAD_LETTER_STREAM, Namespace

from . import probe_service as probe
from .factories import established, newcomer
from .kit import RunningService, ServiceStarter, eventually
from .streams import stream_messages

PERSONAL = ("Amina", "Haddad", "amina.haddad@example.org", "70 123 45 67", "Karin", "Lindqvist")


@pytest.fixture(autouse=True)
def _no_faults() -> None:
    probe.FAULTS.clear()
    probe.ATTEMPTS.clear()


async def every_message(nc: nats.NATS, ns: Namespace) -> list:
    js = nc.jetstream()
    found = []
    for info in await js.streams_info():
        if info.config.name.startswith(ns.root.upper() + "_"):
            found += await stream_messages(js, info.config.name)
    return found


async def test_a_second_service_follows_intake_and_an_erasure_reaches_every_stream_and_log(
    intake_service: RunningService,
    start_service: ServiceStarter,
    nc: nats.NATS,
    ns: Namespace,
    capfd: pytest.CaptureFixture[str],
) -> None:
    intake: httpx.AsyncClient = intake_service.client
    kept = (await intake.post("/participants", json=established())).json()["id"]
    person = (await intake.post("/participants", json=newcomer())).json()["id"]
    pid = uuid.UUID(person)
    # The probe fails for good on this person's update: a dead letter that holds their state.
    probe.FAULTS[(pid, "participant.updated")] = -1

    async with start_service(probe.SERVICE, consumer_backoff_seconds=(0.05,), consumer_max_deliveries=2) as svc:

        async def probe_has(participant_id: str, **expected: object) -> bool:
            row = await svc.pool.fetchrow(
                "SELECT status, district FROM probe_participants WHERE participant_id = $1", uuid.UUID(participant_id)
            )
            return row is not None and all(row[k] == v for k, v in expected.items())

        await eventually(lambda: probe_has(kept, status="registered"))
        await eventually(lambda: probe_has(person, status="registered"))
        assert (
            await intake.patch(f"/participants/{person}", json={"district": "berga"}, headers={"If-Match": "*"})
        ).status_code == 200
        assert (
            await intake.post(f"/participants/{kept}/interviews", json={"held_on": "2026-11-20"})
        ).status_code == 201
        await eventually(lambda: probe_has(kept, status="interviewed"))

        async def dead_lettered() -> list:
            messages = await stream_messages(nc.jetstream(), ns.stream(DEAD_LETTER_STREAM))
            return [m for m in messages if person in m.subject]

        await eventually(dead_lettered)

        assert (await intake.delete(f"/participants/{person}")).status_code == 204

        async def gone() -> bool:
            return not await probe_has(person) and not await dead_lettered()

        await eventually(gone)

        async def purged() -> list | None:
            about = [m for m in await every_message(nc, ns) if person in m.subject or person.encode() in m.data]
            return about if [m.json["type"] for m in about] == ["participant.erased"] else None

        (tombstone,) = await eventually(purged)
        assert set(tombstone.json["payload"]) == {"participant_id", "status", "erased_at"}
        assert await probe_has(kept, status="interviewed")

    everything = await every_message(nc, ns)
    statistics = [m for m in everything if m.json.get("type") == "erasure_statistics.recorded"]
    (record,) = statistics[-1].json["payload"]["records"]
    assert (record["role"], record["gender"], record["district"]) == ("newcomer", "woman", "berga")
    assert person not in statistics[-1].data.decode()
    for message in everything:
        text = message.data.decode()
        assert not any(word in text for word in PERSONAL)
    logs = capfd.readouterr()
    assert not any(word in logs.out + logs.err for word in PERSONAL)
