"""Every test directory (``tests/`` and ``services/<name>/tests/``) gets the test kit's fixtures."""

from __future__ import annotations

import os

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
