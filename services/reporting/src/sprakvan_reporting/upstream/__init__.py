"""The contracts of the services reporting reads, wherever they are today.

Intake's and the events service's contracts are on main. The matching service's was on its branch
when this was written: ``matching_copy`` is a verbatim copy of it, used only while the real module is
not on main.
"""

from __future__ import annotations

from sprakvan_shared.contracts import events

try:
    from sprakvan_shared.contracts import matching
except ImportError:  # the matching service is not on main yet
    from . import matching_copy as matching  # type: ignore[no-redef]

__all__ = ["events", "matching"]
