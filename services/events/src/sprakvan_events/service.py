"""The events service, as the kit and the ``sprakvan`` CLI see it (entry point ``sprakvan.services``)."""

from __future__ import annotations

from sprakvan_shared.contracts.events import EVENTS_EVENTS
from sprakvan_shared.kit import Service

from .entrypoints.consumers import intake
from .entrypoints.http import ROUTERS, install_error_handlers
from .settings import EventsSettings

SERVICE = Service(
    name="events",
    default_port=8003,
    description="Activities of a language-friend programme: language cafés and other series, one-offs, "
    "sign-up with waiting lists, attendance and walk-ins, iCalendar feeds; publishes activity.*, signup.* "
    "and attendance.* events",
    settings=EventsSettings,
    routers=ROUTERS,
    publishes=EVENTS_EVENTS,
    consumers=(intake,),
    error_handlers=install_error_handlers,
)
