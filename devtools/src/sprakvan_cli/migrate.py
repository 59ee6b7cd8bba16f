"""``sprakvan migrate NAME``: apply a service's migrations as a deploy step.

The same runner as at a service's start-up (``sprakvan_shared.db.migrate``: the shared tables first,
then the service's own, once each, under an advisory lock), against ``DATABASE_URL``. Running it before
a new version starts lets a failing migration stop the deploy instead of a crash-looping service; the
service's own start-up then finds nothing left to do.

A service's migrations are what its kit ``Service.migrations()`` finds (``sprakvan_<name>/migrations``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sprakvan_shared.db import Migration
    from sprakvan_shared.kit import Service


def add_migrate_command(commands: Any) -> None:
    """Register ``migrate`` on the CLI's subcommands."""
    migrate = commands.add_parser(
        "migrate",
        help="apply a service's database migrations (a deploy step; DATABASE_URL)",
        description="Apply the shared and the service's own migrations to DATABASE_URL (or --database-url), "
        "each once, and list what was applied. Safe to run while other replicas start.",
    )
    migrate.add_argument("name", metavar="NAME", help="the service, e.g. intake")
    migrate.add_argument("--database-url", help="the service's database (default: $DATABASE_URL)")
    migrate.set_defaults(handler=cmd_migrate, parser=migrate)


def service_migrations(spec: Service) -> list[Migration]:
    from sprakvan_shared.db import shared_migrations

    return [*shared_migrations(), *spec.migrations()]


def cmd_migrate(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .main import CliError, load_service, service_entry_points

    known = service_entry_points()
    if args.name not in known:
        parser.error(f"unknown service {args.name!r}; known services: {', '.join(known) or 'none'}")
    dsn = args.database_url or os.environ.get("DATABASE_URL")
    if not dsn:
        raise CliError("no database: set DATABASE_URL or pass --database-url")
    spec = load_service(known[args.name])
    try:
        migrations = service_migrations(spec)
        applied = asyncio.run(_apply(dsn, migrations))
    except (OSError, ValueError, RuntimeError) as exc:  # unreachable database, misnamed or edited migration
        raise CliError(f"{args.name}: {type(exc).__name__}: {exc}") from None
    except Exception as exc:  # asyncpg.PostgresError: a migration that fails; nothing of the run is kept
        if type(exc).__module__.startswith("asyncpg"):
            raise CliError(f"{args.name}: migration failed, nothing applied: {type(exc).__name__}: {exc}") from None
        raise
    for migration in applied:
        print(f"applied {migration.component}/{migration.name}")
    print(f"{args.name}: {len(applied)} applied, {len(migrations) - len(applied)} already there")
    return 0


async def _apply(dsn: str, migrations: list[Migration]) -> list[Migration]:
    import asyncpg

    from sprakvan_shared.db import migrate

    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        return await migrate(conn, migrations)
    finally:
        await conn.close()
