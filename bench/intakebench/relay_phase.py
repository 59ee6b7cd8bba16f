"""Phase 2: the outbox relay draining a filled outbox, against raw ``js.publish_async``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import nats
from nats.js.errors import NotFoundError

from sprakvan_intake.domain.commands import RegisterParticipant
from sprakvan_intake.domain.model import Participant, ParticipantDetails
from sprakvan_intake.service_layer import events as intake_events
from sprakvan_intake.settings import IntakeSettings
from sprakvan_shared import outbox
from sprakvan_shared.contracts.intake import STREAM as INTAKE_STREAM
from sprakvan_shared.contracts.intake import ParticipantRegistered
from sprakvan_shared.contracts.subjects import (
    DEAD_LETTER_STREAM,
    HEADER_CORRELATION_ID,
    HEADER_EVENT_TYPE,
    HEADER_MSG_ID,
    Namespace,
)
from sprakvan_shared.db import create_pool, migrate, shared_migrations
from sprakvan_shared.messaging import ensure_streams

from .bodies import make_bodies
from .common import RELAY_TARGET, percentile, say
from .cpu import cpu_sample, cpu_usage
from .infra import Infra, ScratchDatabases


def make_events(count: int, organisation_id: str, seed: int) -> list[ParticipantRegistered]:
    """``count`` intake ``participant.registered`` events, each of its own participant (the stream keeps
    the latest event per participant and type, so a repeated participant would be compacted away)."""
    now = datetime.now(UTC)
    payloads = []
    for body in make_bodies(min(count, 1000), seed=seed + 1):
        command = RegisterParticipant.model_validate(body)
        details = ParticipantDetails.model_validate(command.model_dump(exclude={"role"}))
        participant = Participant.register(organisation_id=organisation_id, role=command.role, details=details, now=now)
        payloads.append(intake_events.registered(participant).payload)
    events = []
    for i in range(count):
        participant_id = uuid.uuid4()
        payload = payloads[i % len(payloads)].model_copy(update={"participant_id": participant_id})
        events.append(
            ParticipantRegistered(
                organisation_id=organisation_id,
                correlation_id=uuid.uuid4().hex,
                aggregate_id=str(participant_id),
                version=1,
                payload=payload,
            )
        )
    return events


async def _prefill(pool: asyncpg.Pool, events: Sequence[ParticipantRegistered]) -> None:
    """The rows ``outbox.enqueue`` would write (``outbox.outbox_row``), loaded with COPY: the relay's
    drain is what is timed."""
    columns = [c.strip() for c in outbox.OUTBOX_COLUMNS.split(",")]
    async with pool.acquire() as conn:
        await conn.execute("TRUNCATE outbox")
        for start in range(0, len(events), 5000):
            records = [outbox.outbox_row(e) for e in events[start : start + 5000]]
            await conn.copy_records_to_table("outbox", columns=columns, records=records)
        await conn.execute("ANALYZE outbox")


async def _fresh_stream(js: Any, ns: Namespace) -> None:
    with contextlib.suppress(NotFoundError):
        await js.delete_stream(ns.stream(INTAKE_STREAM))
    await ensure_streams(js, [INTAKE_STREAM, DEAD_LETTER_STREAM], ns)


async def _stream_count(js: Any, ns: Namespace) -> int:
    return (await js.stream_info(ns.stream(INTAKE_STREAM))).state.messages


async def relay_phase(args: argparse.Namespace, infra: Infra, dbs: ScratchDatabases, tag: str) -> dict[str, Any]:
    settings = IntakeSettings()
    batch_size = args.batch_size or settings.relay_batch_size
    timeout = settings.relay_publish_timeout
    # A namespace of its own (not the HTTP phase's), deleted at the end: intake's stream config exactly.
    ns = Namespace(f"bench{tag}relay")
    organisation_id = f"bench-{tag}"
    dsn = await dbs.create("relay")
    pool = await create_pool(dsn, min_size=settings.db_pool_min, max_size=settings.db_pool_max)
    nc = await nats.connect(infra.nats_url, name="sprakvan-bench")
    admin_js = nc.jetstream()
    rounds: list[dict[str, Any]] = []
    try:
        async with pool.acquire() as conn:
            await migrate(conn, shared_migrations())
        say(f"generating {args.events} events ...")
        events = make_events(args.events, organisation_id, seed=args.seed)
        say(
            f"relay phase: {args.events} events of mean "
            f"{statistics.mean(len(e.model_dump_json()) for e in events[:500]):.0f} B, "
            f"batch {batch_size}, stream {ns.stream(INTAKE_STREAM)}"
        )
        for round_ in range(args.rounds):
            await _prefill(pool, events)
            rows = await pool.fetch(
                "SELECT event_id, subject, event_type, correlation_id, body FROM outbox ORDER BY id"
            )
            messages = []
            for row in rows:  # pre-serialised: exactly what the relay will send for these rows
                headers = {HEADER_MSG_ID: str(row["event_id"]), HEADER_EVENT_TYPE: row["event_type"]}
                if row["correlation_id"]:
                    headers[HEADER_CORRELATION_ID] = row["correlation_id"]
                messages.append((ns.subject(row["subject"]), row["body"], headers))
            result: dict[str, Any] = {"round": round_}
            # raw: the idiomatic js.publish_async(subject, body, headers=...); raw_wait_stall: the very call the
            # relay makes (wait_stall=publish_timeout), to show what that argument alone costs.
            order = ["raw", "raw_wait_stall", "relay"]
            if round_ % 2:
                order.reverse()
            for which in order:
                await _fresh_stream(admin_js, ns)
                if which == "relay":
                    result[which] = await _relay_drain(pool, infra.nats_url, ns, batch_size, timeout)
                else:
                    result[which] = await _raw_publish(
                        infra.nats_url, messages, batch_size, timeout, timeout if which == "raw_wait_stall" else None
                    )
                stored = await _stream_count(admin_js, ns)
                result[which]["stream_messages"] = stored
                if stored != len(messages):
                    raise RuntimeError(f"{which}: stream holds {stored} messages, expected {len(messages)}")
            backlog = await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            if backlog:
                raise RuntimeError(f"relay left {backlog} rows unpublished")
            result["ratio"] = round(result["relay"]["events_per_s"] / result["raw"]["events_per_s"], 3)
            result["ratio_vs_raw_wait_stall"] = round(
                result["relay"]["events_per_s"] / result["raw_wait_stall"]["events_per_s"], 3
            )
            rounds.append(result)
            say(
                f"  round {round_}: raw {result['raw']['events_per_s']:8.1f} ev/s, raw+wait_stall "
                f"{result['raw_wait_stall']['events_per_s']:8.1f} ev/s, "
                f"relay {result['relay']['events_per_s']:8.1f} ev/s  ratio {result['ratio']:.3f} "
                f"({result['ratio_vs_raw_wait_stall']:.3f} vs raw+wait_stall)  relay time: "
                f"publish {result['relay']['publish_share_pct']}% / waiting {result['relay']['wait_share_pct']}% "
                f"(acks awaited in the background {result['relay']['ack_wait_share_pct']}%)"
                f"  cpu% raw {result['raw']['cpu']} relay {result['relay']['cpu']}"
            )
    finally:
        for spec in (INTAKE_STREAM, DEAD_LETTER_STREAM):
            with contextlib.suppress(Exception):
                await admin_js.delete_stream(ns.stream(spec))
        await nc.close()
        await pool.close()

    def med(which: str, key: str, digits: int = 1) -> float:
        return round(statistics.median(r[which][key] for r in rounds), digits)

    ratio = round(statistics.median(r["ratio"] for r in rounds), 3)
    return {
        "summary": {
            "events": args.events,
            "batch_size": batch_size,
            "ratio": ratio,
            "target": RELAY_TARGET,
            "meets_target": ratio >= RELAY_TARGET,
            "raw_events_per_s": med("raw", "events_per_s"),
            "relay_events_per_s": med("relay", "events_per_s"),
            "raw_wait_stall_events_per_s": med("raw_wait_stall", "events_per_s"),
            "ratio_vs_raw_wait_stall": round(statistics.median(r["ratio_vs_raw_wait_stall"] for r in rounds), 3),
            "raw_cpu_ms_per_event": med("raw", "bench_cpu_ms_per_event", 4),
            "relay_cpu_ms_per_event": med("relay", "bench_cpu_ms_per_event", 4),
            "raw_batch_p50_ms": med("raw", "batch_p50_ms"),
            "relay_batch_p50_ms": med("relay", "batch_p50_ms"),
            "relay_publish_share_pct": med("relay", "publish_share_pct"),
            "relay_ack_wait_share_pct": med("relay", "ack_wait_share_pct"),
            "relay_wait_share_pct": med("relay", "wait_share_pct"),
            "ratio_per_round": [r["ratio"] for r in rounds],
        },
        "rounds": rounds,
    }


async def _raw_publish(
    nats_url: str,
    messages: Sequence[tuple[str, bytes, dict[str, str]]],
    batch_size: int,
    timeout: float,
    wait_stall: float | None,
) -> dict[str, Any]:
    nc = await nats.connect(nats_url, name="sprakvan-bench-raw")
    js = nc.jetstream(publish_async_max_pending=max(batch_size, 256))  # a batch in flight never stalls
    batch_times = []
    try:
        before = cpu_sample(None)
        started = time.perf_counter()
        for start in range(0, len(messages), batch_size):
            t0 = time.perf_counter()
            futures = [
                await js.publish_async(subject, body, headers=dict(headers), wait_stall=wait_stall)
                for subject, body, headers in messages[start : start + batch_size]
            ]
            await asyncio.wait_for(asyncio.gather(*futures), timeout)
            batch_times.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - started
        after = cpu_sample(None)
    finally:
        await nc.close()
    batch_times.sort()
    return {
        "events": len(messages),
        "elapsed_s": round(elapsed, 3),
        "events_per_s": round(len(messages) / elapsed, 1),
        "wait_stall": wait_stall,
        "bench_cpu_ms_per_event": round(1000 * (after.me - before.me) / len(messages), 4),
        "batches": len(batch_times),
        "batch_p50_ms": round(1000 * percentile(batch_times, 50), 2),
        "cpu": cpu_usage(before, after, me_label="bench"),
    }


async def _relay_drain(
    pool: asyncpg.Pool, nats_url: str, ns: Namespace, batch_size: int, timeout: float
) -> dict[str, Any]:
    """``OutboxRelay.drain()``: leadership, pipelined batches, marking; timed from outside: the relay loop
    putting batches on the wire (``_publish``), the rest of the time it waited (for a claim, or for the
    finishing of the batch before), and, overlapping both, the time the finishings awaited acks."""
    nc = await nats.connect(nats_url, name="sprakvan-bench-relay")
    relay = outbox.OutboxRelay(pool, nc, namespace=ns, batch_size=batch_size, publish_timeout=timeout)
    spent = {"publish": 0.0, "acks": 0.0}

    def timed(name: str, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def wrapper(*args: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return await method(*args)
            finally:
                spent[name] += time.perf_counter() - t0

        return wrapper

    relay._publish = timed("publish", relay._publish)  # type: ignore[method-assign]  # noqa: SLF001
    relay._outcomes = timed("acks", relay._outcomes)  # type: ignore[method-assign]  # noqa: SLF001
    try:
        before = cpu_sample(None)
        started = time.perf_counter()
        total = await relay.drain()
        elapsed = time.perf_counter() - started
        after = cpu_sample(None)
    finally:
        await nc.close()
    batches = -(-total // batch_size)
    return {
        "events": total,
        "elapsed_s": round(elapsed, 3),
        "events_per_s": round(total / elapsed, 1),
        "bench_cpu_ms_per_event": round(1000 * (after.me - before.me) / max(total, 1), 4),
        "batches": batches,
        "batch_p50_ms": round(1000 * elapsed / max(batches, 1), 2),  # mean: batches overlap
        "publish_share_pct": round(100 * spent["publish"] / elapsed, 1),
        "ack_wait_share_pct": round(100 * spent["acks"] / elapsed, 1),
        # The loop waiting for a claim or a finishing (acks, mark, commit) that was not done in time.
        "wait_share_pct": round(100 * (elapsed - spent["publish"]) / elapsed, 1),
        "cpu": cpu_usage(before, after, me_label="bench"),
    }
