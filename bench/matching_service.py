#!/usr/bin/env python
"""Matching service benchmark: a proposal round through the real service (HTTP API on ASGI, its relay and
consumer running, real PostgreSQL), beside two baselines measured in the same run. A benchmark, not a
test: it reports, it never fails on a number.

* ours: ``POST /programmes/sprakvan/rounds`` on a programme of N newcomers and N volunteers (the synthetic
  programme of ``bench/matching.py``, as matching's read model), answered with every proposal and its
  explanation: load the candidates, the round, a ``Pair`` and a full-state ``pair.proposed`` event per
  proposal, both stored in one transaction, the reply's JSON. Then the same again (the first round's
  proposals end as superseded: the second round also rewrites them).
* baseline 1, the domain: ``run_round`` on the same Candidate objects (no database, no events, no JSON).
* baseline 2, bare writes: the proposal rows and outbox rows that the round stored, read back and written
  again with a bare asyncpg ``COPY`` into tables of the same columns (no indexes, no triggers): what
  writing them costs without building them.

    .venv/bin/python bench/matching_service.py                  # 10,000 per side, about a minute
    .venv/bin/python bench/matching_service.py --per-side 2000  # smoke run

NATS and PostgreSQL: NATS_URL and DATABASE_URL when both are set, else embedded ones in a temp dir.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg
import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from matching_synthetic import as_candidates, neighbour_codes, programme  # noqa: E402

from sprakvan_cli.embedded import servers_from_env_or_embedded  # noqa: E402
from sprakvan_matching.domain.rounds import RoundInput, run_round  # noqa: E402
from sprakvan_matching.service import SERVICE as MATCHING  # noqa: E402
from sprakvan_shared.auth import Role, TokenSigner, generate_private_key_pem, public_key_pem  # noqa: E402
from sprakvan_shared.contracts.subjects import Namespace  # noqa: E402
from tests.kit import delete_streams, fresh_database  # noqa: E402

ORG = "bench"
PROGRAMME = "sprakvan"
TODAY = date(2026, 12, 1)
CANDIDATE_COLUMNS = [
    "participant_id", "organisation_id", "programme", "role", "status", "gender", "birth_year", "district",
    "languages", "interests", "availability", "same_gender", "age_min", "age_max", "capacity", "registered_at",
    "interviewed_on",
]  # fmt: skip


def say(*parts: object) -> None:
    print(*parts, flush=True)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def profiled(path: Path | None) -> Iterator[None]:
    """cProfile the block into ``path`` (nothing without one)."""
    if path is None:
        yield
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        profiler.dump_stats(str(path))


async def seed(pool: asyncpg.Pool, newcomers, established, neighbours: dict[str, frozenset[str]]) -> None:
    """Matching's read model as intake's events would have left it (written directly: not timed)."""
    districts = [
        {"code": d, "labels": {"sv": d, "en": d}, "neighbours": sorted(near)} for d, near in neighbours.items()
    ]
    interests = [{"code": f"i{b}", "labels": {"sv": f"intresse {b}", "en": f"interest {b}"}} for b in range(24)]
    await pool.execute(
        "INSERT INTO organisations (organisation_id, programmes, districts, interests) VALUES ($1, $2, $3, $4)",
        ORG,
        [{"code": PROGRAMME, "kind": "sprakvan", "labels": {"sv": "Språkvän", "en": "Language friend"}}],
        districts,
        interests,
    )
    records = [
        (
            c.participant_id,
            ORG,
            c.programme,
            c.role.value,
            c.status.value,
            c.gender,
            c.birth_year,
            c.district,
            sorted(c.languages),
            sorted(c.interests),
            sorted(f"{day}_{part}" for day, part in c.availability),
            c.wishes.same_gender,
            c.wishes.age_min,
            c.wishes.age_max,
            c.capacity,
            c.registered_at,
            c.interviewed_on,
        )  # fmt: skip
        for c in (*newcomers, *established)
    ]
    async with pool.acquire() as conn:
        await conn.copy_records_to_table("candidates", records=records, columns=CANDIDATE_COLUMNS)
        await conn.execute("ANALYZE candidates")


async def bare_writes(dsn: str, round_id: uuid.UUID) -> dict[str, float]:
    """The round's pair rows and outbox rows, read back and COPYed into bare tables of the same columns.
    A plain connection (no JSON codec): jsonb comes back as text and goes in as it came."""
    conn = await asyncpg.connect(dsn)
    try:
        pairs = await conn.fetch("SELECT * FROM pairs WHERE round_id = $1", round_id)
        ids = [str(r["pair_id"]) for r in pairs]
        events = await conn.fetch("SELECT * FROM outbox WHERE aggregate_id = ANY($1::text[])", ids)
        await conn.execute("CREATE TABLE bare_pairs (LIKE pairs)")
        await conn.execute("CREATE TABLE bare_outbox (LIKE outbox)")
        started = time.perf_counter()
        async with conn.transaction():
            await conn.copy_records_to_table("bare_pairs", records=pairs, columns=list(pairs[0].keys()))
            await conn.copy_records_to_table("bare_outbox", records=events, columns=list(events[0].keys()))
        seconds = time.perf_counter() - started
        await conn.execute("DROP TABLE bare_pairs, bare_outbox")
    finally:
        await conn.close()
    return {"bare_copy_s": seconds, "pair_rows": len(pairs), "outbox_rows": len(events)}


async def timed_round(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, object]:
    clock, cpu = time.perf_counter(), cpu_seconds()
    response = await client.post(f"/programmes/{PROGRAMME}/rounds", json={}, headers=auth)
    seconds, cpu_used = time.perf_counter() - clock, cpu_seconds() - cpu
    response.raise_for_status()
    body = response.json()
    return {
        "seconds": seconds,
        "cpu_s": cpu_used,
        "proposals": len(body["proposals"]),
        "superseded": body["superseded"],
        "reply_mb": len(response.content) / 1e6,
        "round_id": uuid.UUID(body["round_id"]),
    }


async def main(per_side: int, seed_value: int, profile: Path | None = None) -> dict[str, object]:
    synthetic = programme(per_side, seed_value)
    newcomers, established = as_candidates(synthetic, today=TODAY)
    neighbours = neighbour_codes(synthetic)

    domain = RoundInput(PROGRAMME, newcomers, established, {}, TODAY, neighbours=neighbours)
    clock, cpu = time.perf_counter(), cpu_seconds()
    domain_result = run_round(domain)
    domain_s, domain_cpu = time.perf_counter() - clock, cpu_seconds() - cpu

    key = generate_private_key_pem()
    token = TokenSigner(key).mint(subject="bench", organisation_id=ORG, role=Role.COORDINATOR)
    auth = {"Authorization": f"Bearer {token}"}
    tag = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as tmp, servers_from_env_or_embedded(Path(tmp)) as (nats_url, admin, source):
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(delete_streams, nats_url, Namespace(f"bench{tag}"))
            dsn = await stack.enter_async_context(fresh_database(admin, f"bench_{tag}_matching"))
            settings = MATCHING.settings(
                DATABASE_URL=dsn, NATS_URL=nats_url, NATS_NAMESPACE=f"bench{tag}",
                JWT_PUBLIC_KEY=public_key_pem(key), LOG_LEVEL="WARNING",
            )  # fmt: skip
            app = MATCHING.create_app(settings)
            await stack.enter_async_context(app.router.lifespan_context(app))
            pool = app.state.runtime.pool
            # The service's "today" is the synthetic programme's, so that waiting times are the same.
            from sprakvan_matching.entrypoints.http import context

            transport = httpx.ASGITransport(app=app)
            client = await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url="http://matching", timeout=600)
            )
            say(f"servers up ({source}); seeding {2 * per_side} candidates")
            await seed(pool, newcomers, established, neighbours)
            assert (await client.get("/health")).status_code < 500
            _pin_today(app, context)
            with profiled(profile):
                first = await timed_round(client, auth)
            # The relay publishes the first round's events before the second starts (in the same process,
            # it would otherwise take its CPU): the time until then is reported apart.
            first_published = await _wait_published(pool)
            with profiled(profile and profile.with_name(profile.name + ".second")):
                second = await timed_round(client, auth)
            bare = await bare_writes(dsn, second["round_id"])
            second_published = await _wait_published(pool)
    row = {
        "per_side": per_side,
        "servers": source,
        "domain_round_s": round(domain_s, 3),
        "domain_round_cpu_s": round(domain_cpu, 3),
        "domain_proposals": len(domain_result.proposals),
        "first_round_s": round(first["seconds"], 3),
        "first_round_cpu_s": round(first["cpu_s"], 3),
        "second_round_s": round(second["seconds"], 3),
        "second_round_cpu_s": round(second["cpu_s"], 3),
        "proposals": first["proposals"],
        "superseded_in_second": second["superseded"],
        "reply_mb": round(first["reply_mb"], 1),
        "bare_copy_s": round(bare["bare_copy_s"], 3),
        "bare_rows": bare["pair_rows"] + bare["outbox_rows"],
        "first_over_bare": round(first["seconds"] / bare["bare_copy_s"], 1),
        "first_over_domain": round(first["seconds"] / domain_s, 2),
        "relay_after_first_s": first_published,
        "relay_after_second_s": second_published,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    return row


def _pin_today(app, context) -> None:  # noqa: ANN001
    """The service's clock at noon of the synthetic programme's day (its waiting times are counted to it)."""
    import dataclasses

    class _Request:
        def __init__(self, app) -> None:  # noqa: ANN001
            self.app = app

    found = context(_Request(app))
    app.state.matching = dataclasses.replace(found, clock=lambda: datetime.combine(TODAY, datetime.min.time(), UTC))


async def _wait_published(pool: asyncpg.Pool, limit: float = 300.0) -> float | None:
    """Seconds until the relay has published every outbox row (None: not within ``limit``)."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        if not await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"):
            return round(time.perf_counter() - started, 1)
        await asyncio.sleep(0.2)
    return None


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-side", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--profile", type=Path, help="cProfile both rounds (the event loop's thread)")
    args = parser.parse_args()
    result = asyncio.run(main(args.per_side, args.seed, args.profile))
    say(
        f"{result['per_side']} per side ({result['servers']} servers), {result['proposals']} proposals: "
        f"service round {result['first_round_s']} s (CPU {result['first_round_cpu_s']} s), second round "
        f"{result['second_round_s']} s (superseding {result['superseded_in_second']}); domain round alone "
        f"{result['domain_round_s']} s; bare COPY of the {result['bare_rows']} rows {result['bare_copy_s']} s; "
        f"service / bare {result['first_over_bare']}, service / domain {result['first_over_domain']}; "
        f"reply {result['reply_mb']} MB; relay done {result['relay_after_first_s']} s after the first, "
        f"{result['relay_after_second_s']} s after the second; "
        f"peak {result['peak_rss_mb']} MB; load {result['load_average_1min']}"
    )
    out = args.output or HERE / "results" / f"matching-service-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    say(f"written to {out}")
