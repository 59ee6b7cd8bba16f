"""Static checks of compose.yaml's `cluster` profile: three NATS nodes and replicated streams, set by
configuration only (the running cluster is tested in test_nats_cluster.py on embedded servers)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sprakvan_shared.settings import ServiceSettings

from .test_compose import APP_SERVICES, CLUSTER_NODES, COMPOSE, ROOT, environment, mount_target, nats_block

CONF = ROOT / "deploy/nats-cluster.conf"
ENV_FILE = ROOT / "deploy/nats-cluster.env"


def env_file() -> dict[str, str]:
    lines = [line for line in ENV_FILE.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def test_cluster_nodes_exist_only_in_the_cluster_profile_each_with_its_name_and_volume() -> None:
    nodes = {name: COMPOSE["services"][name] for name in CLUSTER_NODES}
    assert all(node["profiles"] == ["cluster"] for node in nodes.values())
    assert {environment(node)["NATS_SERVER_NAME"] for node in nodes.values()} == set(CLUSTER_NODES)
    data = [next(v.split(":")[0] for v in node["volumes"] if v.endswith(":/data")) for node in nodes.values()]
    assert len(set(data)) == 3 and all(volume in COMPOSE["volumes"] for volume in data)
    for node in nodes.values():
        assert mount_target(node, "./deploy/nats-cluster.conf") == node["command"][-1]
        assert "/healthz?js-enabled-only=true" in " ".join(node["healthcheck"]["test"])


def test_cluster_config_routes_to_every_node_and_is_accepted_by_nats_server() -> None:
    text = CONF.read_text(encoding="utf-8")
    cluster = re.sub(r"#.*", "", text[text.index("cluster {") :])
    assert set(re.findall(r"nats-route://([\w-]+):6222", cluster)) == set(CLUSTER_NODES)
    assert "sync_interval: always" in nats_block(text, "jetstream")
    binary = shutil.which("nats-server", path=str(Path(sys.executable).parent)) or shutil.which("nats-server")
    if binary is None:
        pytest.skip("nats-server binary not installed")
    result = subprocess.run(
        [binary, "-t", "-c", str(CONF)],
        capture_output=True, text=True, timeout=30, env={**os.environ, "NATS_SERVER_NAME": "nats-1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", APP_SERVICES)
def test_services_take_the_cluster_from_configuration(name: str) -> None:
    service = COMPOSE["services"][name]
    env = environment(service)
    assert env["NATS_URL"] == "${NATS_URL:-nats://nats:4222}"
    assert env["NATS_STREAM_REPLICAS"] == "${NATS_STREAM_REPLICAS:-1}"
    for node in CLUSTER_NODES:  # waited for with the profile, ignored without it
        assert service["depends_on"][node] == {"condition": "service_healthy", "required": False}
    cluster = env_file()
    assert cluster["NATS_URL"].split(",") == [f"nats://{node}:4222" for node in CLUSTER_NODES]
    settings = ServiceSettings(NATS_URL=cluster["NATS_URL"], NATS_STREAM_REPLICAS=cluster["NATS_STREAM_REPLICAS"])
    assert settings.nats_stream_replicas == len(CLUSTER_NODES)
