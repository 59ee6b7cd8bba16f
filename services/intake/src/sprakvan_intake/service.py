"""How intake is assembled and found by the ``sprakvan`` CLI (entry point ``sprakvan.services``)."""

from __future__ import annotations

from importlib import resources

from sprakvan_shared.contracts.intake import STREAM
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


def migrations_dir() -> resources.abc.Traversable:
    # Installed wheels carry them inside the package; a workspace checkout has them beside src/.
    packaged = resources.files("sprakvan_intake") / "migrations"
    if packaged.is_dir():
        return packaged
    from pathlib import Path

    return Path(__file__).resolve().parents[2] / "migrations"


def make_runtime(settings: IntakeSettings) -> ServiceRuntime:
    return ServiceRuntime(
        name=NAME, settings=settings, migrations=load_migrations(NAME, migrations_dir()), streams=[STREAM]
    )
