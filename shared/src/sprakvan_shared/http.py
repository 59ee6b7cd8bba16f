"""FastAPI plumbing every service API uses: correlation ids, bearer auth, health and readiness, and
422 responses in one shape (FastAPI's own: ``{"detail": [{"loc": [...], "msg": ..., "type": ...}]}``)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Annotated, Any

import asyncpg
import structlog
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .auth import READERS, WRITERS, InvalidToken, Principal, Role, TokenVerifier
from .contracts.subjects import HEADER_CORRELATION_ID
from .logging import bind_correlation_id

if TYPE_CHECKING:
    from .runtime import ServiceRuntime

_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class CorrelationIdMiddleware:
    """Takes ``X-Correlation-ID`` from the request (or makes one), binds it to every log line of the
    request and to the events the request causes, and returns it in the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(HEADER_CORRELATION_ID.lower().encode(), b"").decode("latin-1")
        structlog.contextvars.unbind_contextvars("correlation_id", "principal", "organisation_id")
        correlation_id = bind_correlation_id(given if _CORRELATION_ID.match(given) else None)

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"].append((HEADER_CORRELATION_ID.lower().encode(), correlation_id.encode()))
            await send(message)

        await self.app(scope, receive, send_with_header)


_bearer = HTTPBearer(auto_error=False)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


def _principal(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    if credentials is None:
        raise _unauthorized("missing bearer token")
    verifier: TokenVerifier = request.app.state.token_verifier
    try:
        principal = verifier.verify(credentials.credentials)
    except InvalidToken as exc:
        raise _unauthorized("invalid bearer token") from exc
    structlog.contextvars.bind_contextvars(principal=principal.subject, organisation_id=principal.organisation_id)
    return principal


def require_role(allowed: Iterable[Role]) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller's principal, if its role is among ``allowed``; else 401 or 403."""
    allowed = frozenset(allowed)

    # One async dependency per route, not a chain: FastAPI runs a sync dependency in a worker thread,
    # and each level of dependencies costs measurable time on every request.
    async def check(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Principal:
        principal = _principal(request, credentials)
        if principal.role not in allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {principal.role.value} may not do this")
        return principal

    return check


Reader = Annotated[Principal, Depends(require_role(READERS))]
Writer = Annotated[Principal, Depends(require_role(WRITERS))]


def unprocessable(errors: Iterable[tuple[tuple[str | int, ...], str]]) -> JSONResponse:
    """A 422 in FastAPI's validation shape, for rules checked after parsing (domain rules)."""
    return JSONResponse(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        content={"detail": [{"loc": list(loc), "msg": msg, "type": "value_error"} for loc, msg in errors]},
    )


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


# Raised when PostgreSQL is away (restarting, failing over): the request was not accepted.
DATABASE_UNAVAILABLE = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
)


async def _database_unavailable(_: Request, exc: Exception) -> JSONResponse:
    structlog.get_logger(__name__).warning("database_unavailable", error=type(exc).__name__)
    return JSONResponse(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        content={"detail": "database unavailable; nothing was saved, try again"},
        headers={"Retry-After": "2"},
    )


def install(app: FastAPI, runtime: ServiceRuntime, verifier: TokenVerifier) -> None:
    app.state.runtime = runtime
    app.state.token_verifier = verifier
    app.add_middleware(CorrelationIdMiddleware)
    for error in DATABASE_UNAVAILABLE:
        app.add_exception_handler(error, _database_unavailable)
    app.include_router(health_router(runtime))
