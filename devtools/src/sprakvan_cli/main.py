"""The ``sprakvan`` command.

* ``sprakvan serve NAME``  runs one service with uvicorn, configured by the environment (as compose does);
* ``sprakvan token``       mints a bearer token;
* ``sprakvan migrate NAME`` applies a service's migrations (a deploy step, ``migrate.py``);
* ``sprakvan up``          runs everything locally: embedded NATS and PostgreSQL plus every service,
                           with data kept under ``$SPRAKVAN_HOME``; ``--demo`` loads a demo programme.

Services are found through the ``sprakvan.services`` entry point group (each a ``Service``); the
CLI names none of them. Heavy imports (uvicorn, the services, httpx) happen inside the commands so
that ``sprakvan --help`` and ``sprakvan token`` stay quick and work in the slim container image.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from . import deadletters
from .embedded import read_log_tail  # stdlib only: keeps `sprakvan --help` quick

if TYPE_CHECKING:
    from sprakvan_shared.kit import Service

    from .embedded import EmbeddedNats, EmbeddedPostgres

ENTRY_POINT_GROUP = "sprakvan.services"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_HOME = "~/.local/share/sprakvan"
DEMO_SIZE_ENV = "SPRAKVAN_DEMO_SIZE"
UP_TOKEN_TTL = timedelta(days=7)  # local key, long-lived `up`: a token that outlives a working week

WEB_ADMIN_USER = "admin"
WEB_ADMIN_PASSWORD_FILE = "web-admin-password"
_READY_TIMEOUT = 60.0
_SERVICE_STOP_TIMEOUT = 10.0
_GRACEFUL_SHUTDOWN = 8  # uvicorn's own limit, below ours so it gets to finish its lifespan shutdown
_POLL_INTERVAL = 0.2
_LOG_TAIL_LINES = 30
_LOG_ROTATE_BYTES = 10 * 1024 * 1024
# A service that exits unexpectedly is restarted, as compose's `restart: unless-stopped` would: after 1 s,
# then twice as long after each exit that follows quickly, at most 30 s; once it ran for a minute, 1 s again.
_RESTART_FIRST_DELAY = 1.0
_RESTART_MAX_DELAY = 30.0
_RESTART_RESET_AFTER = 60.0


class CliError(Exception):
    """A failure to report in one line (plus details) and exit 1."""


# -- service discovery ---------------------------------------------------------------------------


def service_entry_points() -> dict[str, EntryPoint]:
    """The registered services by name, without importing them."""
    return {ep.name: ep for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)}


def load_service(entry_point: EntryPoint) -> Service:
    from sprakvan_shared.kit import Service

    spec = entry_point.load()
    if not isinstance(spec, Service):
        raise CliError(f"entry point {entry_point.name} = {entry_point.value} is not a sprakvan_shared.kit.Service")
    if spec.name != entry_point.name:
        # `up` runs each service as `serve <spec.name>`, which looks the entry point up by name.
        raise CliError(f"entry point {entry_point.name} = {entry_point.value} names its service {spec.name!r}")
    return spec


def load_services() -> list[Service]:
    return [load_service(ep) for ep in service_entry_points().values()]


# -- serve ---------------------------------------------------------------------------------------


def resolve_bind(spec: Service, host: str | None, port: int | None, env: dict[str, str]) -> tuple[str, int]:
    """Command line first, then HOST / PORT (what compose and the image set), then the defaults."""
    host = host or env.get("HOST") or DEFAULT_HOST
    if port is None:
        raw = env.get("PORT")
        try:
            port = int(raw) if raw else spec.default_port
        except ValueError:
            raise CliError(f"PORT must be a number, not {raw!r}") from None
    return host, port


def cmd_serve(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    known = service_entry_points()
    if args.name not in known:
        listing = ", ".join(known) or "none (is any service package installed?)"
        parser.error(f"unknown service {args.name!r}; known services: {listing}")  # exits 2
    spec = load_service(known[args.name])
    host, port = resolve_bind(spec, args.host, args.port, dict(os.environ))

    import uvicorn

    uvicorn.run(
        spec.create_app(),
        host=host,
        port=port,
        # None: leave logging alone; the app's lifespan configures structlog, which then renders
        # uvicorn's own records too (they propagate to the root logger).
        log_config=None,
        # Off by default: the services log their own events, and `up --demo` would drown in lines.
        access_log=args.access_log,
        timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN,
        server_header=False,
    )
    return 0


# -- token ---------------------------------------------------------------------------------------


def default_home() -> Path:
    return Path(os.environ.get("SPRAKVAN_HOME") or DEFAULT_HOME).expanduser().absolute()


SIGNING_KEY_FILE = "token-signing-key.pem"  # in the home of `up`: the private key, mode 600


def read_home_private_key(home: Path) -> str:
    path = home / SIGNING_KEY_FILE
    try:
        return path.read_text()
    except FileNotFoundError:
        raise CliError(f"no signing key in {home}: `sprakvan up --home {home}` creates it on its first run") from None


def _private_key_from_env(env: dict[str, str]) -> str | None:
    if env.get("JWT_PRIVATE_KEY"):
        return env["JWT_PRIVATE_KEY"]
    if env.get("JWT_PRIVATE_KEY_FILE"):
        try:
            return Path(env["JWT_PRIVATE_KEY_FILE"]).read_text()
        except OSError as exc:
            raise CliError(f"JWT_PRIVATE_KEY_FILE cannot be read: {exc}") from None
    return None


def cmd_token(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from pydantic import ValidationError

    from sprakvan_shared.auth import DEFAULT_AUDIENCE, DEFAULT_ISSUER, Role, TokenSigner

    if args.home is not None:
        private_key = read_home_private_key(Path(args.home).expanduser())
    else:
        private_key = _private_key_from_env(dict(os.environ))
        if private_key is None:
            # No default key, on purpose: a default would let anyone mint tokens.
            raise CliError(
                "no signing key: pass --home DIR (the key of `sprakvan up --home DIR`) or set JWT_PRIVATE_KEY_FILE "
                "(or JWT_PRIVATE_KEY) to the private key whose public half the services have"
            )
    if args.ttl_hours <= 0:
        parser.error("--ttl-hours must be positive")
    try:
        signer = TokenSigner(
            private_key,
            issuer=os.environ.get("JWT_ISSUER") or DEFAULT_ISSUER,
            audience=os.environ.get("JWT_AUDIENCE") or DEFAULT_AUDIENCE,
        )
    except (ValueError, TypeError) as exc:
        raise CliError(f"the signing key is not a PEM private key (Ed25519 or RSA): {exc}") from None
    try:
        role = Role(args.role)
        token = signer.mint(
            subject=args.sub or f"{role.value}@{args.org}",
            organisation_id=args.org,
            role=role,
            ttl=timedelta(hours=args.ttl_hours),
        )
    except ValidationError:
        parser.error(f"--org {args.org!r} is not an organisation id (lower-case letters, digits, - and _)")
    print(token)
    return 0


# -- up ------------------------------------------------------------------------------------------


class _Stop(Exception):
    """Ctrl-C, SIGTERM or SIGHUP during start-up: seen between steps, or at once when it comes twice."""


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As uvicorn binds: SO_REUSEADDR, so a port in TIME_WAIT counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((DEFAULT_HOST, port))
        except OSError:
            return False
    return True


def _parent_death_signal() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGTERM when `up` dies, even by SIGKILL (Linux only).

    Without it a service would linger without its NATS and database. Everything is looked up here,
    in the parent: the function runs between fork and exec, where importing is not safe.
    """
    if sys.platform != "linux":
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def set_parent_death_signal() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)

    return set_parent_death_signal


def _processes_with_args(program: str, option: str, value: str) -> list[int]:
    """Pids of running ``program`` processes whose command line has ``option value`` (Linux /proc)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = [arg.decode(errors="replace") for arg in (entry / "cmdline").read_bytes().split(b"\0")]
        except OSError:
            continue
        if (
            argv
            and Path(argv[0]).name == program
            and any(a == option and b == value for a, b in zip(argv, argv[1:], strict=False))
        ):
            found.append(int(entry.name))
    return found


def _group_alive(pgid: int) -> bool:
    # Zombies do not count: in a container whose init does not reap orphans they never go away.
    proc = Path("/proc")
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[-1].split()
            except OSError:
                continue
            if len(fields) >= 3 and fields[0] != "Z" and int(fields[2]) == pgid:
                return True
    return False


def _stop_process_group(pid: int, sig: int, timeout: float) -> None:
    """Signal ``pid``, wait for its process group (it leads one) to end, SIGKILL the group after ``timeout``."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    for final in (False, True):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _group_alive(pid):
                return
            time.sleep(0.05)
        if not final:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


def _rotate_log(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_size > _LOG_ROTATE_BYTES:
            path.replace(path.with_name(path.name + ".1"))


@dataclass
class _ServiceProcess:
    spec: Service
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    moved: bool = False  # already restarted on another port once
    env: dict[str, str] = field(default_factory=dict)
    restarts: int = 0
    quick_exits: int = 0  # exits in a row that came soon after a start: they lengthen the delay
    restart_at: float | None = None  # when a restart is due, after an unexpected exit
    recovering: bool = False  # restarted, not yet ready again
    started_at: float = 0.0
    _log_offset: int = 0

    @property
    def url(self) -> str:
        return f"http://{DEFAULT_HOST}:{self.port}"

    def start(self, env: dict[str, str]) -> None:
        command = [sys.executable, "-m", "sprakvan_cli.main", "serve", self.spec.name,
                   "--host", DEFAULT_HOST, "--port", str(self.port)]  # fmt: skip
        self.env = env
        self.started_at = time.monotonic()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        _rotate_log(self.log_path)
        with self.log_path.open("ab") as log:
            self._log_offset = log.tell()
            log.write(f"--- sprakvan up: starting {shlex.join(command)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Own session: a terminal Ctrl-C reaches `up` only, which stops services first.
                start_new_session=True,
                preexec_fn=_parent_death_signal(),
            )

    @property
    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        return read_log_tail(self.log_path, self._log_offset, lines)

    def describe_exit(self) -> str:
        code = self.exit_code
        if code is not None and code < 0:
            how = f"was killed by {signal.Signals(-code).name}"
        else:
            how = f"exited with code {code}"
        tail = self.log_tail() or "(nothing logged)"
        return f"{self.spec.name} {how}; {self.log_path} ends with:\n{tail}"

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()

    def kill(self) -> None:
        # Only while it runs: once reaped, its pid (= group id) may belong to someone else.
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # the group: anything it spawned, too
        self.process.wait()


@dataclass
class Up:
    """``sprakvan up``: start, watch and stop the whole local system. ``run()`` returns the exit code."""

    home: Path
    specs: list[Service]
    demo_size: int | None = None  # None: no demo
    out: TextIO | None = None  # default: sys.stdout at the time of writing
    err: TextIO | None = None
    nats: EmbeddedNats | None = None
    postgres: EmbeddedPostgres | None = None
    services: list[_ServiceProcess] = field(default_factory=list)
    _stop_signal: str | None = None
    _stopping: bool = False
    _started_at: float = 0.0
    _token: str = ""
    _new_admin_password: str = ""
    _admin_token: str = ""  # configures the demo organisation before the demo registers anyone

    # -- signals ------------------------------------------------------------------------------

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self._stopping:
            self._warn(f"({name}: already stopping)")
            return
        if self._stop_signal is not None:
            raise _Stop(name)  # the second one: do not wait for the current start-up step
        self._stop_signal = name

    def _check_stop(self) -> None:
        if self._stop_signal is not None:
            raise _Stop(self._stop_signal)

    def _say(self, text: str = "", *, stream: TextIO | None = None) -> None:
        print(text, file=stream or self.out or sys.stdout, flush=True)

    def _warn(self, text: str) -> None:
        self._say(text, stream=self.err or sys.stderr)

    # -- the whole run ------------------------------------------------------------------------

    def run(self) -> int:
        # SIGHUP too: closing the terminal must not leave NATS and PostgreSQL running (they sit in
        # sessions of their own and would not get the hang-up themselves).
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            with self._home_lock():
                try:
                    self._start()
                    return self._watch()
                except _Stop as stop:
                    self._say(f"\n{stop}: stopping ...")
                    return 0
                except CliError as exc:
                    self._warn(f"sprakvan up: {exc}")
                    return 1
                finally:
                    self._stopping = True
                    self._shutdown()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    @contextlib.contextmanager
    def _home_lock(self) -> Iterator[None]:
        import fcntl

        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock_path = self.home / "up.lock"
        with lock_path.open("a+") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.seek(0)
                owner = lock.read().strip() or "?"
                raise CliError(f"another `sprakvan up` (pid {owner}) is running on {self.home}") from None
            lock.seek(0)
            lock.truncate()
            lock.write(f"{os.getpid()}\n")
            lock.flush()
            yield

    def _start(self) -> None:
        from .embedded import EmbeddedNats, EmbeddedPostgres, EmbeddedServerError

        self._started_at = time.monotonic()
        self._say(f"Språkvän: data in {self.home}")
        private_key, public_key = self._token_keys()
        try:
            self.nats = EmbeddedNats(self.home / "nats", sync_always=True)
            self.postgres = EmbeddedPostgres(self.home / "postgres")
            self._stop_leftovers()
            self._say(f"  starting NATS on port {self.nats.port} ...")
            self.nats.start()
            self._check_stop()
            self._say(f"  starting PostgreSQL on port {self.postgres.port} ...")
            self.postgres.start()
            self._check_stop()
            for spec in self.specs:
                self.postgres.create_database(spec.name)
        except EmbeddedServerError as exc:
            raise CliError(str(exc)) from None

        env = self._service_env(public_key) | self._first_admin_env()
        taken: set[int] = set()
        for spec in self.specs:
            port = spec.default_port if spec.default_port not in taken and _port_is_free(spec.default_port) else None
            if port is None:
                port = self._free_port(taken)
                self._say(f"  port {spec.default_port} is taken; {spec.name} gets {port}")
            taken.add(port)
            service = _ServiceProcess(spec, port, self.home / "logs" / f"{spec.name}.log")
            self.services.append(service)
            self._say(f"  starting {spec.name} on port {port} ...")
            service.start(env | self._web_env(spec) | {"DATABASE_URL": self.postgres.dsn(spec.name)})
        self._wait_until_ready(env, taken)
        self._print_summary(private_key)

    def _stop_leftovers(self) -> None:
        """Stop servers that a killed ``up`` (SIGKILL, OOM) left running on this home.

        We hold the home's lock, so no live ``up`` owns them; left alone, the orphaned postmaster
        would block the new one and two NATS servers would share one JetStream store.
        """
        assert self.nats is not None and self.postgres is not None
        nats_pids = _processes_with_args("nats-server", "--config", str(self.nats.config_path))
        postgres_pids = _processes_with_args("postgres", "-D", str(self.postgres.pgdata))
        leftovers = [*(("nats-server", pid) for pid in nats_pids), *(("postgres", pid) for pid in postgres_pids)]
        for name, pid in leftovers:
            self._say(f"  stopping {name} (pid {pid}) left running by an earlier `sprakvan up` ...")
            # SIGINT is PostgreSQL's fast shutdown; NATS takes it as a normal stop too.
            _stop_process_group(pid, signal.SIGINT, timeout=15.0)

    def _free_port(self, taken: set[int]) -> int:
        from .embedded import free_port

        while (port := free_port()) in taken:
            pass
        return port

    def _token_keys(self) -> tuple[str, str]:
        """The private key (kept in the home, for `up` and `sprakvan token --home`) and its public half
        (the only one the services get). Created once and kept: tokens stay valid across restarts."""
        from sprakvan_shared.auth import generate_private_key_pem, public_key_pem

        path = self.home / SIGNING_KEY_FILE
        try:
            # O_EXCL with mode 600: never readable by others, not even for a moment.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            fd = None
        if fd is not None:
            private_key = generate_private_key_pem()
            with os.fdopen(fd, "w") as file:
                file.write(private_key)
        else:
            if path.stat().st_mode & 0o077:
                path.chmod(0o600)
            private_key = path.read_text()
        try:
            return private_key, public_key_pem(private_key)
        except (ValueError, TypeError):
            raise CliError(f"{path} is not a PEM private key; delete it for a new one") from None

    def _web_env(self, spec: Service) -> dict[str, str]:
        """Where the services started so far listen (the web front calls intake: INTAKE_URL) and, for the
        web front alone, the signing key: it is the token issuer, the others only verify."""
        urls = {f"{s.spec.name.upper()}_URL": s.url for s in self.services if s.spec is not spec}
        key = {"WEB_SIGNING_KEY_FILE": str(self.home / SIGNING_KEY_FILE)} if spec.name == "web" else {}
        return urls | key

    def _first_admin_env(self) -> dict[str, str]:
        """The web front's first admin of the demo organisation: a password made once, kept in the home
        (mode 600) and printed on the run that made it; the web front creates the user at its first login."""
        path = self.home / WEB_ADMIN_PASSWORD_FILE
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            password = path.read_text().strip()
        else:
            password = secrets.token_urlsafe(12)
            with os.fdopen(fd, "w") as file:
                file.write(password + "\n")
            self._new_admin_password = password
        return {
            "WEB_BOOTSTRAP_ADMIN_ORG": "demo",
            "WEB_BOOTSTRAP_ADMIN_USER": WEB_ADMIN_USER,
            "WEB_BOOTSTRAP_ADMIN_PASSWORD": password,
        }

    def _service_env(self, public_key: str) -> dict[str, str]:
        assert self.nats is not None
        env = dict(os.environ)
        # --host/--port are passed explicitly; a PORT meant for something else must not win. No private
        # key and no other token settings reach a service: it verifies with up's public key only.
        for name in ("HOST", "PORT", "JWT_PRIVATE_KEY", "JWT_PRIVATE_KEY_FILE", "JWT_SECRET", "JWT_PUBLIC_KEY_FILE",
                     "JWT_JWKS_URL", "JWT_ISSUER", "JWT_AUDIENCE"):  # fmt: skip
            env.pop(name, None)
        return env | {
            "NATS_URL": self.nats.url,
            "JWT_PUBLIC_KEY": public_key,
            # The printed token lasts a working week on this local, single-user system.
            "JWT_MAX_LIFETIME_SECONDS": str(int(UP_TOKEN_TTL.total_seconds())),
            # Log files a person reads with `tail -f`: the console renderer unless asked otherwise.
            "LOG_JSON": os.environ.get("LOG_JSON", "false"),
            "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
            "PYTHONUNBUFFERED": "1",
        }

    def _wait_until_ready(self, env: dict[str, str], taken: set[int]) -> None:
        import httpx

        deadline = time.monotonic() + _READY_TIMEOUT
        pending = list(self.services)
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while pending:
                self._check_stop()
                for service in list(pending):
                    if service.exit_code is not None:
                        if not service.moved and not _port_is_free(service.port):
                            # Lost the race for the port to another program between our check and
                            # uvicorn's bind (it binds only after the app's start-up): once more elsewhere.
                            service.moved = True
                            service.port = self._free_port(taken)
                            taken.add(service.port)
                            self._say(f"  {service.spec.name}: its port was taken meanwhile; trying {service.port}")
                            service.start(env | {"DATABASE_URL": self.postgres.dsn(service.spec.name)})  # type: ignore[union-attr]
                            continue
                        # PostgreSQL or NATS not there yet, a crash: try again, as compose would.
                        self._restart_when_due(service)
                        continue
                    with contextlib.suppress(httpx.HTTPError):
                        if client.get(f"{service.url}/ready").status_code == 200:
                            pending.remove(service)
                if pending and time.monotonic() > deadline:
                    names = ", ".join(s.spec.name for s in pending)
                    tails = "\n".join(f"--- {s.spec.name} ({s.log_path}):\n{s.log_tail()}" for s in pending)
                    raise CliError(f"not ready within {_READY_TIMEOUT:.0f}s: {names}\n{tails}")
                if pending:
                    time.sleep(_POLL_INTERVAL)

    def _mint_demo_token(self, private_key: str, role: str = "coordinator") -> str:
        from sprakvan_shared.auth import Role, TokenSigner

        from .demo import DEMO_ORGANISATION

        return TokenSigner(private_key).mint(
            subject=f"{role}@{DEMO_ORGANISATION}",
            organisation_id=DEMO_ORGANISATION,
            role=Role(role),
            ttl=UP_TOKEN_TTL,
        )

    def _print_summary(self, private_key: str) -> None:
        assert self.nats is not None and self.postgres is not None
        token = self._mint_demo_token(private_key)
        self._token = token
        self._admin_token = self._mint_demo_token(private_key, "admin")
        width = max(len("PostgreSQL"), *(len(s.spec.name) for s in self.services))
        say = self._say
        say(f"\nReady in {time.monotonic() - self._started_at:.1f} s.\n")
        for service in self.services:
            say(f"  {service.spec.name:<{width}}  {service.url}   docs: {service.url}/docs")
            if service.spec.description:
                say(f"  {'':<{width}}  {service.spec.description}")
        say(f"  {'NATS':<{width}}  {self.nats.url}   monitoring: {self.nats.monitor_url}")
        databases = ", ".join(s.spec.name for s in self.services)
        say(f"  {'PostgreSQL':<{width}}  {self.postgres.url}   databases: {databases}")
        say(f"\nCoordinator token for organisation 'demo' (subject coordinator@demo, valid {UP_TOKEN_TTL.days} days):")
        say(f"  export TOKEN={token}")
        say("  (send it as `Authorization: Bearer $TOKEN`; in /docs: Authorize, then paste it)")
        home = shlex.quote(str(self.home))
        say(f"More tokens: sprakvan token --home {home} --org demo --role viewer")
        web = next((s for s in self.services if s.spec.name == "web"), None)
        if web is not None:
            said = self._new_admin_password or f"in {self.home / WEB_ADMIN_PASSWORD_FILE}"
            shown = " (shown this once)" if self._new_admin_password else ""
            say(f"Web: log in at {web.url}/login as {WEB_ADMIN_USER!r}, password {said}{shown}")
            say(f"  the demo sign-up form (with --demo): {web.url}/signup/demo/sprakvan?lang=ar")
        logs = [str(s.log_path) for s in self.services] + [str(self.nats.log_path), str(self.postgres.log_path)]
        say(f"Logs: {', '.join(logs)}")

    def _restart_when_due(self, service: _ServiceProcess) -> None:
        """After an unexpected exit: say so and schedule a restart with backoff; restart when it is due."""
        now = time.monotonic()
        if service.restart_at is None:
            ran_for = now - service.started_at
            service.quick_exits = 0 if ran_for >= _RESTART_RESET_AFTER else service.quick_exits + 1
            delay = min(_RESTART_FIRST_DELAY * 2 ** max(service.quick_exits - 1, 0), _RESTART_MAX_DELAY)
            service.restart_at = now + delay
            self._warn(f"sprakvan up: {service.describe_exit()}\n  restarting {service.spec.name} in {delay:.0f} s")
        elif now >= service.restart_at:
            service.restart_at = None
            service.restarts += 1
            service.recovering = True
            service.start(service.env)
            self._say(f"  restarted {service.spec.name} (restart {service.restarts}, pid {service.process.pid})")  # type: ignore[union-attr]

    def _say_when_recovered(self, client: Any) -> None:
        import httpx

        for service in self.services:
            if service.recovering and service.exit_code is None:
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{service.url}/ready").status_code == 200:
                        service.recovering = False
                        self._say(f"  {service.spec.name} is ready again: {service.url}")

    def _watch(self) -> int:
        """Until a signal: load the demo if asked, restart services that exit, notice servers that die."""
        import httpx

        with httpx.Client(timeout=1.0, trust_env=False) as client:
            return self._watch_with(client)

    def _watch_with(self, client: Any) -> int:
        demo = self._start_demo() if self.demo_size is not None else None
        if demo is None:
            self._say("\nPress Ctrl-C to stop.")
        while self._stop_signal is None:
            for service in self.services:
                if service.exit_code is not None:
                    self._restart_when_due(service)
            self._say_when_recovered(client)
            for server in (self.nats, self.postgres):
                if server is not None and not server.running:
                    self._warn(
                        f"sprakvan up: {server.name} exited unexpectedly; {server.log_path} ends with:\n"
                        f"{server.log_tail()}\nstopping everything"
                    )
                    return 1
            if demo is not None and not demo.is_alive():
                demo.join()
                if demo.error is not None:
                    self._warn(f"sprakvan up: loading the demo failed: {demo.error}\nstopping everything")
                    return 1
                self._say(str(demo.summary))
                self._say("\nPress Ctrl-C to stop.")
                demo = None
            time.sleep(_POLL_INTERVAL)
        self._say(f"\n{self._stop_signal}: stopping ...")
        return 0

    def _start_demo(self) -> _DemoThread:
        from .demo import split_size

        intake = next((s for s in self.services if s.spec.name == "intake"), None)
        if intake is None:
            raise CliError("--demo needs the intake service, which is not installed")
        newcomers, established = split_size(self.demo_size or 0)
        self._say(f"\nLoading the demo programme into intake ({newcomers} newcomers, {established} established) ...")
        thread = _DemoThread(intake.url, self._token, self._admin_token, newcomers, established)
        thread.start()
        return thread

    # -- shutdown -----------------------------------------------------------------------------

    def _shutdown(self) -> None:
        started = time.monotonic()
        # Services first, while NATS and the database are still there for their own shutdown
        # (the outbox relay's last publishes, closing pools).
        for service in self.services:
            service.terminate()
        deadline = time.monotonic() + _SERVICE_STOP_TIMEOUT
        for service in self.services:
            if service.process is None:
                continue
            try:
                service.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._warn(f"  {service.spec.name} did not stop within {_SERVICE_STOP_TIMEOUT:.0f}s; killing it")
            service.kill()  # also reaps; a no-op for a process that has exited
        for server in (self.nats, self.postgres):
            if server is not None:
                try:
                    server.stop()
                except Exception as exc:  # noqa: BLE001 - go on stopping the other one
                    self._warn(f"  stopping {server.name} failed: {exc}")
        if self.nats is not None or self.services:
            self._say(f"Stopped in {time.monotonic() - started:.1f} s.")


class _DemoThread(threading.Thread):
    # A thread, so that the main thread keeps watching the services and signals meanwhile.
    def __init__(self, url: str, token: str, admin_token: str, newcomers: int, established: int) -> None:
        super().__init__(name="sprakvan-demo", daemon=True)
        self.url, self.token, self.admin_token = url, token, admin_token
        self.newcomers, self.established = newcomers, established
        self.summary: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        from .demo import load_demo

        try:
            self.summary = asyncio.run(
                load_demo(
                    self.url,
                    self.token,
                    newcomers=self.newcomers,
                    established=self.established,
                    admin_token=self.admin_token,
                )
            )
        except Exception as exc:  # noqa: BLE001 - reported by the main thread
            self.error = exc


def _demo_size(value: str | None) -> int:
    from .demo import ESTABLISHED, NEWCOMERS

    if value is None:
        return NEWCOMERS + ESTABLISHED
    try:
        size = int(value)
    except ValueError:
        raise CliError(f"the demo size must be a whole number, not {value!r}") from None
    if size < 0:
        raise CliError("the demo size cannot be negative")
    return size


def cmd_up(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    home = Path(args.home).expanduser().absolute() if args.home else default_home()
    specs = load_services()
    if not specs:
        raise CliError(f"no services installed (entry point group {ENTRY_POINT_GROUP})")
    demo_size = None
    if args.demo_size is not None:
        demo_size = _demo_size(str(args.demo_size))
    elif args.demo:
        demo_size = _demo_size(os.environ.get(DEMO_SIZE_ENV))
    return Up(home=home, specs=specs, demo_size=demo_size).run()


# -- argument parsing ----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sprakvan",
        description="Run and try the Språkvän services.",
        epilog="Start here: `sprakvan up --demo`, then open the printed /docs URL.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run one service (configured by DATABASE_URL, NATS_URL, JWT_PUBLIC_KEY, LOG_LEVEL, LOG_JSON)",
        description="Run one service with uvicorn. Connections come from the environment: DATABASE_URL (the "
        "service's own database), NATS_URL, JWT_PUBLIC_KEY (or JWT_PUBLIC_KEY_FILE or JWT_JWKS_URL: required), "
        "JWT_ISSUER, JWT_AUDIENCE, LOG_LEVEL, LOG_JSON.",
    )
    serve.add_argument("name", metavar="NAME", help="the service, e.g. intake (the installed ones are listed on error)")
    serve.add_argument("--host", help=f"interface to listen on (default: $HOST, else {DEFAULT_HOST})")
    serve.add_argument("--port", type=int, help="port (default: $PORT, else the service's own default port)")
    serve.add_argument("--access-log", action="store_true", help="log every HTTP request")
    serve.set_defaults(handler=cmd_serve, parser=serve)

    token = commands.add_parser(
        "token",
        help="print a bearer token (JWT)",
        description="Print a bearer token signed with the private key in JWT_PRIVATE_KEY_FILE (or JWT_PRIVATE_KEY), "
        "or with --home, the key of `sprakvan up`. Its iss and aud are JWT_ISSUER and JWT_AUDIENCE (default sprakvan).",
    )
    token.add_argument("--org", required=True, help="organisation id, e.g. demo")
    token.add_argument("--role", required=True, choices=["admin", "coordinator", "viewer"])
    token.add_argument("--sub", help="subject: who the token is for (default: ROLE@ORG)")
    token.add_argument(
        "--ttl-hours",
        type=float,
        default=1.0,
        help="validity in hours (default: 1; services refuse longer than "
        "JWT_MAX_LIFETIME_SECONDS, 1 h by default, 7 days under `up`)",
    )
    token.add_argument(
        "--home",
        metavar="DIR",
        help=f"sign with the private key that `sprakvan up --home DIR` keeps in DIR/{SIGNING_KEY_FILE}",
    )
    token.set_defaults(handler=cmd_token, parser=token)

    up = commands.add_parser(
        "up",
        help="run everything locally: NATS, PostgreSQL and every service",
        description="Start embedded NATS (JetStream) and PostgreSQL, one database per service, and every "
        "installed service on its default port (or a free one), then print their URLs and a coordinator "
        "token. Data stays in the home directory across runs, the token signing key included (services get only "
        "its public key; the environment's JWT_* settings are not used). Ctrl-C stops everything. "
        "Service logs are in HOME/logs.",
    )
    up.add_argument(
        "--home",
        metavar="DIR",
        help=f"where data and logs live (default: $SPRAKVAN_HOME, else {DEFAULT_HOME})",
    )
    up.add_argument(
        "--demo",
        action="store_true",
        help="load a demo programme into organisation 'demo' through the intake API; running it again adds nothing",
    )
    up.add_argument(
        "--demo-size",
        type=int,
        metavar="N",
        help=f"participants in the demo (default: ${DEMO_SIZE_ENV}, else 288: 199 newcomers and 89 established, "
        "as in Linköping 2019; other sizes keep the proportions); implies --demo",
    )
    up.set_defaults(handler=cmd_up, parser=up)
    deadletters.add_commands(commands)

    from .imports import add_import_commands  # stdlib only at import
    from .migrate import add_migrate_command
    from .replay import add_replay_command

    add_migrate_command(commands)
    add_replay_command(commands)
    add_import_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        # The command's own parser, so that usage errors show the command's usage.
        return args.handler(args, args.parser)
    except CliError as exc:
        print(f"sprakvan {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C before `up` took over the signal: nothing to clean up yet
        return 130


if __name__ == "__main__":
    sys.exit(main())
