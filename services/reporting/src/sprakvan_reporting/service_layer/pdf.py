"""PDF renders off the request path: a request stores the review as computed at that moment and returns
at once; a worker process renders it (WeasyPrint takes seconds of CPU for a long report and must not
stall the event loop) and stores the file until it is fetched."""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog

from sprakvan_shared import db

from ..domain.review import to_json

log = structlog.get_logger(__name__)


def _render(review_json: bytes, lang: str) -> bytes:
    from ..outputs.printable import render_pdf  # in the worker process

    return render_pdf(json.loads(review_json), lang)


class PdfRenderer:
    """One worker process, renders in order; pending renders survive a restart (picked up at start)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._executor: ProcessPoolExecutor | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        # Spawned, not forked: a forked worker held copies of the server's open connections, so a keep-alive
        # connection the server closed stayed open at the TCP level and the next request on it hung.
        self._executor = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        # A render waits a week to be fetched; then it goes.
        await self._pool.execute("DELETE FROM pdf_renders WHERE requested_at < now() - interval '7 days'")
        for row in await self._pool.fetch("SELECT render_id FROM pdf_renders WHERE status = 'pending'"):
            self._spawn(row["render_id"])

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    async def request(self, organisation_id: str, review: dict[str, Any], lang: str) -> uuid.UUID:
        """Store the render job; the request's Idempotency-Key is claimed in the same transaction
        (``db.transaction``), so concurrent retries with one key queue one render and get its response."""
        render_id = uuid.uuid4()
        async with db.transaction(self._pool) as conn:
            await conn.execute(
                """INSERT INTO pdf_renders (render_id, organisation_id, request, status, requested_at)
                   VALUES ($1, $2, $3, 'pending', $4)""",
                render_id,
                organisation_id,
                {"lang": lang, "review": review},
                datetime.now(UTC),
            )
        self._spawn(render_id)  # after the commit: a retry that lost the race never got here
        return render_id

    def _spawn(self, render_id: uuid.UUID) -> None:
        task = asyncio.create_task(self._run(render_id), name=f"pdf-{render_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, render_id: uuid.UUID) -> None:
        request = await self._pool.fetchval("SELECT request FROM pdf_renders WHERE render_id = $1", render_id)
        try:
            assert self._executor is not None
            pdf = await asyncio.get_running_loop().run_in_executor(
                self._executor, _render, to_json(request["review"]), request["lang"]
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("pdf_render_failed", render_id=str(render_id), error=type(exc).__name__)
            await self._finish(render_id, "failed", None)
        else:
            await self._finish(render_id, "done", pdf)

    async def _finish(self, render_id: uuid.UUID, status: str, pdf: bytes | None) -> None:
        await self._pool.execute(
            "UPDATE pdf_renders SET status = $2, pdf = $3, finished_at = $4 WHERE render_id = $1",
            render_id,
            status,
            pdf,
            datetime.now(UTC),
        )

    async def fetch(self, organisation_id: str, render_id: uuid.UUID) -> asyncpg.Record | None:
        return await self._pool.fetchrow(
            "SELECT status, pdf FROM pdf_renders WHERE render_id = $1 AND organisation_id = $2",
            render_id,
            organisation_id,
        )
