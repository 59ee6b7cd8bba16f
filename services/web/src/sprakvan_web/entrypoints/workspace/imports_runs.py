"""An import's dry run and then its confirmed run, each in the background of the web service (``import_runs``),
so that a file of thousands of rows shows its progress instead of holding a request for minutes.

The upload keeps the file in a run that is a dry run (``begin_dry_run``) and starts a task; once the dry run
is done, its row holds the summary and the file, and the confirmation (``confirm``, within ``CONFIRM_WITHIN``)
turns the same row into the real run and starts a task again. Each task reports each chunk the importer
sends (``run_import``'s ``progress``, as the CLI's) and each sheet it finishes into the run's row, at most
every ``FLUSH`` seconds, and writes ``heartbeat_at`` at least every ``HEARTBEAT`` seconds while it lives. Any
replica's page reads only the row: a run still ``running`` whose heartbeat is older than ``STALE`` belonged
to a process that died. A stopped or failed run keeps its file and can be run again (``claim_again``, one
replica wins), a dry run as a dry run: imports are idempotent by key, so the rows that got in are then
unchanged and the rest goes in.
Nothing of the file (its name, cells or the summary) is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog

from sprakvan_importer import FileError, NotConfigured, Plan, ServiceError, plan_for, read_file, run_import
from sprakvan_importer.run import KindReport

from ...adapters.services import Caller
from ...adapters.tokens import TokenIssuer
from ...settings import WebSettings
from .imports_services import AccessRevoked, services_for

log = structlog.get_logger(__name__)

HEARTBEAT = 5.0  # seconds between two signs of life of a running run
FLUSH = 1.0  # at most one progress write a second
STALE = "30 seconds"  # a running run silent this long has lost its process
LIFETIME = "1 day"  # after its last sign, a run (and its file) goes
CONFIRM_WITHIN = "1 hour"  # a dry run older than this is not confirmed: the data may have changed since
# A dry run that failed on its file: checking the same file again cannot help.
FILE_PROBLEMS = ("unreadable", "no_known_sheet")


class NoKnownSheet(FileError):
    """The file has no sheet of a kind Språkvän knows."""


@dataclass(frozen=True)
class Run:
    id: uuid.UUID
    file_name: str
    status: str  # running, done, stopped (also a running run whose process died), failed
    problem: str | None  # failed: unavailable, not_configured, unreadable, no_known_sheet, revoked, error
    sheets: list[dict[str, Any]]
    report: dict[str, Any] | None
    dry_run: bool
    confirmable: bool  # a done dry run, recent enough

    @property
    def may_run_again(self) -> bool:
        return self.status in ("stopped", "failed") and self.problem not in FILE_PROBLEMS


async def execute(
    pool: asyncpg.Pool,
    settings: WebSettings,
    issuer: TokenIssuer,
    caller: Caller,
    user_id: uuid.UUID,
    name: str,
    data: bytes,
    programme: str | None,
    *,
    dry_run: bool,
    planned: Callable[[Plan], None] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    after_kind: Callable[[KindReport], Awaitable[None]] | None = None,
) -> dict[str, Any]:
    """The importer's steps for one file, as the dry run and the confirmed run both take them: the report
    as a dict. Raises FileError (NoKnownSheet), NotConfigured, ServiceError or AccessRevoked."""
    workbook = await asyncio.to_thread(read_file, name, data)  # openpyxl takes seconds of CPU for a large file
    async with services_for(settings, issuer, caller, pool=pool, user_id=user_id) as services:
        plan = await plan_for(workbook, services, programme)
        if not plan.kinds:
            raise NoKnownSheet("no sheet of a known kind")
        if planned is not None:
            planned(plan)
        report = await run_import(plan, services, dry_run=dry_run, progress=progress, after_kind=after_kind)
    return report.to_dict()


class Progress:
    """A run's sheets as the importer reports them, written to its row by :meth:`beat`."""

    def __init__(self, pool: asyncpg.Pool, run_id: uuid.UUID) -> None:
        self._pool, self._run_id = pool, run_id
        self.sheets: list[dict[str, Any]] = []
        self._changed = asyncio.Event()

    def _sheet(self, kind: str) -> dict[str, Any]:
        return next(s for s in self.sheets if s["kind"] == kind)

    def planned(self, plan: Plan) -> None:
        self.sheets = [
            {"kind": name, "sheet": p.sheet, "rows": len(p.rows) + len(p.refused), "sent": 0, "total": len(p.rows),
             "finished": False}
            for name, p in plan.kinds.items()
        ]  # fmt: skip
        self._changed.set()

    def progress(self, kind: str, done: int, total: int) -> None:  # the importer's callback, per chunk
        self._sheet(kind).update(sent=done, total=total)
        self._changed.set()

    async def after_kind(self, report: KindReport) -> None:
        sheet = self._sheet(report.kind)
        sheet.update(finished=True, created=report.created, updated=report.updated, unchanged=report.unchanged)
        sheet.update(refused=report.refused)
        self._changed.set()

    async def beat(self) -> None:
        """Until cancelled: the sheets when they change (at most every FLUSH s), a heartbeat at least every
        HEARTBEAT s. A failed write is logged and tried again: the import itself goes on."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), HEARTBEAT)
            self._changed.clear()
            try:
                await self._pool.execute(
                    "UPDATE import_runs SET sheets = $2, heartbeat_at = now() WHERE id = $1 AND status = 'running'",
                    self._run_id, self.sheets,
                )  # fmt: skip
            except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as exc:
                log.warning("import_progress_not_saved", run_id=str(self._run_id), error=type(exc).__name__)
            await asyncio.sleep(FLUSH)


class ImportRuns:
    """This process's running imports (``app.state.import_runs``); :meth:`stop` at shutdown marks them
    stopped, so the page says so at once rather than after ``STALE``."""

    def __init__(self) -> None:
        self._tasks: dict[uuid.UUID, asyncio.Task[None]] = {}

    def start(
        self, pool: asyncpg.Pool, settings: WebSettings, issuer: TokenIssuer, caller: Caller, run_id: uuid.UUID,
        claimed: Claimed,
    ) -> None:  # fmt: skip
        run = self._run(pool, settings, issuer, caller, run_id, claimed)
        task = asyncio.create_task(run, name=f"import-{run_id}")
        self._tasks[run_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(run_id, None))

    async def stop(self, pool: asyncpg.Pool) -> None:
        tasks = list(self._tasks.items())
        for _, task in tasks:
            task.cancel()
        for run_id, task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
            with contextlib.suppress(asyncpg.PostgresError, OSError, asyncpg.InterfaceError):
                await pool.execute(
                    "UPDATE import_runs SET status = 'stopped' WHERE id = $1 AND status = 'running'", run_id
                )

    async def wait(self, run_id: uuid.UUID) -> None:
        """Until this process's run is over (the tests' way to let a run end)."""
        task = self._tasks.get(run_id)
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(task)

    async def _run(
        self, pool: asyncpg.Pool, settings: WebSettings, issuer: TokenIssuer, caller: Caller, run_id: uuid.UUID,
        claimed: Claimed,
    ) -> None:  # fmt: skip
        progress = Progress(pool, run_id)
        beating = asyncio.create_task(progress.beat(), name=f"import-{run_id}-progress")
        status, problem, report = "failed", "error", None
        try:
            report = await execute(
                pool, settings, issuer, caller, claimed.user_id, claimed.file_name, claimed.content,
                claimed.programme,
                dry_run=claimed.dry_run,
                planned=progress.planned, progress=progress.progress, after_kind=progress.after_kind,
            )  # fmt: skip
            status, problem = "done", None
        except NotConfigured:
            problem = "not_configured"
        except ServiceError:
            problem = "unavailable"
        except AccessRevoked:  # demoted or disabled while it ran: what got in stays, nothing more is sent
            problem = "revoked"
        except NoKnownSheet:
            problem = "no_known_sheet"
        except FileError as exc:  # the reader's own words (no cell values): what to mend in the file
            problem, report = "unreadable", {"file_problem": str(exc)}
        except Exception:  # noqa: BLE001 - a bug: the run says it failed, the traceback goes to the log
            log.exception("import_run_failed", run_id=str(run_id))
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating
        await _finish(pool, run_id, status, problem, progress.sheets, report)


async def _finish(
    pool: asyncpg.Pool, run_id: uuid.UUID, status: str, problem: str | None, sheets: list[dict[str, Any]],
    report: dict[str, Any] | None,
) -> None:  # fmt: skip
    """The run's end; a done run's file goes (a done dry run keeps it for its confirmation). Should this write
    fail, the run looks stopped (its heartbeat ages) and running it again completes it."""
    try:
        await pool.execute(
            "UPDATE import_runs SET status = $2, problem = $3, sheets = $4, report = $5, heartbeat_at = now(),"
            " content = CASE WHEN $2 = 'done' AND NOT dry_run THEN NULL ELSE content END WHERE id = $1",
            run_id, status, problem, sheets, report,
        )  # fmt: skip
    except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as exc:
        log.error("import_run_end_not_saved", run_id=str(run_id), error=type(exc).__name__)


async def prune(conn: asyncpg.Pool | asyncpg.Connection) -> None:
    await conn.execute(f"DELETE FROM import_runs WHERE heartbeat_at < now() - interval '{LIFETIME}'")


@dataclass(frozen=True)
class Claimed:
    """What a run that starts now runs: its file, whether it is a dry run, and whose it is."""

    user_id: uuid.UUID
    file_name: str
    programme: str | None
    content: bytes
    dry_run: bool

    @classmethod
    def of(cls, row: asyncpg.Record | None) -> Claimed | None:
        if row is None:
            return None
        return cls(row["user_id"], row["file_name"], row["programme"], bytes(row["content"]), row["dry_run"])


async def begin_dry_run(
    pool: asyncpg.Pool, *, organisation_id: str, user_id: uuid.UUID, file_name: str, programme: str | None,
    content: bytes,
) -> tuple[uuid.UUID, Claimed]:  # fmt: skip
    """An uploaded file, kept in a new run that is a running dry run."""
    run_id = uuid.uuid4()
    row = await pool.fetchrow(
        "INSERT INTO import_runs (id, organisation_id, user_id, file_name, programme, content, status, dry_run)"
        " VALUES ($1, $2, $3, $4, $5, $6, 'running', true) RETURNING user_id, file_name, programme, content, dry_run",
        run_id, organisation_id, user_id, file_name, programme, content,
    )  # fmt: skip
    claimed = Claimed.of(row)
    assert claimed is not None  # an INSERT ... RETURNING returns its row
    return run_id, claimed


_CONFIRMABLE = f"(dry_run AND status = 'done' AND heartbeat_at >= now() - interval '{CONFIRM_WITHIN}')"
_RESTART = "status = 'running', problem = NULL, sheets = '[]', report = NULL, started_at = now(), heartbeat_at = now()"


async def confirm(pool: asyncpg.Pool, run_id: uuid.UUID, *, organisation_id: str, user_id: uuid.UUID) -> Claimed | None:
    """The admin's done dry run becomes the real run, in one statement (a second confirmation finds nothing);
    None when it is not the admin's, not a done dry run, or older than ``CONFIRM_WITHIN``."""
    row = await pool.fetchrow(
        f"UPDATE import_runs SET dry_run = false, {_RESTART}"
        f" WHERE id = $1 AND organisation_id = $2 AND user_id = $3 AND {_CONFIRMABLE}"
        " RETURNING user_id, file_name, programme, content, dry_run",
        run_id, organisation_id, user_id,
    )  # fmt: skip
    return Claimed.of(row)


_STALE = f"(status = 'running' AND heartbeat_at < now() - interval '{STALE}')"
_NOT_RUNNING = f"(status IN ('stopped', 'failed') OR {_STALE})"


async def claim_again(
    pool: asyncpg.Pool, run_id: uuid.UUID, *, organisation_id: str, user_id: uuid.UUID
) -> Claimed | None:
    """A stopped or failed run (a dry run stays one), running again from its file; None when it is not the
    admin's, is done, runs (another replica or a double click claimed it first), or failed on its file."""
    row = await pool.fetchrow(
        f"UPDATE import_runs SET {_RESTART}"
        f" WHERE id = $1 AND organisation_id = $2 AND user_id = $3 AND content IS NOT NULL AND {_NOT_RUNNING}"
        " AND (problem IS NULL OR problem <> ALL($4::text[]))"
        " RETURNING user_id, file_name, programme, content, dry_run",
        run_id, organisation_id, user_id, list(FILE_PROBLEMS),
    )  # fmt: skip
    return Claimed.of(row)


async def find(pool: asyncpg.Pool, run_id: uuid.UUID, *, organisation_id: str, user_id: uuid.UUID) -> Run | None:
    row = await pool.fetchrow(
        f"SELECT id, file_name, CASE WHEN {_STALE} THEN 'stopped' ELSE status END AS status, problem, sheets,"
        f" report, dry_run, {_CONFIRMABLE} AS confirmable"
        " FROM import_runs WHERE id = $1 AND organisation_id = $2 AND user_id = $3",
        run_id, organisation_id, user_id,
    )  # fmt: skip
    return Run(**dict(row)) if row else None
