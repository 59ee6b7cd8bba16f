"""Where the benchmark's PostgreSQL and NATS come from (``DATABASE_URL`` / ``NATS_URL``, else embedded
servers, as the tests do: ``sprakvan_cli.embedded.servers_from_env_or_embedded``), the run's scratch
databases, and the run's NATS namespace."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import nats

from sprakvan_cli.embedded import servers_from_env_or_embedded
from sprakvan_shared.contracts.subjects import Namespace

from .common import say


class Infra:
    """Started with ``start()``, stopped with ``stop()``; ``namespace`` keeps the run's streams apart from
    anyone else's on a shared NATS, so cleaning up is deleting the streams under it."""

    def __init__(self, tag: str) -> None:
        self.namespace = Namespace(f"bench{tag}")
        self.nats_url = ""
        self.database_url = ""
        self.source = ""
        self._tmp: Path | None = None
        self._stack = contextlib.ExitStack()

    def start(self) -> None:
        self._tmp = Path(tempfile.mkdtemp(prefix="sprakvan-bench-"))
        self.nats_url, self.database_url, self.source = self._stack.enter_context(
            servers_from_env_or_embedded(self._tmp)
        )
        say(f"NATS {self.nats_url}, PostgreSQL {urlsplit(self.database_url).port} ({self.source})")

    async def delete_streams(self) -> list[str]:
        nc = await nats.connect(self.nats_url)
        deleted = []
        try:
            js = nc.jetstream()
            prefix = self.namespace.root.upper() + "_"
            for info in await js.streams_info():
                if info.config.name.startswith(prefix):
                    await js.delete_stream(info.config.name)
                    deleted.append(info.config.name)
        finally:
            await nc.close()
        return deleted

    def stop(self) -> None:
        self._stack.close()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


def dsn_for(admin_dsn: str, database: str) -> str:
    parts = urlsplit(admin_dsn)
    return urlunsplit(parts._replace(path="/" + quote(database, safe="")))


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class ScratchDatabases:
    """Fresh databases for the run, all dropped at the end (also after a failure)."""

    def __init__(self, admin_dsn: str, tag: str) -> None:
        self.admin_dsn = admin_dsn
        self.tag = tag
        self.created: list[str] = []

    async def create(self, suffix: str) -> str:
        name = f"bench_{self.tag}_{suffix}"
        conn = await asyncpg.connect(self.admin_dsn)
        try:
            await conn.execute(f"CREATE DATABASE {_quote_ident(name)}")
        finally:
            await conn.close()
        self.created.append(name)
        return dsn_for(self.admin_dsn, name)

    async def drop_all(self) -> None:
        if not self.created:
            return
        conn = await asyncpg.connect(self.admin_dsn)
        try:
            for name in self.created:
                await conn.execute(f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)")
        finally:
            await conn.close()
        self.created.clear()
