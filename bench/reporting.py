#!/usr/bin/env python
"""Reporting benchmark: a replay of 1,000,000 events from JetStream, and the partnership review over what
it builds (100,000 participants, 50,000 pairs, 1,000,000 attendance records), each beside a bare
baseline measured in the same run. A benchmark, not a test: it reports, it never fails on a number.

1. Replay: the events are published to the intake, matching and events streams of a namespace of the
   run's own, then ``replay.rebuild`` reads them back through an ephemeral consumer, parses every one
   with its contract, translates it and applies it in batches (the same statements as the live
   consumer). Baselines in the same run: draining the same messages without applying them (NATS and
   parsing alone), and a bare asyncpg ``copy_records_to_table`` of the same rows into the same tables
   of an empty database (what the rebuild writes, with no parsing, no upsert and no version checks).
   The ratio is rebuild events/s over bulk-insert events/s (the rows of 1M events, inserted bare).
2. Report: ``compute_review`` (both periods, one snapshot, canonical JSON) for the organisation and
   Jan-Oct 2019, against a bare scan of the same tables (one GROUP BY per table, no joins).

The data: 100k participant.registered; 50k pairs as pair.formed plus pair.activated; 100k occurrences
(activity.scheduled) each with an attendance.recorded of 10 check-ins; 600k signup.confirmed.

    .venv/bin/python bench/reporting.py               # full run (a few minutes)
    .venv/bin/python bench/reporting.py --scale 0.05  # smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from dataclasses import astuple, fields
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import nats

from sprakvan_reporting.adapters import read_models as rm
from sprakvan_reporting.adapters.figures import Scope
from sprakvan_reporting.domain.model import Period
from sprakvan_reporting.domain.review import to_json
from sprakvan_reporting.service_layer.consumers import Batch
from sprakvan_reporting.service_layer.replay import READ_STREAMS, parse, rebuild, reporting_migrations, stream_messages
from sprakvan_reporting.service_layer.review import compute_review
from sprakvan_reporting.upstream import events as ev
from sprakvan_reporting.upstream import matching
from sprakvan_shared.contracts import intake
from sprakvan_shared.contracts.subjects import HEADER_MSG_ID, Namespace
from sprakvan_shared.db import create_pool, migrate, shared_migrations
from sprakvan_shared.messaging import ensure_streams

ZONE = ZoneInfo("Europe/Stockholm")
ORG = "bench-org"
DISTRICTS = ["skaggetorp", "innerstaden", "lambohov", "berga", "ekholmen", "ryd", "vasastaden", "tannefors"]
TYPES = ["language_cafe", "walk_and_talk", "sport", "guided_tour", "popup_cafe"]
REPORT_TARGET_S = 0.5
REPLAY_TARGET = 20_000  # events/s


def at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, clock_time(hour), ZONE).astimezone(UTC)


def make_events(scale: float, seed: int = 1) -> list[tuple[str, bytes, str]]:
    """(relative subject, body, message id) of every event, in publishing order."""
    rng = random.Random(seed)
    days = [date(2018, 1, 1) + timedelta(days=d) for d in range(730)]
    n_participants, n_pairs, n_occurrences = int(100_000 * scale), int(50_000 * scale), int(100_000 * scale)
    n_signups = int(600_000 * scale)
    out: list[tuple[str, bytes, str]] = []

    def add(event) -> None:
        out.append((event.subject, event.model_dump_json().encode(), str(event.event_id)))

    newcomers, volunteers = [], []
    for i in range(n_participants):
        role = "newcomer" if i % 3 else "established"
        state = intake.ParticipantState(
            participant_id=uuid.uuid4(), programme="sprakvan", role=role, status="registered",
            gender=rng.choice(["woman", "man", "woman", "man", "non_binary"]), birth_year=rng.randint(1950, 2004),
            district=rng.choice(DISTRICTS), languages=[{"code": "ar", "level": "native"}], interests=["fika"],
            availability=[{"weekday": "tue", "part_of_day": "evening"}],
            swedish_level="A2" if role == "newcomer" else None,
            capacity=rng.randint(1, 3) if role == "established" else None,
            referral_source=rng.choice(["self", "sfi", "friend", "campaign", "red_cross"]),
            campaign=rng.choice([None, "bus-ads-2019", "cake-party"]), registered_at=at(rng.choice(days)),
        )  # fmt: skip
        (newcomers if role == "newcomer" else volunteers).append(state)
        add(intake.ParticipantRegistered(organisation_id=ORG, aggregate_id=str(state.participant_id), version=1,
                                         payload=state))  # fmt: skip
    for i in range(n_pairs):
        n, v = newcomers[i % len(newcomers)], volunteers[i % len(volunteers)]
        formed = max(n.registered_at, v.registered_at) + timedelta(days=rng.randint(3, 120))
        ended = formed.date() + timedelta(days=rng.randint(30, 500)) if rng.random() < 0.3 else None
        state = matching.PairState(
            pair_id=uuid.uuid4(), programme="sprakvan", newcomer_id=n.participant_id, established_id=v.participant_id,
            origin="proposal", status="formed", proposed_at=formed - timedelta(days=2), formed_at=formed,
        )  # fmt: skip
        add(matching.PairFormed(organisation_id=ORG, aggregate_id=str(state.pair_id), version=2, payload=state))
        activated = state.model_copy(
            update={"status": matching.PairStatus.ENDED if ended else matching.PairStatus.ACTIVE,
                    "activated_on": formed.date() + timedelta(days=5), "ended_on": ended,
                    "end_reason": matching.PairEndReason.MOVED if ended else None,
                    "follow_ups": (matching.FollowUpState(due_on=formed.date() + timedelta(days=40),
                                                          done_on=formed.date() + timedelta(days=41)),)}
        )  # fmt: skip
        add(matching.PairActivated(organisation_id=ORG, aggregate_id=str(state.pair_id), version=3, payload=activated))
    occurrences = []
    for i in range(n_occurrences):
        day = days[i % len(days)]
        state = ev.OccurrenceState(
            occurrence_id=uuid.uuid4(), activity_id=uuid.UUID(int=i % 400 + 1), kind="series",
            type_code=TYPES[i % len(TYPES)], district=DISTRICTS[i % len(DISTRICTS)], starts_at=at(day, 18),
            ends_at=at(day, 20), status="cancelled" if i % 50 == 0 else "scheduled",
            scheduled_at=at(day - timedelta(days=30)), changed_at=at(day - timedelta(days=30)),
        )  # fmt: skip
        occurrences.append(state)
        add(ev.ActivityScheduled(organisation_id=ORG, aggregate_id=str(state.occurrence_id), version=1, payload=state))
        sheet = ev.AttendanceState(
            occurrence_id=state.occurrence_id, activity_id=state.activity_id, type_code=state.type_code,
            district=state.district, starts_at=state.starts_at, status=state.status,
            check_ins=tuple(
                ev.CheckInState(participant_id=uuid.uuid4(), outcome="came" if k < 9 else "no_show",
                                role="newcomer" if k % 2 else "established", gender="woman" if k % 3 else "man",
                                recorded_at=state.starts_at)
                for k in range(10)
            ),
            walk_ins=(ev.WalkInCount(role="newcomer", gender="man", count=2),), recorded_at=state.ends_at,
        )  # fmt: skip
        add(ev.AttendanceRecorded(organisation_id=ORG, aggregate_id=str(state.occurrence_id), version=2, payload=sheet))
    for i in range(n_signups):
        o = occurrences[i % len(occurrences)]
        state = ev.SignupState(
            signup_id=uuid.uuid4(), occurrence_id=o.occurrence_id, activity_id=o.activity_id,
            participant_id=uuid.uuid4(), status="confirmed", arrival=i // len(occurrences) + 1,
            signed_up_at=o.scheduled_at, confirmed_at=o.scheduled_at, occurrence_starts_at=o.starts_at,
        )  # fmt: skip
        add(ev.SignupConfirmed(organisation_id=ORG, aggregate_id=str(state.signup_id), version=1, payload=state))
    return out


async def publish_all(nc, ns: Namespace, events: list[tuple[str, bytes, str]]) -> float:
    js = nc.jetstream()
    await ensure_streams(js, READ_STREAMS, ns)
    started = time.perf_counter()
    for start in range(0, len(events), 2000):
        futures = [
            await js.publish_async(ns.subject(subject), body, headers={HEADER_MSG_ID: msg_id})
            for subject, body, msg_id in events[start : start + 2000]
        ]
        await asyncio.gather(*futures)
    return time.perf_counter() - started


async def fresh_database(admin_dsn: str, name: str) -> str:
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base, _, query = admin_dsn.partition("?")
    return base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")


async def migrated_pool(dsn: str) -> asyncpg.Pool:
    pool = await create_pool(dsn, min_size=1, max_size=4)
    async with pool.acquire() as conn:
        await migrate(conn, [*shared_migrations(), *reporting_migrations()])
    return pool


async def drain_only(nc, ns: Namespace) -> tuple[int, float]:
    """Read and parse every message, apply nothing: what NATS and the contracts cost alone."""
    started, count = time.perf_counter(), 0
    async for subject, data in stream_messages(nc.jetstream(), ns, READ_STREAMS):
        if parse(subject, data) is not None:
            count += 1
    return count, time.perf_counter() - started


def rows_of(events: list[tuple[str, bytes, str]]) -> dict[str, list[tuple]]:
    """The rows the rebuild writes, made up front (not timed) for the bare bulk insert."""
    batch = Batch()
    for subject, data, _ in events:
        event = parse(subject, data)
        if event is not None:
            batch.add(event, ZONE)
    pairs = [astuple(p) for p in rm.latest(batch.pairs, "pair_id")]
    pairs = [(*p[:12], list(p[12]), p[13]) for p in pairs]
    counts: dict[uuid.UUID, int] = {}
    for s in batch.signups:
        counts[s.occurrence_id] = counts.get(s.occurrence_id, 0) + (s.status == "confirmed")
    sheets = {a.occurrence_id: a for a in batch.attendance}
    sessions = []
    for o in batch.occurrences:  # the bench has a sheet for every occurrence
        a = sheets[o.occurrence_id]
        sessions.append((
            o.organisation_id, o.occurrence_id, o.activity_id, list(o.programmes), o.activity_type, o.district,
            o.starts_on, o.cancelled, o.version, list(a.came), sum(a.came), a.no_show, list(a.walk_ins),
            sum(a.walk_ins), json.dumps(a.campaign_signups), a.version, counts.get(o.occurrence_id, 0),
        ))  # fmt: skip
    return {
        "participants": [astuple(p) for p in batch.participants],
        "pairs": pairs,
        "sessions": sessions,
        "signups": [astuple(s) for s in batch.signups],
    }


_COLUMNS = {
    "participants": [f.name for f in fields(rm.ParticipantFacts)],
    "pairs": [f.name for f in fields(rm.PairFacts)],
    "sessions": ["organisation_id", "occurrence_id", "activity_id", "programmes", "activity_type", "district",
                 "starts_on", "cancelled", "occurrence_version", "came", "came_total", "no_show", "walk_ins",
                 "walk_ins_total", "campaign_signups", "attendance_version", "signups_confirmed"],
    "signups": [f.name for f in fields(rm.SignupFacts)],
}  # fmt: skip


async def bulk_insert(dsn: str, rows: dict[str, list[tuple]]) -> float:
    conn = await asyncpg.connect(dsn)
    # COPY is binary: jsonb goes as its version byte and the text.
    await conn.set_type_codec(
        "jsonb", encoder=lambda v: b"\x01" + v.encode(), decoder=lambda b: b[1:].decode(), schema="pg_catalog",
        format="binary",
    )  # fmt: skip
    started = time.perf_counter()
    async with conn.transaction():
        for table, records in rows.items():
            for start in range(0, len(records), 50_000):
                await conn.copy_records_to_table(
                    table, records=records[start : start + 50_000], columns=_COLUMNS[table]
                )
    return time.perf_counter() - started


async def bare_scan(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.fetch(
            "SELECT role, gender, count(*) FROM participants WHERE organisation_id = $1 GROUP BY 1, 2", ORG
        )
        await conn.fetch("SELECT status, count(*) FROM pairs WHERE organisation_id = $1 GROUP BY 1", ORG)
        await conn.fetch(
            "SELECT activity_type, count(*), sum(came_total), sum(signups_confirmed) FROM sessions"
            " WHERE organisation_id = $1 GROUP BY 1",
            ORG,
        )


async def timed(call, rounds: int) -> list[float]:
    await call()  # warm-up: plans and caches
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        await call()
        times.append(time.perf_counter() - started)
    return times


async def run(args: argparse.Namespace, postgres_url: str, nats_url: str) -> dict:
    tag = uuid.uuid4().hex[:8]
    ns = Namespace(f"bench{tag}")
    print(f"generating events (scale {args.scale}) ...", flush=True)
    events = make_events(args.scale)
    nc = await nats.connect(nats_url)
    try:
        publish_s = await publish_all(nc, ns, events)
        print(f"published {len(events)} events in {publish_s:.1f} s", flush=True)
        drained, drain_s = await drain_only(nc, ns)

        replay_pool = await migrated_pool(await fresh_database(postgres_url, f"bench_{tag}_replay"))
        result = await rebuild(replay_pool, stream_messages(nc.jetstream(), ns, READ_STREAMS), ZONE,
                               batch_size=args.batch_size)  # fmt: skip
        print(f"replayed {result.events} events in {result.seconds:.1f} s", flush=True)

        bulk_dsn = await fresh_database(postgres_url, f"bench_{tag}_bulk")
        await (await migrated_pool(bulk_dsn)).close()
        bulk_s = await bulk_insert(bulk_dsn, rows_of(events))

        async with replay_pool.acquire() as conn:
            await conn.execute("ANALYZE")
            tables = ("participants", "pairs", "sessions", "signups")
            sizes = {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in tables}
            check_ins = await conn.fetchval("SELECT sum(came_total + no_show) FROM sessions")
        period = Period(date(2019, 1, 1), date(2019, 10, 31))

        async def review() -> None:
            to_json(await compute_review(replay_pool, Scope(ORG, None), period))

        report_times = await timed(review, args.rounds)
        scan_times = await timed(lambda: bare_scan(replay_pool), args.rounds)
        await replay_pool.close()
    finally:
        for spec in READ_STREAMS:
            try:
                await nc.jetstream().delete_stream(ns.stream(spec))
            except Exception:
                pass
        await nc.close()
    admin = await asyncpg.connect(postgres_url)
    for suffix in ("replay", "bulk"):
        await admin.execute(f'DROP DATABASE IF EXISTS "bench_{tag}_{suffix}" WITH (FORCE)')
    await admin.close()

    report_median = statistics.median(report_times)
    return {
        "events": result.events,
        "sizes": {**sizes, "attendance_records": check_ins},
        "replay": {
            "seconds": round(result.seconds, 2),
            "events_per_s": round(result.events_per_second),
            "bulk_insert_seconds": round(bulk_s, 2),
            "bulk_insert_events_per_s": round(result.events / bulk_s),
            "ratio_vs_bulk_insert": round(bulk_s / result.seconds, 2),
            "drain_and_parse_only_seconds": round(drain_s, 2),
            "drained": drained,
            "target_events_per_s": REPLAY_TARGET,
        },
        "report": {
            "median_s": round(report_median, 3),
            "max_s": round(max(report_times), 3),
            "bare_scan_median_s": round(statistics.median(scan_times), 3),
            "ratio_vs_bare_scan": round(report_median / statistics.median(scan_times), 1),
            "target_s": REPORT_TARGET_S,
        },
        "publish_seconds": round(publish_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0: 1M events, 100k participants")
    parser.add_argument("--rounds", type=int, default=5, help="timed reports (after one warm-up)")
    parser.add_argument("--batch-size", type=int, default=5000, help="events per replay statement batch")
    parser.add_argument("--output", type=Path, help="write the results as JSON here too")
    args = parser.parse_args()
    postgres_url, nats_url = os.environ.get("DATABASE_URL"), os.environ.get("NATS_URL")
    if postgres_url and nats_url:
        results = asyncio.run(run(args, postgres_url, nats_url))
    else:
        from sprakvan_cli.embedded import EmbeddedNats, EmbeddedPostgres

        with tempfile.TemporaryDirectory(prefix="sprakvan-bench-") as tmp:
            with EmbeddedNats(Path(tmp) / "nats") as n, EmbeddedPostgres(Path(tmp) / "postgres") as p:
                results = asyncio.run(run(args, p.url, n.url))
    print(json.dumps(results, indent=2))
    if args.output:
        args.output.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
