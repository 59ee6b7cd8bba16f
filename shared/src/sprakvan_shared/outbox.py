"""Transactional outbox and its relay.

``enqueue`` writes events in the caller's transaction, so a change and the events announcing it commit
together or not at all. ``OutboxRelay`` publishes committed rows to JetStream:

* It always selects rows that are still unpublished (never "everything after the last id I saw"), so a
  row whose transaction commits late, with a lower id than rows already published, is still sent.
* It publishes a batch with JetStream async publishing, ``Nats-Msg-Id`` = ``event_id``, and marks only
  the rows whose publish was acknowledged. A crash between publish and mark leaves them unmarked; the
  next attempt republishes them and JetStream drops the copies (the stream's duplicate window).
* It wakes on LISTEN/NOTIFY and falls back to polling, so a lost notification only delays a row.
* Only one relay per database publishes at a time (a session advisory lock), which keeps the stream in
  commit order when a service runs several replicas; the others stand by.
* Rows hold relative subjects; the relay publishes them under its namespace (``Namespace.subject``).
* After a tombstone (``participant.erased``) is acknowledged, the relay purges the aggregate's earlier
  messages from its stream (keeping the tombstone) and every copy in the dead-letter stream, and deletes
  the aggregate's published outbox rows, before it marks the tombstone. A crash in between repeats the
  purge, which is idempotent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

import asyncpg
import structlog
from nats.js.api import PubAck

from .contracts.envelope import IntegrationEvent
from .contracts.subjects import (
    DEAD_LETTER_STREAM,
    HEADER_CORRELATION_ID,
    HEADER_EVENT_TYPE,
    HEADER_MSG_ID,
    Namespace,
    dead_letter_subject,
    redrive_subject,
    stream_of_subject,
)

if TYPE_CHECKING:
    from nats.aio.client import Client as NatsClient

log = structlog.get_logger(__name__)

DEFAULT = Namespace()
NOTIFY_CHANNEL = "sprakvan_outbox"  # also in migrations/0002_outbox_notify_trigger.sql
_RELAY_LOCK_KEY = 0x4F555442  # "OUTB": one active relay per database

OUTBOX_COLUMNS = "event_id, subject, event_type, organisation_id, aggregate_id, correlation_id, body, purges"
_COLUMN_COUNT = len(OUTBOX_COLUMNS.split(","))


def outbox_row(event: IntegrationEvent) -> tuple[object, ...]:
    """The values of one outbox row, in ``OUTBOX_COLUMNS`` order."""
    return (
        event.event_id,
        event.subject,
        event.type,
        event.organisation_id,
        event.aggregate_id,
        event.correlation_id,
        event.model_dump_json().encode(),
        event.aggregate_subjects(event.aggregate_id) if event.TOMBSTONE else None,
    )


def insert_after(change_sql: str, change_params: int) -> str:
    """One statement that makes a change and adds one event to the outbox: ``change_sql`` (an INSERT or
    UPDATE with parameters $1..$change_params) becomes a data-modifying CTE, the outbox row takes the
    next ``len(OUTBOX_COLUMNS)`` parameters. A single statement is atomic without BEGIN/COMMIT: one round trip instead
    of four, for the most common write, a change announced by one event."""
    return f"WITH change AS ({change_sql}) {_insert_sql(first_param=change_params + 1)}"


def _insert_sql(first_param: int = 1) -> str:
    placeholders = ", ".join(f"${first_param + i}" for i in range(_COLUMN_COUNT))
    return f"INSERT INTO outbox ({OUTBOX_COLUMNS}) VALUES ({placeholders})"


_INSERT = _insert_sql()


async def enqueue(conn: asyncpg.Connection, *events: IntegrationEvent) -> None:
    """Add events to the outbox. Call inside the transaction that makes the change they announce."""
    if not conn.is_in_transaction():
        raise RuntimeError("outbox.enqueue must run inside the transaction of the change")
    rows = [outbox_row(event) for event in events]
    # The insert trigger notifies the relay (migration 0002), at commit and only if it commits.
    if len(rows) == 1:
        await conn.execute(_INSERT, *rows[0])  # one round trip; executemany costs more for one row
    else:
        await conn.executemany(_INSERT, rows)


class PublishFailed(Exception):
    pass


PublishedHook = Callable[[Sequence[int]], Awaitable[None]]


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        nats: NatsClient,
        *,
        namespace: Namespace = DEFAULT,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        publish_timeout: float = 5.0,
        linger: float = 0.05,
        retention: timedelta = timedelta(days=7),
        after_publish: PublishedHook | None = None,
    ) -> None:
        self._pool = pool
        self._ns = namespace
        self._js = nats.jetstream(publish_async_max_pending=max(batch_size, 256))
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._publish_timeout = publish_timeout
        self._linger = linger
        self._retention = retention
        # Called with the ids of acknowledged rows before they are marked (metrics, fault injection).
        self._after_publish = after_publish
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self.published_total = 0

    # -- loop ----------------------------------------------------------------------------------
    async def run(self) -> None:
        """Relay until ``stop()``; survives database and NATS outages by retrying with backoff."""
        backoff = self._poll_interval
        while not self._stopping.is_set():
            try:
                await self._run_as_leader()
                backoff = self._poll_interval
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, PublishFailed) as exc:
                log.warning("outbox_relay_retrying", error=type(exc).__name__, detail=str(exc)[:200])
                await self._sleep(backoff)
                backoff = min(backoff * 2, 30.0)
            except Exception:  # a bug must not stop the relay for good: events would pile up unseen
                log.exception("outbox_relay_failed")
                await self._sleep(backoff)
                backoff = min(backoff * 2, 30.0)

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def _run_as_leader(self) -> None:
        listener: asyncpg.Connection = await self._pool.acquire()
        try:
            while not await listener.fetchval("SELECT pg_try_advisory_lock($1)", _RELAY_LOCK_KEY):
                if await self._sleep(self._poll_interval):
                    return
            await listener.add_listener(NOTIFY_CHANNEL, self._on_notify)
            log.info("outbox_relay_leading")
            last_prune = 0.0
            loop = asyncio.get_running_loop()
            while not self._stopping.is_set():
                # Clear before reading: a NOTIFY that arrives during the read wakes the next round.
                self._wake.clear()
                sent = await self.relay_batch()
                if loop.time() - last_prune > 600:
                    await self.prune()
                    last_prune = loop.time()
                if sent < self._batch_size:
                    await self._sleep(self._poll_interval, wake=self._wake)
                    if self._wake.is_set() and not self._stopping.is_set():
                        # Woken by a commit: linger a moment so that one batch carries the commits of
                        # the next few milliseconds, not one select/publish/update per registration.
                        await self._sleep(self._linger)
        finally:
            await self._release(listener)

    async def _release(self, listener: asyncpg.Connection) -> None:
        try:
            if not listener.is_closed():
                await listener.remove_listener(NOTIFY_CHANNEL, self._on_notify)
                await listener.execute("SELECT pg_advisory_unlock_all()")
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            pass  # a broken connection releases its locks anyway
        finally:
            await self._pool.release(listener)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _sleep(self, seconds: float, wake: asyncio.Event | None = None) -> bool:
        """Sleep until the timeout, a wake-up or stop; True when stopping."""
        events = [asyncio.ensure_future(self._stopping.wait())]
        if wake is not None:
            events.append(asyncio.ensure_future(wake.wait()))
        try:
            await asyncio.wait(events, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in events:
                task.cancel()
        return self._stopping.is_set()

    # -- one batch -----------------------------------------------------------------------------
    async def relay_batch(self) -> int:
        """Publish up to one batch of unpublished rows; return how many were acknowledged."""
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """SELECT id, event_id, subject, event_type, aggregate_id, correlation_id, body, purges FROM outbox
                   WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED""",
                self._batch_size,
            )
            if not rows:
                return 0
            acked = await self._publish(rows)
            if self._after_publish is not None:
                await self._after_publish(acked)
            acked = await self._purge_after_tombstones(conn, rows, acked)
            if acked:
                await conn.execute("UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", acked)
            self.published_total += len(acked)
        # Raised after the commit, so that the acknowledged part of the batch stays marked.
        if len(acked) < len(rows):
            raise PublishFailed(f"{len(rows) - len(acked)} of {len(rows)} publishes not acknowledged")
        return len(acked)

    async def _publish(self, rows: Sequence[asyncpg.Record]) -> list[int]:
        futures: list[asyncio.Future[PubAck]] = []
        try:
            for row in rows:
                headers = {HEADER_MSG_ID: str(row["event_id"]), HEADER_EVENT_TYPE: row["event_type"]}
                if row["correlation_id"]:
                    headers[HEADER_CORRELATION_ID] = row["correlation_id"]
                # No wait_stall: its wait_for costs a task per message, and the pending limit is at
                # least one batch, so a publish never stalls; the batch timeout below bounds the wait.
                subject = self._ns.subject(row["subject"])
                futures.append(await self._js.publish_async(subject, row["body"], headers=headers))
            results = await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), self._publish_timeout)
        except Exception as exc:  # NATS down, stalled or timed out: nothing is marked, all is retried
            for future in futures:
                future.cancel()
            raise PublishFailed(f"{type(exc).__name__}: {exc}") from exc
        return [row["id"] for row, result in zip(rows, results, strict=True) if isinstance(result, PubAck)]

    async def _purge_after_tombstones(
        self, conn: asyncpg.Connection, rows: Sequence[asyncpg.Record], acked: list[int]
    ) -> list[int]:
        """Erase from the streams what preceded each acknowledged tombstone; a tombstone whose purge
        failed stays unmarked (and so is retried), the rows before it stay marked."""
        done = set(acked)
        for row in rows:
            if row["purges"] is None or row["id"] not in done:
                continue
            try:
                await self.purge_aggregate(row["purges"])
            except Exception as exc:  # NATS away: republish (deduplicated) and purge again later
                log.warning("outbox_purge_failed", error=type(exc).__name__, aggregate_id=row["aggregate_id"])
                done.discard(row["id"])
                continue
            await conn.execute(
                "DELETE FROM outbox WHERE aggregate_id = $1 AND id < $2 AND published_at IS NOT NULL",
                row["aggregate_id"],
                row["id"],
            )
            log.info("aggregate_purged", aggregate_id=row["aggregate_id"], event_type=row["event_type"])
        return [row_id for row_id in acked if row_id in done]

    async def purge_aggregate(self, aggregate_subjects: str) -> None:
        """Purge one aggregate's messages: all but the latest (the tombstone) from its own stream, all
        of them from the dead-letter stream (copies and redrives by any consumer)."""
        source = self._ns.stream(stream_of_subject(aggregate_subjects))
        await self._js.purge_stream(source, subject=self._ns.subject(aggregate_subjects), keep=1)
        dead_letters = self._ns.stream(DEAD_LETTER_STREAM)
        for relative in (dead_letter_subject("*", aggregate_subjects), redrive_subject("*", aggregate_subjects)):
            await self._js.purge_stream(dead_letters, subject=self._ns.subject(relative))

    async def prune(self) -> int:
        """Delete rows published longer ago than the retention; they only matter for replays."""
        status = await self._pool.execute(
            "DELETE FROM outbox WHERE published_at < now() - $1::interval", self._retention
        )
        return int(status.split()[-1])
