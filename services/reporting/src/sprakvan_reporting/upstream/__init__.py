"""The contracts of the services reporting reads, wherever they are today.

Intake's contract is on main. The events service's contract is on its branch: until it reaches main,
``events_copy`` is a verbatim copy of it. The matching service has not published a contract yet:
``matching_standin`` is ours, modelled on its domain, until it does. Each import prefers the real one.
"""

from __future__ import annotations

try:
    from sprakvan_shared.contracts import events
except ImportError:  # the events service is not on main yet
    from . import events_copy as events  # type: ignore[no-redef]

try:
    from sprakvan_shared.contracts import matching
except ImportError:  # the matching service has not published its contract yet
    from . import matching_standin as matching  # type: ignore[no-redef]

__all__ = ["events", "matching"]
