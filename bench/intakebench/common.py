"""Constants and helpers every part of the benchmark uses."""

from __future__ import annotations

import urllib.request
from collections.abc import Sequence
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parents[1]
RESULTS_DIR = BENCH_DIR / "results"
LOCALHOST = "127.0.0.1"
HTTP_TARGET = 0.6  # intake >= 0.6 x baseline registrations/s
RELAY_TARGET = 0.8  # relay >= 0.8 x raw publish_async events/s

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def say(*parts: object) -> None:
    print(*parts, flush=True)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]
