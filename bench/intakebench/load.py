"""The load generator: N keep-alive connections, each sending the next request when the last one answered."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .common import LOCALHOST, percentile, say
from .cpu import cpu_sample, cpu_usage
from .servers import UvicornServer


def start_profiler(pid: int | None, output: Path) -> subprocess.Popen[bytes] | None:
    """py-spy (if installed) sampling the server during the timed part; collapsed stacks to ``output``."""
    py_spy = shutil.which(
        "py-spy", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    )
    if py_spy is None or pid is None:
        say("  (py-spy not found: no profile)")
        return None
    output.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(  # noqa: S603
        [
            py_spy,
            "record",
            "--pid",
            str(pid),
            "--rate",
            "250",
            "--format",
            "raw",
            "--output",
            str(output),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)  # attach before the clock starts
    return process


def stop_profiler(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=30)


class RawHttpConnection:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams; far cheaper per request than httpx,
    which matters when the load generator shares the two cores with the servers."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def request(self, data: bytes) -> tuple[int, bytes]:
        if self.writer is None or self.writer.is_closing():
            await self.connect()
        assert self.reader is not None and self.writer is not None
        self.writer.write(data)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        at = lower.find(b"\r\ncontent-length:")
        if at >= 0:
            end = lower.index(b"\r\n", at + 2)
            body = await self.reader.readexactly(int(head[at + 17 : end]))
        elif b"\r\ntransfer-encoding: chunked" in lower:
            chunks = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                chunks.append(chunk[:-2])
            body = b"".join(chunks)
        else:
            body = b""
        if b"\r\nconnection: close" in lower:
            await self.close()
        return status, body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        self.reader = self.writer = None


class HttpxConnection:
    def __init__(self, client: Any, url: str) -> None:
        self.client, self.url = client, url

    async def request(self, data: tuple[bytes, dict[str, str]]) -> tuple[int, bytes]:  # type: ignore[override]
        body, headers = data
        response = await self.client.post(self.url, content=body, headers=headers)
        return response.status_code, response.content


@dataclass
class LoadRun:
    server: str
    clients: int
    round: int
    requests: int
    ok: int
    errors: int
    elapsed_s: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[str, int]
    cpu: dict[str, float]
    server_cpu_ms_per_request: float
    server_syscalls_per_request: dict[str, float]
    children_cpu_ms_per_request: float = 0.0  # the server's child processes (intake's relay)
    error_samples: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list, repr=False)  # seconds, not written out


class LoadGenerator:
    def __init__(self, *, bodies: Sequence[bytes], token: str, client_kind: str, idempotency_keys: bool) -> None:
        self.bodies = bodies
        self.token = token
        self.client_kind = client_kind
        self.idempotency_keys = idempotency_keys
        self._sequence = itertools.count()
        self._run_id = secrets.token_hex(4)

    def _idempotency_key(self) -> str:
        return f"bench-{self._run_id}-{next(self._sequence)}"

    def _raw_request(self, port: int, index: int) -> bytes:
        body = self.bodies[index % len(self.bodies)]
        key = f"Idempotency-Key: {self._idempotency_key()}\r\n" if self.idempotency_keys else ""
        return (
            f"POST /participants HTTP/1.1\r\nHost: {LOCALHOST}:{port}\r\n"
            f"Authorization: Bearer {self.token}\r\nContent-Type: application/json\r\n"
            f"Accept: application/json\r\n{key}Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    def _httpx_request(self, index: int) -> tuple[bytes, dict[str, str]]:
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        if self.idempotency_keys:
            headers["Idempotency-Key"] = self._idempotency_key()
        return self.bodies[index % len(self.bodies)], headers

    async def run(
        self,
        server: UvicornServer,
        *,
        clients: int,
        warmup: int,
        requests: int,
        round_: int,
        offset: int,
        profile: Path | None = None,
        probe: Callable[[], Awaitable[dict[str, float]]] | None = None,
    ) -> LoadRun:
        """Warm up with ``warmup`` requests, then time ``requests`` more on the same connections."""
        port = server.port
        closers: list[Callable[[], Awaitable[None]]] = []
        if self.client_kind == "raw":
            connections: list[Any] = [RawHttpConnection(LOCALHOST, port) for _ in range(clients)]
            await asyncio.gather(*(c.connect() for c in connections))
            closers.extend(c.close for c in connections)

            def build(i: int) -> Any:
                return self._raw_request(port, offset + i)
        else:
            import httpx

            client = httpx.AsyncClient(
                trust_env=False,
                timeout=60.0,
                limits=httpx.Limits(max_connections=clients, max_keepalive_connections=clients),
            )
            closers.append(client.aclose)
            connections = [HttpxConnection(client, f"http://{LOCALHOST}:{port}/participants")] * clients

            def build(i: int) -> Any:
                return self._httpx_request(offset + i)

        try:
            await self._phase(connections, build, warmup, [], Counter(), [])
            latencies: list[float] = []
            statuses: Counter[int] = Counter()
            samples: list[str] = []
            profiler = start_profiler(server.pid, profile) if profile else None
            probed_before = await probe() if probe else {}
            before = cpu_sample(server.pid)
            started = time.perf_counter()
            await self._phase(connections, lambda i: build(warmup + i), requests, latencies, statuses, samples)
            elapsed = time.perf_counter() - started
            after = cpu_sample(server.pid)
            probed_after = await probe() if probe else {}
            if profiler:
                stop_profiler(profiler)
        finally:
            for close in closers:
                with contextlib.suppress(Exception):
                    await close()
        ok = sum(n for status, n in statuses.items() if 200 <= status < 300)
        latencies.sort()
        extra: dict[str, Any] = {}
        if probed_before and probed_after:
            published = probed_after["published"] - probed_before["published"]
            extra = {
                "relay_events_per_s_under_load": round(published / elapsed, 1),
                "outbox_backlog_before": probed_before["backlog"],
                "outbox_backlog_after": probed_after["backlog"],
                "oldest_unpublished_event_age_s": probed_after["oldest_s"],
            }
        return LoadRun(
            server=server.name,
            clients=clients,
            round=round_,
            requests=requests,
            ok=ok,
            errors=requests - ok,
            elapsed_s=round(elapsed, 3),
            rps=round(ok / elapsed, 1),
            p50_ms=round(1000 * percentile(latencies, 50), 2),
            p90_ms=round(1000 * percentile(latencies, 90), 2),
            p99_ms=round(1000 * percentile(latencies, 99), 2),
            max_ms=round(1000 * latencies[-1], 2),
            statuses={str(k): v for k, v in sorted(statuses.items())},
            extra=extra,
            cpu=cpu_usage(before, after, me_label="loadgen"),
            error_samples=samples,
            latencies=latencies,
            server_cpu_ms_per_request=round(1000 * (after.server - before.server) / max(requests, 1), 3),
            children_cpu_ms_per_request=round(
                1000
                * (after.others.get("server_children", 0.0) - before.others.get("server_children", 0.0))
                / max(requests, 1),
                3,
            ),
            server_syscalls_per_request={
                "read": round((after.server_syscalls[0] - before.server_syscalls[0]) / max(requests, 1), 2),
                "write": round((after.server_syscalls[1] - before.server_syscalls[1]) / max(requests, 1), 2),
            },
        )

    @staticmethod
    async def _phase(
        connections: Sequence[Any],
        build: Callable[[int], Any],
        total: int,
        latencies: list[float],
        statuses: Counter[int],
        samples: list[str],
    ) -> None:
        counter = itertools.count()
        perf = time.perf_counter

        async def client(conn: Any) -> None:
            while (i := next(counter)) < total:
                data = build(i)
                t0 = perf()
                status, body = await conn.request(data)
                latencies.append(perf() - t0)
                statuses[status] += 1
                if status >= 300 and len(samples) < 5:
                    samples.append(f"{status}: {body[:300]!r}")

        await asyncio.gather(*(client(c) for c in connections))
