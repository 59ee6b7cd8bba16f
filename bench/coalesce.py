"""Registrations stored one statement each, against the same rows coalesced (``sprakvan_shared.coalesce``).

Intake's own statement (a participant and its outbox row, ``sprakvan_intake.adapters.repository``) on
intake's own schema and pool, with C concurrent writers: rows/s and this process's CPU per row, one by
one (``db.single_statement``, the one-row statement) and coalesced (``CoalescedStatement.execute``), in the
same run, alternating. No HTTP: ``bench/intake.py`` measures the service around it. Prints a table; asserts
nothing. The CPU per row is the steady figure; rows/s here follow the disk (WAL flushes, new WAL segments
of a fresh database) and swing between runs.

    .venv/bin/python bench/coalesce.py [--clients 1,4,32] [--rows 6000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from intakebench.bodies import make_bodies
from intakebench.common import say
from intakebench.infra import Infra, ScratchDatabases

from sprakvan_intake.adapters import repository
from sprakvan_intake.domain.commands import RegisterParticipant
from sprakvan_intake.domain.model import Participant, ParticipantDetails
from sprakvan_intake.service import SERVICE
from sprakvan_intake.service_layer import events
from sprakvan_shared import db, outbox
from sprakvan_shared.logging import configure_logging


def registration_rows(count: int) -> list[tuple[Any, ...]]:
    """Statement parameters of ``count`` registrations of the demo programme, each with new ids."""
    rows = []
    for body in make_bodies(count, seed=7):
        command = RegisterParticipant.model_validate(body)
        details = ParticipantDetails.model_construct(
            **{name: getattr(command, name) for name in ParticipantDetails.model_fields}
        )
        participant = Participant.register(
            organisation_id="bench", role=command.role, details=details, now=datetime.now(UTC)
        )
        rows.append((*repository._to_row(participant), *outbox.outbox_row(events.registered(participant))))
    return rows


async def one_run(write: Callable[[tuple[Any, ...]], Awaitable[None]], rows: list[tuple[Any, ...]], clients: int):  # noqa: ANN201
    queue = iter(rows)

    async def writer() -> None:
        for row in queue:
            await write(row)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(clients)))
    return len(rows) / (time.perf_counter() - wall), (time.process_time() - cpu) / len(rows) * 1e6


async def amain(args: argparse.Namespace) -> None:
    configure_logging("bench", level="WARNING", json=False)
    tag = secrets.token_hex(4)
    infra = Infra(tag)
    infra.start()
    dbs = ScratchDatabases(infra.database_url, tag)
    try:
        pool = await db.create_pool(await dbs.create("coalesce"))
        async with pool.acquire() as conn:
            await db.migrate(conn, [*db.shared_migrations(), *SERVICE.migrations()])
        statement = repository._REGISTER
        template = registration_rows(200)

        async def alone(row: tuple[Any, ...]) -> None:
            async with db.single_statement(pool) as conn:
                await conn.execute(statement.one, *row)

        async def coalesced(row: tuple[Any, ...]) -> None:
            await statement.execute(pool, row)

        say(f"{'clients':>7} | {'one by one rows/s':>17} {'µs CPU/row':>10} | {'coalesced rows/s':>16} "
            f"{'µs CPU/row':>10} | CPU ratio  rate ratio")  # fmt: skip
        for clients in args.clients:
            runs: dict[str, list[tuple[float, float]]] = {"alone": [], "coalesced": []}
            for round_ in range(args.rounds):
                order = [("alone", alone), ("coalesced", coalesced)]
                for name, write in order if round_ % 2 == 0 else order[::-1]:
                    rows = [(uuid.uuid4(), *r[1:18], uuid.uuid4(), *r[19:]) for r in template * (args.rows // 200)]
                    runs[name].append(await one_run(write, rows, clients))
            (a_rate, a_cpu), (c_rate, c_cpu) = (
                tuple(statistics.median(v) for v in zip(*runs[name], strict=True)) for name in ("alone", "coalesced")
            )
            say(
                f"{clients:>7} | {a_rate:>17.0f} {a_cpu:>10.1f} | {c_rate:>16.0f} {c_cpu:>10.1f} | "
                f"{c_cpu / a_cpu:9.2f}  {c_rate / a_rate:10.2f}"
            )
        statements, sent = statement.counts(pool)
        say(f"coalesced: {sent} rows in {statements} statements ({sent / max(statements, 1):.1f} rows each)")
        await pool.close()
    finally:
        await dbs.drop_all()
        infra.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1,4,32", help="comma-separated concurrent writers")
    parser.add_argument("--rows", type=int, default=6000, help="rows per run")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    args.clients = [int(c) for c in args.clients.split(",")]
    try:
        import uvloop
    except ImportError:
        asyncio.run(amain(args))
    else:
        uvloop.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())
