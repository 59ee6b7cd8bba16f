"""How intake is assembled and found by the ``sprakvan`` CLI (entry point ``sprakvan.services``)."""

from __future__ import annotations

from importlib import resources

from sprakvan_shared.contracts.intake import INTAKE_EVENTS, STREAM
from sprakvan_shared.db import load_migrations
from sprakvan_shared.runtime import ServiceRuntime, ServiceSpec

from .settings import IntakeSettings

NAME = "intake"

SERVICE = ServiceSpec(
    name=NAME,
    app_factory="sprakvan_intake.entrypoints.http:create_app",
    default_port=8001,
    description="Registers participants; publishes participant.* events",
)


def make_runtime(settings: IntakeSettings) -> ServiceRuntime:
    migrations = load_migrations(NAME, resources.files("sprakvan_intake") / "migrations")
    return ServiceRuntime(
        name=NAME, settings=settings, migrations=migrations, streams=[STREAM], publishes=INTAKE_EVENTS
    )
