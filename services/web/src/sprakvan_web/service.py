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
from sprakvan_shared.settings import ServiceSettings

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


class WebService(Service):
    """The kit's service; at shutdown, the imports running in this process are marked stopped (their pages
    then say so at once) before the kit closes the pool."""

    def create_app(self, settings: ServiceSettings | None = None) -> FastAPI:
        app = super().create_app(settings)
        kit_lifespan = app.router.lifespan_context

        @contextlib.asynccontextmanager
        async def lifespan(the_app: FastAPI) -> AsyncIterator[None]:
            async with kit_lifespan(the_app):
                try:
                    yield
                finally:
                    await the_app.state.import_runs.stop(the_app.state.runtime.pool)

        app.router.lifespan_context = lifespan
        return app


SERVICE = WebService(
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
)
