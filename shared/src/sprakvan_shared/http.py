"""FastAPI plumbing every service API uses: correlation ids, bearer auth, health and readiness, and the
safety net for hostile input and failures. ``install`` puts all of it on an app:

- request bodies above ``HTTP_MAX_BODY_BYTES`` get 413 without being read further;
- any string in a JSON body or query parameter with a character that ``text.FORBIDDEN`` names (NUL,
  controls, lone surrogates, bidi overrides) gets 422 naming the field, before any handler runs (the web
  front's forms refuse them on their pages, in words);
- validation errors are FastAPI's shape, ``{"detail": [{"loc": [...], "msg": ..., "type": ...}]}``, but
  never carry the input value, and are never logged with it;
- an outage of PostgreSQL is a 503 with ``Retry-After`` that says honestly whether anything was saved
  (``db.NotSaved``) or the outcome is unknown (``db.OutcomeUnknown``: retry with the same Idempotency-Key);
- anything else is a bug: 500, logged with its traceback but without exception messages (which may quote
  input), never the request;
- ``Idempotency-Key`` on every POST (``idempotency.py``);
- the OpenAPI document lists the error responses each route can give;
- a hot path can skip FastAPI's request handling and routing (``JsonBodyRoute`` and ``direct``): a valid
  request goes from the innermost middleware to the endpoint, anything else FastAPI's way.
"""

from __future__ import annotations

import json
import re
import traceback
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from urllib.parse import parse_qsl

import asyncpg
import structlog
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BaseModel, ValidationError
from starlette._exception_handler import wrap_app_handling_exceptions
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import db, idempotency, text
from .auth import READERS, WRITERS, InvalidToken, Principal, Role, TokenVerifier, verifier_from_settings
from .contracts.subjects import HEADER_CORRELATION_ID
from .logging import bind_correlation_id, current_correlation_id

if TYPE_CHECKING:
    from .runtime import ServiceRuntime

log = structlog.get_logger(__name__)
_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_CORRELATION_HEADER = HEADER_CORRELATION_ID.lower().encode()


class CorrelationIdMiddleware:
    """Takes ``X-Correlation-ID`` from the request (or makes one), binds it to every log line of the
    request and to the events the request causes, and returns it in the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == _CORRELATION_HEADER), b"").decode("latin-1")
        structlog.contextvars.unbind_contextvars("correlation_id", "principal", "organisation_id")
        correlation_id = bind_correlation_id(given if _CORRELATION_ID.match(given) else None)

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"].append((_CORRELATION_HEADER, correlation_id.encode()))
            await send(message)

        await self.app(scope, receive, send_with_header)


# -- auth -------------------------------------------------------------------------------------------
_bearer = HTTPBearer(auto_error=False)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


async def _principal(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    if credentials is None:
        raise _unauthorized("missing bearer token")
    verifier: TokenVerifier = request.app.state.token_verifier
    try:
        principal = await verifier.verify(credentials.credentials)
    except InvalidToken as exc:
        raise _unauthorized("invalid bearer token") from exc
    _bind_principal(principal)
    return principal


def _bind_principal(principal: Principal) -> None:
    # The pseudonym, never the subject itself: an OIDC subject can be an email address.
    structlog.contextvars.bind_contextvars(principal=principal.pseudonym, organisation_id=principal.organisation_id)


class _RoleBearer(HTTPBearer):
    """The bearer scheme and the role check as one dependency: FastAPI solves each level of dependencies
    (a ``Depends(HTTPBearer())`` inside the check was one) with its own parameter and cache-key work on
    every request. Being the ``HTTPBearer`` scheme itself, it documents the same security requirement."""

    def __init__(self, allowed: Iterable[Role]) -> None:
        super().__init__(auto_error=False, scheme_name=_bearer.scheme_name)
        self.allowed = frozenset(allowed)

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        principal = await _principal(request, await super().__call__(request))
        if principal.role not in self.allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {principal.role.value} may not do this")
        return principal


def require_role(allowed: Iterable[Role]) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller's principal, if its role is among ``allowed``; else 401 or 403."""
    # One async dependency per route, not a chain: FastAPI runs a sync dependency in a worker thread,
    # and each level of dependencies costs measurable time on every request.
    return _RoleBearer(allowed)


Reader = Annotated[Principal, Depends(require_role(READERS))]
Writer = Annotated[Principal, Depends(require_role(WRITERS))]


# -- JSON bodies ------------------------------------------------------------------------------------
class _ModelJsonRequest(Request):
    """``json()`` returns the route's body model, validated by pydantic straight from the raw bytes
    (``model_validate_json``: parsing and validation in one pass) rather than a dict from ``json.loads``
    that FastAPI then validates. A body that is not a valid model gets the dict, and FastAPI validates
    and answers exactly as it always does (the same 422s, ``json_invalid`` included)."""

    body_model: type[BaseModel]

    async def json(self) -> Any:
        if not hasattr(self, "_validated_json"):
            body = await self.body()
            try:
                self._validated_json: Any = self.body_model.model_validate_json(body)
            except ValidationError:
                self._validated_json = json.loads(body)
        return self._validated_json


class JsonBodyRoute(APIRoute):
    """A route class (``APIRouter(route_class=JsonBodyRoute)``) for hot paths whose body is one pydantic
    model: the model comes from ``_ModelJsonRequest``, and FastAPI, given an instance of the model where
    it expects the parsed JSON, takes it as it is. Everything else (content type, dependencies, errors,
    the OpenAPI document) stays FastAPI's. Routes with another kind of body are left alone."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        params = self.dependant.body_params
        model = params[0].field_info.annotation if len(params) == 1 else None
        if not isinstance(model, type) or not issubclass(model, BaseModel) or self._embed_body_fields:
            return handler
        request_class = type(f"{model.__name__}JsonRequest", (_ModelJsonRequest,), {"body_model": model})
        shortcut = _Direct.of(self, model) if getattr(self.endpoint, _DIRECT_MARK, False) else None

        async def handle(request: Request) -> Response:
            receive = request.receive
            if shortcut is not None:
                body = await request.body()
                receive = _replay(body, request.receive)
                arguments = await shortcut.arguments(request.scope, request.receive, body)
                if arguments is not None:
                    shortcut.learn(request.scope)
                    return await shortcut.call(arguments)
            return await handler(request_class(request.scope, receive))

        return handle


# -- direct routes ----------------------------------------------------------------------------------
_DIRECT_MARK = "__sprakvan_direct__"
_JSON = b"application/json"
_EndpointT = TypeVar("_EndpointT", bound=Callable[..., Any])


def direct(endpoint: _EndpointT) -> _EndpointT:
    """Serve this endpoint of a ``JsonBodyRoute`` directly in the common case, without FastAPI's request
    handling and routing: a request with ``Content-Type: application/json``, a valid bearer token of an
    allowed role and a body that is a valid model is handed to the endpoint at once (by
    ``DirectRouteMiddleware``, once the router has routed one such request there). Anything else (no or
    a bad token, another role, an invalid body, another content type, dependency overrides) goes FastAPI's
    own way, which answers it exactly as it always does. The endpoint takes exactly the body model, the
    ``Request`` and one ``require_role`` dependency, and returns a ``Response``."""
    setattr(endpoint, _DIRECT_MARK, True)
    return endpoint


@dataclass(frozen=True)
class _Direct:
    route: APIRoute
    model: type[BaseModel]
    body_name: str
    request_name: str
    principal_name: str
    roles: frozenset[Role]

    @classmethod
    def of(cls, route: APIRoute, model: type[BaseModel]) -> _Direct:
        dependant = route.dependant
        dependencies = dependant.dependencies
        bearer = dependencies[0].call if len(dependencies) == 1 else None
        simple = (
            isinstance(bearer, _RoleBearer)
            and not (dependant.path_params or dependant.query_params or dependant.header_params)
            and not (dependant.cookie_params or dependant.response_param_name or dependant.background_tasks_param_name)
            and not (dependant.websocket_param_name or dependant.http_connection_param_name)
            and not dependant.security_scopes_param_name
            and dependant.request_param_name is not None
            and len(dependant.body_params) == 1
            and not dependencies[0].dependencies
            and "{" not in route.path_format
        )
        if not simple:
            raise TypeError(
                f"{route.name}: a direct route takes its body model, the Request and one require_role "
                "dependency, nothing else"
            )
        assert isinstance(bearer, _RoleBearer) and dependant.request_param_name and dependencies[0].name
        return cls(
            route=route,
            model=model,
            body_name=dependant.body_params[0].name,
            request_name=dependant.request_param_name,
            principal_name=dependencies[0].name,
            roles=bearer.allowed,
        )

    async def arguments(self, scope: Scope, receive: Receive, body: bytes) -> dict[str, Any] | None:
        """The endpoint's arguments, or None when FastAPI's own way is to answer this request."""
        app = scope["app"]
        if app.dependency_overrides or _header(scope, b"content-type") != _JSON:
            return None
        authorization = _header(scope, b"authorization")
        if authorization is None:
            return None
        # As HTTPBearer reads it (fastapi.security.http): "<scheme> <credentials>".
        scheme, credentials = get_authorization_scheme_param(authorization.decode("latin-1"))
        if not scheme or not credentials or scheme.lower() != "bearer":
            return None
        try:
            principal = await app.state.token_verifier.verify(credentials)
        except InvalidToken:
            return None
        if principal.role not in self.roles:
            return None
        try:
            command = self.model.model_validate_json(body)
        except ValidationError:
            return None
        _bind_principal(principal)
        request = Request(scope, _replay(body, receive))
        return {self.body_name: command, self.request_name: request, self.principal_name: principal}

    async def call(self, arguments: dict[str, Any]) -> Response:
        response = await self.route.endpoint(**arguments)
        if not isinstance(response, Response):
            raise TypeError(f"{self.route.name}: a direct route returns a Response")
        return response

    def learn(self, scope: Scope) -> None:
        """Remember where the router sent this request (a path without parameters: every request with the
        same method and path goes there), so that ``DirectRouteMiddleware`` sends the next ones at once."""
        table: dict[tuple[str, str, str], tuple[_Direct, Any]] | None = getattr(scope["app"].state, _TABLE, None)
        if table is not None:
            key = (scope["method"], scope.get("root_path", ""), scope["path"])
            table.setdefault(key, (self, scope.get("route")))


_TABLE = "direct_routes"


def _header(scope: Scope, name: bytes) -> bytes | None:
    return next((value for key, value in scope["headers"] if key == name), None)


class DirectRouteMiddleware:
    """The innermost middleware: a request to a path that the router sent to a direct route
    (``direct``) goes straight to it, past Starlette's exception middleware and FastAPI's routing; the
    app's exception handlers answer what the endpoint raises, as there. Everything else, and whatever the
    direct route does not take, goes the usual way."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._handlers: tuple[dict[Any, Any], dict[int, Any]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        table = getattr(state, _TABLE, None)
        if table is None:
            table = {}
            setattr(state, _TABLE, table)
        found = table.get((scope["method"], scope.get("root_path", ""), scope["path"]))
        if found is None:
            await self.app(scope, receive, send)
            return
        shortcut, route = found
        body = await idempotency.read_body(receive)
        scope["route"] = route  # as the router sets it (the metrics label requests by its path)
        scope["endpoint"] = shortcut.route.endpoint
        scope["path_params"] = {}
        scope["starlette.exception_handlers"] = self._handlers or self._exception_handlers(scope["app"])
        request = Request(scope, receive)
        handled = False

        async def answer(scope: Scope, receive: Receive, send: Send) -> None:
            nonlocal handled
            arguments = await shortcut.arguments(scope, receive, body)
            if arguments is not None:
                handled = True  # from here on, the endpoint's answer or its exception's handler's
                response = await shortcut.call(arguments)
                await response(scope, receive, send)

        await wrap_app_handling_exceptions(answer, request)(scope, receive, send)
        if not handled:
            await self.app(scope, _replay(body, receive), send)

    def _exception_handlers(self, app: FastAPI) -> tuple[dict[Any, Any], dict[int, Any]]:
        """The handlers ``ExceptionMiddleware`` has, as FastAPI's ``build_middleware_stack`` gives them to it."""
        handlers = {key: value for key, value in app.exception_handlers.items() if key not in (500, Exception)}
        middleware = ExceptionMiddleware(self.app, handlers=handlers)
        self._handlers = (middleware._exception_handlers, middleware._status_handlers)
        return self._handlers


def unprocessable(errors: Iterable[tuple[tuple[str | int, ...], str]]) -> JSONResponse:
    """A 422 in FastAPI's validation shape, for rules checked after parsing (domain rules)."""
    return JSONResponse(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        content={"detail": [{"loc": list(loc), "msg": msg, "type": "value_error"} for loc, msg in errors]},
    )


# -- If-Match -------------------------------------------------------------------------------------
# The version a client read, as the ETag we send ("3"), weak (W/"3") or bare (3, as older clients send it).
_VERSION_TAG = re.compile(r'^(?:W/)?"?([0-9]{1,9})"?$')
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=40,
        description='The version you read, as its ETag (`"3"`); `*` for whatever is there. Stale: 412; none: 428.',
    ),
]


class PreconditionRequired(Exception):
    """A change without ``If-Match``: it could silently overwrite someone else's (428)."""


class PreconditionFailed(Exception):
    """``If-Match`` names another version than the current one: someone changed it meanwhile (412)."""

    def __init__(self, current: int | None = None) -> None:
        super().__init__("stale version")
        self.current = current


def etag(version: int) -> str:
    return f'"{version}"'


def expected_version(if_match: str | None) -> int | None:
    """The version ``If-Match`` names; None for ``*``. ``PreconditionRequired`` without one; a 422 naming the
    header when it is no version we ever sent."""
    if if_match is None or not if_match.strip():
        raise PreconditionRequired
    if if_match.strip() == "*":
        return None
    match = _VERSION_TAG.match(if_match.strip())
    if match is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [
                {
                    "loc": ["header", "If-Match"],
                    "msg": 'expected a version as its ETag, e.g. "3", or *',
                    "type": "value_error",
                }
            ],
        )
    return int(match[1])


async def _precondition_required(_: Request, __: Exception) -> JSONResponse:
    return JSONResponse(
        status_code=status.HTTP_428_PRECONDITION_REQUIRED,
        content={"detail": "send If-Match with the version you read (its ETag), or * to overwrite whatever is there"},
    )


async def _precondition_failed(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PreconditionFailed)
    return JSONResponse(
        status_code=status.HTTP_412_PRECONDITION_FAILED,
        content={"detail": "If-Match does not match the current version: read it again"},
        headers={"ETag": etag(exc.current)} if exc.current is not None else None,
    )


# -- hostile input ----------------------------------------------------------------------------------
# Cheap screen of the raw body: JSON escapes or UTF-8 bytes of anything ``text.FORBIDDEN`` might match.
# Only a body that trips it is parsed and walked to name the field (a valid surrogate pair trips it too).
_SUSPECT = re.compile(
    rb"\\u00[01][0-9a-fA-F]|\\u007[fF]|\\u00[89][0-9a-fA-F]|\\u202[a-eA-E]|\\u206[6-9]|\\u[dD][89a-fA-F]"
    rb"|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]|\xed[\xa0-\xbf]"
)
# Every alternative of _SUSPECT begins with one of these bytes; a body without any (most bodies, also
# most non-ASCII ones) is passed by one scan of a character class instead of trying each alternative at
# every position.
_SUSPECT_START = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\\\xc2\xe2\xed]")
_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _suspect(body: bytes) -> bool:
    return _SUSPECT_START.search(body) is not None and _SUSPECT.search(body) is not None


def _bad_strings(value: Any, loc: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if isinstance(value, str):
        if (reason := text.problem(value)) is not None:
            yield loc, reason
    elif isinstance(value, dict):
        for key, item in value.items():
            if text.problem(key) is not None:
                yield loc, "a property name contains a forbidden character"
            else:
                yield from _bad_strings(item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _bad_strings(item, (*loc, index))


def _screens_its_own_rows(scope: Scope) -> bool:
    """An import (``POST /imports/{kind}``) screens each row alone (``imports.parse_rows`` refuses a row with
    a forbidden character, naming its field), so that one bad cell refuses its row and not the whole file."""
    return scope["method"] == "POST" and scope.get("path", "").startswith("/imports/")


class _TooLarge(Exception):
    pass


class RequestGuardMiddleware:
    """413 for a body above ``max_bytes`` (by Content-Length, or counted while reading), and 422 naming the
    field for a forbidden character anywhere in the query or a JSON body."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, uploads: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.uploads = dict(uploads or {})  # path prefix -> a larger limit, where a file is posted

    def _limit(self, scope: Scope) -> int:
        path = scope.get("path", "")
        return next((limit for prefix, limit in self.uploads.items() if path.startswith(prefix)), self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope.get("query_string") and (errors := self._query_errors(scope["query_string"])):
            await _send_json(send, 422, {"detail": errors})
            return
        if scope["method"] not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        length = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        limit = self._limit(scope)
        if length is not None and (not length.isdigit() or int(length) > limit):
            await self._too_large(send)
            return
        try:
            body = await self._read(receive, limit)
        except _TooLarge:
            await self._too_large(send)
            return
        # Forms (the web front's) are not screened here: its pages refuse such a field themselves, in words.
        if _suspect(body) and not _screens_its_own_rows(scope):
            errors = self._body_errors(body)
            if errors:
                await _send_json(send, 422, {"detail": errors})
                return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive, limit: int) -> bytes:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        return b"".join(chunks)

    async def _too_large(self, send: Send) -> None:
        await _send_json(send, 413, {"detail": f"the request body is larger than {self.max_bytes} bytes"})

    @staticmethod
    def _query_errors(query_string: bytes) -> list[dict[str, Any]]:
        # UTF-8 (raw bytes a client did not percent-encode): as latin-1, an en dash would read as C1 controls.
        pairs = parse_qsl(query_string.decode("utf-8", "replace"), keep_blank_values=True)
        return [
            {"loc": ["query", name if text.problem(name) is None else "?"], "msg": reason, "type": "value_error"}
            for name, value in pairs
            if (reason := text.problem(value) or text.problem(name)) is not None
        ]

    @staticmethod
    def _body_errors(body: bytes) -> list[dict[str, Any]]:
        try:
            document = json.loads(body)
        except ValueError:
            return []  # not JSON: FastAPI's own parsing answers (422 json_invalid, or 400)
        return [{"loc": list(loc), "msg": msg, "type": "value_error"} for loc, msg in _bad_strings(document, ("body",))]


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # the disconnect, when it comes

    return replay


async def _send_json(send: Send, status_code: int, content: Any, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    body = json.dumps(content).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status_code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# -- validation errors ------------------------------------------------------------------------------
# Messages that would quote the input (pydantic's UUID message shows the offending character).
_FIXED_MESSAGES = {
    "uuid_parsing": "Input should be a valid UUID",
    "uuid_type": "Input should be a valid UUID",
    "json_invalid": "the body is not valid JSON",
}


def _safe_error(error: dict[str, Any]) -> dict[str, Any]:
    message = _FIXED_MESSAGES.get(error.get("type", ""), str(error.get("msg", "")))
    if text.problem(message) is not None:
        message = "invalid value"
    loc = [part if not isinstance(part, str) or text.problem(part) is None else "?" for part in error.get("loc", ())]
    return {"loc": loc, "msg": message[:300], "type": error.get("type", "value_error")}


async def _validation_failed(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [_safe_error(error) for error in exc.errors()]
    # Which kinds of error, never which values: the input may be a person's name, or hostile.
    log.info("request_invalid", error_types=sorted({e["type"] for e in errors}), errors=len(errors))
    return JSONResponse(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, content={"detail": errors})


# -- failures ---------------------------------------------------------------------------------------
def _outage_response(exc: Exception) -> tuple[int, dict[str, Any], list[tuple[bytes, bytes]]]:
    """``not_saved`` only while nothing of the request can have reached the database (``db.request_outcome``:
    no COMMIT and no auto-committed write was sent); else ``outcome_unknown``, whatever the method."""
    retry = [(b"retry-after", b"2")]
    if not isinstance(exc, db.OutcomeUnknown) and db.request_outcome() is db.NotSaved:
        detail = "database unavailable; nothing was saved, try again"
        code = "not_saved"
    else:
        detail = "database unavailable; the outcome is unknown: retry with the same Idempotency-Key"
        code = "outcome_unknown"
    return 503, {"detail": detail, "code": code}, retry


def _traceback_without_messages(exc: BaseException) -> str:
    """Frames and exception types of the whole chain, no messages: a message may quote input values."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        frames = "".join(traceback.format_tb(current.__traceback__))
        parts.append(f"{type(current).__module__}.{type(current).__qualname__}\n{frames}")
        current = current.__cause__ or current.__context__
    return "caused by ".join(parts)


_UNSTORABLE = (asyncpg.CharacterNotInRepertoireError, asyncpg.UntranslatableCharacterError)
_UNSTORABLE_MESSAGE = "contains a character that cannot be stored (NUL, or a lone surrogate)"


class ErrorMiddleware:
    """Outages become 503 (``db.is_outage``), anything else unhandled a 500 logged without input values."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        with db.tracking_writes():  # what this request may have saved, for the 503's code
            try:
                await self.app(scope, receive, tracking_send)
            except Exception as exc:
                await self._failed(exc, send, started)

    @staticmethod
    async def _failed(exc: Exception, send: Send, started: bool) -> None:
        if db.is_outage(exc):
            status_code, content, headers = _outage_response(exc)
            log.warning("database_unavailable", error=type(exc).__name__, status=status_code, code=content["code"])
        elif isinstance(exc, _UNSTORABLE):
            # The safety net behind the screening above (a path parameter, a header, a form field a page
            # did not check): PostgreSQL refused a character. The input's fault, not a bug.
            status_code, headers = 422, []
            content = {"detail": [{"loc": ["request"], "msg": _UNSTORABLE_MESSAGE, "type": "value_error"}]}
            log.info("request_unstorable", error=type(exc).__name__)
        else:
            status_code, headers = 500, []
            content = {"detail": "internal error", "correlation_id": current_correlation_id()}
            log.error("unhandled_error", error=type(exc).__name__, traceback=_traceback_without_messages(exc))
        if not started:
            await _send_json(send, status_code, content, headers)


async def _method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
    """405 with an ``Allow`` that lists every method of the path (FastAPI has one route per method, and
    Starlette names only the first route's)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if route.matches(request.scope)[0] is not Match.NONE:  # PARTIAL: the path matches, the method not
            methods |= getattr(route, "methods", None) or set()
    return JSONResponse(
        status_code=status.HTTP_405_METHOD_NOT_ALLOWED,
        content={"detail": "Method Not Allowed"},
        headers={"Allow": ", ".join(sorted(methods))},
    )


# -- OpenAPI ----------------------------------------------------------------------------------------
_ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "detail": {"description": "A message, or for 422 a list of {loc, msg, type}, one per bad field."},
        "code": {"type": "string", "description": "On 503: not_saved or outcome_unknown."},
    },
    "required": ["detail"],
}
_DESCRIPTIONS = {
    "400": "The body could not be read.",
    "401": "Missing, invalid or expired bearer token.",
    "403": "The token's role may not do this.",
    "404": "Not found in the caller's organisation.",
    "409": "The resource's state does not allow this, or a request with this Idempotency-Key is still running "
    "(`Retry-After`), or was saved and its response lost (`code` response_lost: do not send it again).",
    "410": "What this Idempotency-Key created or changed was erased.",
    "412": "If-Match does not match the current version.",
    "413": "The request body is too large.",
    "428": "If-Match is required.",
    "422": "Invalid input; `detail` names each bad field (never echoes its value).",
    "503": "Database unavailable: `code` says not_saved (try again) or outcome_unknown (retry with the same "
    "Idempotency-Key). Comes with Retry-After.",
}
_IDEMPOTENCY_PARAMETER = {
    "name": idempotency.HEADER,
    "in": "header",
    "required": False,
    "description": "Makes a retry safe: the same key with the same request returns the original response "
    "(`Idempotent-Replayed: true`). Scoped to the organisation; remembered for 24 h by default.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[!-~]+$"},
}


def _document_errors(schema: dict[str, Any]) -> None:
    schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = _ERROR_SCHEMA
    ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            codes = set()
            if operation.get("security"):
                codes |= {"401", "403"}
            if "{" in path:
                codes.add("404")
            if operation.get("parameters") or operation.get("requestBody"):
                codes.add("422")
            if method in ("post", "put", "patch", "delete"):
                codes |= {"400", "409", "413", "422"}
            headers = {p["name"].lower() for p in operation.get("parameters", []) if p.get("in") == "header"}
            if method == "post":
                codes.add("410")
                if idempotency.HEADER.lower() not in headers:
                    operation.setdefault("parameters", []).append(_IDEMPOTENCY_PARAMETER)
            if "if-match" in headers:  # only where the route takes one: a PUT without (a check-in) has no 412/428
                codes |= {"412", "428"}
            if path not in ("/health", "/asyncapi.json"):
                codes.add("503")
            responses = operation.setdefault("responses", {})
            for code in sorted(codes):
                if code == "422" and code in responses:
                    continue  # FastAPI's own, with the detail's shape
                responses.setdefault(code, {"description": _DESCRIPTIONS[code], **ref})


def _openapi_with_errors(app: FastAPI) -> Callable[[], dict[str, Any]]:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _document_errors(generate())
        return app.openapi_schema  # type: ignore[return-value]

    return openapi


# -- health -----------------------------------------------------------------------------------------
def health_router(runtime: ServiceRuntime) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/health")
    async def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok", "service": runtime.name}

    @router.get("/ready")
    async def ready() -> JSONResponse:
        """Readiness: the database answers. NATS, the outbox backlog and consumer lag are details."""
        ok, checks = await runtime.readiness()
        return JSONResponse(
            status_code=status.HTTP_200_OK if ok else status.HTTP_503_SERVICE_UNAVAILABLE,
            content={"status": "ready" if ok else "not ready", "checks": checks},
        )

    @router.get("/asyncapi.json", tags=["docs"])
    async def asyncapi() -> dict[str, Any]:
        """The AsyncAPI document of the events this service publishes and consumes."""
        return runtime.asyncapi

    return router


def install(app: FastAPI, runtime: ServiceRuntime, verifier: TokenVerifier | None = None) -> None:
    """Everything above, on ``app``. Without ``verifier``, the one the settings name (a service without a
    public key refuses to start: ``auth.MissingTokenKey``)."""
    settings = runtime.settings
    app.state.runtime = runtime
    app.state.token_verifier = verifier or verifier_from_settings(settings)
    # Innermost first: each add_middleware wraps what is there.
    app.add_middleware(DirectRouteMiddleware)
    app.add_middleware(idempotency.IdempotencyMiddleware, ttl=timedelta(hours=settings.idempotency_ttl_hours))
    app.add_middleware(
        RequestGuardMiddleware, max_bytes=settings.http_max_body_bytes, uploads=settings.http_upload_limits
    )
    app.add_middleware(ErrorMiddleware)
    app.add_middleware(CorrelationIdMiddleware)
    app.add_exception_handler(RequestValidationError, _validation_failed)
    app.add_exception_handler(status.HTTP_405_METHOD_NOT_ALLOWED, _method_not_allowed)
    app.add_exception_handler(PreconditionRequired, _precondition_required)
    app.add_exception_handler(PreconditionFailed, _precondition_failed)
    app.openapi = _openapi_with_errors(app)  # type: ignore[method-assign]
    app.include_router(health_router(runtime))
