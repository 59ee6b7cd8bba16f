"""The events HTTP API: validate, call one handler, return. Every query is scoped to the bearer token's
organisation; another organisation's venue, activity, occurrence or sign-up is a 404. Calendar feeds
are the one exception to the bearer token: their URL carries a random token of its own."""

from __future__ import annotations

from . import feeds, imports, places, schedule, seats, sheets
from .common import install_error_handlers

ROUTERS = (places.router, schedule.router, seats.router, sheets.router, feeds.router, imports.router)

__all__ = ["ROUTERS", "install_error_handlers"]
