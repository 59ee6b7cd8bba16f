"""The contracts of the services reporting reads: intake's, matching's and the events service's, all on
main now (the copies used while they were on their branches are gone)."""

from __future__ import annotations

from sprakvan_shared.contracts import events, matching

__all__ = ["events", "matching"]
