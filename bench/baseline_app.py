"""The bare baseline for ``bench/intake.py``: the least a registration endpoint can do.

One FastAPI endpoint, ``POST /participants``, that parses the JSON body and inserts it as one row with
asyncpg, through its own pool of the same size as intake's default (``db_pool_min``/``db_pool_max`` of
``ServiceSettings``, handed over as ``BENCH_POOL_MIN``/``BENCH_POOL_MAX``) and, like intake's pool, no reset
query on release. No auth, no validation beyond JSON, no outbox, no NATS. It is served by uvicorn exactly
like intake (one worker, same loop and HTTP implementation), so the ratio intake/baseline is the price of
everything intake does on top.

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
from typing import Annotated, Any

import asyncpg
from fastapi import Body, FastAPI, Request, status

_TABLE = """
CREATE TABLE IF NOT EXISTS baseline_registrations (
    id          uuid        PRIMARY KEY,
    body        jsonb       NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
)"""
_INSERT = "INSERT INTO baseline_registrations (id, body) VALUES ($1, $2::jsonb)"


async def _no_reset(_: asyncpg.Connection) -> None:
    """Nothing to reset: the endpoint leaves no session state behind."""


def create_app() -> FastAPI:
    dsn = os.environ["DATABASE_URL"]
    pool_min = int(os.environ.get("BENCH_POOL_MIN", "2"))
    pool_max = int(os.environ.get("BENCH_POOL_MAX", "10"))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # reset=: no server-side reset query on release (asyncpg's default costs a round trip per request);
        # the least a pool can do, and what intake's pool does too (sprakvan_shared.db.create_pool).
        pool = await asyncpg.create_pool(dsn, min_size=pool_min, max_size=pool_max, reset=_no_reset)
        assert pool is not None
        await pool.execute(_TABLE)
        app.state.pool = pool
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(title="bench baseline", lifespan=lifespan)

    @app.post("/participants", status_code=status.HTTP_201_CREATED)
    async def register(request: Request, body: Annotated[dict[str, Any], Body()]) -> dict[str, str]:
        row_id = uuid.uuid4()
        await request.app.state.pool.execute(_INSERT, row_id, json.dumps(body))
        return {"id": str(row_id)}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
