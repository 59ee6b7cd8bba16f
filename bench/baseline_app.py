"""The bare baseline for ``bench/intake.py``: the least a registration endpoint can do.

One FastAPI endpoint, ``POST /participants``, that parses the JSON body and inserts it as one row with
asyncpg, through its own pool of the same size as intake's default (``db_pool_min``/``db_pool_max`` of
``ServiceSettings``, handed over as ``BENCH_POOL_MIN``/``BENCH_POOL_MAX``). No auth, no validation
beyond JSON, no outbox, no NATS. It is served by uvicorn exactly like intake (one worker, same loop and
HTTP implementation), so the ratio intake/baseline is the price of everything intake does on top.

Run by the benchmark as::

    python -m uvicorn --factory --app-dir bench baseline_app:create_app --port ...

with ``DATABASE_URL`` set to a scratch database (it creates its table at start-up).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from fastapi import Body, FastAPI, Request, status

_TABLE = """
CREATE TABLE IF NOT EXISTS baseline_registrations (
    id          uuid        PRIMARY KEY,
    body        jsonb       NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
)"""
_INSERT = "INSERT INTO baseline_registrations (id, body) VALUES ($1, $2::jsonb)"


def create_app() -> FastAPI:
    dsn = os.environ["DATABASE_URL"]
    pool_min = int(os.environ.get("BENCH_POOL_MIN", "2"))
    pool_max = int(os.environ.get("BENCH_POOL_MAX", "10"))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await asyncpg.create_pool(dsn, min_size=pool_min, max_size=pool_max)
        assert pool is not None
        await pool.execute(_TABLE)
        app.state.pool = pool
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(title="bench baseline", lifespan=lifespan)

    @app.post("/participants", status_code=status.HTTP_201_CREATED)
    async def register(request: Request, body: dict[str, Any] = Body(...)) -> dict[str, str]:
        row_id = uuid.uuid4()
        await request.app.state.pool.execute(_INSERT, row_id, json.dumps(body))
        return {"id": str(row_id)}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
