"""What every route module shares: the pool, the clock, the correlation id, request times, and the
mapping of domain refusals to HTTP."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
from fastapi import FastAPI, Request, Response, status
from fastapi.responses import JSONResponse

from sprakvan_shared.http import unprocessable

from ..adapters import repository as repo
from ..domain.model import Conflict, InvalidInput
from ..domain.recurrence import local_instant
from ..service_layer import activities
from ..settings import EventsSettings


def pool_of(request: Request) -> asyncpg.Pool:
    return request.app.state.runtime.pool


async def extend_series_if_due(request: Request) -> None:
    """Series grow to the horizon as time passes: at most every ``extend_every_seconds`` per process,
    on a read that shows occurrences (the kit has no periodic task of its own yet)."""
    settings: EventsSettings = request.app.state.settings
    state = request.app.state
    now = now_of(request)
    last: datetime | None = getattr(state, "series_extended_at", None)
    if last is not None and (now - last).total_seconds() < settings.extend_every_seconds:
        return
    state.series_extended_at = now
    await activities.extend_all(pool_of(request), now=now, horizon=settings.horizon)


def now_of(request: Request) -> datetime:
    clock: Callable[[], datetime] = getattr(request.app.state, "clock", lambda: datetime.now(UTC))
    return clock()


def correlation_of(request: Request) -> str | None:
    return request.headers.get("X-Correlation-ID")


def instant(value: datetime, *field_path: str) -> datetime:
    """A time from a request: with an offset as given, without one as Europe/Stockholm wall-clock time."""
    if value.tzinfo is None:
        return local_instant(value, "body", *field_path)
    return value.astimezone(UTC)


def install_error_handlers(app: FastAPI) -> None:
    """Domain refusals as 4xx: a rule broken by the input 422 (naming the field), a state that refuses it
    409, anything of another organisation (or nothing at all) 404."""

    async def invalid(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, InvalidInput)
        return unprocessable((_located(e.field), e.message) for e in exc.errors)

    async def conflict(_: Request, exc: Exception) -> Response:
        return JSONResponse({"detail": str(exc)}, status.HTTP_409_CONFLICT)

    async def not_found(_: Request, exc: Exception) -> Response:
        return JSONResponse({"detail": f"no such {exc}"}, status.HTTP_404_NOT_FOUND)

    async def contended(_: Request, exc: Exception) -> Response:
        # A rare lock cycle (a split carrying a person who withdraws at that moment): nothing was saved.
        return JSONResponse({"detail": "busy, try again"}, status.HTTP_503_SERVICE_UNAVAILABLE, {"Retry-After": "1"})

    app.add_exception_handler(asyncpg.DeadlockDetectedError, contended)
    app.add_exception_handler(InvalidInput, invalid)
    app.add_exception_handler(Conflict, conflict)
    app.add_exception_handler(repo.NotFound, not_found)


def _located(field: tuple[Any, ...]) -> tuple[Any, ...]:
    return field if field and field[0] in ("body", "query", "path") else ("body", *field)
