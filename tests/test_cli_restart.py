"""``sprakvan up`` restarts a service that exits unexpectedly, with backoff, and says so."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import psutil
import pytest

from .test_cli import Up, ready, start_up  # noqa: F401 - start_up is a fixture


def _service_process(up: Up, name: str) -> psutil.Process:
    return next(p for p in up.descendants() if p.cmdline()[3:5] == ["serve", name])


@pytest.mark.chaos
@pytest.mark.timeout(300)
def test_up_restarts_a_killed_service_with_a_growing_delay(start_up: Callable[..., Up]) -> None:  # noqa: F811
    up = start_up()
    intake, _, _ = ready(up)

    first = _service_process(up, "intake")
    first.kill()
    up.wait_for(r"^\s+restarted intake \(restart 1, pid \d+\)")
    up.wait_for(r"^\s+intake is ready again: http://")
    assert httpx.get(f"{intake}/ready", trust_env=False, timeout=5).status_code == 200

    # Dies again soon after its restart: the next delay doubles.
    second = _service_process(up, "intake")
    assert second.pid != first.pid
    second.kill()
    up.wait_for(r"^\s+restarted intake \(restart 2, pid \d+\)")
    up.wait_for(r"^\s+intake is ready again")
    errors = up.stderr_path.read_text()
    assert "intake was killed by SIGKILL" in errors
    assert "restarting intake in 1 s" in errors and "restarting intake in 2 s" in errors
    assert up.stop() == 0, up.output()
