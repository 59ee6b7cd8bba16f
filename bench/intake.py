#!/usr/bin/env python
"""Intake benchmark: registrations/s over HTTP and outbox-relay publishing, each as a ratio against a
bare baseline measured in the same run. A benchmark, not a test: it reports, it never fails on a number.

1. ``POST /participants`` under N concurrent keep-alive clients, against the real intake app (uvicorn
   subprocess, one worker: auth, validation, domain rules, participants row + outbox row in one
   transaction, and its outbox relay publishing to JetStream in the background), and the same load
   against ``bench/baseline_app.py`` (parse JSON, insert one row with asyncpg, same pool size, same
   uvicorn). Reports registrations/s, the ratio intake/baseline and p50/p99 latency.
2. ``OutboxRelay.relay_batch()`` draining a pre-filled outbox, against raw ``js.publish_async`` of the
   same pre-serialised messages (same subject, body, headers with ``Nats-Msg-Id``, same batch size,
   each batch's acks awaited), into a fresh stream made by ``ensure_streams``/``stream_config``.

Infrastructure: ``DATABASE_URL`` / ``NATS_URL`` from the environment when set, otherwise embedded
servers (``sprakvan_cli.embedded``) in a temp dir. Every run uses fresh databases (``bench_<tag>_*``,
dropped at the end) and its own stream for the relay phase; see bench/README.md.

    .venv/bin/python bench/intake.py                 # full run (~2 min)
    .venv/bin/python bench/intake.py --quick         # smoke run (< 30 s)
    .venv/bin/python bench/intake.py --clients 16,32,64
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import nats
from nats.js.errors import NotFoundError

from sprakvan_intake.domain.commands import RegisterParticipant
from sprakvan_intake.domain.languages import LANGUAGE_CODES
from sprakvan_intake.domain.model import Participant, ParticipantDetails, check_details
from sprakvan_intake.service_layer import events as intake_events
from sprakvan_intake.settings import IntakeSettings
from sprakvan_shared import outbox
from sprakvan_shared.auth import HS256Verifier, Role
from sprakvan_shared.contracts.intake import STREAM as INTAKE_STREAM
from sprakvan_shared.contracts.intake import ParticipantRegistered
from sprakvan_shared.contracts.subjects import (
    DEAD_LETTER_STREAM,
    HEADER_CORRELATION_ID,
    HEADER_EVENT_TYPE,
    HEADER_MSG_ID,
    Namespace,
    StreamSpec,
    service_stream,
)
from sprakvan_shared.db import create_pool, migrate, shared_migrations
from sprakvan_shared.messaging import ensure_streams

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
LOCALHOST = "127.0.0.1"
HTTP_TARGET = 0.6  # intake >= 0.6 x baseline registrations/s
RELAY_TARGET = 0.5  # relay >= 0.5 x raw publish_async events/s

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def say(*parts: object) -> None:
    print(*parts, flush=True)


# =================================================================================================
# Realistic, valid registration bodies
# =================================================================================================
_NEWCOMER_FIRST = [
    "Amina",
    "Yusuf",
    "Fatima",
    "Omar",
    "Hiba",
    "Ahmad",
    "Zahra",
    "Ali",
    "Leyla",
    "Mohammed",
    "Sara",
    "Hassan",
    "Nour",
    "Abdi",
    "Hodan",
    "Olena",
    "Dmytro",
    "Iryna",
    "Tesfay",
    "Selam",
    "Mariam",
    "Reza",
    "Shirin",
    "Khalid",
    "Aya",
    "Farhan",
    "Rahel",
    "Bashir",
    "Nasrin",
    "Ivan",
]
_NEWCOMER_LAST = [
    "Hassan",
    "Ahmadi",
    "Mohamed",
    "Ali",
    "Abdullahi",
    "Karimi",
    "Hosseini",
    "Yilmaz",
    "Kovalenko",
    "Shevchenko",
    "Tesfaye",
    "Haile",
    "Rahimi",
    "Osman",
    "Nazari",
    "Ibrahim",
]
_ESTABLISHED_FIRST = [
    "Anna",
    "Erik",
    "Karin",
    "Lars",
    "Maria",
    "Johan",
    "Eva",
    "Per",
    "Ingrid",
    "Sven",
    "Åsa",
    "Björn",
    "Linnéa",
    "Gustav",
    "Elin",
    "Mikael",
    "Sofia",
    "Anders",
    "Maja",
    "Oskar",
]
_ESTABLISHED_LAST = [
    "Andersson",
    "Johansson",
    "Karlsson",
    "Nilsson",
    "Eriksson",
    "Larsson",
    "Olsson",
    "Persson",
    "Svensson",
    "Gustafsson",
    "Pettersson",
    "Lindqvist",
    "Lindberg",
    "Öberg",
    "Ekström",
    "Björk",
    "Sandberg",
    "Holm",
    "Virtanen",
    "Korhonen",
]
_DISTRICTS = [
    "Rinkeby",
    "Tensta",
    "Husby",
    "Skärholmen",
    "Södermalm",
    "Vasastan",
    "Kungsholmen",
    "Hässelby",
    "Farsta",
    "Angered",
    "Biskopsgården",
    "Hisingen",
    "Majorna",
    "Rosengård",
    "Möllevången",
    "Gottsunda",
    "Sävja",
    "Ryd",
    "Skäggetorp",
    "Navestad",
]
_NEWCOMER_LANGUAGES = [
    "ar",
    "prs",
    "fa",
    "ckb",
    "kmr",
    "so",
    "ti",
    "tig",
    "uk",
    "ru",
    "tr",
    "ps",
    "am",
    "en",
    "fr",
    "es",
    "sq",
    "bs",
    "sw",
    "ur",
    "hi",
    "pl",
    "ro",
    "mnk",
    "orm",
]
_ESTABLISHED_LANGUAGES = ["sv", "en", "de", "fi", "es", "fr", "no", "da", "pl", "ar", "it", "fa", "ru"]
_LEVELS = ["basic", "conversational", "fluent", "native"]
_SWEDISH_LEVELS = ["none", "A1", "A2", "B1", "B2", "C1"]
_INTERESTS = [
    "fika",
    "promenader",
    "matlagning",
    "fotboll",
    "läsning",
    "musik",
    "stickning",
    "schack",
    "trädgård",
    "cykling",
    "film",
    "museer",
    "fiske",
    "bakning",
    "språkkafé",
    "körsång",
    "naturen",
    "yoga",
    "svampplockning",
    "brädspel",
    "slöjd",
    "innebandy",
    "bibliotek",
]
_WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_PARTS = ["morning", "afternoon", "evening"]
_REFERRALS = [
    "self",
    "friend",
    "municipality",
    "employment_service",
    "sfi",
    "red_cross",
    "church",
    "womens_association",
    "library",
    "fair",
    "campaign",
    "other",
]
_GENDERS = ["woman", "woman", "man", "man", "non_binary", "undisclosed"]
_CAMPAIGNS = ["hosten-2025", "sfi-mars", "biblioteket-vecka-12", "radio-p4"]

assert set(_NEWCOMER_LANGUAGES) | set(_ESTABLISHED_LANGUAGES) <= LANGUAGE_CODES


def _ascii(name: str) -> str:
    return name.lower().translate(str.maketrans("åäöé", "aaoe"))


def _code(label: str) -> str:
    return "-".join(_ascii(label).split())


def bench_configuration() -> dict[str, Any]:
    """The ``PUT /configuration`` body with every code ``make_registration`` uses."""

    def entries(labels: Sequence[str]) -> list[dict[str, Any]]:
        return [{"code": _code(label), "labels": {"sv": label, "en": label}} for label in labels]

    return {
        "programmes": entries(["Språkvän"]),
        "districts": entries(_DISTRICTS),
        "interests": entries(_INTERESTS),
        "campaigns": entries(_CAMPAIGNS),
        "referral_sources": entries(_REFERRALS),
    }


def configure_intake(port: int, admin_token: str) -> None:
    request = urllib.request.Request(
        f"http://{LOCALHOST}:{port}/configuration",
        data=json.dumps(bench_configuration()).encode(),
        method="PUT",
        headers={"Authorization": f"Bearer {admin_token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our own local server
        assert response.status == 201, response.status


def make_registration(rng: random.Random, now: datetime) -> dict[str, Any]:
    """One valid ``POST /participants`` body; newcomers and established residents about 60/40."""
    newcomer = rng.random() < 0.6
    first = rng.choice(_NEWCOMER_FIRST if newcomer else _ESTABLISHED_FIRST)
    last = rng.choice(_NEWCOMER_LAST if newcomer else _ESTABLISHED_LAST)
    body: dict[str, Any] = {
        "role": "newcomer" if newcomer else "established",
        "programme": "sprakvan",
        "first_name": first,
        "last_name": last,
        "gender": rng.choice(_GENDERS),
        "birth_year": rng.randint(1948, 2007),
        "district": _code(rng.choice(_DISTRICTS)),
        "consent": {
            "data_processing": True,
            "photo": rng.random() < 0.4,
            "given_at": (now - timedelta(days=rng.randint(1, 30), minutes=rng.randint(0, 1440))).isoformat(),
        },
        "referral_source": rng.choice(_REFERRALS),
    }
    contact = rng.random()
    if contact < 0.8:
        body["email"] = f"{_ascii(first)}.{_ascii(last)}{rng.randint(1, 999)}@example.se"
    if contact > 0.5:
        body["phone"] = f"+46 7{rng.randint(0, 9)} {rng.randint(100, 999)} {rng.randint(10, 99)} {rng.randint(10, 99)}"
    pool = _NEWCOMER_LANGUAGES if newcomer else _ESTABLISHED_LANGUAGES
    body["languages"] = [{"code": code, "level": rng.choice(_LEVELS)} for code in rng.sample(pool, rng.randint(1, 3))]
    if newcomer:
        body["swedish_level"] = rng.choice(_SWEDISH_LEVELS)
    else:
        body["capacity"] = rng.randint(1, 3)
        if all(skill["code"] != "sv" for skill in body["languages"]):
            body["languages"].insert(0, {"code": "sv", "level": "native"})
    body["interests"] = [_code(interest) for interest in rng.sample(_INTERESTS, rng.randint(0, 5))]
    slots = rng.sample([(d, p) for d in _WEEKDAYS for p in _PARTS], rng.randint(1, 6))
    body["availability"] = [{"weekday": d, "part_of_day": p} for d, p in slots]
    if rng.random() < 0.3:
        low = rng.randint(18, 50)
        body["wishes"] = {"same_gender": rng.random() < 0.5, "age_min": low, "age_max": low + rng.randint(5, 40)}
    if body["referral_source"] == "campaign" or rng.random() < 0.1:
        body["campaign"] = rng.choice(_CAMPAIGNS)
    return body


def make_bodies(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    bodies = [make_registration(rng, now) for _ in range(count)]
    for body in bodies:  # every body must pass intake's own rules, or we would benchmark 422s
        command = RegisterParticipant.model_validate(body)
        details = ParticipantDetails.model_validate(command.model_dump(exclude={"role"}))
        errors = check_details(command.role, details, now.date())
        if errors:
            raise AssertionError(f"generated an invalid registration: {errors} in {body}")
    return bodies


# =================================================================================================
# Infrastructure: PostgreSQL + NATS (from the env, or embedded), scratch databases
# =================================================================================================
class Infra:
    def __init__(self) -> None:
        self.database_url = os.environ.get("DATABASE_URL", "")
        self.nats_url = os.environ.get("NATS_URL", "")
        self.source = {"postgres": "env DATABASE_URL", "nats": "env NATS_URL"}
        self._tmp: Path | None = None
        self._servers: list[Any] = []

    def start(self) -> None:
        if self.database_url and self.nats_url:
            return
        from sprakvan_cli.embedded import EmbeddedNats, EmbeddedPostgres

        self._tmp = Path(tempfile.mkdtemp(prefix="sprakvan-bench-"))
        if not self.database_url:
            pg = EmbeddedPostgres(self._tmp / "pg")
            say(f"starting embedded PostgreSQL in {pg.data_dir} ...")
            pg.start()
            self._servers.append(pg)
            self.database_url = pg.url
            self.source["postgres"] = f"embedded (port {pg.port})"
        if not self.nats_url:
            server = EmbeddedNats(self._tmp / "nats")
            say(f"starting embedded NATS in {server.data_dir} ...")
            server.start()
            self._servers.append(server)
            self.nats_url = server.url
            self.source["nats"] = f"embedded (port {server.port})"

    @property
    def embedded(self) -> bool:
        return bool(self._servers)

    def stop(self) -> None:
        for server in reversed(self._servers):
            with contextlib.suppress(Exception):
                server.stop()
        self._servers.clear()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


def dsn_for(admin_dsn: str, database: str) -> str:
    parts = urlsplit(admin_dsn)
    return urlunsplit(parts._replace(path="/" + quote(database, safe="")))


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class ScratchDatabases:
    """Fresh databases for the run, all dropped at the end (also after a failure)."""

    def __init__(self, admin_dsn: str, tag: str) -> None:
        self.admin_dsn = admin_dsn
        self.tag = tag
        self.created: list[str] = []

    async def create(self, suffix: str) -> str:
        name = f"bench_{self.tag}_{suffix}"
        conn = await asyncpg.connect(self.admin_dsn)
        try:
            await conn.execute(f"CREATE DATABASE {_quote_ident(name)}")
        finally:
            await conn.close()
        self.created.append(name)
        return dsn_for(self.admin_dsn, name)

    async def drop_all(self) -> None:
        if not self.created:
            return
        conn = await asyncpg.connect(self.admin_dsn)
        try:
            for name in self.created:
                await conn.execute(f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)")
        finally:
            await conn.close()
        self.created.clear()


# =================================================================================================
# CPU accounting (Linux /proc): where the two cores went during a timed phase
# =================================================================================================
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK
    except (OSError, IndexError, ValueError):
        return 0.0


def pid_listening_on(port: int) -> int | None:
    """The process holding a listening TCP socket on ``port`` (root, or the same user, can see it)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{cols[9]}]")
    if not inodes:
        return None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in inodes:
                        return int(entry.name)
    return None


def _children(pid: int) -> list[tuple[int, str]]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_bytes()
            if int(stat.rsplit(b")", 1)[1].split()[1]) == pid:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                found.append((int(entry.name), cmdline))
    return found


class CpuScope:
    """Which processes are ours: the server under test, our PostgreSQL's backends on this run's databases
    plus its auxiliary processes (WAL writer, checkpointer...), and our NATS server. Other work on the
    machine (other engineers' tests, other databases on a shared server) shows up as ``other``."""

    def __init__(self, tag: str, pg_port: int | None, nats_port: int | None) -> None:
        self.tag = tag
        self.postmaster = pid_listening_on(pg_port) if pg_port else None
        self.nats = pid_listening_on(nats_port) if nats_port else None

    def postgres_seconds(self) -> float:
        if self.postmaster is None:
            return 0.0
        total = _proc_cpu(self.postmaster)
        for pid, cmdline in _children(self.postmaster):
            client_backend = "(" in cmdline  # "postgres: user db 127.0.0.1(port) state"
            if not client_backend or f"bench_{self.tag}" in cmdline:
                total += _proc_cpu(pid)
        return total

    def nats_seconds(self) -> float:
        return _proc_cpu(self.nats) if self.nats else 0.0


_scope: CpuScope | None = None


def _machine_ticks() -> tuple[int, int]:
    try:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return 0, 0
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


def machine_busy_now(seconds: float = 1.0) -> float:
    busy0, total0 = _machine_ticks()
    time.sleep(seconds)
    busy1, total1 = _machine_ticks()
    return round(100 * (busy1 - busy0) / max(total1 - total0, 1), 1)


def _proc_syscalls(pid: int | None) -> tuple[int, int]:
    """(read, write) syscalls of a process so far; each request's round trips show up here."""
    if not pid:
        return 0, 0
    try:
        fields = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
        return int(fields["syscr"]), int(fields["syscw"])
    except (OSError, KeyError, ValueError):
        return 0, 0


@dataclass
class CpuSample:
    at: float
    server: float
    server_syscalls: tuple[int, int]
    me: float
    others: dict[str, float]
    busy: int
    total: int


def cpu_sample(server_pid: int | None) -> CpuSample:
    busy, total = _machine_ticks()
    times = os.times()
    return CpuSample(
        at=time.perf_counter(),
        server=_proc_cpu(server_pid) if server_pid else 0.0,
        server_syscalls=_proc_syscalls(server_pid),
        me=times.user + times.system,
        others={"postgres": _scope.postgres_seconds(), "nats": _scope.nats_seconds()} if _scope else {},
        busy=busy,
        total=total,
    )


def cpu_usage(before: CpuSample, after: CpuSample, *, me_label: str) -> dict[str, float]:
    """Percent of one core for each party (200 % = both cores of a 2-core machine) and machine busy %."""
    wall = max(after.at - before.at, 1e-9)
    usage = {
        "server_pct": 100 * (after.server - before.server) / wall,
        f"{me_label}_pct": 100 * (after.me - before.me) / wall,
    }
    for name, value in after.others.items():
        usage[f"{name}_pct"] = 100 * max(value - before.others.get(name, 0.0), 0.0) / wall
    if after.total > before.total:
        cpus = os.cpu_count() or 1
        machine = 100 * cpus * (after.busy - before.busy) / (after.total - before.total)
        usage["machine_busy_pct"] = machine / cpus
        usage["other_pct"] = max(machine - sum(v for k, v in usage.items() if k != "machine_busy_pct"), 0.0)
    return {key: round(value, 1) for key, value in usage.items()}


# =================================================================================================
# Server processes (uvicorn)
# =================================================================================================
def free_port() -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((LOCALHOST, 0))
            port = sock.getsockname()[1]
        if port not in (4222, 5432, 6222, 8222, 8000, 8001):
            return port


class UvicornServer:
    def __init__(
        self,
        name: str,
        app: str,
        env: dict[str, str],
        *,
        ready_path: str,
        app_dir: Path | None = None,
        log_dir: Path,
        launcher: str = "uvicorn",
    ) -> None:
        self.name = name
        self.port = free_port()
        self.ready_path = ready_path
        self.argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            app,
            "--host",
            LOCALHOST,
            "--port",
            str(self.port),
            "--workers",
            "1",
            "--log-level",
            "warning",
            "--no-access-log",
            "--no-server-header",
        ]
        if app_dir is not None:
            self.argv[3:3] = ["--app-dir", str(app_dir)]
        if launcher == "sprakvan":  # how the Dockerfile runs a service: `sprakvan serve NAME`
            self.argv = [
                sys.executable,
                "-m",
                "sprakvan_cli.main",
                "serve",
                name,
                "--host",
                LOCALHOST,
                "--port",
                str(self.port),
            ]
        self.env = {**os.environ, **env, "PORT": str(self.port), "HOST": LOCALHOST, "PYTHONUNBUFFERED": "1"}
        self.env.pop("WEB_CONCURRENCY", None)
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self, timeout: float = 60.0) -> None:
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(  # noqa: S603
            self.argv,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        url = f"http://{LOCALHOST}:{self.port}{self.ready_path}"
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited during start-up:\n{self.log_tail()}")
            with contextlib.suppress(urllib.error.URLError, OSError):
                with _NO_PROXY.open(url, timeout=2) as resp:
                    if resp.status == 200:
                        return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} not ready within {timeout:.0f}s:\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # uvicorn: graceful, runs the lifespan shutdown
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


# =================================================================================================
# Load generator: N keep-alive connections, each sending the next request when the last one answered
# =================================================================================================
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
    error_samples: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list, repr=False)  # seconds, not written out


def percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


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


# =================================================================================================
# Phase 1: HTTP registrations, intake vs baseline
# =================================================================================================
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


class StreamGuard:
    """Intake declares SPRAKVAN_INTAKE/SPRAKVAN_DEADLETTER itself. Streams this run creates are deleted at
    the end; in a stream that already existed (a shared NATS), only the messages this run added are
    deleted, recognised by the benchmark's organisation id."""

    def __init__(self, nats_url: str, specs: Sequence[StreamSpec], organisation_id: str) -> None:
        self.nats_url = nats_url
        self.specs = specs
        self.organisation_id = organisation_id
        self.before: dict[str, int | None] = {}  # stream -> last_seq before, None when absent

    async def snapshot(self) -> None:
        nc = await nats.connect(self.nats_url)
        try:
            js = nc.jetstream()
            for spec in self.specs:
                try:
                    self.before[Namespace().stream(spec)] = (
                        await js.stream_info(Namespace().stream(spec))
                    ).state.last_seq
                except NotFoundError:
                    self.before[Namespace().stream(spec)] = None
        finally:
            await nc.close()

    async def count_since(self, name: str) -> int:
        nc = await nats.connect(self.nats_url)
        try:
            info = await nc.jetstream().stream_info(name)
            return info.state.last_seq - (self.before.get(name) or 0)
        except NotFoundError:
            return 0
        finally:
            await nc.close()

    async def cleanup(self) -> list[str]:
        notes = []
        nc = await nats.connect(self.nats_url)
        try:
            js = nc.jetstream()
            for spec in self.specs:
                last_before = self.before.get(Namespace().stream(spec), "unknown")
                if last_before is None:
                    with contextlib.suppress(NotFoundError):
                        await js.delete_stream(Namespace().stream(spec))
                        notes.append(f"deleted stream {Namespace().stream(spec)} (created by this run)")
                    continue
                try:
                    last = (await js.stream_info(Namespace().stream(spec))).state.last_seq
                except NotFoundError:
                    continue
                removed = await self._delete_own(js, Namespace().stream(spec), int(last_before) + 1, last)
                if removed:
                    notes.append(
                        f"stream {Namespace().stream(spec)} existed before: deleted the {removed} messages of this run"
                    )
        finally:
            await nc.close()
        return notes

    async def _delete_own(self, js: Any, stream: str, first: int, last: int) -> int:
        marker = f'"organisation_id":"{self.organisation_id}"'.encode()
        removed = 0

        async def one(seq: int) -> int:
            try:
                msg = await js.get_msg(stream, seq)
            except NotFoundError:
                return 0
            if msg.data and marker in msg.data:
                await js.delete_msg(stream, seq)
                return 1
            return 0

        for start in range(first, last + 1, 256):
            removed += sum(await asyncio.gather(*(one(s) for s in range(start, min(start + 256, last + 1)))))
        return removed


async def http_phase(
    args: argparse.Namespace, infra: Infra, dbs: ScratchDatabases, tag: str, log_dir: Path
) -> dict[str, Any]:
    settings = IntakeSettings()
    secret = secrets.token_urlsafe(48)
    organisation_id = f"bench-{tag}"
    token = HS256Verifier(secret).mint(
        subject="bench-coordinator", organisation_id=organisation_id, role=Role.COORDINATOR
    )
    admin_token = HS256Verifier(secret).mint(subject="bench-admin", organisation_id=organisation_id, role=Role.ADMIN)
    bodies = [
        json.dumps(b, ensure_ascii=False, separators=(",", ":")).encode()
        for b in make_bodies(args.distinct_bodies, seed=args.seed)
    ]
    intake_dsn = await dbs.create("intake")
    baseline_dsn = await dbs.create("baseline")
    guard = StreamGuard(infra.nats_url, [INTAKE_STREAM, DEAD_LETTER_STREAM], organisation_id)
    await guard.snapshot()

    common = {"NATS_URL": infra.nats_url, "LOG_LEVEL": "WARNING", "JWT_SECRET": secret}
    intake = UvicornServer(
        "intake",
        "sprakvan_intake.entrypoints.http:create_app",
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
        say(
            f"servers up: baseline :{baseline.port} (pid {baseline.pid}), intake :{intake.port} (pid {intake.pid}); "
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
                        f"server {run.server_cpu_ms_per_request:.2f} ms CPU/req, syscalls/req "
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
        stream = Namespace().stream(INTAKE_STREAM)
        published = await guard.count_since(stream) - 1  # less the organisation.configured event
        if published != registered:
            notes.append(f"WARNING: {registered} participants but {published} events in {stream}")
        notes.append(f"intake registrations (incl. warm-up) {registered}, events added to {stream}: {published}")
    finally:
        await probe.close()
        for server in (intake, baseline):
            server.stop()
        notes.extend(await guard.cleanup())

    summary = []
    for clients in args.clients:
        base = [r for r in runs if r.server == "baseline" and r.clients == clients]
        mine = [r for r in runs if r.server == "intake" and r.clients == clients]
        ratios = [m.rps / b.rps for m, b in zip(mine, base, strict=True) if b.rps]
        row: dict[str, Any] = {
            "clients": clients,
            "ratio": round(statistics.median(ratios), 3),
            "ratio_per_round": [round(r, 3) for r in ratios],
        }
        for name, group in (("baseline", base), ("intake", mine)):
            pooled = sorted(itertools.chain.from_iterable(r.latencies for r in group))
            row[name] = {
                "rps": round(statistics.median(r.rps for r in group), 1),
                "p50_ms": round(1000 * percentile(pooled, 50), 2),
                "p99_ms": round(1000 * percentile(pooled, 99), 2),
                "errors": sum(r.errors for r in group),
                "server_cpu_ms_per_request": round(statistics.median(r.server_cpu_ms_per_request for r in group), 3),
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


# =================================================================================================
# Phase 2: outbox relay drain vs raw publish_async
# =================================================================================================
def bench_event_class(producer: str) -> type[ParticipantRegistered]:
    """``participant.registered`` under the run's own subject ``sprakvan.<producer>.participant.registered``,
    so the relay phase has a stream to itself; body and headers are exactly intake's."""
    return type("BenchParticipantRegistered", (ParticipantRegistered,), {"PRODUCER": producer, "__module__": __name__})


def make_events(
    count: int, organisation_id: str, producer: str, seed: int
) -> list[tuple[ParticipantRegistered, uuid.UUID]]:
    event_class = bench_event_class(producer)
    now = datetime.now(UTC)
    payloads = []
    for body in make_bodies(min(count, 1000), seed=seed + 1):
        command = RegisterParticipant.model_validate(body)
        details = ParticipantDetails.model_validate(command.model_dump(exclude={"role"}))
        participant = Participant.register(organisation_id=organisation_id, role=command.role, details=details, now=now)
        payloads.append(intake_events.registered(participant).payload)
    result = []
    for i in range(count):
        payload = payloads[i % len(payloads)]
        event = event_class(organisation_id=organisation_id, correlation_id=uuid.uuid4().hex, payload=payload)
        result.append((event, payload.participant_id))
    return result


async def _prefill(pool: asyncpg.Pool, events: Sequence[tuple[ParticipantRegistered, uuid.UUID]]) -> None:
    """The rows ``outbox.enqueue`` would write, loaded with COPY (the relay's drain is what is timed)."""
    async with pool.acquire() as conn:
        await conn.execute("TRUNCATE outbox")
        for start in range(0, len(events), 5000):
            await conn.copy_records_to_table(
                "outbox",
                columns=[
                    "event_id",
                    "subject",
                    "event_type",
                    "organisation_id",
                    "aggregate_id",
                    "correlation_id",
                    "body",
                ],
                records=[
                    (
                        e.event_id,
                        e.subject(),
                        e.type,
                        e.organisation_id,
                        aggregate,
                        e.correlation_id,
                        e.model_dump_json().encode(),
                    )
                    for e, aggregate in events[start : start + 5000]
                ],
            )
        await conn.execute("ANALYZE outbox")


async def _fresh_stream(js: Any, spec: StreamSpec) -> None:
    with contextlib.suppress(NotFoundError):
        await js.delete_stream(spec.name)
    await ensure_streams(js, [spec])


async def _stream_count(js: Any, spec: StreamSpec) -> int:
    return (await js.stream_info(spec.name)).state.messages


async def relay_phase(args: argparse.Namespace, infra: Infra, dbs: ScratchDatabases, tag: str) -> dict[str, Any]:
    settings = IntakeSettings()
    batch_size = args.batch_size or settings.relay_batch_size
    timeout = settings.relay_publish_timeout
    producer = f"bench{tag}"
    spec = service_stream(producer)  # SPRAKVAN_BENCH<TAG> on sprakvan.bench<tag>.>, intake's stream config
    organisation_id = f"bench-{tag}"
    dsn = await dbs.create("relay")
    pool = await create_pool(dsn, min_size=settings.db_pool_min, max_size=settings.db_pool_max)
    nc = await nats.connect(infra.nats_url, name="sprakvan-bench")
    admin_js = nc.jetstream()
    rounds: list[dict[str, Any]] = []
    try:
        async with pool.acquire() as conn:
            await migrate(conn, shared_migrations())
        say(f"generating {args.events} events ...")
        events = make_events(args.events, organisation_id, producer, seed=args.seed)
        say(
            f"relay phase: {args.events} events of mean "
            f"{statistics.mean(len(e.model_dump_json()) for e, _ in events[:500]):.0f} B, "
            f"batch {batch_size}, stream {spec.name}"
        )
        for round_ in range(args.rounds):
            await _prefill(pool, events)
            rows = await pool.fetch(
                "SELECT event_id, subject, event_type, correlation_id, body FROM outbox ORDER BY id"
            )
            messages = []
            for row in rows:  # pre-serialised: exactly what the relay will send for these rows
                headers = {HEADER_MSG_ID: str(row["event_id"]), HEADER_EVENT_TYPE: row["event_type"]}
                if row["correlation_id"]:
                    headers[HEADER_CORRELATION_ID] = row["correlation_id"]
                messages.append((row["subject"], row["body"], headers))
            result: dict[str, Any] = {"round": round_}
            # raw: the idiomatic js.publish_async(subject, body, headers=...); raw_wait_stall: the very call the
            # relay makes (wait_stall=publish_timeout), to show what that argument alone costs.
            order = ["raw", "raw_wait_stall", "relay"]
            if round_ % 2:
                order.reverse()
            for which in order:
                await _fresh_stream(admin_js, spec)
                if which == "relay":
                    result[which] = await _relay_drain(pool, infra.nats_url, batch_size, timeout)
                else:
                    result[which] = await _raw_publish(
                        infra.nats_url, messages, batch_size, timeout, timeout if which == "raw_wait_stall" else None
                    )
                stored = await _stream_count(admin_js, spec)
                result[which]["stream_messages"] = stored
                if stored != len(messages):
                    raise RuntimeError(f"{which}: stream holds {stored} messages, expected {len(messages)}")
            backlog = await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            if backlog:
                raise RuntimeError(f"relay left {backlog} rows unpublished")
            result["ratio"] = round(result["relay"]["events_per_s"] / result["raw"]["events_per_s"], 3)
            result["ratio_vs_raw_wait_stall"] = round(
                result["relay"]["events_per_s"] / result["raw_wait_stall"]["events_per_s"], 3
            )
            rounds.append(result)
            say(
                f"  round {round_}: raw {result['raw']['events_per_s']:8.1f} ev/s, raw+wait_stall "
                f"{result['raw_wait_stall']['events_per_s']:8.1f} ev/s, "
                f"relay {result['relay']['events_per_s']:8.1f} ev/s  ratio {result['ratio']:.3f} "
                f"({result['ratio_vs_raw_wait_stall']:.3f} vs raw+wait_stall)  relay time: "
                f"publish {result['relay']['publish_share_pct']}% / database {result['relay']['database_share_pct']}%"
                f"  cpu% raw {result['raw']['cpu']} relay {result['relay']['cpu']}"
            )
    finally:
        with contextlib.suppress(Exception):
            await admin_js.delete_stream(spec.name)
        await nc.close()
        await pool.close()

    def med(which: str, key: str, digits: int = 1) -> float:
        return round(statistics.median(r[which][key] for r in rounds), digits)

    ratio = round(statistics.median(r["ratio"] for r in rounds), 3)
    return {
        "summary": {
            "events": args.events,
            "batch_size": batch_size,
            "ratio": ratio,
            "target": RELAY_TARGET,
            "meets_target": ratio >= RELAY_TARGET,
            "raw_events_per_s": med("raw", "events_per_s"),
            "relay_events_per_s": med("relay", "events_per_s"),
            "raw_wait_stall_events_per_s": med("raw_wait_stall", "events_per_s"),
            "ratio_vs_raw_wait_stall": round(statistics.median(r["ratio_vs_raw_wait_stall"] for r in rounds), 3),
            "raw_cpu_ms_per_event": med("raw", "bench_cpu_ms_per_event", 4),
            "relay_cpu_ms_per_event": med("relay", "bench_cpu_ms_per_event", 4),
            "raw_batch_p50_ms": med("raw", "batch_p50_ms"),
            "relay_batch_p50_ms": med("relay", "batch_p50_ms"),
            "relay_publish_share_pct": med("relay", "publish_share_pct"),
            "relay_database_share_pct": med("relay", "database_share_pct"),
            "ratio_per_round": [r["ratio"] for r in rounds],
        },
        "rounds": rounds,
    }


async def _raw_publish(
    nats_url: str,
    messages: Sequence[tuple[str, bytes, dict[str, str]]],
    batch_size: int,
    timeout: float,
    wait_stall: float | None,
) -> dict[str, Any]:
    nc = await nats.connect(nats_url, name="sprakvan-bench-raw")
    js = nc.jetstream(publish_async_max_pending=max(batch_size, 256))  # as OutboxRelay does
    batch_times = []
    try:
        before = cpu_sample(None)
        started = time.perf_counter()
        for start in range(0, len(messages), batch_size):
            t0 = time.perf_counter()
            futures = [
                await js.publish_async(subject, body, headers=dict(headers), wait_stall=wait_stall)
                for subject, body, headers in messages[start : start + batch_size]
            ]
            await asyncio.wait_for(asyncio.gather(*futures), timeout)
            batch_times.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - started
        after = cpu_sample(None)
    finally:
        await nc.close()
    batch_times.sort()
    return {
        "events": len(messages),
        "elapsed_s": round(elapsed, 3),
        "events_per_s": round(len(messages) / elapsed, 1),
        "wait_stall": wait_stall,
        "bench_cpu_ms_per_event": round(1000 * (after.me - before.me) / len(messages), 4),
        "batches": len(batch_times),
        "batch_p50_ms": round(1000 * percentile(batch_times, 50), 2),
        "cpu": cpu_usage(before, after, me_label="bench"),
    }


async def _relay_drain(pool: asyncpg.Pool, nats_url: str, batch_size: int, timeout: float) -> dict[str, Any]:
    nc = await nats.connect(nats_url, name="sprakvan-bench-relay")
    relay = outbox.OutboxRelay(pool, nc, batch_size=batch_size, publish_timeout=timeout)
    publish_time = 0.0
    original_publish = relay._publish  # noqa: SLF001 - timed from outside to split publish from database time

    async def timed_publish(rows: Sequence[asyncpg.Record]) -> list[int]:
        nonlocal publish_time
        t0 = time.perf_counter()
        try:
            return await original_publish(rows)
        finally:
            publish_time += time.perf_counter() - t0

    relay._publish = timed_publish  # type: ignore[method-assign]  # noqa: SLF001
    batch_times = []
    total = 0
    try:
        before = cpu_sample(None)
        started = time.perf_counter()
        while True:
            t0 = time.perf_counter()
            sent = await relay.relay_batch()
            if not sent:
                break
            batch_times.append(time.perf_counter() - t0)
            total += sent
        elapsed = time.perf_counter() - started
        after = cpu_sample(None)
    finally:
        await nc.close()
    batch_times.sort()
    busy = sum(batch_times)
    return {
        "events": total,
        "elapsed_s": round(elapsed, 3),
        "events_per_s": round(total / elapsed, 1),
        "bench_cpu_ms_per_event": round(1000 * (after.me - before.me) / max(total, 1), 4),
        "batches": len(batch_times),
        "batch_p50_ms": round(1000 * percentile(batch_times, 50), 2),
        "publish_share_pct": round(100 * publish_time / busy, 1) if busy else 0.0,
        "database_share_pct": round(100 * (busy - publish_time) / busy, 1) if busy else 0.0,
        "cpu": cpu_usage(before, after, me_label="bench"),
    }


# =================================================================================================
# Report
# =================================================================================================
def print_report(result: dict[str, Any]) -> None:
    env = result["environment"]
    say("")
    say("=" * 110)
    say(f"Språkvän intake benchmark  {result['started_at']}  tag {result['tag']}")
    say(
        f"machine: {env['cpus']} CPUs, Python {env['python']}, postgres: {env['postgres']}, nats: {env['nats']}, "
        f"busy before start: {env.get('machine_busy_pct_before_start')}%"
    )
    say(
        f"NOTE: the load generator, both servers, PostgreSQL and NATS all share these {env['cpus']} cores: absolute "
        "rates are machine-bound, read the ratios."
    )
    http = result.get("http")
    if http:
        cfg = http["config"]
        say("")
        say(
            f"1. POST /participants, registrations/s  (uvicorn, 1 worker each, "
            f"pool {cfg['pool_min']}-{cfg['pool_max']}, "
            f"{cfg['client']} keep-alive clients; rates: median over rounds; latency: pooled)"
        )
        say(
            f"{'clients':>7} | {'baseline/s':>10} {'p50 ms':>7} {'p99 ms':>7} | {'intake/s':>8} {'p50 ms':>7} "
            f"{'p99 ms':>7} | {'ratio':>5}  target     | server CPU ms/req  base -> intake | syscalls/req (r+w)"
        )
        for row in http["summary"]:
            b, i = row["baseline"], row["intake"]
            verdict = "ok" if row["meets_target"] else "MISS"
            say(
                f"{row['clients']:>7} | {b['rps']:>10.1f} {b['p50_ms']:>7.2f} {b['p99_ms']:>7.2f} | {i['rps']:>8.1f} "
                f"{i['p50_ms']:>7.2f} {i['p99_ms']:>7.2f} | {row['ratio']:>5.3f}  >={row['target']} {verdict:<4} | "
                f"{b['server_cpu_ms_per_request']:>13.2f} -> {i['server_cpu_ms_per_request']:.2f} "
                f"({i['server_cpu_ms_per_request'] / max(b['server_cpu_ms_per_request'], 1e-9):.1f}x) | "
                f"{b['server_read_syscalls_per_request'] + b['server_write_syscalls_per_request']:.1f} -> "
                f"{i['server_read_syscalls_per_request'] + i['server_write_syscalls_per_request']:.1f}"
            )
            say(
                f"{'':>7}   CPU % of one core during the runs: baseline server {b['server_cpu_pct']:.0f}, postgres "
                f"{b['postgres_cpu_pct']:.0f}, load generator {b['loadgen_cpu_pct']:.0f}, "
                f"other {b['other_cpu_pct']:.0f}"
                f" | intake server {i['server_cpu_pct']:.0f}, postgres {i['postgres_cpu_pct']:.0f}, nats "
                f"{i['nats_cpu_pct']:.0f}, load generator {i['loadgen_cpu_pct']:.0f}, other {i['other_cpu_pct']:.0f}"
            )
            say(f"{'':>7}   per-round ratios {row['ratio_per_round']}")
            say(
                f"{'':>7}   intake's relay during the load: {i['relay_events_per_s_under_load']} events/s published "
                f"vs {i['rps']} registrations/s; when the load stopped: backlog up to {i['outbox_backlog_at_end_max']} "
                f"rows, oldest unpublished event {i['oldest_unpublished_event_age_s_max']} s old, drained "
                f"{i['outbox_drain_after_load_s_max']} s later"
            )
            if i["errors"] or b["errors"]:
                say(f"{'':>7}   ERRORS: baseline {b['errors']}, intake {i['errors']} (see the JSON for samples)")
        for note in http["notes"]:
            say(f"  - {note}")
    relay = result.get("relay")
    if relay:
        s = relay["summary"]
        verdict = "ok" if s["meets_target"] else "MISS"
        say("")
        say(
            f"2. Outbox relay drain vs raw js.publish_async  ({s['events']} events, batch {s['batch_size']}, "
            "same subject/body/headers incl. Nats-Msg-Id; median over rounds)"
        )
        say(
            f"   {'raw events/s':>13} {'relay events/s':>15} | {'ratio':>5}  target     | raw with the relay's "
            f"wait_stall=: events/s, relay ratio to it | CPU ms/event raw -> relay"
        )
        say(
            f"   {s['raw_events_per_s']:>13.1f} {s['relay_events_per_s']:>15.1f} | {s['ratio']:>5.3f}  "
            f">={s['target']} {verdict:<4} | {s['raw_wait_stall_events_per_s']:>26.1f}, "
            f"{s['ratio_vs_raw_wait_stall']:.3f}"
            f"{'':>16} | {s['raw_cpu_ms_per_event']:.3f} -> {s['relay_cpu_ms_per_event']:.3f}"
        )
        say(
            f"   batch p50: raw {s['raw_batch_p50_ms']} ms, relay {s['relay_batch_p50_ms']} ms; relay time: JetStream "
            f"publish {s['relay_publish_share_pct']}%, database (select/update/commit) "
            f"{s['relay_database_share_pct']}%;"
            f" per-round ratios {s['ratio_per_round']}"
        )
    say("")
    say(f"results: {result['json_path']}")
    say("=" * 110)


# =================================================================================================
# Main
# =================================================================================================
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
    infra = Infra()
    infra.start()
    global _scope
    _scope = CpuScope(
        tag, urlsplit(infra.database_url).port or 5432, urlsplit(infra.nats_url.split(",")[0]).port or 4222
    )
    dbs = ScratchDatabases(infra.database_url, tag)
    idle = machine_busy_now()
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
            "postgres": infra.source["postgres"],
            "nats": infra.source["nats"],
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
