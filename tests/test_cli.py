"""The ``sprakvan`` command: tokens, ``serve`` errors, the demo programme, and ``up`` end to end."""

from __future__ import annotations

import asyncio
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import httpx
import psutil
import pytest

from sprakvan_cli.demo import DEMO_ORGANISATION, demo_configuration, demo_programme, split_size
from sprakvan_cli.main import SIGNING_KEY_FILE, main, resolve_bind
from sprakvan_intake.domain.commands import RecordInterview, RegisterParticipant, WithdrawParticipant
from sprakvan_intake.domain.configuration import configure, unknown_codes
from sprakvan_intake.domain.model import ParticipantDetails, check_details
from sprakvan_intake.entrypoints.configuration import ConfigurationIn
from sprakvan_intake.service import SERVICE as INTAKE
from sprakvan_shared.auth import (
    InvalidToken,
    JwtVerifier,
    Principal,
    Role,
    generate_private_key_pem,
    load_public_key,
    public_key_pem,
)
from sprakvan_shared.contracts.intake import ParticipantRole

PRIVATE_KEY = generate_private_key_pem()
CLI = [sys.executable, "-m", "sprakvan_cli.main"]


# -- token -----------------------------------------------------------------------------------------


def verify(token: str, private_key: str = PRIVATE_KEY, **options: object) -> Principal:
    verifier = JwtVerifier(public_key=load_public_key(public_key_pem(private_key)), **options)
    return asyncio.run(verifier.verify(token))


def test_token_is_signed_with_the_private_key_and_carries_org_and_role(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "signing.pem").write_text(PRIVATE_KEY)
    monkeypatch.setenv("JWT_PRIVATE_KEY_FILE", str(tmp_path / "signing.pem"))
    assert main(["token", "--org", "linkoping", "--role", "coordinator", "--ttl-hours", "0.5"]) == 0
    out, err = capsys.readouterr()
    principal = verify(out.strip())
    assert (principal.organisation_id, principal.role, principal.subject) == (
        "linkoping",
        Role.COORDINATOR,
        "coordinator@linkoping",
    )
    assert err == ""
    # Longer than the services accept (1 h by default): refused by them.
    assert main(["token", "--org", "linkoping", "--role", "coordinator", "--ttl-hours", "2"]) == 0
    with pytest.raises(InvalidToken):
        verify(capsys.readouterr().out.strip())


def test_token_without_a_signing_key_fails_and_names_the_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("JWT_PRIVATE_KEY", "JWT_PRIVATE_KEY_FILE", "JWT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    assert main(["token", "--org", "demo", "--role", "viewer", "--sub", "anna@demo"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "no signing key" in err and "JWT_PRIVATE_KEY_FILE" in err and "--home" in err


def test_token_with_home_uses_the_key_of_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    other = generate_private_key_pem()
    monkeypatch.setenv("JWT_PRIVATE_KEY", other)  # --home wins over the environment
    (tmp_path / SIGNING_KEY_FILE).write_text(PRIVATE_KEY)
    assert main(["token", "--home", str(tmp_path), "--org", "demo", "--role", "admin"]) == 0
    token = capsys.readouterr().out.strip()
    assert verify(token).role is Role.ADMIN
    with pytest.raises(InvalidToken):
        verify(token, private_key=other)


def test_token_rejects_a_bad_organisation_id(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JWT_PRIVATE_KEY", PRIVATE_KEY)
    with pytest.raises(SystemExit) as exited:
        main(["token", "--org", "Not An Org", "--role", "admin"])
    assert exited.value.code == 2
    assert "organisation id" in capsys.readouterr().err


# -- serve -----------------------------------------------------------------------------------------


def test_serve_unknown_service_exits_2_and_lists_the_known_ones() -> None:
    result = subprocess.run([*CLI, "serve", "nope"], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2
    assert "unknown service 'nope'" in result.stderr
    assert "known services: " in result.stderr and "intake" in result.stderr.split("known services: ")[1]


def test_serve_without_a_token_key_refuses_to_start_and_says_why() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JWT_")}
    env["DATABASE_URL"] = "postgresql://nobody@127.0.0.1:1/none"  # never reached: it stops before
    result = subprocess.run(
        [*CLI, "serve", "intake", "--port", "0"], capture_output=True, text=True, timeout=60, check=False, env=env
    )
    assert result.returncode != 0
    assert "there is no default" in result.stderr and "JWT_PUBLIC_KEY" in result.stderr


def test_serve_binds_to_options_then_env_then_defaults() -> None:
    assert resolve_bind(INTAKE, None, None, {}) == ("127.0.0.1", INTAKE.default_port)
    assert resolve_bind(INTAKE, None, None, {"HOST": "0.0.0.0", "PORT": "8000"}) == ("0.0.0.0", 8000)
    assert resolve_bind(INTAKE, "::1", 9000, {"HOST": "0.0.0.0", "PORT": "8000"}) == ("::1", 9000)


def test_console_script_help_lists_the_commands() -> None:
    script = Path(sys.executable).with_name("sprakvan")
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0
    assert all(command in result.stdout for command in ("serve", "token", "up"))


# -- the demo programme ------------------------------------------------------------------------------


def test_demo_programme_is_valid_deterministic_and_shaped_like_linkoping_2019() -> None:
    programme = demo_programme()
    genders = Counter((p.body["role"], p.body["gender"]) for p in programme)
    assert genders == {
        ("newcomer", "woman"): 89,
        ("newcomer", "man"): 110,
        ("established", "woman"): 65,
        ("established", "man"): 24,
    }
    assert len({p.key for p in programme}) == len(programme)
    assert programme == demo_programme()
    for p in programme:
        command = RegisterParticipant.model_validate(p.body)
        details = ParticipantDetails.model_validate(command.model_dump(exclude={"role"}))
        assert check_details(command.role, details, date.today()) == [], p.key
        if p.interview:
            RecordInterview.model_validate(p.interview)
        if p.withdrawal:
            WithdrawParticipant.model_validate(p.withdrawal)
    assert any(p.body["campaign"] == "cake-party-at-city-hall-2019" for p in programme)
    assert 0 < sum(p.withdrawal is not None for p in programme) < sum(p.interview is not None for p in programme)
    # A smaller demo is a prefix of the full one: the same keys mean the same bodies.
    newcomers, established = split_size(30)
    small = demo_programme(newcomers=newcomers, established=established)
    assert small == programme[:newcomers] + programme[199 : 199 + established]


def test_demo_configuration_is_valid_symmetric_and_covers_every_code_the_demo_uses() -> None:
    body = ConfigurationIn.model_validate(demo_configuration())
    configuration = configure(DEMO_ORGANISATION, **dict(body))
    given = {d["code"]: d["neighbours"] for d in demo_configuration()["districts"]}
    assert {d.code: list(d.neighbours) for d in configuration.districts} == given  # symmetric as written
    assert {"skaggetorp", "ryd", "berga", "lambohov", "ekholmen", "innerstaden"} <= set(given)
    for p in demo_programme():
        assert unknown_codes(configuration, p.body) == [], p.key


# -- up, end to end --------------------------------------------------------------------------------


class Up:
    """``sprakvan up`` as a subprocess, its stdout read line by line."""

    def __init__(self, home: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.stderr_path = home.parent / f"up-{time.monotonic_ns()}.stderr"
        with self.stderr_path.open("w") as stderr:
            self.process = subprocess.Popen(
                [*CLI, "up", "--home", str(home), *args],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def output(self) -> str:
        return "\n".join(self.lines) + "\n--- stderr:\n" + self.stderr_path.read_text()

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                pytest.fail(f"up exited ({self.process.wait()}) before printing {pattern!r}:\n{self.output()}")
            self.lines.append(line)
            if match := re.search(pattern, line):
                return match
        pytest.fail(f"up did not print {pattern!r} within {timeout}s:\n{self.output()}")

    def descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=True)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 20) -> int:
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"up did not exit within {timeout}s of {signal.Signals(sig).name}:\n{self.output()}")


@pytest.fixture
def start_up(tmp_path: Path) -> Iterator[Callable[..., Up]]:
    """Starts ``up`` processes; any still running at the end (a failed test) is stopped."""
    started: list[Up] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Up:
        started.append(Up(tmp_path / "home", *args, env=env))
        return started[-1]

    yield start
    for up in started:
        if up.process.poll() is None:
            up.process.terminate()
            try:
                up.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                up.process.kill()


def ready(up: Up) -> tuple[str, str, str]:
    """Intake URL, token and NATS monitoring URL, as `up` prints them."""
    intake = up.wait_for(r"^\s+intake\s+(http://\S+)\s").group(1)
    monitor = up.wait_for(r"^\s+NATS\s+nats://\S+\s+monitoring: (http://\S+)").group(1)
    token = up.wait_for(r"export TOKEN=(\S+)").group(1)
    return intake, token, monitor


def list_participants(intake: str, token: str) -> list[dict]:
    response = httpx.get(
        f"{intake}/participants",
        params={"limit": 200},
        headers={"Authorization": f"Bearer {token}"},
        trust_env=False,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["next_cursor"] is None
    return page["items"]


def gone(processes: list[psutil.Process]) -> list[str]:
    """Those of ``processes`` still running (zombies count as gone)."""
    left = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                left.append(f"{process.pid} {process.name()}")
        except psutil.NoSuchProcess:
            pass
    return left


def assert_servers_among(processes: list[psutil.Process]) -> None:
    names = {p.name() for p in processes}
    assert "nats-server" in names and "postgres" in names, names


@pytest.mark.chaos
@pytest.mark.timeout(300)  # three full start-ups of every service; a hang still ends
def test_up_demo_runs_stops_cleanly_and_keeps_its_data(tmp_path: Path, start_up: Callable[..., Up]) -> None:
    home = tmp_path / "home"

    # First run: a small demo, loaded through the API.
    up = start_up("--demo-size", "30")
    intake, token, monitor = ready(up)
    summary = up.wait_for(r"^demo programme: .*")
    assert "30 participants (21 newcomers, 9 established)" in summary.group(0)
    assert "30 registered now, 0 already there" in summary.group(0)
    participants = list_participants(intake, token)
    assert Counter(p["role"] for p in participants) == {ParticipantRole.NEWCOMER: 21, ParticipantRole.ESTABLISHED: 9}
    assert {p["status"] for p in participants} >= {"registered", "interviewed"}
    ids = {p["id"] for p in participants}
    # ... and published to NATS by intake's outbox relay, like real traffic.
    deadline = time.monotonic() + 10
    while (messages := httpx.get(f"{monitor}/jsz", trust_env=False).json()["messages"]) < 30:
        assert time.monotonic() < deadline, f"only {messages} events in JetStream"
        time.sleep(0.2)
    children = up.descendants()
    assert_servers_among(children)
    assert (home / SIGNING_KEY_FILE).stat().st_mode & 0o777 == 0o600

    started = time.monotonic()
    assert up.stop(signal.SIGINT) == 0, up.output()
    assert time.monotonic() - started < 20
    assert gone(children) == []

    # Second run on the same home: the data, the signing key and so the old token survived; the demo
    # is not registered twice.
    up = start_up("--demo", env={"SPRAKVAN_DEMO_SIZE": "30"})
    intake, new_token, _ = ready(up)
    up.wait_for(r"^demo programme: .*0 registered now, 30 already there")
    assert {p["id"] for p in list_participants(intake, token)} == ids
    children = up.descendants()
    assert_servers_among(children)

    # Killed outright: NATS and PostgreSQL stay behind (own sessions); the service follows its parent.
    up.process.kill()
    up.process.wait()

    # Third run: stops the leftovers, starts again, data intact.
    up = start_up()
    up.wait_for(r"left running by an earlier")
    intake, _, _ = ready(up)
    assert {p["id"] for p in list_participants(intake, new_token)} == ids
    children += up.descendants()
    assert up.stop(signal.SIGTERM) == 0, up.output()
    assert gone(children) == []


def test_replay_refuses_a_service_without_read_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "intake"]) == 1
    assert "intake has no read models to rebuild" in capsys.readouterr().err


async def test_replay_rebuilds_reporting_from_the_streams(database_url: str, nats_url: str, ns) -> None:  # noqa: ANN001
    import asyncpg

    from sprakvan_reporting.service import SERVICE as REPORTING
    from sprakvan_shared.db import migrate, shared_migrations

    from .kit import PUBLIC_KEY

    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "NATS_URL": nats_url,
        "NATS_NAMESPACE": ns.root,
        "JWT_PUBLIC_KEY": PUBLIC_KEY,
    }
    conn = await asyncpg.connect(database_url)  # the read models exist once the service has migrated
    try:
        await migrate(conn, [*shared_migrations(), *REPORTING.migrations()])
    finally:
        await conn.close()
    done = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sprakvan_cli.main", "replay", "reporting", env=env, stdout=asyncio.subprocess.PIPE
    )
    output, _ = await asyncio.wait_for(done.communicate(), timeout=120)
    assert done.returncode == 0, output
    assert output.decode().startswith("replayed 0 events")
