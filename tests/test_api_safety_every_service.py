"""Issue 6 applied to EVERY service, from its own OpenAPI document, on real NATS and PostgreSQL: each
operation is sent a NUL, a lone surrogate and a year-1 / year-9999 / numeric date in each of its query
parameters and body fields, and a 10 MB body; each answer is a 4xx that names the field (422) or the size
(413), never a 5xx, and never echoes the value. The document of each lists the errors it can answer.

A new service is covered by being registered (``sprakvan.services`` entry point): nothing to add here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from importlib.metadata import entry_points
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from .kit import PRIVATE_KEY, ServiceStarter, mint_token

MARKER = "Zq9xMarker"
SERVICES = sorted(entry_points(group="sprakvan.services"), key=lambda e: e.name)
HOSTILE_TEXT = [f"{MARKER}\x00", f"{MARKER}\ud800", f"{MARKER}\u202e"]
HOSTILE_DAYS = ["0001-01-01", "9999-12-31", "0", 0]
HOSTILE_TIMES = ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59", "0001-01-01T00:00:00", 0]


def _settings(name: str) -> dict[str, Any]:
    return {"signing_key": PRIVATE_KEY} if name == "web" else {}


def _resolve(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        target: Any = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        schema = target
    return schema


def _variants(document: dict, schema: dict) -> Iterator[dict]:
    """The schema and the branches of its anyOf/oneOf/allOf, resolved."""
    schema = _resolve(document, schema)
    yield schema
    for key in ("anyOf", "oneOf", "allOf"):
        for branch in schema.get(key, ()):
            yield from _variants(document, branch)


def _kind(document: dict, schema: dict) -> str | None:
    kinds = {v.get("format") or v.get("type") for v in _variants(document, schema)}
    for kind in ("date", "date-time", "string"):
        if kind in kinds:
            return kind
    return None


def _fields(document: dict, schema: dict, loc: tuple = (), depth: int = 0) -> Iterator[tuple[tuple, str]]:
    """(location, kind) of every string, date and date-time field of a body schema, nested ones too."""
    if depth > 4:
        return
    for variant in _variants(document, schema):
        for name, prop in variant.get("properties", {}).items():
            kind = _kind(document, prop)
            if kind is not None:
                yield (*loc, name), kind
            yield from _fields(document, prop, (*loc, name), depth + 1)
        if "items" in variant:
            item = variant["items"]
            kind = _kind(document, item)
            if kind is not None and not _resolve(document, item).get("properties"):
                yield (*loc, 0), kind
            yield from _fields(document, item, (*loc, 0), depth + 1)


def _body_with(loc: tuple, value: object) -> object:
    if not loc:
        return value
    head, *rest = loc
    inner = _body_with(tuple(rest), value)
    return [inner] if isinstance(head, int) else {head: inner}


def _path(path: str, operation: dict, document: dict) -> str:
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            schema = _resolve(document, parameter.get("schema", {}))
            value = "2026" if schema.get("type") == "integer" else str(uuid.uuid4())
            if schema.get("pattern") and schema.get("format") != "uuid" and schema.get("type") != "integer":
                value = "abc"
            path = path.replace("{" + parameter["name"] + "}", value)
    return path.replace(":uuid}", "}")


def _valid(document: dict, schema: dict) -> str:
    for variant in _variants(document, schema):
        if "enum" in variant:
            return str(variant["enum"][0])
        kind = variant.get("format") or variant.get("type")
        if kind == "date":
            return "2026-03-02"
        if kind == "date-time":
            return "2026-03-02T10:00:00Z"
        if kind == "integer":
            return str(variant.get("minimum", 1))
    return "x"


def _required_query(document: dict, operation: dict, *, but: str) -> list[str]:
    """Valid values of the operation's other required query parameters, so that the one probed is alone at fault."""
    return [
        f"{quote(p['name'])}={quote(_valid(document, p.get('schema', {})))}"
        for p in operation.get("parameters", [])
        if p["in"] == "query" and p.get("required") and p["name"] != but
    ]


def _operations(document: dict) -> Iterator[tuple[str, str, dict]]:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if path not in ("/health", "/ready", "/asyncapi.json", "/metrics"):
                yield method.upper(), path, operation


def _json_body_schema(operation: dict) -> dict | None:
    content = operation.get("requestBody", {}).get("content", {})
    return content.get("application/json", {}).get("schema")


def _problems(response: httpx.Response, loc: tuple | None, *, refused: bool = True) -> str | None:
    """Why ``response`` is not a proper refusal naming ``loc`` (or, not ``refused``, a proper answer), or None."""
    if response.status_code >= 500:
        return f"{response.status_code}"
    if MARKER in response.text:
        return "the value is echoed"
    if not refused:
        return None
    if loc is None:
        return None if 400 <= response.status_code < 500 else f"{response.status_code}, not a 4xx"
    if response.status_code != 422:
        return f"{response.status_code}, not a 422"
    named = {tuple(error["loc"]) for error in response.json()["detail"]}
    # A date that fails as text of a union may be named with the union member appended by pydantic.
    if not any(tuple(found[: len(loc)]) == loc for found in named):
        return f"422 naming {sorted(named)}, not {loc}"
    return None


@pytest.mark.timeout(300)
@pytest.mark.parametrize("entry", SERVICES, ids=[e.name for e in SERVICES])
async def test_every_operation_refuses_hostile_input_naming_the_field(
    entry: Any, start_service: ServiceStarter, capfd: pytest.CaptureFixture[str]
) -> None:
    service = entry.load()
    found: list[str] = []
    async with start_service(service, wait_for_messaging=False, **_settings(entry.name)) as svc:
        admin = {"Authorization": f"Bearer {mint_token(role='admin')}"}
        document = (await svc.client.get("/openapi.json")).json()
        capfd.readouterr()
        for method, template, operation in _operations(document):
            url = _path(template, operation, document)

            async def probe(what: str, loc: tuple | None, *, refused: bool = True, **kwargs: Any) -> None:
                headers = {**admin, **kwargs.pop("headers", {})}
                response = await svc.client.request(method, url, headers=headers, **kwargs)  # noqa: B023
                if (problem := _problems(response, loc, refused=refused)) is not None:
                    found.append(f"{method} {template} {what}: {problem}")  # noqa: B023

            for parameter in operation.get("parameters", []):
                if parameter["in"] != "query":
                    continue
                name, kind = parameter["name"], _kind(document, parameter.get("schema", {}))
                if kind is None:
                    continue
                values = HOSTILE_TEXT + ([v for v in HOSTILE_DAYS if v != 0] if kind == "date" else [])
                values += [v for v in HOSTILE_TIMES if v != 0] if kind == "date-time" else []
                for value in values:
                    # Percent-encoded by hand: httpx cannot encode a lone surrogate. Its UTF-8 form is not
                    # UTF-8, and a query is decoded with U+FFFD in its place: text, so any answer but a 5xx.
                    raw = quote(value.encode("utf-8", "surrogatepass"), safe="")
                    surrogate = "\ud800" in value
                    others = _required_query(document, operation, but=name)
                    query = "&".join([*others, f"{quote(name)}={raw}"])
                    await probe(f"?{name}={value!r}", ("query", name), refused=not surrogate, params=query)
            schema = _json_body_schema(operation)
            if schema is None:
                continue
            for loc, kind in _fields(document, schema):
                values = {"date": HOSTILE_DAYS, "date-time": HOSTILE_TIMES}.get(kind, []) + HOSTILE_TEXT
                for value in values:
                    body = json.dumps(_body_with(loc, value))
                    await probe(
                        f"{'.'.join(map(str, loc))}={value!r}",
                        ("body", *loc),
                        content=body,
                        headers={"Content-Type": "application/json"},
                    )
            huge = json.dumps({"x": "A" * 10_000_000})
            await probe("10 MB body", None, content=huge, headers={"Content-Type": "application/json"})
        logged = capfd.readouterr()
    assert not found, "\n".join(found)
    assert MARKER not in logged.out + logged.err, "a hostile value reached a log line"


# Codes every operation of the kind may answer (``http.install`` answers them, whatever the route does).
def _expected_codes(method: str, path: str, operation: dict) -> set[str]:
    codes = {"503"}
    if operation.get("security"):
        codes |= {"401", "403"}
    if method in ("POST", "PUT", "PATCH", "DELETE"):
        codes |= {"413", "422"}
    if operation.get("parameters") or operation.get("requestBody"):
        codes.add("422")
    if "{" in path:
        codes.add("404")
    return codes


@pytest.mark.parametrize("entry", SERVICES, ids=[e.name for e in SERVICES])
async def test_every_document_lists_the_errors_and_the_idempotency_key(
    entry: Any, start_service: ServiceStarter
) -> None:
    service = entry.load()
    async with start_service(service, wait_for_messaging=False, **_settings(entry.name)) as svc:
        document = (await svc.client.get("/openapi.json")).json()
    missing = []
    for method, path, operation in _operations(document):
        listed = set(operation.get("responses", {}))
        if lacking := _expected_codes(method, path, operation) - listed:
            missing.append(f"{method} {path}: {sorted(lacking)}")
        if method == "POST" and "Idempotency-Key" not in {p["name"] for p in operation.get("parameters", [])}:
            missing.append(f"{method} {path}: no Idempotency-Key parameter")
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("entry", SERVICES, ids=[e.name for e in SERVICES])
def test_no_service_starts_without_a_key_and_none_has_a_default(entry: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from sprakvan_shared.auth import MissingTokenKey

    for name in ("JWT_PUBLIC_KEY", "JWT_PUBLIC_KEY_FILE", "JWT_JWKS_URL", "WEB_SIGNING_KEY", "WEB_SIGNING_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    service = entry.load()
    with pytest.raises(MissingTokenKey, match="there is no default"):
        service.create_app(service.settings(**_settings(entry.name)))
    if entry.name == "web":  # the token issuer: no default signing key either
        from .kit import PUBLIC_KEY

        with pytest.raises(RuntimeError, match="WEB_SIGNING_KEY"):
            service.create_app(service.settings(JWT_PUBLIC_KEY=PUBLIC_KEY))


def _shared_if_match() -> dict:
    """The If-Match parameter as a route taking ``http.IfMatch`` documents it."""
    from fastapi import FastAPI

    from sprakvan_shared import http

    probe = FastAPI()

    async def route(if_match: http.IfMatch = None) -> None: ...

    route.__annotations__ = {"if_match": http.IfMatch, "return": None}  # not strings (future annotations)
    probe.put("/x")(route)
    (parameter,) = probe.openapi()["paths"]["/x"]["put"]["parameters"]
    return parameter


@pytest.mark.parametrize("entry", SERVICES, ids=[e.name for e in SERVICES])
async def test_412_and_428_are_documented_exactly_where_an_operation_takes_the_shared_if_match(
    entry: Any, start_service: ServiceStarter
) -> None:
    """A PUT or PATCH without ``If-Match`` (the events' per-person check-in) can answer neither 412 nor 428; one
    with it lists both, and every If-Match of every service is the shared one (``http.IfMatch``), parsed alike."""
    the_shared = _shared_if_match()
    service = entry.load()
    async with start_service(service, wait_for_messaging=False, **_settings(entry.name)) as svc:
        document = (await svc.client.get("/openapi.json")).json()
    wrong = []
    for method, path, operation in _operations(document):
        if_match = [p for p in operation.get("parameters", []) if p["in"] == "header" and p["name"] == "If-Match"]
        conditional = {"412", "428"} & set(operation.get("responses", {}))
        if if_match and conditional != {"412", "428"}:
            wrong.append(f"{method} {path}: takes If-Match but lists {sorted(conditional)} of 412/428")
        if not if_match and conditional:
            wrong.append(f"{method} {path}: takes no If-Match but lists {sorted(conditional)}")
        if if_match and if_match[0] != the_shared:
            wrong.append(f"{method} {path}: its own If-Match {if_match[0]}, not the shared {the_shared}")
    assert not wrong, "\n".join(wrong)
