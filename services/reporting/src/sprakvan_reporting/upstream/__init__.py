"""The contracts of the services reporting reads, wherever they are today.

Intake's contract is on main. The events and matching services' contracts were on their branches when
this was written: ``events_copy`` and ``matching_copy`` are verbatim copies of them, used only while
the real module is not on main. Each import prefers the real one.
"""

from __future__ import annotations

try:
    from sprakvan_shared.contracts import events
except ImportError:  # the events service is not on main yet
    from . import events_copy as events  # type: ignore[no-redef]

try:
    from sprakvan_shared.contracts import matching
except ImportError:  # the matching service is not on main yet
    from . import matching_copy as matching  # type: ignore[no-redef]

__all__ = ["events", "matching"]
