#!/usr/bin/env python
"""Events benchmark: recurrence expansion and concurrent sign-up, each against a bare baseline measured in
the same run. A benchmark, not a test: it reports, it never fails on a number.

1. Expansion: a year of occurrences for 1,000 series (weekly on 1-3 days, fortnightly, monthly by weekday,
   at varied times), with ``Schedule.slots_between`` (rule parsing, Europe/Stockholm localisation, the
   RFC 5545 reading of skipped times), against bare dateutil ``rrulestr(...).between`` on naive datetimes.
   Then the same year materialised into PostgreSQL by the service layer (rows + ``activity.scheduled``
   outbox rows, one transaction per series).
2. Sign-up: N concurrent sign-ups (100, 300, 1000) for one occurrence with capacity N/10, through
   ``service_layer.signups.sign_up`` (occurrence lock, participant check, duplicate check, decision,
   sign-up row, counters, outbox row), against a bare asyncpg transaction doing the same locked insert
   (``SELECT ... FOR UPDATE``, INSERT, counter UPDATE), same pool size, same concurrency; each size three
   times on fresh occurrences, alternating which goes first, medians reported.

Infrastructure: ``DATABASE_URL`` (a DSN that may CREATE DATABASE) when set, else an embedded PostgreSQL
in a temp dir. Every run uses fresh databases ``bench_events_<tag>_*``, dropped at the end.

    .venv/bin/python bench/events.py            # full run
    .venv/bin/python bench/events.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

import asyncpg
from dateutil.rrule import rrulestr

from sprakvan_events.adapters import repository as repo
from sprakvan_events.domain.model import ActivityDetails
from sprakvan_events.domain.recurrence import Schedule
from sprakvan_events.domain.signups import KnownParticipant, ParticipantStanding
from sprakvan_events.service_layer import activities, signups
from sprakvan_shared.db import create_pool, load_migrations, migrate, shared_migrations

ORG = "bench"
YEAR_START = datetime(2027, 1, 1, tzinfo=UTC)
YEAR_END = datetime(2028, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def say(*parts: object) -> None:
    print(*parts, flush=True)


def make_schedules(count: int, seed: int = 7) -> list[Schedule]:
    rng = random.Random(seed)
    schedules = []
    for _ in range(count):
        kind = rng.random()
        if kind < 0.7:
            rule = "FREQ=WEEKLY;BYDAY=" + ",".join(sorted(rng.sample(DAYS, rng.randint(1, 3)), key=DAYS.index))
        elif kind < 0.85:
            rule = f"FREQ=WEEKLY;INTERVAL=2;BYDAY={rng.choice(DAYS)}"
        else:
            rule = f"FREQ=MONTHLY;BYDAY={rng.choice(('1', '2', '3', '-1'))}{rng.choice(DAYS)}"
        starts = clock(rng.choice((9, 10, 13, 15, 17, 18, 19)), rng.choice((0, 15, 30)))
        ends = clock(starts.hour + 2, starts.minute)
        first = date(2026, 12, 1) + timedelta(days=rng.randint(0, 30))
        schedules.append(Schedule(first, starts, ends, rule, until=date(2028, 6, 30)))
    return schedules


def timed(function: Callable[[], int], rounds: int) -> tuple[float, int]:
    best, produced = float("inf"), 0
    for _ in range(rounds):
        started = time.perf_counter()
        produced = function()
        best = min(best, time.perf_counter() - started)
    return best, produced


def expansion_phase(series: int, rounds: int) -> dict[str, Any]:
    def ours() -> int:
        # Fresh objects each round: the parsed-rule cache must not make later rounds free.
        from sprakvan_events.domain import recurrence

        recurrence._expander.cache_clear()
        return sum(len(s.slots_between(YEAR_START, YEAR_END)) for s in make_schedules(series))

    low, high = datetime(2027, 1, 1), datetime(2028, 1, 1)

    def bare() -> int:
        total = 0
        for s in make_schedules(series):
            rule = rrulestr(f"RRULE:{s.rule}", dtstart=datetime.combine(s.first_day, s.starts))
            total += len(rule.between(low, high, inc=True))
        return total

    ours_s, ours_n = timed(ours, rounds)
    bare_s, bare_n = timed(bare, rounds)
    return {
        "series": series,
        "occurrences": ours_n,
        "baseline_occurrences": bare_n,
        "seconds": round(ours_s, 4),
        "baseline_seconds": round(bare_s, 4),
        "occurrences_per_s": round(ours_n / ours_s),
        "ratio_vs_bare_dateutil": round(bare_s / ours_s, 3),
    }


async def materialise_phase(dsn: str, series: int) -> dict[str, Any]:
    pool = await create_pool(dsn, min_size=1, max_size=4)
    try:
        schedules = make_schedules(series)
        details = ActivityDetails("Språkcafé", "language_cafe", None, "centrum", 20)
        horizon = YEAR_END - NOW
        started = time.perf_counter()
        total = 0
        async with pool.acquire() as conn:
            for schedule in schedules:
                _, created = await activities.schedule_series(conn, ORG, details, schedule, now=NOW, horizon=horizon)
                total += len(created)
        seconds = time.perf_counter() - started
        async with pool.acquire() as conn:
            outbox = await conn.fetchval("SELECT count(*) FROM outbox")
        return {
            "series": series,
            "occurrences": total,
            "outbox_rows": outbox,
            "seconds": round(seconds, 3),
            "occurrences_per_s": round(total / seconds),
        }
    finally:
        await pool.close()


BASELINE_SCHEMA = """
CREATE TABLE occurrences (id uuid PRIMARY KEY, capacity int NOT NULL, confirmed int NOT NULL DEFAULT 0,
                          waitlisted int NOT NULL DEFAULT 0, arrivals bigint NOT NULL DEFAULT 0);
CREATE TABLE signups (id uuid PRIMARY KEY, occurrence_id uuid NOT NULL REFERENCES occurrences (id),
                      participant_id uuid NOT NULL, status text NOT NULL, arrival bigint NOT NULL,
                      signed_up_at timestamptz NOT NULL, UNIQUE (occurrence_id, arrival));
"""


async def baseline_sign_up(pool: asyncpg.Pool, occurrence_id: uuid.UUID, participant_id: uuid.UUID) -> None:
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT capacity, confirmed, waitlisted, arrivals FROM occurrences WHERE id = $1 FOR UPDATE", occurrence_id
        )
        confirmed = row["confirmed"] < row["capacity"]
        arrival = row["arrivals"] + 1
        await conn.execute(
            "INSERT INTO signups VALUES ($1, $2, $3, $4, $5, now())",
            uuid.uuid4(),
            occurrence_id,
            participant_id,
            "confirmed" if confirmed else "waitlisted",
            arrival,
        )
        await conn.execute(
            "UPDATE occurrences SET confirmed = $2, waitlisted = $3, arrivals = $4 WHERE id = $1",
            occurrence_id,
            row["confirmed"] + confirmed,
            row["waitlisted"] + (not confirmed),
            arrival,
        )


async def run_concurrently(count: int, one: Callable[[int], Awaitable[None]]) -> float:
    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    return time.perf_counter() - started


async def signup_round(
    service: asyncpg.Pool, baseline: asyncpg.Pool, size: int, capacity: int, ours_first: bool
) -> tuple[float, float, asyncpg.Record]:
    """One occurrence of each, fresh people: ``size`` concurrent sign-ups through ours and the bare baseline."""
    people = [uuid.uuid4() for _ in range(size)]
    async with service.acquire() as conn:
        for pid in people:
            known = KnownParticipant(pid, ORG, "newcomer", "woman", ParticipantStanding.REGISTERED, "vises")
            await repo.upsert_participant(conn, known, 1)
        details = ActivityDetails("Fika", "social", None, "centrum", capacity)
        starts = NOW + timedelta(days=7)
        ends = starts + timedelta(hours=2)
        _, occurrence = await activities.schedule_one_off(conn, ORG, details, starts, ends, now=NOW)
    base_id = uuid.uuid4()
    async with baseline.acquire() as conn:
        await conn.execute("INSERT INTO occurrences (id, capacity) VALUES ($1, $2)", base_id, capacity)

    async def ours(i: int) -> None:
        async with service.acquire() as conn:
            await signups.sign_up(conn, ORG, occurrence.id, people[i], now=NOW)

    async def bare(i: int) -> None:
        await baseline_sign_up(baseline, base_id, people[i])

    if ours_first:
        ours_s, bare_s = await run_concurrently(size, ours), await run_concurrently(size, bare)
    else:
        bare_s, ours_s = await run_concurrently(size, bare), await run_concurrently(size, ours)
    async with service.acquire() as conn:
        counters = await conn.fetchrow("SELECT confirmed, waitlisted FROM occurrences WHERE id = $1", occurrence.id)
    return ours_s, bare_s, counters


async def signup_phase(
    service_dsn: str, baseline_dsn: str, sizes: list[int], pool_size: int, rounds: int
) -> list[dict[str, Any]]:
    """Each size ``rounds`` times, alternating which of the two goes first (a shared machine drifts), on
    fresh occurrences; the figures are the medians, the ratio that of the medians."""
    # Both wait as long as it takes: 1,000 callers on 20 connections queue for longer than the service's
    # 5 s acquire timeout on a loaded machine, and a throughput figure needs every sign-up through.
    service, baseline = [
        await create_pool(dsn, min_size=pool_size, max_size=pool_size, acquire_timeout=600.0, lock_timeout=60.0)
        for dsn in (service_dsn, baseline_dsn)
    ]
    results = []
    try:
        async with baseline.acquire() as conn:
            await conn.execute(BASELINE_SCHEMA)
        for size in sizes:
            capacity = max(1, size // 10)
            runs = [await signup_round(service, baseline, size, capacity, r % 2 == 0) for r in range(rounds)]
            ours_s = statistics.median(r[0] for r in runs)
            bare_s = statistics.median(r[1] for r in runs)
            results.append(
                {
                    "concurrent": size,
                    "capacity": capacity,
                    "rounds": rounds,
                    "confirmed": [r[2]["confirmed"] for r in runs],
                    "waitlisted": [r[2]["waitlisted"] for r in runs],
                    "seconds": round(ours_s, 3),
                    "baseline_seconds": round(bare_s, 3),
                    "signups_per_s": round(size / ours_s),
                    "baseline_signups_per_s": round(size / bare_s),
                    "ratio_vs_bare_asyncpg": round(bare_s / ours_s, 3),
                    "ratio_per_round": [round(r[1] / r[0], 3) for r in runs],
                    "ratio_median_of_rounds": round(statistics.median(r[1] / r[0] for r in runs), 3),
                }
            )
            say(f"  sign-up x{size}: {results[-1]}")
    finally:
        await service.close()
        await baseline.close()
    return results


@contextlib.asynccontextmanager
async def scratch_databases(admin_dsn: str, tag: str, names: list[str]) -> AsyncIterator[dict[str, str]]:
    base, _, query = admin_dsn.partition("?")
    base = base.rsplit("/", 1)[0]
    dsns = {}
    admin = await asyncpg.connect(admin_dsn)
    try:
        for name in names:
            database = f"bench_events_{tag}_{name}"
            await admin.execute(f'CREATE DATABASE "{database}"')
            dsns[name] = f"{base}/{database}" + (f"?{query}" if query else "")
        yield dsns
    finally:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "bench_events_{tag}_{name}" WITH (FORCE)')
        await admin.close()


async def migrated(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        from importlib import resources

        events = load_migrations("events", resources.files("sprakvan_events") / "migrations")
        await migrate(conn, [*shared_migrations(), *events])
    finally:
        await conn.close()


async def main(args: argparse.Namespace, admin_dsn: str, source: str) -> dict[str, Any]:
    tag = secrets.token_hex(3)
    say(f"expansion: {args.series} series, a year, best of {args.rounds}")
    expansion = expansion_phase(args.series, args.rounds)
    say(f"  {expansion}")
    async with scratch_databases(admin_dsn, tag, ["materialise", "signup", "baseline"]) as dsns:
        await migrated(dsns["materialise"])
        await migrated(dsns["signup"])
        say(f"materialise: {args.series} series, a year, into PostgreSQL")
        materialise = await materialise_phase(dsns["materialise"], args.series)
        say(f"  {materialise}")
        say(f"sign-up: {args.sizes} concurrent, pool {args.pool_size}")
        signup = await signup_phase(dsns["signup"], dsns["baseline"], args.sizes, args.pool_size, args.signup_rounds)
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "postgres": source},
        "expansion": expansion,
        "materialise": materialise,
        "signup": signup,
    }


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[100, 300, 1000])
    parser.add_argument("--pool-size", type=int, default=20)
    parser.add_argument("--signup-rounds", type=int, default=3, help="rounds per size, alternating who goes first")
    parser.add_argument("--quick", action="store_true", help="100 series, 100 sign-ups, one round")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    if args.quick:
        args.series, args.rounds, args.sizes, args.signup_rounds = 100, 1, [100], 1
    with contextlib.ExitStack() as stack:
        dsn = os.environ.get("DATABASE_URL")
        source = "environment"
        if not dsn:
            sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "devtools" / "src"))
            from sprakvan_cli.embedded import EmbeddedPostgres

            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="sprakvan-bench-events-"))
            server = stack.enter_context(EmbeddedPostgres(Path(tmp) / "pg"))
            dsn, source = server.url, "embedded"
        result = asyncio.run(main(args, dsn, source))
    output = args.output or Path(__file__).parent / "results" / f"events-{result['when'].replace(':', '')}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2))
    say(f"written to {output}")


if __name__ == "__main__":
    cli()
