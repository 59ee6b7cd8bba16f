"""The embedded NATS and PostgreSQL servers really start, persist and recover."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import nats
import pytest

from sprakvan_cli.embedded import (
    EmbeddedNats,
    EmbeddedPostgres,
    EmbeddedServerError,
    free_port,
)

pytestmark = pytest.mark.chaos

STREAM = "EMBEDDED_TEST"
SUBJECT = "embedded.test"


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[EmbeddedNats]:
    with EmbeddedNats(tmp_path / "nats", sync_always=True) as server:
        yield server


@pytest.fixture
def pg_server(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    with EmbeddedPostgres(tmp_path / "pg") as server:
        yield server


# -- helpers -----------------------------------------------------------------


async def publish_to_stream(url: str, payload: bytes) -> int:
    nc = await nats.connect(url, allow_reconnect=False)
    try:
        js = nc.jetstream()
        await js.add_stream(name=STREAM, subjects=[SUBJECT])
        ack = await js.publish(SUBJECT, payload)
        return ack.seq
    finally:
        await nc.close()


async def read_from_stream(url: str, seq: int) -> bytes:
    nc = await nats.connect(url, allow_reconnect=False)
    try:
        message = await nc.jetstream().get_msg(STREAM, seq)
        return message.data
    finally:
        await nc.close()


async def insert_greeting(dsn: str, text: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS greetings (text text NOT NULL)")
        await conn.execute("INSERT INTO greetings VALUES ($1)", text)
    finally:
        await conn.close()


async def read_greetings(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return [row["text"] for row in await conn.fetch("SELECT text FROM greetings")]
    finally:
        await conn.close()


# -- free_port -----------------------------------------------------------------


def test_free_port_is_bindable_and_not_a_system_port() -> None:
    port = free_port()
    assert port not in (4222, 5432)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


# -- NATS ----------------------------------------------------------------------


def test_nats_stream_survives_restart(nats_server: EmbeddedNats) -> None:
    assert nats_server.running
    assert nats_server.url == f"nats://127.0.0.1:{nats_server.port}"
    assert "sync_interval: always" in nats_server.config_path.read_text()
    port = nats_server.port

    seq = asyncio.run(publish_to_stream(nats_server.url, b"hej"))
    nats_server.restart()

    assert nats_server.running
    assert nats_server.port == port
    assert asyncio.run(read_from_stream(nats_server.url, seq)) == b"hej"


def test_nats_recovers_after_kill(nats_server: EmbeddedNats) -> None:
    seq = asyncio.run(publish_to_stream(nats_server.url, b"innan krasch"))

    nats_server.kill()
    assert not nats_server.running
    nats_server.start()

    # JetStream writes a message to its file store before acking it, so the
    # message survives a killed process (fsync only matters for an OS crash).
    assert asyncio.run(read_from_stream(nats_server.url, seq)) == b"innan krasch"


def test_nats_stop_is_idempotent_and_start_after_stop_works(tmp_path: Path) -> None:
    server = EmbeddedNats(tmp_path / "nats")
    server.stop()  # never started
    server.start()
    server.start()  # already running: no-op
    server.stop()
    server.stop()
    assert not server.running
    server.start()
    assert server.running
    server.stop()
    assert (tmp_path / "nats" / "nats-server.log").read_text().count("Server is ready") == 2


def test_nats_start_failure_reports_log_tail(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        server = EmbeddedNats(tmp_path / "nats", port=blocker.getsockname()[1])
        with pytest.raises(EmbeddedServerError, match="address already in use"):
            server.start()
    assert not server.running


# -- PostgreSQL ------------------------------------------------------------------


def test_ports_taken_between_their_choice_and_the_start_are_chosen_again(tmp_path: Path) -> None:
    """Parallel test workers each choose free ports: one may take another's before that one binds it."""
    nats_server = EmbeddedNats(tmp_path / "nats")
    pg_server = EmbeddedPostgres(tmp_path / "pg")
    taken = (nats_server.monitor_port, pg_server.port)
    with socket.socket() as monitor_blocker, socket.socket() as pg_blocker:
        for blocker, port in zip((monitor_blocker, pg_blocker), taken, strict=True):
            blocker.bind(("127.0.0.1", port))
            blocker.listen()
        with nats_server, pg_server:
            assert nats_server.monitor_port != taken[0] and pg_server.port != taken[1]
            assert asyncio.run(publish_to_stream(nats_server.url, b"hej")) == 1
            assert asyncio.run(_fetchval(pg_server.url, "SELECT 1")) == 1


def test_a_port_another_postgres_took_first_is_chosen_again(pg_server: EmbeddedPostgres, tmp_path: Path) -> None:
    """That one answers on the port as if it were ours: readiness asks the server whose cluster it serves."""
    second = EmbeddedPostgres(tmp_path / "second")
    second.port = pg_server.port  # as if free_port() had chosen it just before pg_server bound it
    with second:
        assert second.port != pg_server.port
        assert asyncio.run(_fetchval(second.url, "SHOW data_directory")) == str(second.pgdata.resolve())


async def _fetchval(url: str, sql: str) -> object:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def test_postgres_row_survives_restart(pg_server: EmbeddedPostgres) -> None:
    assert pg_server.running
    assert pg_server.url == f"postgresql://postgres@127.0.0.1:{pg_server.port}/postgres"
    pg_server.create_database("sprakvan_test")
    pg_server.create_database("sprakvan_test")  # idempotent
    dsn = pg_server.dsn("sprakvan_test")

    asyncio.run(insert_greeting(dsn, "hej då"))
    pg_server.restart()

    assert pg_server.running
    assert asyncio.run(read_greetings(dsn)) == ["hej då"]


def test_postgres_recovers_after_kill(pg_server: EmbeddedPostgres) -> None:
    pg_server.create_database("sprakvan_test")
    dsn = pg_server.dsn("sprakvan_test")
    asyncio.run(insert_greeting(dsn, "committed"))

    pg_server.kill()
    assert not pg_server.running
    assert (pg_server.pgdata / "postmaster.pid").exists()  # stale, as after a real crash
    pg_server.start()

    assert asyncio.run(read_greetings(dsn)) == ["committed"]
    assert "automatic recovery in progress" in pg_server.log_tail()


def test_postgres_starts_despite_stale_pid_file_with_reused_pid(pg_server: EmbeddedPostgres, tmp_path: Path) -> None:
    pg_server.kill()
    with EmbeddedPostgres(tmp_path / "other-pg") as other:
        # After a crash the old postmaster pid may have been reused by a process
        # of the same user, e.g. another embedded postgres; PostgreSQL alone
        # would then refuse to start ("lock file already exists").
        pid_file = pg_server.pgdata / "postmaster.pid"
        lines = pid_file.read_text().splitlines()
        pid_file.write_text("\n".join([str(other.pid), *lines[1:]]) + "\n")

        pg_server.start()
        assert pg_server.running
        assert other.running


def test_postgres_refuses_to_start_twice_on_one_data_dir(pg_server: EmbeddedPostgres) -> None:
    twin = EmbeddedPostgres(pg_server.data_dir)
    with pytest.raises(EmbeddedServerError, match="already running"):
        twin.start()
    assert pg_server.running


def test_postgres_reuses_existing_cluster_with_new_instance(tmp_path: Path) -> None:
    data_dir = tmp_path / "pg"
    with EmbeddedPostgres(data_dir) as first:
        first.create_database("kept")
        asyncio.run(insert_greeting(first.dsn("kept"), "från första"))

    with EmbeddedPostgres(data_dir, port=free_port()) as second:
        assert asyncio.run(read_greetings(second.dsn("kept"))) == ["från första"]
    assert not second.running
    second.stop()  # idempotent after the context exited
