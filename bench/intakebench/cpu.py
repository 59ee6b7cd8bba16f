"""CPU accounting (Linux /proc): where the two cores went during a timed phase."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

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


def set_scope(scope: CpuScope) -> None:
    """Which processes count as ours for the rest of the run (``amain`` sets it once)."""
    global _scope
    _scope = scope


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
        others={
            "postgres": _scope.postgres_seconds(),
            "nats": _scope.nats_seconds(),
            # The server's child processes: intake's outbox relay (RELAY_PROCESS), none for the baseline.
            "server_children": sum(_proc_cpu(pid) for pid, _ in _children(server_pid)) if server_pid else 0.0,
        }
        if _scope
        else {},
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
