"""Schema fuzzing of any service's HTTP API: schemathesis (all checks) against the OpenAPI document
the service serves, over real HTTP (uvicorn), with the service on real NATS and PostgreSQL.

A service gets it with one line in its tests (see ``tests/test_api_fuzz_intake.py``)::

    test_matching_survives_the_schema_fuzzer = schema_fuzz_test("sprakvan_matching.service:SERVICE")

The same run by hand, against a service started with ``sprakvan up`` (``TOKEN`` from its output)::

    .venv/bin/st --config-file tests/schemathesis.toml run http://127.0.0.1:8001/openapi.json --checks all \\
        -H "Authorization: Bearer $TOKEN" --max-examples 40 --phases examples,coverage,fuzzing,stateful --seed 6
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

# Enough to find what the coverage phase's edge cases (NUL, surrogates, huge numbers, far dates...) find,
# and to keep one service's run well under a minute on a 2-core machine (the whole suite must stay under 10).
MAX_EXAMPLES = int(os.environ.get("SPRAKVAN_FU_EXAMPLES", "25"))
FUZZ_TIMEOUT = 270
SEED = 6
IMPORTS = "^/(imports|exports)/"  # fuzzed by a run of their own, as an admin (the imports are admin-only)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """The app (with its lifespan) under uvicorn in a thread of its own, on a free port."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_config=None))
    thread = threading.Thread(target=server.run, name="fuzz-target", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the service did not start for fuzzing")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def run_schemathesis(
    base_url: str, token: str, *, max_examples: int = MAX_EXAMPLES, paths: str | None = None
) -> subprocess.CompletedProcess:
    command = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(Path(__file__).with_name("schemathesis.toml")),
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        "all",
        "--header",
        f"Authorization: Bearer {token}",
        "--max-examples",
        str(max_examples),
        "--phases",
        "examples,coverage,fuzzing" if paths else "examples,coverage,fuzzing,stateful",  # links lead elsewhere
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--no-color",
        "--suppress-health-check",
        "all",
        *(("--include-path-regex", paths) if paths else ("--exclude-path-regex", IMPORTS)),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=FUZZ_TIMEOUT, check=False)


def _load(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def schema_fuzz_test(
    service: str, *, role: str = "coordinator", paths: str | None = None, **settings_of: Callable[[], Any]
) -> Callable[..., Any]:
    """A pytest test that fuzzes the kit ``Service`` named ``module:NAME`` and fails on any finding: as a
    coordinator, every operation but the imports and exports (``IMPORTS``); or as ``role`` the operations
    whose path matches the regular expression ``paths`` (``role="admin", paths=IMPORTS`` for those: the
    imports are admin-only, and a coordinator would only see them answer 403). ``settings_of`` names more
    settings, each made by a function when the test runs (the web front's ``signing_key``)."""

    async def test(database_url: str, nats_url: str, mint: Callable[..., str]) -> None:
        from .kit import PUBLIC_KEY

        spec = _load(service)
        settings = spec.settings(
            DATABASE_URL=database_url,
            NATS_URL=nats_url,
            JWT_PUBLIC_KEY=PUBLIC_KEY,
            LOG_LEVEL="WARNING",
            **{name: make() for name, make in settings_of.items()},
        )
        app = spec.create_app(settings)

        def fuzz() -> subprocess.CompletedProcess:
            with serve(app) as url:
                return run_schemathesis(url, mint(role=role), paths=paths)

        result = await asyncio.to_thread(fuzz)
        report = result.stdout[-12000:] + result.stderr[-3000:]
        print(result.stdout[-2500:])  # the summary, in the test's captured output
        assert result.returncode == 0, report
        assert "Server error" not in result.stdout, report

    test.__doc__ = f"Schemathesis, all checks, against {service}: no server error, no other finding."
    # A whole service's run takes 30-60 s on a quiet 2-core machine and twice that beside the rest of the
    # suite: the fuzzer has its own bound (the subprocess timeout), the test only a little more.
    return pytest.mark.timeout(FUZZ_TIMEOUT + 30)(test)
