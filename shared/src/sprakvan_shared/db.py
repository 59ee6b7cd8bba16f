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

import hashlib
import json
import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

import asyncpg
import structlog

log = structlog.get_logger(__name__)

_MIGRATION_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Any constant works; it only has to be the same in every replica of every service.
_MIGRATION_LOCK_KEY = 0x5350524B  # "SPRK"


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _skip_server_reset(conn: asyncpg.Connection) -> None:
    """Replaces asyncpg's reset query (UNLISTEN, advisory unlock, RESET ALL ...), a round trip on every
    release. Our code leaves no session state behind: the outbox relay unlistens and unlocks before it
    releases its connection. asyncpg still rolls back an open transaction and drops local listeners."""


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, reset=_skip_server_reset
    )
    assert pool is not None
    return pool


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
    return load_migrations("shared", resources.files("sprakvan_shared") / "migrations")


class MigrationChecksumMismatch(RuntimeError):
    pass


async def migrate(conn: asyncpg.Connection, migrations: list[Migration]) -> list[Migration]:
    """Apply what is not yet applied; return what was applied now."""
    applied_now: list[Migration] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK_KEY)
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
                await conn.execute(migration.sql)
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
