"""The outbox relay in a child process of its own (``RELAY_PROCESS``, as deployed): it publishes what the
service commits, comes back after it dies, and never outlives its service."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from dataclasses import asdict

import nats
import psutil

from sprakvan_intake.service import SERVICE as INTAKE
from sprakvan_shared.contracts.subjects import INTAKE_STREAM, Namespace
from sprakvan_shared.relay_process import RelayConfig

from . import factories
from .conftest import ORG_A, eventually
from .factories import newcomer
from .kit import mint_token
from .streams import PARTICIPANT_AGGREGATES, stream_messages


async def _published(nc: nats.NATS, ns: Namespace, expected: int) -> bool:
    messages = await stream_messages(nc.jetstream(), ns.stream(INTAKE_STREAM), aggregates=PARTICIPANT_AGGREGATES)
    return len(messages) == expected


async def test_the_relay_child_publishes_reports_comes_back_after_sigkill_and_stops_with_its_service(
    start_service,
    nc: nats.NATS,
    ns: Namespace,  # noqa: ANN001
) -> None:
    async with start_service(INTAKE, relay_process=True) as svc:
        runtime = svc.runtime
        assert runtime.relay is None and runtime.relay_process is not None
        child = runtime.relay_process
        first_pid = await eventually(lambda: _value(child.pid))
        assert psutil.Process(first_pid).ppid() == os.getpid()
        await factories.configure(svc.client, [mint_token(ORG_A, "admin")])
        assert (await svc.client.post("/participants", json=newcomer())).status_code == 201
        await eventually(lambda: _published(nc, ns, 1))
        await eventually(lambda: _value(child.leading and child.published_total >= 1))

        os.kill(first_pid, signal.SIGKILL)
        await eventually(lambda: _value(child.pid not in (None, first_pid)), timeout=15)
        assert child.restarts == 1
        assert (await svc.client.post("/participants", json=newcomer(first_name="Efter"))).status_code == 201
        await eventually(lambda: _published(nc, ns, 2), timeout=15)
        second_pid = child.pid
    assert second_pid is not None and not psutil.pid_exists(second_pid)  # stopped and reaped with the service


async def test_a_relay_child_whose_parent_is_gone_stops(database_url: str, nats_url: str, ns: Namespace) -> None:
    """SIGKILL of the service closes the child's stdin with it: the child sees that and stops."""
    settings = INTAKE.settings(DATABASE_URL=database_url, NATS_URL=nats_url, NATS_NAMESPACE=ns.root)
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sprakvan_shared.relay_process",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        child.stdin.write(json.dumps(asdict(RelayConfig.of("intake", settings))).encode() + b"\n")
        await child.stdin.drain()
        first_report = json.loads(await asyncio.wait_for(child.stdout.readline(), timeout=30))
        assert set(first_report) == {"leading", "published", "parked"}
        child.stdin.close()  # what the kernel does when the parent dies
        assert await asyncio.wait_for(child.wait(), timeout=15) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            child.kill()


async def _value(value: object) -> object:
    return value or None
