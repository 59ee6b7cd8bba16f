"""``sprakvan migrate NAME`` as a deploy step, against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import sys

import asyncpg

from sprakvan_cli.migrate import service_migrations
from sprakvan_intake.service import SERVICE as INTAKE

CLI = [sys.executable, "-m", "sprakvan_cli.main"]


async def _run(*args: str, database_url: str | None) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    if database_url:
        env["DATABASE_URL"] = database_url
    process = await asyncio.create_subprocess_exec(
        *CLI, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode or 0, out.decode(), err.decode()


async def test_migrate_applies_shared_and_service_migrations_once(database_url: str) -> None:
    code, out, _ = await _run("migrate", "intake", database_url=database_url)
    expected = service_migrations(INTAKE)
    assert code == 0
    assert "applied intake/0001_participants.sql" in out
    assert f"intake: {len(expected)} applied, 0 already there" in out
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT component, name FROM schema_migrations")
        assert sorted((r["component"], r["name"]) for r in rows) == sorted((m.component, m.name) for m in expected)
    finally:
        await conn.close()
    # Again: nothing to do (the service's own start-up then finds the same).
    code, out, _ = await _run("migrate", "intake", database_url=database_url)
    assert (code, out.strip()) == (0, f"intake: 0 applied, {len(expected)} already there")


async def test_migrate_without_a_database_or_with_an_unknown_service_says_why() -> None:
    code, _, err = await _run("migrate", "intake", database_url=None)
    assert code == 1 and "DATABASE_URL" in err
    code, _, err = await _run("migrate", "nosuch", database_url="postgresql://127.0.0.1:1/x")
    assert code == 2 and "unknown service 'nosuch'" in err
    code, _, err = await _run("migrate", "intake", database_url="postgresql://postgres@127.0.0.1:1/x")
    assert code == 1 and "intake:" in err
