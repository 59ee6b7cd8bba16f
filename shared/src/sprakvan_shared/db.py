"""asyncpg pool and the migration runner.

Migrations are numbered SQL files (``0001_participants.sql``) in a package directory. Any other file
there (``001_x.sql``, ``0003-x.sql``, ``0004_x.SQL``, ``notes.txt``) is an error, not silently skipped:
a misnamed migration would otherwise never run. Each is applied once, in its own transaction, and
recorded in ``schema_migrations``. A transaction-level advisory lock makes concurrent start-ups of two
replicas safe: the second waits, then finds nothing left to do. ``sprakvan migrate NAME`` runs the same
as a deploy step, before the new version starts.
The shared plumbing tables (outbox, inbox) come first, as component ``shared``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import weakref
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import asyncpg
import structlog

log = structlog.get_logger(__name__)

_MIGRATION_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Any constant works; it only has to be the same in every replica of every service.
_MIGRATION_LOCK_KEY = 0x5350524B  # "SPRK"
# Migrations may wait for a replica's migration and run long: not bounded like a request.
_MIGRATION_TIMEOUT = 3600.0


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


class DatabaseUnavailable(Exception):
    """PostgreSQL could not be used for this request (an outage, not a bug): answered with 503."""

    saved: bool | None = False  # False: nothing reached the database; None: it may have committed


class NotSaved(DatabaseUnavailable):
    """Nothing of the request reached the database (no connection, or the transaction never committed)."""


class OutcomeUnknown(DatabaseUnavailable):
    """The connection failed while a commit (or a single auto-committed statement) was in flight: the
    change may or may not have been saved. A retry with the same Idempotency-Key finds out safely."""

    saved = None


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` means "the database is away or overloaded" rather than "our code is wrong".

    asyncpg raises ``InternalClientError: cannot switch to state ...`` when the server drops a
    connection in the middle of a protocol exchange (asyncpg#1069, #784): an outage too.
    """
    if isinstance(exc, (DatabaseUnavailable, ConnectionError, TimeoutError, *_OUTAGE_ERRORS)):
        return True
    return isinstance(exc, asyncpg.InternalClientError) and "cannot switch to state" in str(exc)


def aborted_transaction(exc: BaseException) -> bool:
    """Errors after which PostgreSQL has certainly rolled the transaction back (or never began it)."""
    return isinstance(exc, _NEVER_COMMITTED)


_OUTAGE_ERRORS = (
    asyncpg.PostgresConnectionError,  # class 08
    asyncpg.CannotConnectNowError,  # 57P03: starting up, shutting down, in recovery
    asyncpg.AdminShutdownError,  # 57P01, also pg_terminate_backend
    asyncpg.CrashShutdownError,  # 57P02
    asyncpg.ConnectionDoesNotExistError,  # "connection was closed in the middle of operation"
    asyncpg.TooManyConnectionsError,  # 53300
    asyncpg.QueryCanceledError,  # 57014: statement_timeout, or command_timeout's cancel
    asyncpg.LockNotAvailableError,  # 55P03: lock_timeout
    asyncpg.SerializationError,  # 40001
    asyncpg.DeadlockDetectedError,  # 40P01
)
_NEVER_COMMITTED = (
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.QueryCanceledError,
    asyncpg.LockNotAvailableError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
)


# -- what a request may have saved ------------------------------------------------------------------
# Per request (``tracking_writes``, entered by ``http.ErrorMiddleware``): whether anything of it may have
# reached the database for good. Nothing has, until a top-level transaction's COMMIT is sent or a statement
# that may write is sent outside a transaction. A failure inside a transaction, before its COMMIT, leaves it
# so: PostgreSQL rolls back what never committed. The answer to an outage follows it (``request_outcome``).
@dataclass
class _Writes:
    maybe_saved: bool = False


_writes: ContextVar[_Writes | None] = ContextVar("sprakvan_db_writes", default=None)
# Statements that cannot change stored data: reads, and session or transaction control (the pool's reset).
_READ_ONLY_START = re.compile(
    r"^\s*(?:(?:--[^\n]*\n|/\*.*?\*/)\s*)*\(?\s*"
    r"(?:select|with|values|table|show|begin|start\s+transaction|rollback|abort|set|reset|listen|unlisten|close"
    r"|discard)\b",
    re.IGNORECASE | re.DOTALL,
)
_MAY_WRITE = re.compile(r"\b(?:insert|update|delete|merge|into|nextval|setval|copy|call|do)\b", re.IGNORECASE)


def _may_write(query: str) -> bool:
    """False only for a statement that certainly writes nothing (a SELECT that inserts in a CTE may write)."""
    return _READ_ONLY_START.match(query) is None or _MAY_WRITE.search(query) is not None


@contextlib.contextmanager
def tracking_writes() -> Iterator[None]:
    """Note, for the code run inside (one request), whether anything may have been saved."""
    token = _writes.set(_Writes())
    try:
        yield
    finally:
        _writes.reset(token)


def request_outcome() -> type[DatabaseUnavailable]:
    """What an outage now means for the request: ``NotSaved`` while nothing of it can have reached the
    database, else ``OutcomeUnknown`` (a COMMIT or an auto-committed write was sent: it, or part, may be saved)."""
    writes = _writes.get()
    return OutcomeUnknown if writes is not None and writes.maybe_saved else NotSaved


def _certainly_refused(exc: BaseException) -> bool:
    """PostgreSQL answered the statement with an error (a constraint, a timeout, a serialization failure):
    nothing of it was committed. A lost connection (``AdminShutdownError`` included) is no such answer."""
    if aborted_transaction(exc):
        return True
    return isinstance(exc, asyncpg.PostgresError) and not is_outage(exc)


@contextlib.contextmanager
def _sending(conn: asyncpg.Connection, query: str) -> Iterator[None]:
    writes = _writes.get()
    if writes is None or writes.maybe_saved or conn.is_in_transaction() or not _may_write(query):
        yield
        return
    writes.maybe_saved = True  # from the moment it is sent: a lost answer may hide a commit
    try:
        yield
    except BaseException as exc:
        if _certainly_refused(exc):
            writes.maybe_saved = False
        raise


async def _committing(commit: Awaitable[Any], *, readonly: bool = False) -> None:
    """Run a top-level COMMIT: ``NotSaved`` if PostgreSQL certainly did not commit, ``OutcomeUnknown`` if
    the connection failed while it was in flight."""
    writes = _writes.get()
    try:
        await commit
    except DatabaseUnavailable:
        raise
    except Exception as exc:
        if aborted_transaction(exc):
            raise NotSaved(type(exc).__name__) from exc
        if is_outage(exc):
            if writes is not None and not readonly:
                writes.maybe_saved = True
            raise OutcomeUnknown(type(exc).__name__) from exc
        raise  # refused at COMMIT (a deferred constraint): the caller's error, nothing saved
    if writes is not None and not readonly:
        writes.maybe_saved = True


def _not_saved(exc: BaseException) -> NotSaved | None:
    """The ``NotSaved`` that an outage inside a transaction (before its COMMIT) means; None for any other."""
    if isinstance(exc, Exception) and is_outage(exc) and not isinstance(exc, DatabaseUnavailable):
        return NotSaved(type(exc).__name__)
    return None


async def _begin(start: Awaitable[Any]) -> None:
    try:
        await start
    except Exception as exc:
        if (error := _not_saved(exc)) is not None:
            raise error from exc
        raise


class _ClaimingTransaction(asyncpg.transaction.Transaction):
    """A top-level read-write transaction records the request's Idempotency-Key claim first thing
    (``idempotency.claim_in``), so that every service's writes commit with their key whichever way they
    open their transaction (``db.transaction``, or ``conn.transaction()`` on a pooled connection).

    It also fails honestly, as ``db.transaction`` does: an outage at BEGIN or in the body (before COMMIT
    is sent) is ``NotSaved`` (a ROLLBACK that fails on the lost connection is no new error: PostgreSQL
    discards what never committed); one while COMMIT is in flight is ``OutcomeUnknown``."""

    __slots__ = ()

    async def start(self) -> None:
        await _begin(super().start())
        if self._nested or self._readonly:
            return
        from . import idempotency  # a cycle otherwise: idempotency uses this module's errors

        try:
            await idempotency.claim_in(self._connection)
        except BaseException as exc:
            with contextlib.suppress(Exception):
                await self.rollback()
            if (error := _not_saved(exc)) is not None:
                raise error from exc
            raise

    async def commit(self) -> None:
        if self._nested:
            await super().commit()
            return
        await _committing(super().commit(), readonly=self._readonly)

    async def __aexit__(self, extype: Any, ex: Any, tb: Any) -> None:
        if self._nested:
            await super().__aexit__(extype, ex, tb)
            return
        if extype is None:
            await _committing(super().__aexit__(None, None, None), readonly=self._readonly)
            return
        try:
            await super().__aexit__(extype, ex, tb)  # ROLLBACK
        except Exception:
            if not isinstance(ex, Exception):
                raise
            # The ROLLBACK failed too (the connection is gone): the body's error is the one to answer.
        if (error := _not_saved(ex)) is not None:
            raise error from ex


class Connection(asyncpg.Connection):
    """asyncpg's connection with honest transactions (``_ClaimingTransaction``) and a note, per request, of
    every statement sent outside a transaction that may write (``tracking_writes``)."""

    def transaction(  # type: ignore[override]
        self, *, isolation: str | None = None, readonly: bool = False, deferrable: bool = False
    ) -> asyncpg.transaction.Transaction:
        self._check_open()
        return _ClaimingTransaction(self, isolation, readonly, deferrable)

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:
        with _sending(self, query):
            return await super().execute(query, *args, timeout=timeout)

    async def _execute(self, query: str, args: Any, limit: int, timeout: float | None, **kwargs: Any) -> Any:
        with _sending(self, query):
            return await super()._execute(query, args, limit, timeout, **kwargs)

    async def _executemany(self, query: str, args: Any, timeout: float | None, **kwargs: Any) -> Any:
        with _sending(self, query):
            return await super()._executemany(query, args, timeout, **kwargs)

    async def _copy_in(self, copy_stmt: str, source: Any, timeout: float | None) -> Any:
        with _sending(self, copy_stmt):
            return await super()._copy_in(copy_stmt, source, timeout)


class Pool(asyncpg.Pool):
    """asyncpg's pool with a default acquire timeout (a request waits at most ``acquire_timeout`` for a
    connection, then fails as ``NotSaved``: nothing was sent) and a reset on every release, unless the
    caller says ``acquire(reset=False)``.

    The reset is asyncpg's own (UNLISTEN, advisory unlock, CLOSE ALL, RESET ALL): whatever a caller left
    on a session (a SET, a LISTEN, a session advisory lock) never leaks into the next request. It costs a
    round trip per release: measured on one INSERT per acquire, 32 clients, the same run, reset on release
    gave 0.57-0.70x the statements/s of none (two runs). So the one-statement paths (``single_statement``, the
    Idempotency-Key look-ups), which provably leave nothing on the session, opt out; the rest, the relay's
    LISTEN/advisory-lock connection and every transaction included, are reset.
    """

    acquire_timeout: float | None = None
    _clean: weakref.WeakSet[asyncpg.Connection]

    def acquire(self, *, timeout: float | None = None, reset: bool = True) -> _Acquire:  # type: ignore[override]
        inner = super().acquire(timeout=self.acquire_timeout if timeout is None else timeout)
        return _Acquire(inner, None if reset else self._clean)

    async def _reset_unless_clean(self, conn: asyncpg.Connection) -> None:
        if conn in self._clean:
            self._clean.discard(conn)
            return  # asyncpg has already rolled back any transaction and dropped local listeners
        await conn.reset()


class _Acquire:
    def __init__(self, inner: Any, clean: weakref.WeakSet[asyncpg.Connection] | None) -> None:
        self._inner = inner
        self._clean = clean

    async def __aenter__(self) -> asyncpg.Connection:
        try:
            conn = await self._inner.__aenter__()
        except Exception as exc:
            if is_outage(exc) or isinstance(exc, OSError):
                # Connecting (or waiting for a free connection) failed: nothing reached the database.
                raise NotSaved(type(exc).__name__) from exc
            raise
        if self._clean is not None:
            self._clean.add(conn._con)  # the pool's reset sees the raw connection, not the proxy
        return conn

    async def __aexit__(self, *exc_info: Any) -> None:
        await self._inner.__aexit__(*exc_info)

    def __await__(self) -> Any:
        return self.__aenter__().__await__()


def acquire_clean(pool: asyncpg.Pool) -> Any:
    """``acquire(reset=False)`` on our pool; a plain acquire on any other."""
    return pool.acquire(reset=False) if isinstance(pool, Pool) else pool.acquire()


async def create_pool(
    dsn: str,
    *,
    min_size: int = 2,
    max_size: int = 10,
    command_timeout: float = 10.0,
    acquire_timeout: float = 5.0,
    lock_timeout: float = 3.0,
) -> Pool:
    """A pool whose every wait is bounded: ``command_timeout`` for any statement (client side; asyncpg
    cancels it on the server), ``acquire_timeout`` for a free connection, ``lock_timeout`` for a row or
    table lock (server side, per session; it survives the reset, which returns to the session's start)."""
    clean: weakref.WeakSet[asyncpg.Connection] = weakref.WeakSet()
    pool = Pool(
        dsn,
        connection_class=Connection,
        record_class=asyncpg.Record,
        min_size=min_size,
        max_size=max_size,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        loop=None,
        setup=None,
        init=_init_connection,
        reset=lambda conn: pool._reset_unless_clean(conn),
        command_timeout=command_timeout,
        server_settings={"lock_timeout": f"{int(lock_timeout * 1000)}ms"},
    )
    pool.acquire_timeout = acquire_timeout
    pool._clean = clean
    await pool
    return pool


@asynccontextmanager
async def transaction(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A connection in a transaction, with honest failures: an outage before or during the work is
    ``NotSaved`` (PostgreSQL rolls back what was never committed); one during COMMIT is ``OutcomeUnknown``.
    An active Idempotency-Key claim (``idempotency.py``) is recorded in the same transaction. On the pool's
    own connections ``conn.transaction()`` does all of this too (``_ClaimingTransaction``); this works on any."""
    from . import idempotency  # a cycle otherwise: idempotency uses this module's errors

    async with pool.acquire() as conn:
        tx = conn.transaction()
        await _begin(tx.start())  # on our pool, start claims the key: a concurrent retry waits there
        try:
            await idempotency.claim_in(conn)  # a no-op once claimed
            yield conn
        except BaseException as exc:
            with contextlib.suppress(Exception):
                await tx.rollback()
            if (error := _not_saved(exc)) is not None:
                raise error from exc
            raise
        await _committing(tx.commit())


@asynccontextmanager
async def single_statement(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A connection for one auto-committed statement (the fast path): an outage while it runs may have
    committed it, so it is ``OutcomeUnknown`` unless PostgreSQL certainly refused it. One statement leaves
    nothing on the session: no reset round trip on release (see ``Pool``)."""
    async with acquire_clean(pool) as conn:
        try:
            yield conn
        except Exception as exc:
            if aborted_transaction(exc):
                raise NotSaved(type(exc).__name__) from exc
            if is_outage(exc) and not isinstance(exc, DatabaseUnavailable):
                raise OutcomeUnknown(type(exc).__name__) from exc
            raise


@dataclass(frozen=True)
class Migration:
    component: str
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


# What Python packaging puts beside the SQL files; nothing else may be there.
_PACKAGE_FILES = frozenset({"__init__.py", "__pycache__"})


class MigrationNameError(ValueError):
    pass


def load_migrations(component: str, directory: Traversable) -> list[Migration]:
    found = []
    for entry in directory.iterdir():
        if entry.name in _PACKAGE_FILES:
            continue
        match = _MIGRATION_FILE.match(entry.name)
        if not match or not entry.is_file():
            raise MigrationNameError(
                f"{component}: {entry.name!r} in the migrations directory is not named NNNN_lower_case_words.sql"
            )
        found.append(Migration(component, int(match[1]), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"duplicate migration numbers in {component}: {versions}")
    return found


def shared_migrations() -> list[Migration]:
    """The plumbing every service's database has: outbox and inbox (component ``shared``), and the
    Idempotency-Key records (component ``shared-idempotency``, numbered on its own), and the import keys of
    spreadsheet imports (component ``shared-imports``)."""
    package = resources.files("sprakvan_shared")
    return [
        *load_migrations("shared", package / "migrations"),
        *load_migrations("shared-idempotency", package / "idempotency_migrations"),
        *load_migrations("shared-imports", package / "import_migrations"),
    ]


class MigrationChecksumMismatch(RuntimeError):
    pass


async def migrate(conn: asyncpg.Connection, migrations: list[Migration]) -> list[Migration]:
    """Apply what is not yet applied; return what was applied now."""
    applied_now: list[Migration] = []
    async with conn.transaction():
        await conn.execute("SET LOCAL lock_timeout = 0")  # waiting for another replica is expected here
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK_KEY, timeout=_MIGRATION_TIMEOUT)
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   component  text        NOT NULL,
                   version    integer     NOT NULL,
                   name       text        NOT NULL,
                   checksum   text        NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now(),
                   PRIMARY KEY (component, version))"""
        )
        rows = await conn.fetch("SELECT component, version, checksum FROM schema_migrations")
        done = {(r["component"], r["version"]): r["checksum"] for r in rows}
        for migration in migrations:
            key = (migration.component, migration.version)
            if key in done:
                if done[key] != migration.checksum:
                    raise MigrationChecksumMismatch(
                        f"{migration.component}/{migration.name} changed after it was applied"
                    )
                continue
            async with conn.transaction():  # a savepoint: one file, all or nothing
                await conn.execute(migration.sql, timeout=_MIGRATION_TIMEOUT)
                await conn.execute(
                    "INSERT INTO schema_migrations (component, version, name, checksum) VALUES ($1, $2, $3, $4)",
                    migration.component,
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            applied_now.append(migration)
            log.info("migration_applied", component=migration.component, migration=migration.name)
    return applied_now
