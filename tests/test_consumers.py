"""The consumer side of the backbone on real NATS and PostgreSQL: one ordered, gated durable consumer
per (service, stream), through a minimal second service (``tests/probe_service``) started by the kit."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import nats
import pytest
from nats.js.api import ConsumerConfig

from sprakvan_shared.consumer import (
    DLQ_DELIVERIES,
    DLQ_ERROR,
    DLQ_ERROR_TYPE,
    DLQ_ORIGINAL_SUBJECT,
    ConsumerRunner,
    EventConsumer,
    IncompatibleServer,
    RetryPolicy,
    require_filters,
)
from sprakvan_shared.contracts.intake import (
    INTAKE_STREAM,
    ParticipantErased,
    ParticipantErasedPayload,
    ParticipantRegistered,
    ParticipantState,
    ParticipantUpdated,
    ParticipantWithdrawn,
)
from sprakvan_shared.contracts.subjects import DEAD_LETTER_STREAM, HEADER_MSG_ID, Namespace

from . import probe_service as probe
from .conftest import ORG_A, eventually
from .kit import RunningService, ServiceStarter
from .streams import stream_messages


def state(pid: uuid.UUID, *, status: str = "registered", district: str = "ryd") -> ParticipantState:
    return ParticipantState(
        participant_id=pid,
        programme="sprakvan",
        role="newcomer",
        status=status,
        gender="woman",
        birth_year=1990,
        district=district,
        swedish_level="A1",
        referral_source="sfi",
        registered_at=datetime(2026, 11, 1, tzinfo=UTC),
    )


def participant_event(cls: type, pid: uuid.UUID, version: int, **fields: str):  # noqa: ANN201
    return cls(organisation_id=ORG_A, aggregate_id=str(pid), version=version, payload=state(pid, **fields))


def erased(pid: uuid.UUID, version: int) -> ParticipantErased:
    return ParticipantErased(
        organisation_id=ORG_A,
        aggregate_id=str(pid),
        version=version,
        payload=ParticipantErasedPayload(participant_id=pid, erased_at=datetime.now(UTC)),
    )


async def publish(nc: nats.NATS, ns: Namespace, event, *, msg_id: str | None = None, data: bytes | None = None) -> None:  # noqa: ANN001
    await nc.jetstream().publish(
        ns.subject(event.subject),
        data if data is not None else event.model_dump_json().encode(),
        stream=ns.stream(INTAKE_STREAM),
        headers={HEADER_MSG_ID: msg_id or str(event.event_id)},
    )


@pytest.fixture(autouse=True)
def _no_faults() -> None:
    probe.FAULTS.clear()
    probe.ATTEMPTS.clear()


@pytest.fixture
async def probe_service(start_service: ServiceStarter) -> AsyncIterator[RunningService]:
    async with start_service(
        probe.SERVICE, consumer_backoff_seconds=(0.05, 0.1, 0.2), consumer_max_deliveries=3
    ) as svc:
        yield svc


async def stored(svc: RunningService, pid: uuid.UUID) -> dict | None:
    row = await svc.pool.fetchrow(
        "SELECT status, version, district, applied FROM probe_participants WHERE participant_id = $1", pid
    )
    return dict(row) if row else None


async def consumer_done(svc: RunningService) -> bool:
    (runner,) = svc.runtime.runners
    return await runner.lag() == 0


async def dead_letters(nc: nats.NATS, ns: Namespace) -> list:
    messages = await stream_messages(nc.jetstream(), ns.stream(DEAD_LETTER_STREAM))
    return [m for m in messages if m.subject.startswith(ns.subject("deadletter."))]


async def test_a_retried_registration_never_brings_back_an_erased_participant(
    start_service: ServiceStarter, nc: nats.NATS, ns: Namespace
) -> None:
    pid = uuid.uuid4()
    probe.FAULTS[(pid, "participant.registered")] = 1  # fails once, is retried after the erasure
    # The erasure is published only once the registration has failed, and the retry waits long enough
    # for it to be applied first: published together, one batch would send both back and retry them in
    # order (the registration applied, then the erasure), and the gate would have nothing to stop.
    async with start_service(
        probe.SERVICE, consumer_backoff_seconds=(3.0,), consumer_max_deliveries=3
    ) as probe_service:
        await publish(nc, ns, participant_event(ParticipantRegistered, pid, 1))
        await eventually(lambda: _attempts(pid, "participant.registered", 1))
        await publish(nc, ns, erased(pid, 2))
        (runner,) = probe_service.runtime.runners

        async def settled() -> bool:  # the erasure applied, the retried registration stopped at the gate
            return runner.applied == 1 and runner.skipped == 1 and await consumer_done(probe_service)

        await eventually(settled)
        assert await stored(probe_service, pid) is None
        assert probe.ATTEMPTS[(pid, "participant.registered")] == 1  # the retry never reached the handler
        gate = await probe_service.pool.fetchrow(
            "SELECT version, tombstone FROM consumed_aggregates WHERE aggregate_id = $1", str(pid)
        )
        assert (gate["version"], gate["tombstone"]) == (2, True)


async def _attempts(pid: uuid.UUID, event_type: str, at_least: int) -> bool:
    return probe.ATTEMPTS.get((pid, event_type), 0) >= at_least


async def test_an_update_that_arrives_before_the_registration_wins(
    probe_service: RunningService, nc: nats.NATS, ns: Namespace
) -> None:
    pid = uuid.uuid4()
    await publish(nc, ns, participant_event(ParticipantUpdated, pid, 2, district="berga"))
    await publish(nc, ns, participant_event(ParticipantRegistered, pid, 1, district="ryd"))
    await eventually(lambda: consumer_done(probe_service))
    assert await stored(probe_service, pid) == {"status": "registered", "version": 2, "district": "berga", "applied": 1}


async def test_duplicates_and_stale_versions_change_nothing_and_gaps_are_applied(
    probe_service: RunningService, nc: nats.NATS, ns: Namespace
) -> None:
    pid = uuid.uuid4()
    first = participant_event(ParticipantRegistered, pid, 1)
    await publish(nc, ns, first, msg_id="copy-1")
    await publish(nc, ns, first, msg_id="copy-2")  # the same event again, past the duplicate window
    await publish(nc, ns, participant_event(ParticipantWithdrawn, pid, 4, status="withdrawn"))  # a gap: 2, 3 missing
    await publish(nc, ns, participant_event(ParticipantUpdated, pid, 3, district="berga"))  # late and stale
    await eventually(lambda: consumer_done(probe_service))
    assert await stored(probe_service, pid) == {"status": "withdrawn", "version": 4, "district": "ryd", "applied": 2}
    (runner,) = probe_service.runtime.runners
    assert (runner.applied, runner.skipped) == (2, 2)


async def test_one_consumer_per_stream_handles_every_registered_type(
    probe_service: RunningService, nc: nats.NATS, ns: Namespace
) -> None:
    info = await nc.jetstream().consumer_info(ns.stream(INTAKE_STREAM), "probe-intake")
    assert sorted(info.config.filter_subjects) == sorted(ns.subject(s) for s in probe.consumer.filter_subjects())
    pids = [uuid.uuid4() for _ in range(2)]
    await publish(nc, ns, participant_event(ParticipantRegistered, pids[0], 1))
    await publish(nc, ns, participant_event(ParticipantWithdrawn, pids[1], 1, status="withdrawn"))
    await eventually(lambda: consumer_done(probe_service))
    assert [(await stored(probe_service, pid))["status"] for pid in pids] == ["registered", "withdrawn"]


def test_a_type_registered_twice_on_one_consumer_is_refused() -> None:
    consumer = EventConsumer("twice", INTAKE_STREAM)
    consumer.on(ParticipantRegistered)(probe.on_state)
    with pytest.raises(ValueError, match="twice"):
        consumer.on(ParticipantRegistered)(probe.on_state)
    with pytest.raises(ValueError, match="not published on"):
        EventConsumer("elsewhere", DEAD_LETTER_STREAM).on(ParticipantRegistered)
    other = EventConsumer("probe", INTAKE_STREAM)
    other.on(ParticipantUpdated)(probe.on_state)
    with pytest.raises(ValueError, match="two consumers on one stream"):
        dataclasses.replace(probe.SERVICE, consumers=(probe.consumer, other))


async def dead_letter_count(svc: RunningService) -> float:
    """The probe's dead-letter counter as an operator scrapes it from ``/metrics``. The counter lives as
    long as the process, which in tests is shared with every test before this one."""
    series = 'sprakvan_dead_letters_total{consumer="probe-intake",service="probe"} '
    for line in (await svc.client.get("/metrics")).text.splitlines():
        if line.startswith(series):
            return float(line.removeprefix(series))
    return 0.0


async def test_a_failing_handler_is_retried_then_dead_lettered_without_input_and_the_next_goes_on(
    probe_service: RunningService, nc: nats.NATS, ns: Namespace
) -> None:
    counted_before = await dead_letter_count(probe_service)
    poison, fine = uuid.uuid4(), uuid.uuid4()
    probe.FAULTS[(poison, "participant.registered")] = -1
    await publish(nc, ns, participant_event(ParticipantRegistered, poison, 1, district="skaggetorp"))
    await publish(nc, ns, participant_event(ParticipantRegistered, fine, 1))
    letters = await eventually(lambda: dead_letters(nc, ns))
    (letter,) = letters
    assert letter.subject == ns.subject(f"deadletter.probe.intake.participant.{poison}.registered")
    assert letter.headers[DLQ_ERROR_TYPE] == "InjectedFault" and letter.headers[DLQ_ERROR] == "InjectedFault"
    assert letter.headers[DLQ_ORIGINAL_SUBJECT] == f"intake.participant.{poison}.registered"
    assert letter.headers[DLQ_DELIVERIES] == "3"
    assert ParticipantRegistered.model_validate_json(letter.data).payload.participant_id == poison  # byte for byte
    await eventually(lambda: consumer_done(probe_service))
    assert await stored(probe_service, fine) is not None and await stored(probe_service, poison) is None
    assert await dead_letter_count(probe_service) == counted_before + 1


async def test_an_invalid_message_is_dead_lettered_at_once_naming_fields_not_values(
    probe_service: RunningService, nc: nats.NATS, ns: Namespace
) -> None:
    pid = uuid.uuid4()
    bad = participant_event(ParticipantRegistered, pid, 1).model_dump(mode="json")
    bad["payload"]["birth_year"] = "Ali Hassan's chess club"
    import json

    await publish(nc, ns, participant_event(ParticipantRegistered, pid, 1), data=json.dumps(bad).encode())
    (letter,) = await eventually(lambda: dead_letters(nc, ns))
    assert letter.headers[DLQ_DELIVERIES] == "1"
    assert "payload.birth_year" in letter.headers[DLQ_ERROR] and "Ali" not in letter.headers[DLQ_ERROR]


async def test_an_erasure_is_never_given_up_on(probe_service: RunningService, nc: nats.NATS, ns: Namespace) -> None:
    pid = uuid.uuid4()
    await publish(nc, ns, participant_event(ParticipantRegistered, pid, 1))
    await eventually(lambda: stored(probe_service, pid))
    probe.FAULTS[(pid, "participant.erased")] = 5  # more failures than max deliveries (3)
    await publish(nc, ns, erased(pid, 2))
    await eventually(lambda: _attempts(pid, "participant.erased", 6), timeout=20)
    await eventually(lambda: consumer_done(probe_service))
    assert await stored(probe_service, pid) is None
    assert await dead_letters(nc, ns) == []


async def deadletters_command(nats_url: str, ns: Namespace, *args: str) -> tuple[int, str, str]:
    """``sprakvan deadletters ...`` as an operator runs it, in a process of its own."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sprakvan_cli.main", "deadletters", *args, "--nats-url", nats_url,
        "--namespace", ns.root, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return int(process.returncode or 0), out.decode(), err.decode()


async def test_a_dead_letter_listed_and_redriven_by_an_operator_is_applied(
    probe_service: RunningService, nc: nats.NATS, ns: Namespace, nats_url: str
) -> None:
    from sprakvan_cli.deadletters import list_dead_letters

    pid = uuid.uuid4()
    probe.FAULTS[(pid, "participant.registered")] = 3  # exactly the max deliveries
    await publish(nc, ns, participant_event(ParticipantRegistered, pid, 1))
    await eventually(lambda: dead_letters(nc, ns))
    code, out, _ = await deadletters_command(nats_url, ns, "list", "--service", "probe")
    assert code == 0
    header, line = out.splitlines()
    sequence, consumer, subject, deliveries, error = line.split("\t")
    assert (header, consumer, subject, deliveries) == (
        "1 dead letters", "probe-intake", f"intake.participant.{pid}.registered", "3",
    )  # fmt: skip
    assert error == "InjectedFault: InjectedFault"
    assert await list_dead_letters(nc, ns, service="other") == []

    assert await deadletters_command(nats_url, ns, "redrive", "--seq", sequence) == (0, "redriven: 1\n", "")
    await eventually(lambda: stored(probe_service, pid))
    assert (await stored(probe_service, pid))["applied"] == 1
    assert await list_dead_letters(nc, ns) == []
    # What is left is the redrive, which is no dead letter: sending it "back" again is refused.
    (redriven,) = await stream_messages(nc.jetstream(), ns.stream(DEAD_LETTER_STREAM))
    assert redriven.subject == ns.subject(f"redrive.probe.intake.participant.{pid}.registered")
    last = (await nc.jetstream().stream_info(ns.stream(DEAD_LETTER_STREAM))).state.last_seq
    code, out, err = await deadletters_command(nats_url, ns, "redrive", "--seq", str(last), "9999")
    assert (code, out.strip(), err.strip()) == (1, "redriven: 0", f"not dead letters (left alone): {last} 9999")


async def test_a_service_that_joins_late_sees_every_live_participant_exactly_once(
    start_service: ServiceStarter, nc: nats.NATS, ns: Namespace
) -> None:
    from sprakvan_shared.messaging import ensure_streams

    await ensure_streams(nc.jetstream(), [INTAKE_STREAM, DEAD_LETTER_STREAM], ns)
    live = [uuid.uuid4() for _ in range(60)]
    gone = [uuid.uuid4() for _ in range(10)]
    for pid in live + gone:
        await publish(nc, ns, participant_event(ParticipantRegistered, pid, 1))
        await publish(nc, ns, participant_event(ParticipantUpdated, pid, 2, district="berga"))
        await publish(nc, ns, participant_event(ParticipantUpdated, pid, 3, district="lambohov"))
    for pid in gone:
        await publish(nc, ns, erased(pid, 4))
    # The stream is compacted: the latest event of each type per participant.
    info = await nc.jetstream().stream_info(ns.stream(INTAKE_STREAM))
    assert info.state.messages == 2 * len(live) + 3 * len(gone)

    async with start_service(probe.SERVICE) as late:
        await eventually(lambda: consumer_done(late))
        rows = await late.pool.fetch("SELECT participant_id, district, version, applied FROM probe_participants")
    assert sorted(r["participant_id"] for r in rows) == sorted(live)
    assert {(r["district"], r["version"], r["applied"]) for r in rows} == {("lambohov", 3, 2)}


async def test_a_type_a_new_release_handles_is_read_from_the_stream_start(
    start_service: ServiceStarter, database_url: str, nc: nats.NATS, ns: Namespace
) -> None:
    # The release before handled registrations only; the withdrawal passed by, filtered out.
    earlier = EventConsumer("probe", INTAKE_STREAM)
    earlier.on(ParticipantRegistered)(probe.on_state)
    registered, withdrawn = uuid.uuid4(), uuid.uuid4()
    async with start_service(
        dataclasses.replace(probe.SERVICE, consumers=(earlier,)), database_url=database_url
    ) as old:
        await publish(nc, ns, participant_event(ParticipantRegistered, registered, 1))
        await publish(nc, ns, participant_event(ParticipantWithdrawn, withdrawn, 1, status="withdrawn"))
        await eventually(lambda: stored(old, registered))
        await eventually(lambda: consumer_done(old))
        assert await stored(old, withdrawn) is None

    async with start_service(probe.SERVICE, database_url=database_url) as new:
        info = await nc.jetstream().consumer_info(ns.stream(INTAKE_STREAM), "probe-intake")
        assert sorted(info.config.filter_subjects) == sorted(ns.subject(s) for s in probe.consumer.filter_subjects())
        redrives = await nc.jetstream().consumer_info(ns.stream(DEAD_LETTER_STREAM), "probe-intake-redrive")
        assert sorted(redrives.config.filter_subjects) == sorted(
            ns.subject(f"redrive.probe.{s}") for s in probe.consumer.filter_subjects()
        )
        await eventually(lambda: stored(new, withdrawn))
        await eventually(lambda: consumer_done(new))
        assert (await stored(new, withdrawn))["status"] == "withdrawn"
        assert (await stored(new, registered))["applied"] == 1  # read again from the start, stopped at the gate
        (runner,) = new.runtime.runners
        assert (runner.applied, runner.skipped) == (1, 1)

    async with start_service(probe.SERVICE, database_url=database_url) as again:  # same types: where it was
        await eventually(lambda: consumer_done(again))
        (runner,) = again.runtime.runners
        assert (runner.applied, runner.skipped) == (0, 0)


def test_a_server_that_drops_the_subject_filters_is_refused() -> None:
    # What NATS 2.9 answers to a consumer with two filter subjects: it keeps none, and would deliver all.
    wanted = ConsumerConfig(durable_name="probe-intake", filter_subjects=["t.intake.a.*.x", "t.intake.b.*.y"])
    with pytest.raises(IncompatibleServer, match=r"NATS 2\.9\.10 .* 2\.10 or later"):
        require_filters(ConsumerConfig(durable_name="probe-intake"), wanted, server="2.9.10")
    require_filters(ConsumerConfig(filter_subjects=["t.intake.b.*.y", "t.intake.a.*.x"]), wanted, server="2.15.1")
    one = ConsumerConfig(durable_name="probe-redrive", filter_subjects=["t.redrive.probe.>"])
    require_filters(ConsumerConfig(filter_subject="t.redrive.probe.>"), one, server="2.15.1")


async def test_mid_deploy_an_older_replica_leaves_a_type_it_cannot_handle_to_the_newer_one(
    start_service: ServiceStarter, database_url: str, nc: nats.NATS, ns: Namespace
) -> None:
    # The new release declared the durable with the withdrawal; a replica of the release before, which
    # has no handler for it, still runs and fetches from the same durable.
    async with start_service(probe.SERVICE, database_url=database_url):
        pass
    earlier = EventConsumer("probe", INTAKE_STREAM)
    earlier.on(ParticipantRegistered)(probe.on_state)
    pid = uuid.uuid4()
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    old = ConsumerRunner(earlier, pool, nc, namespace=ns, retry=RetryPolicy(max_deliveries=50, backoff=(0.1,)))
    running = asyncio.create_task(old.run())
    try:
        await publish(nc, ns, participant_event(ParticipantWithdrawn, pid, 1, status="withdrawn"))

        async def sent_back() -> bool:
            info = await nc.jetstream().consumer_info(ns.stream(INTAKE_STREAM), "probe-intake")
            return info.delivered.consumer_seq >= 3  # the stream's one message, delivered three times

        await eventually(sent_back)
    finally:
        old.stop()
        await running
        await pool.close()
    assert await dead_letters(nc, ns) == []

    async with start_service(probe.SERVICE, database_url=database_url) as new:
        await eventually(lambda: stored(new, pid))
        assert (await stored(new, pid))["status"] == "withdrawn"
    assert await dead_letters(nc, ns) == []


async def test_a_failing_batch_handler_falls_back_to_one_event_at_a_time_and_applies_each_once(
    probe_service: RunningService, nc: nats.NATS, ns: Namespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a batch handler (``on_batch``), one event that fails rolls the whole call back: the events are
    then applied one handler call at a time, the failing one is dead-lettered as ever, and every other is
    applied exactly once (its rolled-back runs leave nothing)."""

    async def one_after_the_other(conn: asyncpg.Connection, events: list) -> None:
        for event in events:
            await probe.consumer.handlers[event.type][1](conn, event)

    monkeypatch.setattr(probe.consumer, "batch_handler", one_after_the_other)
    poison, fine, later = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    probe.FAULTS[(poison, "participant.registered")] = -1
    await publish(nc, ns, participant_event(ParticipantRegistered, fine, 1))
    await publish(nc, ns, participant_event(ParticipantRegistered, poison, 1))
    await publish(nc, ns, participant_event(ParticipantRegistered, later, 1))
    await publish(nc, ns, participant_event(ParticipantUpdated, later, 2, district="berga"))
    (letter,) = await eventually(lambda: dead_letters(nc, ns))
    assert letter.headers[DLQ_ORIGINAL_SUBJECT] == f"intake.participant.{poison}.registered"
    await eventually(lambda: consumer_done(probe_service))
    assert await stored(probe_service, poison) is None
    assert (await stored(probe_service, fine))["applied"] == 1
    assert await stored(probe_service, later) == {
        "status": "registered",
        "version": 2,
        "district": "berga",
        "applied": 2,
    }
