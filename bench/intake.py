#!/usr/bin/env python
"""Intake benchmark: registrations/s over HTTP and outbox-relay publishing, each as a ratio against a
bare baseline measured in the same run. A benchmark, not a test: it reports, it never fails on a number.

1. ``POST /participants`` under N concurrent keep-alive clients, against the real intake app (uvicorn
   subprocess, one worker) and against ``bench/baseline_app.py`` (parse JSON, insert one row): see
   ``intakebench/http_phase.py``.
2. The outbox relay draining a pre-filled outbox, against raw ``js.publish_async`` of the same messages:
   ``intakebench/relay_phase.py``.

The parts live in ``bench/intakebench/`` (bench/README.md lists them).

    .venv/bin/python bench/intake.py                 # full run (~3 min)
    .venv/bin/python bench/intake.py --quick         # smoke run (< 1 min)
    .venv/bin/python bench/intake.py --clients 16,32,64
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import shutil
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: the parts sit beside it

from intakebench import cpu  # noqa: E402
from intakebench.common import RESULTS_DIR, say  # noqa: E402
from intakebench.http_phase import http_phase  # noqa: E402
from intakebench.infra import Infra, ScratchDatabases  # noqa: E402
from intakebench.relay_phase import relay_phase  # noqa: E402
from intakebench.report import print_report  # noqa: E402


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--clients", default=None, help="concurrent clients, or a comma-separated sweep like 16,32,64 (default 32)"
    )
    parser.add_argument("--requests", type=int, default=None, help="timed requests per run (default 8000)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed requests before each run (default 800)")
    parser.add_argument("--events", type=int, default=None, help="outbox events for the relay phase (default 20000)")
    parser.add_argument(
        "--batch-size", type=int, default=None, help="relay batch size (default: IntakeSettings().relay_batch_size)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="repetitions of each comparison, alternating order; medians are reported (default 3)",
    )
    parser.add_argument(
        "--client",
        choices=["raw", "httpx"],
        default="raw",
        help="load generator: raw asyncio HTTP/1.1 (default, cheapest) or httpx.AsyncClient",
    )
    parser.add_argument(
        "--launcher",
        choices=["uvicorn", "sprakvan"],
        default="uvicorn",
        help="start intake with `python -m uvicorn --factory ...` exactly like the baseline (default) "
        "or with `sprakvan serve intake` as the container does",
    )
    parser.add_argument(
        "--idempotency-keys",
        action="store_true",
        help="send a unique Idempotency-Key with every registration (intake then also looks it up)",
    )
    parser.add_argument("--distinct-bodies", type=int, default=2000, help="distinct registration bodies, cycled")
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="DIR",
        help="sample each server with py-spy (if installed) during the timed runs; collapsed "
        "stacks into DIR (the profiler costs CPU too: do not compare rates of such runs)",
    )
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--skip-relay", action="store_true")
    parser.add_argument("--quick", action="store_true", help="small numbers for a smoke run (< 30 s)")
    parser.add_argument(
        "--output", type=Path, default=None, help="JSON file (default bench/results/intake-<time>.json)"
    )
    args = parser.parse_args(argv)
    quick = {"clients": "16", "requests": 600, "warmup": 100, "events": 2000, "rounds": 1}
    full = {"clients": "32", "requests": 8000, "warmup": 800, "events": 20000, "rounds": 3}
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.clients = [int(c) for c in str(args.clients).split(",") if c.strip()]
    if not args.clients or min(args.clients) < 1 or args.requests < 1 or args.events < 1 or args.rounds < 1:
        parser.error("--clients, --requests, --events and --rounds must be positive")
    return args


async def amain(args: argparse.Namespace) -> int:
    tag = secrets.token_hex(4)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    infra = Infra(tag)
    infra.start()
    cpu.set_scope(
        cpu.CpuScope(
            tag, urlsplit(infra.database_url).port or 5432, urlsplit(infra.nats_url.split(",")[0]).port or 4222
        )
    )
    dbs = ScratchDatabases(infra.database_url, tag)
    idle = cpu.machine_busy_now()
    if idle > 15:
        say(
            f"WARNING: the machine is already {idle:.0f}% busy before the benchmark starts (other processes); "
            "expect noisy absolute rates. Ratios are paired per round to absorb some of it."
        )
    log_dir = Path(tempfile.mkdtemp(prefix=f"sprakvan-bench-{tag}-logs-"))
    result: dict[str, Any] = {
        "benchmark": "intake",
        "started_at": started_at,
        "tag": tag,
        "arguments": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "environment": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "servers": infra.source,
            "event_loop": type(asyncio.get_running_loop()).__module__,
            "note": "load generator, servers, PostgreSQL and NATS share the same cores",
            "machine_busy_pct_before_start": idle,
        },
    }
    try:
        if not args.skip_http:
            say(
                f"phase 1: HTTP registrations, clients {args.clients}, {args.warmup} warm-up + {args.requests} "
                f"timed requests per run, {args.rounds} round(s)"
            )
            result["http"] = await http_phase(args, infra, dbs, tag, log_dir)
        if not args.skip_relay:
            say(f"phase 2: outbox relay vs raw publish_async, {args.events} events, {args.rounds} round(s)")
            result["relay"] = await relay_phase(args, infra, dbs, tag)
    finally:
        await dbs.drop_all()
        for stream in await infra.delete_streams():
            say(f"deleted stream {stream}")
        infra.stop()
        shutil.rmtree(log_dir, ignore_errors=True)
    path = args.output or RESULTS_DIR / f"intake-{started_at.replace(':', '').replace('+0000', 'Z')}-{tag}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    result["json_path"] = str(path)
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n")
    print_report(result)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import uvloop
    except ImportError:
        return asyncio.run(amain(args))
    return uvloop.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())
