"""The web front, as the kit and the ``sprakvan`` CLI see it (entry point ``sprakvan.services``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from importlib import resources

import asyncpg
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from sprakvan_shared.consumer import EventConsumer
from sprakvan_shared.contracts.intake import INTAKE_STREAM, ParticipantErased
from sprakvan_shared.kit import Service

from .entrypoints import admin, login, pages, signup
from .entrypoints.context import Web
from .entrypoints.workspace import (
    activities,
    activities_calendar,
    activities_checkin,
    activities_feeds,
    participants,
    participants_edit,
)
from .entrypoints.workspace import home as workspace_home
from .entrypoints.workspace import imports as workspace_imports
from .entrypoints.workspace import matching as workspace_matching
from .entrypoints.workspace import review as workspace_review
from .entrypoints.workspace import settings as workspace_settings
from .entrypoints.workspace.imports_runs import ImportRuns
from .settings import WebSettings

consumer = EventConsumer("web", INTAKE_STREAM)


@consumer.on(ParticipantErased)
async def on_erased(conn: asyncpg.Connection, event: ParticipantErased) -> None:
    """The consent record and contact language go with the person."""
    await conn.execute("DELETE FROM signups WHERE participant_id = $1", event.payload.participant_id)


def install(app: FastAPI) -> None:
    app.state.web = Web.from_settings(app.state.settings)
    app.state.import_runs = ImportRuns()
    static = resources.files("sprakvan_web") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")


@contextlib.asynccontextmanager
async def stopping_imports(app: FastAPI) -> AsyncIterator[None]:
    """At shutdown, the imports running in this process are marked stopped (their pages then say so at once)
    before the kit closes the pool."""
    try:
        yield
    finally:
        await app.state.import_runs.stop(app.state.runtime.pool)


SERVICE = Service(
    name="web",
    default_port=8000,
    description="The web front: coordinators' login, the token issuer (JWKS), the public sign-up form",
    settings=WebSettings,
    routers=(
        pages.api,
        pages.router,
        login.router,
        signup.router,
        admin.router,
        workspace_home.router,
        participants.router,
        participants_edit.router,
        workspace_settings.router,
        workspace_matching.router,
        activities.router,
        activities_calendar.router,
        activities_checkin.router,
        activities_feeds.router,
        workspace_review.router,
        workspace_imports.router,
    ),
    consumers=(consumer,),
    error_handlers=install,
    running=stopping_imports,
)
