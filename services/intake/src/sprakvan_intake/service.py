"""The intake service, as the kit and the ``sprakvan`` CLI see it (entry point ``sprakvan.services``)."""

from __future__ import annotations

from sprakvan_shared.contracts.intake import INTAKE_EVENTS
from sprakvan_shared.kit import Service

from .entrypoints import configuration, imports
from .entrypoints.http import install_error_handlers, router
from .settings import IntakeSettings

SERVICE = Service(
    name="intake",
    default_port=8001,
    description="Registers newcomers and established residents of a language-friend programme; "
    "publishes participant.* and organisation.configured events",
    settings=IntakeSettings,
    routers=(router, configuration.router, imports.router),
    publishes=INTAKE_EVENTS,
    error_handlers=install_error_handlers,
)
