"""The migration runner against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import asyncpg
import pytest

from sprakvan_shared.db import (
    Migration,
    MigrationChecksumMismatch,
    MigrationNameError,
    load_migrations,
    migrate,
    shared_migrations,
)

SLOW = [
    Migration("probe", 1, "0001_table.sql", "CREATE TABLE things (id int); SELECT pg_sleep(0.3);"),
    Migration("probe", 2, "0002_column.sql", "ALTER TABLE things ADD COLUMN name text;"),
]


async def test_two_replicas_starting_at_once_apply_each_migration_once(database_url: str) -> None:
    connections = [await asyncpg.connect(database_url) for _ in range(2)]
    try:
        applied = await asyncio.gather(*(migrate(c, [*shared_migrations(), *SLOW]) for c in connections))
    finally:
        for conn in connections:
            await conn.close()
    # One replica did all the work while the other waited on the lock, then found nothing to do.
    everything = len(shared_migrations()) + len(SLOW)
    assert sorted(len(a) for a in applied) == [0, everything]
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT component, version FROM schema_migrations ORDER BY component, version")
        shared = sorted((m.component, m.version) for m in shared_migrations())
        assert [tuple(r) for r in rows] == [("probe", 1), ("probe", 2), *shared]
        assert await migrate(conn, [*shared_migrations(), *SLOW]) == []
    finally:
        await conn.close()


async def test_a_failing_migration_leaves_nothing_half_done(db: asyncpg.Connection) -> None:
    broken = [*SLOW[:1], Migration("probe", 2, "0002_broken.sql", "ALTER TABLE things ADD COLUMN x int; SELEC 1;")]
    with pytest.raises(asyncpg.PostgresSyntaxError):
        await migrate(db, broken)
    assert await db.fetchval("SELECT to_regclass('schema_migrations')") is None  # the whole run rolled back
    assert await db.fetchval("SELECT to_regclass('things')") is None


async def test_an_applied_migration_that_was_edited_is_refused(db: asyncpg.Connection) -> None:
    await migrate(db, SLOW[:1])
    edited = [Migration("probe", 1, "0001_table.sql", "CREATE TABLE things (id bigint);")]
    with pytest.raises(MigrationChecksumMismatch):
        await migrate(db, edited)


@pytest.mark.parametrize("name", ["001_short.sql", "0003-dash.sql", "0004_Upper.sql", "0005_x.SQL", "notes.txt"])
def test_a_misnamed_file_in_a_migrations_directory_is_an_error(tmp_path: Path, name: str) -> None:
    (tmp_path / "0001_fine.sql").write_text("SELECT 1;")
    (tmp_path / "__init__.py").write_text("")  # packaging files are allowed
    (tmp_path / name).write_text("SELECT 2;")
    with pytest.raises(MigrationNameError, match=re.escape(repr(name))):
        load_migrations("probe", tmp_path)


def test_well_named_migrations_load_in_order(tmp_path: Path) -> None:
    for name in ("0002_second.sql", "0001_first.sql"):
        (tmp_path / name).write_text(f"-- {name}")
    (tmp_path / "__pycache__").mkdir()
    assert [m.name for m in load_migrations("probe", tmp_path)] == ["0001_first.sql", "0002_second.sql"]
