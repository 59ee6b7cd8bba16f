"""The outbox relay in a process of its own beside the service's HTTP worker (``RELAY_PROCESS``, on by
default; ``ServiceRuntime`` starts it).

Why: publishing is CPU work in Python (reading the rows, the NATS protocol, the acknowledgements), and in
the HTTP worker's event loop it took turns with the requests: on intake under load, about a tenth of the
worker's CPU per registration, and a drain after an outage held the requests back for as long as it
lasted. In a process of its own the relay uses another core, and the worker serves requests only.

* The child is ``python -m sprakvan_shared.relay_process``: it reads its settings as one JSON line on
  stdin, connects a small pool and NATS of its own and runs ``OutboxRelay.run()``: leadership, batches,
  retries and parking are the relay's, as in-process.
* It reports on stdout, a JSON line whenever its state changes (leading, published, parked): the parent's
  metrics read them as they read an in-process relay's attributes.
* It stops on SIGTERM, and when its stdin closes: a parent killed with SIGKILL leaves no relay behind
  (the pipe closes with the parent). It ignores SIGINT: Ctrl-C reaches the whole process group, and the
  service stops its relay itself once its last requests are answered.
* The parent (``RelayProcess.run``) restarts a child that exits unexpectedly, after 1 s and then twice as
  long each time up to 30 s (back to 1 s after a minute of running), and says so in its log. An
  unpublished row waits in the outbox meanwhile: nothing is lost, it is published later.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import structlog

from .contracts.subjects import Namespace
from .settings import ServiceSettings

if TYPE_CHECKING:
    import asyncpg
    from nats.aio.client import Client as NatsClient

    from .relay import OutboxRelay

log = structlog.get_logger(__name__)

_REPORT_INTERVAL = 0.5  # seconds between the child's looks at its relay
_STOP_GRACE = 7.0  # seconds a stopping child gets before SIGKILL (a runtime waits 10 s for its tasks)
_FIRST_RESTART_DELAY = 1.0
_MAX_RESTART_DELAY = 30.0
_STABLE_AFTER = 60.0  # a child that ran this long starts the restart delays over


@dataclass(frozen=True)
class RelayConfig:
    """What the child needs: the service's database, NATS and relay settings."""

    service: str
    database_url: str
    nats_url: str
    namespace: str
    batch_size: int
    poll_interval: float
    publish_timeout: float
    linger: float
    retention_days: int
    db_command_timeout: float
    db_acquire_timeout: float
    db_lock_timeout: float
    log_level: str
    log_json: bool

    @classmethod
    def of(cls, service: str, s: ServiceSettings) -> RelayConfig:
        return cls(
            service=service,
            database_url=s.database_url,
            nats_url=s.nats_url,
            namespace=s.nats_namespace,
            batch_size=s.relay_batch_size,
            poll_interval=s.relay_poll_interval,
            publish_timeout=s.relay_publish_timeout,
            linger=s.relay_linger,
            retention_days=s.relay_retention_days,
            db_command_timeout=s.db_command_timeout,
            db_acquire_timeout=s.db_acquire_timeout,
            db_lock_timeout=s.db_lock_timeout,
            log_level=s.log_level,
            log_json=s.log_json,
        )

    def relay(self, pool: asyncpg.Pool, nc: NatsClient) -> OutboxRelay:
        """The relay these settings describe, on ``pool`` and ``nc`` (in the child, or in the service's
        own process with ``RELAY_PROCESS=false``)."""
        from .outbox import OutboxRelay  # the relay's module needs asyncpg and nats: not at import here

        return OutboxRelay(
            pool,
            nc,
            namespace=Namespace(self.namespace),
            batch_size=self.batch_size,
            poll_interval=self.poll_interval,
            publish_timeout=self.publish_timeout,
            linger=self.linger,
            retention=timedelta(days=self.retention_days),
        )


# -- the parent's side ------------------------------------------------------------------------------
class RelayProcess:
    """Runs the relay child and keeps it running; ``leading``, ``published_total`` and ``parked_total``
    are the child's, as it last reported them (what ``OutboxRelay`` offers in-process)."""

    def __init__(self, config: RelayConfig) -> None:
        self._config = config
        self._stopping = asyncio.Event()
        self._child: asyncio.subprocess.Process | None = None
        self.leading = False
        self.published_total = 0
        self.parked_total = 0
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child is not None and self._child.returncode is None else None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        delay = _FIRST_RESTART_DELAY
        while not self._stopping.is_set():
            started = loop.time()
            try:
                returncode = await self._run_child()
            except OSError as exc:  # could not even start it (no such interpreter, no memory)
                returncode = None
                log.error("outbox_relay_process_failed_to_start", error=type(exc).__name__)
            self.leading = False
            if self._stopping.is_set():
                return
            if loop.time() - started >= _STABLE_AFTER:
                delay = _FIRST_RESTART_DELAY
            log.error("outbox_relay_process_exited", returncode=returncode, restart_in=delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)
            delay = min(delay * 2, _MAX_RESTART_DELAY)
            self.restarts += 1

    async def stop(self) -> None:
        self._stopping.set()

    async def _run_child(self) -> int | None:
        child = self._child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            __name__,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=None,  # its log lines go where the service's go
        )
        assert child.stdin is not None and child.stdout is not None
        try:
            child.stdin.write(json.dumps(asdict(self._config)).encode() + b"\n")
            await child.stdin.drain()
            reports = asyncio.ensure_future(self._read_reports(child.stdout))
            stopping = asyncio.ensure_future(self._stopping.wait())
            try:
                await asyncio.wait([reports, stopping], return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopping.cancel()
            if self._stopping.is_set():
                await self._terminate(child)
            await reports
            return await child.wait()
        except BaseException:
            await self._terminate(child)
            raise
        finally:
            self._child = None

    async def _read_reports(self, stdout: asyncio.StreamReader) -> None:
        """Until the child's stdout closes (it exited)."""
        async for line in stdout:
            with contextlib.suppress(ValueError, TypeError, KeyError):
                report = json.loads(line)
                self.leading = bool(report["leading"])
                self.published_total = int(report["published"])
                self.parked_total = int(report["parked"])

    async def _terminate(self, child: asyncio.subprocess.Process) -> None:
        if child.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            child.terminate()
        try:
            await asyncio.wait_for(asyncio.shield(child.wait()), timeout=_STOP_GRACE)
        except TimeoutError:
            log.warning("outbox_relay_process_killed", pid=child.pid)
            with contextlib.suppress(ProcessLookupError):
                child.kill()
            await child.wait()


# -- the child's side -------------------------------------------------------------------------------
async def _relay(config: RelayConfig, stdin: asyncio.StreamReader) -> None:
    from .db import create_pool  # imported here: the parent needs none of this
    from .runtime import connect_nats

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    watch_parent = asyncio.ensure_future(_until_closed(stdin, stop))
    pool = await create_pool(
        config.database_url,
        min_size=1,
        max_size=5,  # the leader's lock, three overlapping batches, one spare
        command_timeout=config.db_command_timeout,
        acquire_timeout=config.db_acquire_timeout,
        lock_timeout=config.db_lock_timeout,
    )
    nc = None
    try:
        nc = await connect_nats(config.nats_url, name=f"sprakvan-{config.service}-relay", stop=stop)
        if nc is None:
            return  # stopped while NATS was away
        relay = config.relay(pool, nc)
        running = asyncio.ensure_future(relay.run())
        stopping = asyncio.ensure_future(stop.wait())
        last: dict[str, Any] | None = None
        try:
            while not running.done() and not stop.is_set():
                report = {"leading": relay.leading, "published": relay.published_total, "parked": relay.parked_total}
                if report != last:
                    sys.stdout.write(json.dumps(report) + "\n")
                    sys.stdout.flush()
                    last = report
                await asyncio.wait([running, stopping], timeout=_REPORT_INTERVAL, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            await relay.stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(running, timeout=_STOP_GRACE - 2)
    finally:
        watch_parent.cancel()
        if nc is not None:
            with contextlib.suppress(Exception):
                await nc.close()
        await pool.close()


async def _until_closed(stdin: asyncio.StreamReader, stop: asyncio.Event) -> None:
    with contextlib.suppress(Exception):
        while await stdin.read(4096):
            pass
    stop.set()  # the parent is gone (or closed the pipe): a relay without its service stops


async def _main() -> None:
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    config = RelayConfig(**json.loads(await stdin.readline()))
    from .logging import configure_logging

    configure_logging(config.service, config.log_level, config.log_json)
    await _relay(config, stdin)


def main() -> int:
    # Ctrl-C in a terminal reaches the whole process group: the service stops its relay itself (SIGTERM),
    # after its last requests, instead of losing it first and restarting it while shutting down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; plain asyncio does the same, slower
        asyncio.run(_main())
    else:
        uvloop.run(_main())
    return 0


if __name__ == "__main__":
    sys.exit(main())
