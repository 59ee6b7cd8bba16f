#!/usr/bin/env python
"""Registration-to-report latency: the time from a registration's HTTP 201 (intake ``POST /participants``)
until the reporting service counts it, at a steady (open-loop) rate, beside the raw NATS JetStream
publish->consume latency of the same number of messages at the same rate, in the same run. A benchmark,
not a test: it reports, it never fails on a number.

Intake and reporting run as uvicorn subprocesses (``sprakvan_intake.service:SERVICE`` and
``sprakvan_reporting.service:SERVICE``: migrations, relay, consumers) on their own databases and a NATS
namespace of the run's own. "Counted" is observed two ways, in two timed phases of the same length:

1. ``row``: the participant's row in reporting's read model (``participants``), polled by id: exact per
   registration, and the cheaper proxy (the poll costs the reporting process nothing).
2. ``review``: ``GET /reviews`` polled back to back, its registration count (``figures.current.
   registrations.total_by_role``). A count names nobody, so the k-th 201 is taken as counted at the first
   review answer with a count >= k (first in, first counted); the review's own time is included, and the
   polling takes CPU from the consumer in the same process. The row poll runs here too.

The baseline: ``js.publish`` of as many messages of a registration's size, at the same rate, to a stream
of the run's own, read by a push consumer in this process: publish start to callback.

    .venv/bin/python bench/report_latency.py                  # 200/s for 25 s per phase (~2 min)
    .venv/bin/python bench/report_latency.py --seconds 5      # smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import nats

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: the parts sit beside it

from intakebench.bodies import make_bodies  # noqa: E402
from intakebench.common import LOCALHOST, RESULTS_DIR, percentile, say  # noqa: E402
from intakebench.http_phase import configure_intake  # noqa: E402
from intakebench.infra import Infra, ScratchDatabases  # noqa: E402
from intakebench.load import LoadGenerator, RawHttpConnection, start_profiler, stop_profiler  # noqa: E402
from intakebench.servers import UvicornServer  # noqa: E402

from sprakvan_shared.auth import Role, TokenSigner, generate_private_key_pem, public_key_pem  # noqa: E402

TARGET_P99_MS = 250.0
perf = time.perf_counter


def schedstat(pid: int | None) -> tuple[float, float]:
    """Seconds a process's threads ran on a CPU, and waited runnable for one (``/proc/<pid>/task/*/schedstat``):
    the second is what a loaded machine takes from a service."""
    ran = waited = 0
    for task in Path(f"/proc/{pid}/task").glob("*") if pid else ():
        try:
            fields = (task / "schedstat").read_text().split()
        except OSError:
            continue
        ran, waited = ran + int(fields[0]), waited + int(fields[1])
    return ran / 1e9, waited / 1e9


async def cpu_snapshot(conn: asyncpg.Connection, servers: list[UvicornServer], databases: dict[str, str]) -> dict:
    """(ran, waited) per server process and per server's PostgreSQL backends (not the benchmark's own)."""
    found = {server.name: schedstat(server.pid) for server in servers}
    for name, database in databases.items():
        pids = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", database
        )
        per_pid = [schedstat(row["pid"]) for row in pids]
        found[f"{name} postgres"] = (sum(r for r, _ in per_pid), sum(w for _, w in per_pid))
    return found


def cpu_between(before: dict, after: dict) -> dict:
    return {
        name: {
            "ran": round(ran - before.get(name, (0, 0))[0], 2),
            "waited_runnable": round(wait - before.get(name, (0, 0))[1], 2),
        }
        for name, (ran, wait) in after.items()
    }


def summary(latencies_s: list[float]) -> dict[str, float]:
    values = sorted(latencies_s)
    ms = {f"p{q}_ms": round(1000 * percentile(values, q), 1) for q in (50, 95, 99)}
    return {"n": len(values), **ms, "max_ms": round(1000 * values[-1], 1) if values else float("nan")}


class Registrations:
    """Open-loop: request i is sent at ``start + i / rate`` whatever the earlier ones are doing."""

    def __init__(self, generator: LoadGenerator, port: int, connections: int) -> None:
        self.generator, self.port = generator, port
        self.pool: asyncio.Queue[RawHttpConnection] = asyncio.Queue()
        for _ in range(connections):
            self.pool.put_nowait(RawHttpConnection(LOCALHOST, port))
        self.offset = 0
        self.errors: list[str] = []

    async def run(self, count: int, rate: float, on_created: Any) -> float:
        """Send ``count`` registrations; ``on_created(participant_id, t_201)``; returns the worst lateness."""
        start, tasks, late = perf(), [], 0.0

        async def one(index: int) -> None:
            conn = await self.pool.get()
            try:
                status, body = await conn.request(self.generator._raw_request(self.port, index))
                now = perf()
            finally:
                self.pool.put_nowait(conn)
            if status == 201:
                on_created(json.loads(body)["id"], now)
            elif len(self.errors) < 5:
                self.errors.append(f"{status}: {body[:200]!r}")

        for i in range(count):
            delay = start + i / rate - perf()
            if delay > 0:
                await asyncio.sleep(delay)
            late = max(late, -delay)
            tasks.append(asyncio.create_task(one(self.offset + i)))
        await asyncio.gather(*tasks)
        self.offset += count
        return late


class RowWatch:
    """Polls reporting's ``participants`` for the registrations not seen yet; records 201 -> row."""

    def __init__(self, conn: asyncpg.Connection, organisation_id: str) -> None:
        self.conn, self.organisation_id = conn, organisation_id
        self.pending: dict[str, float] = {}
        self.latencies: list[float] = []
        self.stopped = False

    def created(self, participant_id: str, at: float) -> None:
        self.pending[participant_id] = at

    async def run(self) -> None:
        while not self.stopped or self.pending:
            if self.pending:
                found = await self.conn.fetch(
                    "SELECT record_id::text FROM participants"
                    " WHERE organisation_id = $1 AND record_id = ANY($2::uuid[])",
                    self.organisation_id,
                    list(self.pending),
                )
                seen = perf()
                for row in found:
                    self.latencies.append(seen - self.pending.pop(row[0]))
            await asyncio.sleep(0.002)


class ReviewWatch:
    """Polls ``GET /reviews`` back to back; keeps (answer time, registration count)."""

    def __init__(self, port: int, token: str) -> None:
        today = datetime.now(ZoneInfo("Europe/Stockholm")).date()
        period = f"from={today - timedelta(days=1)}&to={today + timedelta(days=1)}"
        self.request = (
            f"GET /reviews?{period} HTTP/1.1\r\nHost: {LOCALHOST}:{port}\r\nAuthorization: Bearer {token}\r\n"
            "Accept: application/json\r\n\r\n"
        ).encode()
        self.conn = RawHttpConnection(LOCALHOST, port)
        self.answers: list[tuple[float, int]] = []
        self.review_s: list[float] = []
        self.stopped = False
        self.until = 0

    async def count(self) -> int:
        sent = perf()
        try:
            status, body = await self.conn.request(self.request)
        except (asyncio.IncompleteReadError, ConnectionError):  # uvicorn closed the idle keep-alive: reconnect
            await self.conn.close()
            sent = perf()
            status, body = await self.conn.request(self.request)
        assert status == 200, (status, body[:300])
        self.review_s.append(perf() - sent)
        return sum(json.loads(body)["figures"]["current"]["registrations"]["total_by_role"].values())

    async def run(self, until: int) -> None:
        """Until stopped and the count reached ``until`` (or ``self.until``, lowered to the 201s once known)."""
        self.until = until
        while not (self.stopped and self.answers and self.answers[-1][1] >= self.until):
            count = await self.count()
            self.answers.append((perf(), count))

    def latencies(self, created_at: list[float], counted_before: int) -> list[float]:
        """The k-th 201 (in time order) is counted at the first answer whose count reaches it."""
        result, answer = [], 0
        for k, t_201 in enumerate(sorted(created_at), start=counted_before + 1):
            while self.answers[answer][1] < k:
                answer += 1
            result.append(self.answers[answer][0] - t_201)
        return result


class StreamTap:
    """When each ``participant.registered`` reached intake's stream (a plain NATS subscription, no consumer):
    splits 201 -> row into intake's relay and reporting's consumer."""

    def __init__(self, nc: Any) -> None:
        self.nc = nc
        self.seen: dict[str, float] = {}

    @classmethod
    async def start(cls, infra: Infra) -> StreamTap:
        tap = cls(await nats.connect(infra.nats_url))

        async def received(msg: Any) -> None:
            tap.seen.setdefault(msg.subject.split(".")[-2], perf())

        await tap.nc.subscribe(f"{infra.namespace.root}.intake.participant.*.registered", cb=received)
        return tap


async def nats_baseline(infra: Infra, count: int, rate: float, size: int) -> list[float]:
    """``js.publish`` at the same rate to a stream of the run's own, a push consumer in this process."""
    nc = await nats.connect(infra.nats_url)
    js = nc.jetstream()
    subject = f"{infra.namespace.root}.rawbaseline.message"
    await js.add_stream(name=f"{infra.namespace.root.upper()}_RAWBASELINE", subjects=[subject])
    latencies: list[float] = []
    done = asyncio.Event()
    padding = b"x" * max(0, size - 20)

    async def received(msg: Any) -> None:
        latencies.append(perf() - float(msg.data[:20]))
        await msg.ack()
        if len(latencies) == count:
            done.set()

    subscription = await js.subscribe(subject, cb=received, manual_ack=True)
    start, pending = perf(), []
    try:
        for i in range(count):
            delay = start + i / rate - perf()
            if delay > 0:
                await asyncio.sleep(delay)
            pending.append(asyncio.create_task(js.publish(subject, f"{perf():<20.6f}".encode() + padding)))
        await asyncio.gather(*pending)
        await asyncio.wait_for(done.wait(), timeout=60)
    finally:
        await subscription.unsubscribe()
        await nc.close()
    return latencies


async def main(args: argparse.Namespace) -> dict[str, Any]:
    tag = secrets.token_hex(3)
    count = int(args.rate * args.seconds)
    private_key = generate_private_key_pem()  # the benchmark signs; the services get the public half only
    signer = TokenSigner(private_key)
    organisation_id = f"bench-{tag}"
    admin = signer.mint(subject="bench-admin", organisation_id=organisation_id, role=Role.ADMIN)
    coordinator = signer.mint(subject="bench-coordinator", organisation_id=organisation_id, role=Role.COORDINATOR)
    bodies = [json.dumps(b, separators=(",", ":")).encode() for b in make_bodies(500, seed=args.seed)]
    infra, log_dir = Infra(tag), Path(tempfile.mkdtemp(prefix="sprakvan-latency-"))
    load_before = os.getloadavg()[0]
    infra.start()
    dbs = ScratchDatabases(infra.database_url, tag)
    servers: list[UvicornServer] = []
    try:
        common = {
            "NATS_URL": infra.nats_url,
            "NATS_NAMESPACE": infra.namespace.root,
            "LOG_LEVEL": "WARNING",
            "JWT_PUBLIC_KEY": public_key_pem(private_key),
        }
        reporting_dsn = await dbs.create("reporting")
        intake_dsn = await dbs.create("intake")
        databases = {name: f"bench_{tag}_{name}" for name in ("intake", "reporting")}
        for name, dsn in (("intake", intake_dsn), ("reporting", reporting_dsn)):
            server = UvicornServer(
                name, f"sprakvan_{name}.service:SERVICE.create_app", {**common, "DATABASE_URL": dsn},
                ready_path="/ready", log_dir=log_dir,
            )  # fmt: skip
            server.start()
            servers.append(server)
        intake, reporting = servers
        configure_intake(intake.port, admin)
        say(f"intake :{intake.port}, reporting :{reporting.port}; {count} registrations per phase at {args.rate}/s")
        sender = Registrations(LoadGenerator(bodies=bodies, token=coordinator, client_kind="raw",
                                             idempotency_keys=False), intake.port, args.connections)  # fmt: skip
        conn = await asyncpg.connect(reporting_dsn)
        tap = await StreamTap.start(infra)
        review = ReviewWatch(reporting.port, coordinator)
        phases: dict[str, Any] = {}
        try:
            rows = RowWatch(conn, organisation_id)  # warm-up: caches, connections, JIT of the pools
            watching = asyncio.create_task(rows.run())
            await sender.run(min(count, 400), args.rate, rows.created)
            rows.stopped = True
            await asyncio.wait_for(watching, timeout=120)
            for phase in ("row", "review"):
                rows = RowWatch(conn, organisation_id)
                counted_before = await review.count()
                created: list[tuple[str, float]] = []

                def on_created(participant_id: str, at: float, rows: RowWatch = rows, created: list = created) -> None:
                    rows.created(participant_id, at)
                    created.append((participant_id, at))

                profilers = [
                    start_profiler(server.pid, Path(args.profile) / f"{server.name}-{phase}.txt")
                    for server in servers
                    if args.profile
                ]
                sched_before = await cpu_snapshot(conn, servers, databases)
                phase_start = perf()
                watchers = [asyncio.create_task(rows.run())]
                if phase == "review":
                    watchers.append(asyncio.create_task(review.run(counted_before + count)))
                late = await sender.run(count, args.rate, on_created)
                review.until = counted_before + len(created)  # a refused registration is never counted
                rows.stopped = review.stopped = True
                try:
                    await asyncio.wait_for(asyncio.gather(*watchers), timeout=120)
                except TimeoutError:
                    last = review.answers[-1][1] if review.answers else None
                    say(f"  {phase}: not all counted in 120 s: {len(rows.pending)} rows missing, review count "
                        f"{last} of {review.until}, errors {sender.errors}")  # fmt: skip
                    raise
                finally:
                    for profiler in profilers:
                        if profiler is not None:
                            stop_profiler(profiler)
                result = {
                    "201_to_row": summary(rows.latencies),
                    "201_to_on_stream": summary([tap.seen[pid] - at for pid, at in created if pid in tap.seen]),
                    "sender_worst_lateness_ms": round(1000 * late, 1),
                    # Per server: CPU seconds its threads ran, and waited runnable for a CPU, in the phase.
                    "cpu_s": cpu_between(sched_before, await cpu_snapshot(conn, servers, databases)),
                    "phase_s": round(perf() - phase_start, 1),
                }
                if phase == "review":
                    result["201_to_review"] = summary(review.latencies([at for _, at in created], counted_before))
                    result["review_answer"] = summary(review.review_s) | {"polls": len(review.answers)}
                phases[phase] = result
                say(f"  {phase}: {result}")
        finally:
            await conn.close()
            await review.conn.close()
            await tap.nc.close()
        baseline = summary(await nats_baseline(infra, count, args.rate, max(map(len, bodies))))
        say(f"  raw NATS publish->consume: {baseline}")
        return {"tag": tag, "rate": args.rate, "seconds": args.seconds, "registrations_per_phase": count,
                "errors": sender.errors, "load_average_before_after": [load_before, os.getloadavg()[0]],
                "phases": phases, "nats_baseline": baseline}  # fmt: skip
    finally:
        for server in reversed(servers):
            server.stop()
        await dbs.drop_all()
        await infra.delete_streams()
        infra.stop()


def print_report(result: dict[str, Any]) -> None:
    base = result["nats_baseline"]
    say(f"\nregistration 201 -> counted by reporting, {result['rate']}/s for {result['seconds']} s per phase")
    say(f"{'':42} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}  p99/baseline")
    lines = [
        ("201 -> read-model row (row phase)", result["phases"]["row"]["201_to_row"]),
        ("  of which 201 -> on intake's stream", result["phases"]["row"]["201_to_on_stream"]),
        ("201 -> review count (review phase)", result["phases"]["review"]["201_to_review"]),
        ("201 -> read-model row (review phase)", result["phases"]["review"]["201_to_row"]),
        ("GET /reviews answer (review phase)", result["phases"]["review"]["review_answer"]),
        ("baseline: raw NATS publish -> consume", base),
    ]
    for label, s in lines:
        ratio = s["p99_ms"] / base["p99_ms"] if base["p99_ms"] else float("nan")
        say(f"{label:42} {s['p50_ms']:7.1f} {s['p95_ms']:7.1f} {s['p99_ms']:7.1f} {s['max_ms']:7.1f}  {ratio:8.1f}")
    for phase, found in result["phases"].items():
        cpu = ", ".join(f"{n} ran {c['ran']} s, waited {c['waited_runnable']} s" for n, c in found["cpu_s"].items())
        say(f"CPU in the {phase} phase ({found['phase_s']} s): {cpu} (waited: runnable, no CPU free)")
    say(f"target: p99 < {TARGET_P99_MS:.0f} ms (ms; the review figure includes the review's own computation)")
    say(f"load average (1 min) before and after: {result['load_average_before_after']} on {os.cpu_count()} CPUs")
    if result["errors"]:
        say(f"errors: {result['errors']}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="registrations per second (default 200)")
    parser.add_argument("--seconds", type=float, default=25.0, help="length of each timed phase (default 25)")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections to intake")
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument(
        "--profile", metavar="DIR", help="py-spy (if on PATH) samples intake and reporting in each timed phase"
    )
    arguments = parser.parse_args()
    outcome = asyncio.run(main(arguments))
    print_report(outcome)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"report-latency-{datetime.now(UTC):%Y%m%dT%H%M%S}-{outcome['tag']}.json"
    path.write_text(json.dumps(outcome, indent=2))
    say(f"written to {path}")
