"""Every test directory (``tests/`` and ``services/<name>/tests/``) gets the test kit's fixtures."""

from __future__ import annotations

import os
import re

import pytest

pytest_plugins = ["tests.kit"]


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one and a half workers per core. About a third of the suite's time is spent waiting
    (services starting, ``sprakvan up`` subprocesses, the browser), so two workers on two cores left the
    cores a third idle. ``PYTEST_XDIST_AUTO_NUM_WORKERS`` still decides when set."""
    if configured := os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return int(configured)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, round(cores * 1.5))


# Files whose tests take a minute or more (a browser, a schema fuzzer, ``sprakvan up``). xdist hands out
# whole files in collection order (``--dist loadfile``), and these came last: the suite ended on one of them
# while the other workers stood idle. Started first, they overlap with the many short files instead.
_LONG_FILES = re.compile(r"(_browser|test_browser|_fuzz\w*|test_cli|test_cli_restart|test_web_hostile_forms)\.py$")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not _LONG_FILES.search(item.path.name))  # stable: the rest keeps its order
