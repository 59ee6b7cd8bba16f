#!/usr/bin/env python
"""Web front benchmark: the sign-up form page (Jinja2, seven catalogues, the organisation's vocabularies)
rendered per request, as a ratio against a bare FastAPI app that returns the same bytes, both driven
in-process over ASGI in the same run. A benchmark, not a test: it reports, it never fails on a number.

The configuration is put in the web front's cache beforehand (as after its first fetch from intake), and
an anonymous GET reads no database, so this measures rendering alone.

    .venv/bin/python bench/web.py [--requests 2000] [--lang ar]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sprakvan_shared.auth import generate_private_key_pem, public_key_pem  # noqa: E402
from sprakvan_shared.contracts.intake import OrganisationConfiguration  # noqa: E402
from sprakvan_web.service import SERVICE  # noqa: E402
from sprakvan_web.settings import WebSettings  # noqa: E402
from tests.factories import configuration  # noqa: E402

ORGANISATION = "bench"


async def rate(app: FastAPI, path: str, requests: int, concurrency: int = 8) -> tuple[float, float]:
    """(requests/s, median ms) over ``requests`` GETs, ``concurrency`` at a time."""
    latencies: list[float] = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://web") as client:
        for _ in range(50):  # warm-up: templates compiled, catalogues read
            assert (await client.get(path)).status_code == 200

        async def worker(count: int) -> None:
            for _ in range(count):
                started = time.perf_counter()
                response = await client.get(path)
                latencies.append(time.perf_counter() - started)
                assert response.status_code == 200

        started = time.perf_counter()
        await asyncio.gather(*(worker(requests // concurrency) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, statistics.median(latencies) * 1000


async def main(requests: int, lang: str) -> None:
    private_key = generate_private_key_pem()
    web = SERVICE.create_app(WebSettings(JWT_PUBLIC_KEY=public_key_pem(private_key), signing_key=private_key))
    config = OrganisationConfiguration.model_validate({"organisation_id": ORGANISATION, **configuration()})
    web.state.web.configurations[ORGANISATION] = (float("inf"), config)
    path = f"/signup/{ORGANISATION}/sprakvan?lang={lang}"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url="http://web") as client:
        page = (await client.get(path)).content

    baseline = FastAPI()

    @baseline.get("/signup/{organisation}/{programme}")
    async def same_bytes() -> HTMLResponse:
        return HTMLResponse(page)

    ours, ours_ms = await rate(web, path, requests)
    bare, bare_ms = await rate(baseline, path, requests)
    print(f"sign-up form ({lang}, {len(page)} bytes), {requests} requests, 8 at a time, in-process ASGI:")
    print(f"  baseline (same bytes) {bare:8.0f} req/s  p50 {bare_ms:.2f} ms")
    print(f"  web front (rendered)  {ours:8.0f} req/s  p50 {ours_ms:.2f} ms")
    print(f"  ratio {ours / bare:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--lang", default="ar")
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.lang))
