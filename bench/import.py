#!/usr/bin/env python
"""Import benchmark: 10,000 participants, 5,000 pairs and 100,000 attendance rows (with the venue, activity
and 1,000 occurrences they need) from one XLSX file through the services' import endpoints, time per kind
and rows/s, beside baselines in the same run. A benchmark, not a test: it reports, it never fails on a number.

* ours: ``sprakvan_importer`` end to end (read the XLSX, map codes, send chunks of 1000 in dependency
  order to intake, events and matching running in-process on ASGI with their relays and consumers).
* baseline 1: reading and planning the same file alone (openpyxl plus our cell parsing, no services).
* baseline 2: a bare asyncpg COPY of the same rows (key and JSON body) into an empty table, per kind:
  what writing them costs with no validation, no events, no transaction per chunk.

    .venv/bin/python bench/import.py               # full run
    .venv/bin/python bench/import.py --scale 0.05  # smoke run
NATS and PostgreSQL: NATS_URL and DATABASE_URL when both are set, else embedded ones in a temp dir.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sprakvan_cli.embedded import servers_from_env_or_embedded  # noqa: E402
from sprakvan_events.service import SERVICE as EVENTS  # noqa: E402
from sprakvan_importer import Services, plan_for, read_file, run_import  # noqa: E402
from sprakvan_importer.writing import Table, xlsx_bytes  # noqa: E402
from sprakvan_intake.service import SERVICE as INTAKE  # noqa: E402
from sprakvan_matching.service import SERVICE as MATCHING  # noqa: E402
from sprakvan_shared.auth import Role, TokenSigner, generate_private_key_pem, public_key_pem  # noqa: E402
from sprakvan_shared.contracts.subjects import Namespace  # noqa: E402
from tests.factories import configuration  # noqa: E402
from tests.kit import delete_streams, fresh_database  # noqa: E402

ORG = "bench"
DISTRICTS = ["skaggetorp", "ryd", "berga", "innerstaden", "ekholmen"]


def _person(i: int) -> list:
    newcomer = i % 2 == 0
    role, gender, day = ("newcomer" if newcomer else "established"), ("woman" if i % 3 else "man"), _day(i)
    return [f"p{i}", role, "sprakvan", "Person", f"P{i}", f"p{i}@example.org", gender, 1960 + i % 40,
            DISTRICTS[i % 5], "A2" if newcomer else None, None if newcomer else 1, day]  # fmt: skip


def _day(i: int) -> str:
    return f"2024-{1 + i % 12:02}-{1 + i % 28:02}"


def tables(scale: float) -> list[Table]:
    n_people, n_pairs, n_occurrences, per_occurrence = int(10_000 * scale), int(5_000 * scale), int(1000 * scale), 100
    pairs = [[f"pair{i}", "sprakvan", f"p{2 * i}", f"p{2 * i + 1}", "2024-12-30"] for i in range(n_pairs)]
    occurrences = [[f"o{i}", "a1", _day(i), "18:00", "20:00"] for i in range(n_occurrences)]
    attendance = [[f"c{o}-{j}", f"o{o}", f"p{(o * 7 + j) % n_people}", "came"]
                  for o in range(n_occurrences) for j in range(per_occurrence)]  # fmt: skip
    people = ["key", "role", "programme", "first name", "last name", "email", "gender", "birth year", "district",
              "swedish level", "capacity", "registered"]  # fmt: skip
    return [
        Table("participants", people, [_person(i) for i in range(n_people)]),
        Table("venues", ["key", "name", "district"], [["v1", "Bibliotek", "skaggetorp"]]),
        Table("activities", ["key", "title", "type", "venue"], [["a1", "Språkcafé", "language_cafe", "v1"]]),
        Table("occurrences", ["key", "activity", "date", "starts", "ends"], occurrences),
        Table("attendance", ["key", "occurrence", "participant", "outcome"], attendance),
        Table("pairs", ["key", "programme", "newcomer", "established", "matching conversation"], pairs),
    ]


async def known_everywhere(apps: dict, count: int) -> None:
    """Wait until the events and matching services have consumed ``count`` participants (a condition, polled):
    the services' imports race a participant arriving between two of their reads (see the README)."""
    queries = {"events": "SELECT count(*) FROM participants", "matching": "SELECT count(*) FROM candidates"}
    for name, query in queries.items():
        while await apps[name].state.runtime.pool.fetchval(query) < count:
            await asyncio.sleep(0.1)


async def copy_baseline(dsn: str, plan) -> dict[str, float]:
    """Rows/s of a bare COPY of each kind's rows (key, JSON body) into an empty table."""
    conn = await asyncpg.connect(dsn)
    rates = {}
    try:
        for name, kind_plan in plan.kinds.items():
            table = f"bare_{name.replace('-', '_')}"
            await conn.execute(f"CREATE TABLE {table} (key text PRIMARY KEY, body jsonb NOT NULL)")
            records = [(r.key, json.dumps(r.fields)) for r in kind_plan.rows]
            started = time.perf_counter()
            await conn.copy_records_to_table(table, records=records)
            rates[name] = len(records) / (time.perf_counter() - started)
    finally:
        await conn.close()
    return rates


async def start(stack: contextlib.AsyncExitStack, service, admin_dsn: str, nats_url: str, tag: str, key: str):
    dsn = await stack.enter_async_context(fresh_database(admin_dsn, f"bench_{tag}_{service.name}"))
    settings = service.settings(DATABASE_URL=dsn, NATS_URL=nats_url, NATS_NAMESPACE=f"bench{tag}",
                                JWT_PUBLIC_KEY=public_key_pem(key), LOG_LEVEL="WARNING")  # fmt: skip
    app = service.create_app(settings)
    await stack.enter_async_context(app.router.lifespan_context(app))
    transport = httpx.ASGITransport(app=app)
    client = await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://s", timeout=300))
    return app, client


def show(report, rows: int, parsing: float, bare: dict[str, float]) -> None:
    print(f"  reading and planning alone: {parsing:.1f} s, {rows / parsing:,.0f} rows/s")
    print(f"  {'kind':<12} {'rows':>7} {'refused':>8} {'seconds':>8} {'rows/s':>8} {'COPY rows/s':>12} {'ratio':>6}")
    for k in report.kinds:
        rate = k.rows / k.seconds if k.seconds else 0.0
        copy = bare.get(k.kind, 0.0)
        ratio = rate / copy if copy else 0.0
        print(f"  {k.kind:<12} {k.rows:>7} {k.refused:>8} {k.seconds:>8.1f} {rate:>8,.0f} {copy:>12,.0f} {ratio:>6.3f}")
    total = sum(k.seconds for k in report.kinds)
    print(f"  all kinds: {total:.1f} s, {rows / total:,.0f} rows/s (plus {parsing:.1f} s reading)")


async def main(scale: float) -> None:
    data = xlsx_bytes(tables(scale))
    key = generate_private_key_pem()
    auth = {"Authorization": f"Bearer {TokenSigner(key).mint(subject='bench', organisation_id=ORG, role=Role.ADMIN)}"}
    tag = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as tmp:
        with servers_from_env_or_embedded(Path(tmp)) as (nats_url, admin_dsn, source):
            async with contextlib.AsyncExitStack() as stack:
                stack.push_async_callback(delete_streams, nats_url, Namespace(f"bench{tag}"))
                apps, clients = {}, {}
                for service in (INTAKE, EVENTS, MATCHING):
                    app, clients[service.name] = await start(stack, service, admin_dsn, nats_url, tag, key)
                    apps[service.name] = app
                services = Services(clients, auth)
                assert (await clients["intake"].put("/configuration", json=configuration(), headers=auth)).is_success
                started = time.perf_counter()
                plan = await plan_for(read_file("bench.xlsx", data), services)
                parsing = time.perf_counter() - started
                waited = {"seconds": 0.0}

                async def spread(kind_report) -> None:
                    if kind_report.kind == "participants":  # until events and matching know everyone
                        started = time.perf_counter()
                        await known_everywhere(apps, kind_report.created)
                        waited["seconds"] = time.perf_counter() - started

                report = await run_import(plan, services, dry_run=False, after_kind=spread)
                bare = await copy_baseline(
                    await stack.enter_async_context(fresh_database(admin_dsn, f"bench_{tag}_bare")), plan
                )
            rows = sum(len(k.rows) for k in plan.kinds.values())
            print(f"import of a {len(data) / 1e6:.1f} MB XLSX, {rows} rows; services in-process, {source} servers")
            show(report, rows, parsing, bare)
            print(f"  waited {waited['seconds']:.1f} s after the participants until events and matching knew all")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full sizes (default 1)")
    asyncio.run(main(parser.parse_args().scale))
