"""Phase 1: registrations/s through ``POST /participants``, intake against the bare baseline."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import time
import urllib.request
from dataclasses import asdict
from pathlib import Path
from typing import Any

import asyncpg
import nats
from nats.js.errors import NotFoundError

from sprakvan_cli.demo import demo_configuration
from sprakvan_intake.settings import IntakeSettings
from sprakvan_shared.auth import Role, TokenSigner, generate_private_key_pem, public_key_pem
from sprakvan_shared.contracts.intake import STREAM as INTAKE_STREAM

from .bodies import make_bodies
from .common import BENCH_DIR, HTTP_TARGET, LOCALHOST, NO_PROXY, percentile, say
from .cpu import machine_busy_now
from .infra import Infra, ScratchDatabases
from .load import LoadGenerator, LoadRun
from .servers import UvicornServer


def _until_quiet(limit_pct: float = 15.0, timeout: float = 20.0) -> float:
    """Wait until the start-ups are over (intake's migrations, its relay process importing and connecting):
    otherwise they run during the first round, as the baseline's "other" load, and favour intake."""
    started = time.monotonic()
    busy = machine_busy_now(0.5)
    while busy > limit_pct and time.monotonic() - started < timeout:
        busy = machine_busy_now(0.5)
    return busy


async def _outbox_backlog(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
    finally:
        await conn.close()


class OutboxProbe:
    """What intake's relay did while the load ran: rows published, backlog, age of the oldest unpublished row."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.conn: asyncpg.Connection | None = None

    async def __call__(self) -> dict[str, float]:
        if self.conn is None:
            self.conn = await asyncpg.connect(self.dsn)
        row = await self.conn.fetchrow(
            """SELECT count(*) FILTER (WHERE published_at IS NOT NULL) AS published,
                      count(*) FILTER (WHERE published_at IS NULL) AS backlog,
                      coalesce(extract(epoch FROM now() - min(created_at) FILTER (WHERE published_at IS NULL)), 0)
                          AS oldest_s
               FROM outbox"""
        )
        return {"published": row["published"], "backlog": row["backlog"], "oldest_s": round(float(row["oldest_s"]), 3)}

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()
            self.conn = None


async def _wait_outbox_drained(dsn: str, timeout: float = 120.0) -> tuple[int, float]:
    """The backlog left when the load stopped, and how long the relay took to publish it."""
    started = time.perf_counter()
    backlog = first = await _outbox_backlog(dsn)
    while backlog and time.perf_counter() - started < timeout:
        await asyncio.sleep(0.05)
        backlog = await _outbox_backlog(dsn)
    return first, time.perf_counter() - started


def configure_intake(port: int, admin_token: str) -> None:
    """Give the run's organisation the demo's configuration: every code the demo bodies use."""
    request = urllib.request.Request(
        f"http://{LOCALHOST}:{port}/configuration",
        data=json.dumps(demo_configuration()).encode(),
        method="PUT",
        headers={"Authorization": f"Bearer {admin_token}", "Content-Type": "application/json"},
    )
    with NO_PROXY.open(request, timeout=10) as response:
        assert response.status in (200, 201), response.status


async def _stream_last_seq(nats_url: str, stream: str) -> int:
    nc = await nats.connect(nats_url)
    try:
        return (await nc.jetstream().stream_info(stream)).state.last_seq
    except NotFoundError:
        return 0
    finally:
        await nc.close()


async def http_phase(
    args: argparse.Namespace, infra: Infra, dbs: ScratchDatabases, tag: str, log_dir: Path
) -> dict[str, Any]:
    settings = IntakeSettings()
    private_key = generate_private_key_pem()  # the benchmark signs; intake gets the public half only
    signer = TokenSigner(private_key)
    organisation_id = f"bench-{tag}"
    admin_token = signer.mint(subject="bench-admin", organisation_id=organisation_id, role=Role.ADMIN)
    token = signer.mint(subject="bench-coordinator", organisation_id=organisation_id, role=Role.COORDINATOR)
    bodies = [
        json.dumps(b, ensure_ascii=False, separators=(",", ":")).encode()
        for b in make_bodies(args.distinct_bodies, seed=args.seed)
    ]
    intake_dsn = await dbs.create("intake")
    baseline_dsn = await dbs.create("baseline")
    # The run's own namespace: intake declares its streams under it, and the run deletes them at the end.
    intake_stream = infra.namespace.stream(INTAKE_STREAM)

    common = {
        "NATS_URL": infra.nats_url,
        "NATS_NAMESPACE": infra.namespace.root,
        "LOG_LEVEL": "WARNING",
        "JWT_PUBLIC_KEY": public_key_pem(private_key),
    }
    intake = UvicornServer(
        "intake",
        "sprakvan_intake.service:SERVICE.create_app",
        {**common, "DATABASE_URL": intake_dsn},
        ready_path="/ready",
        log_dir=log_dir,
        launcher=args.launcher,
    )
    baseline = UvicornServer(
        "baseline",
        "baseline_app:create_app",
        {
            **common,
            "DATABASE_URL": baseline_dsn,
            "BENCH_POOL_MIN": str(settings.db_pool_min),
            "BENCH_POOL_MAX": str(settings.db_pool_max),
        },
        ready_path="/health",
        app_dir=BENCH_DIR,
        log_dir=log_dir,
    )
    generator = LoadGenerator(
        bodies=bodies, token=token, client_kind=args.client, idempotency_keys=args.idempotency_keys
    )
    runs: list[LoadRun] = []
    notes: list[str] = []
    offset = 0
    probe = OutboxProbe(intake_dsn)
    try:
        for server in (baseline, intake):
            server.start()
        configure_intake(intake.port, admin_token)
        settled = await asyncio.to_thread(_until_quiet)
        say(
            f"servers up: baseline :{baseline.port} (pid {baseline.pid}), intake :{intake.port} (pid {intake.pid}), "
            f"machine {settled:.0f}% busy at the start; "
            f"pool {settings.db_pool_min}-{settings.db_pool_max}, {len(bodies)} distinct bodies "
            f"(mean {statistics.mean(map(len, bodies)):.0f} B), client={args.client}"
            f"{', Idempotency-Key on every request' if args.idempotency_keys else ''}"
        )
        for clients in args.clients:
            for round_ in range(args.rounds):
                # Alternate who goes first, so a drift (cache, autovacuum, table growth) hits both alike.
                order = (baseline, intake) if round_ % 2 == 0 else (intake, baseline)
                for server in order:
                    profile = (args.profile / f"{server.name}-c{clients}-r{round_}.txt") if args.profile else None
                    run = await generator.run(
                        server,
                        clients=clients,
                        warmup=args.warmup,
                        requests=args.requests,
                        round_=round_,
                        offset=offset,
                        profile=profile,
                        probe=probe if server is intake else None,
                    )
                    offset += args.warmup + args.requests
                    if server is intake:
                        backlog, drain = await _wait_outbox_drained(intake_dsn)
                        run.extra.update({"outbox_backlog_at_end": backlog, "outbox_drain_s": round(drain, 3)})
                    runs.append(run)
                    say(
                        f"  {server.name:<8} clients={clients:<3} round={round_}  {run.rps:8.1f} req/s  "
                        f"p50 {run.p50_ms:7.2f} ms  p99 {run.p99_ms:7.2f} ms  errors {run.errors}  "
                        f"server {run.server_cpu_ms_per_request:.2f} ms CPU/req"
                        + (
                            f" (+ {run.children_cpu_ms_per_request:.3f} in its relay process)"
                            if run.children_cpu_ms_per_request
                            else ""
                        )
                        + ", syscalls/req "
                        f"{run.server_syscalls_per_request}  cpu% {run.cpu}"
                        + (
                            f"  relay under load {run.extra['relay_events_per_s_under_load']} ev/s, outbox backlog "
                            f"{run.extra['outbox_backlog_before']} -> {run.extra['outbox_backlog_after']}, oldest "
                            f"unpublished {run.extra['oldest_unpublished_event_age_s']} s, drained "
                            f"{run.extra['outbox_drain_s']} s after the load"
                            if run.extra
                            else ""
                        )
                    )
                    for sample in run.error_samples:
                        say(f"    error sample: {sample}")
        # Every registration made over HTTP must have reached the stream through intake's relay.
        conn = await asyncpg.connect(intake_dsn)
        try:
            registered = await conn.fetchval("SELECT count(*) FROM participants")
        finally:
            await conn.close()
        published = await _stream_last_seq(infra.nats_url, intake_stream) - 1  # less organisation.configured
        if published != registered:
            notes.append(f"WARNING: {registered} participants but {published} events in {intake_stream}")
        notes.append(f"intake registrations (incl. warm-up) {registered}, events in {intake_stream}: {published}")
    finally:
        await probe.close()
        for server in (intake, baseline):
            server.stop()

    summary = []
    for clients in args.clients:
        base = [r for r in runs if r.server == "baseline" and r.clients == clients]
        mine = [r for r in runs if r.server == "intake" and r.clients == clients]
        ratios = [m.rps / b.rps for m, b in zip(mine, base, strict=True) if b.rps]
        # The ratio a CPU-bound single worker would give (rate = 1 / CPU per request), per round: other work on
        # the machine takes time from the servers, which moves their rates far more than their CPU per request.
        cpu_ratios = [
            b.server_cpu_ms_per_request / m.server_cpu_ms_per_request
            for m, b in zip(mine, base, strict=True)
            if m.server_cpu_ms_per_request
        ]
        row: dict[str, Any] = {
            "clients": clients,
            "ratio": round(statistics.median(ratios), 3),
            "ratio_per_round": [round(r, 3) for r in ratios],
            "cpu_ratio": round(statistics.median(cpu_ratios), 3) if cpu_ratios else None,
            "cpu_ratio_per_round": [round(r, 3) for r in cpu_ratios],
            # How busy the rest of the machine was in each run (% of one core), baseline and intake per round.
            "other_cpu_pct_per_round": [
                (round(b.cpu.get("other_pct", 0)), round(m.cpu.get("other_pct", 0)))
                for m, b in zip(mine, base, strict=True)
            ],
        }
        for name, group in (("baseline", base), ("intake", mine)):
            pooled = sorted(itertools.chain.from_iterable(r.latencies for r in group))
            row[name] = {
                "rps": round(statistics.median(r.rps for r in group), 1),
                "p50_ms": round(1000 * percentile(pooled, 50), 2),
                "p99_ms": round(1000 * percentile(pooled, 99), 2),
                "errors": sum(r.errors for r in group),
                "server_cpu_ms_per_request": round(statistics.median(r.server_cpu_ms_per_request for r in group), 3),
                "children_cpu_ms_per_request": round(
                    statistics.median(r.children_cpu_ms_per_request for r in group), 3
                ),
                "server_write_syscalls_per_request": statistics.median(
                    r.server_syscalls_per_request["write"] for r in group
                ),
                "server_read_syscalls_per_request": statistics.median(
                    r.server_syscalls_per_request["read"] for r in group
                ),
                "server_cpu_pct": round(statistics.median(r.cpu.get("server_pct", 0) for r in group), 1),
                "loadgen_cpu_pct": round(statistics.median(r.cpu.get("loadgen_pct", 0) for r in group), 1),
                "postgres_cpu_pct": round(statistics.median(r.cpu.get("postgres_pct", 0) for r in group), 1),
                "nats_cpu_pct": round(statistics.median(r.cpu.get("nats_pct", 0) for r in group), 1),
                "machine_busy_pct": round(statistics.median(r.cpu.get("machine_busy_pct", 0) for r in group), 1),
                "other_cpu_pct": round(statistics.median(r.cpu.get("other_pct", 0) for r in group), 1),
            }
        row["intake"]["outbox_backlog_at_end_max"] = max(r.extra.get("outbox_backlog_after", 0) for r in mine)
        row["intake"]["relay_events_per_s_under_load"] = round(
            statistics.median(r.extra.get("relay_events_per_s_under_load", 0) for r in mine), 1
        )
        row["intake"]["oldest_unpublished_event_age_s_max"] = max(
            r.extra.get("oldest_unpublished_event_age_s", 0) for r in mine
        )
        row["intake"]["outbox_drain_after_load_s_max"] = max(r.extra.get("outbox_drain_s", 0) for r in mine)
        row["target"] = HTTP_TARGET
        row["meets_target"] = row["ratio"] >= HTTP_TARGET
        summary.append(row)
    return {
        "summary": summary,
        "runs": [{k: v for k, v in asdict(r).items() if k != "latencies"} for r in runs],
        "notes": notes,
        "config": {
            "pool_min": settings.db_pool_min,
            "pool_max": settings.db_pool_max,
            "distinct_bodies": len(bodies),
            "mean_body_bytes": round(statistics.mean(map(len, bodies))),
            "client": args.client,
            "idempotency_keys": args.idempotency_keys,
            "launcher": args.launcher,
            "uvicorn": "1 worker, no access log, --log-level warning, loop/http auto (uvloop/httptools)",
        },
    }
