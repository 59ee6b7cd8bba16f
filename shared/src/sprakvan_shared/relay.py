"""The outbox relay: ``OutboxRelay`` publishes the outbox's committed rows (``outbox.enqueue``) to JetStream.

* It always selects rows that are still unpublished (never "everything after the last id I saw"), so a
  row whose transaction commits late, with a lower id than rows already published, is still sent.
* It publishes a batch with JetStream async publishing (``batch_publish``: one acknowledgement
  subscription, outcomes kept per batch), ``Nats-Msg-Id`` = ``event_id``, and marks only the rows whose
  publish was acknowledged. A crash between publish and mark leaves them unmarked; the
  next attempt republishes them and JetStream drops the copies (the stream's duplicate window).
* It wakes on LISTEN/NOTIFY and falls back to polling, so a lost notification only delays a row. A
  commit notifies only when no earlier row waits (``outbox._WAKE``: a NOTIFY per commit serialises the
  commits of the whole database); after a batch the relay looks again after ``linger`` until it finds
  nothing, and only then waits for a notification.
* Only one relay per database publishes at a time, which keeps the stream in commit order when a service
  runs several replicas; the others stand by. The leader holds a session advisory lock on a connection
  of its own, and every batch checks, in the batch's own transaction, that this connection still holds
  it (``pg_locks``): when the leader's backend dies, its lock and its leadership end together, and the
  relay that takes over skips the rows still locked by the old leader's unfinished batches.
* Batches overlap: after a full batch, the next one is claimed (on another connection; ``SKIP LOCKED``
  keeps them apart) while this one is published, and the batch before it takes in its acknowledgements
  and is marked and committed in the background meanwhile (the publishing loop gives the event loop a
  turn every 100 messages). At most three batches hold a connection (one finishing, one publishing, one
  being claimed); batches are finished (marked, committed) strictly in order.
* A row that fails for a reason of its own (no stream captures its subject, too large) is retried with a
  growing delay and, after ``max_attempts``, parked (``parked_at``, ``last_error``): visible, kept, and
  out of the way of the rest, which flows on without backoff. Only failures of NATS or the database
  (timeouts, lost connections) make the whole relay back off, and a successful batch resets the backoff.
* Published rows are pruned by the leader every ``prune_interval`` (hourly) once older than
  ``retention`` (7 days), which must exceed the stream's duplicate window (24 h), the longest time over
  which a row can be republished. Unpublished and parked rows are never pruned.
* Rows hold relative subjects; the relay publishes them under its namespace (``Namespace.subject``).
* After a tombstone (``participant.erased``) is acknowledged, the relay purges the aggregate's earlier
  messages from its stream (keeping the tombstone) and every copy in the dead-letter stream, and deletes
  the aggregate's published outbox rows, before it marks the tombstone. A crash in between repeats the
  purge, which is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import asyncpg
import nats.errors
import nats.js.errors
import structlog

from .batch_publish import BatchPublisher, Outcome, PublishedBatch
from .contracts.subjects import (
    DEAD_LETTER_STREAM,
    DUPLICATE_WINDOW,
    HEADER_CORRELATION_ID,
    HEADER_EVENT_TYPE,
    HEADER_MSG_ID,
    Namespace,
    dead_letter_subject,
    redrive_subject,
    stream_of_subject,
)
from .db import acquire_clean, is_outage

if TYPE_CHECKING:
    from nats.aio.client import Client as NatsClient

log = structlog.get_logger(__name__)

DEFAULT = Namespace()
NOTIFY_CHANNEL = "sprakvan_outbox"  # outbox._WAKE notifies it
_RELAY_LOCK_KEY = 0x4F555442  # "OUTB": one active relay per database (fits in pg_locks.objid, classid 0)


class PublishFailed(Exception):
    """NATS or the database failed a batch (not one row): the relay backs off and retries."""


class LostLeadership(Exception):
    """The leader's lock connection is gone (its backend died or was terminated)."""


PublishedHook = Callable[[Sequence[int]], Awaitable[None]]

# Failures of the connection, not of the message: they say nothing about the row, so they never count
# towards parking it; they make the relay back off instead.
_TRANSIENT = (
    TimeoutError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.ConnectionDrainingError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.StaleConnectionError,
    nats.js.errors.ServiceUnavailableError,  # JetStream without quorum for a moment (a cluster electing)
    OSError,
)
_DATABASE_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)

# The rows one batch takes, when the relay (its lock connection, by backend pid) still leads.
_CLAIM = f"""
SELECT id, event_id::text, subject, event_type, aggregate_id, correlation_id, body, purges, attempts FROM outbox
 WHERE published_at IS NULL AND parked_at IS NULL AND (next_attempt_at IS NULL OR next_attempt_at <= now())
   AND ($2::int IS NULL OR EXISTS (
        SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = $2 AND classid = 0
           AND objid = {_RELAY_LOCK_KEY} AND objsubid = 1
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())))
 ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED"""
_PRUNE_CHUNK = 10_000
_PUBLISH_CHUNK = 100
_STILL_LEADING = f"""
SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = $1 AND classid = 0
                  AND objid = {_RELAY_LOCK_KEY} AND objsubid = 1
                  AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))"""
_RETRY_LATER = """
UPDATE outbox SET attempts = attempts + 1, last_error = f.error,
       next_attempt_at = now() + make_interval(secs => $3 * 2 ^ attempts),
       parked_at = CASE WHEN attempts + 1 >= $4 THEN now() END
  FROM unnest($1::bigint[], $2::text[]) AS f(id, error) WHERE outbox.id = f.id
RETURNING outbox.id, outbox.event_id, outbox.subject, outbox.attempts, outbox.parked_at IS NOT NULL AS parked"""


# A batch's transaction need not wait for its commit to reach the disk: a mark lost in a crash only
# republishes the rows, and JetStream drops the copies (the duplicate window). BEGIN and this setting go
# in one round trip, and the mark and COMMIT in another.
_BEGIN = "BEGIN; SET LOCAL synchronous_commit TO off"


@dataclass
class _Batch:
    conn: asyncpg.Connection
    rows: Sequence[asyncpg.Record]
    acks: PublishedBatch | None = None  # once published


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
        linger: float = 0.02,
        retention: timedelta = timedelta(days=7),
        prune_interval: float = 3600.0,
        max_attempts: int = 5,
        retry_delay: float = 1.0,
        max_backoff: float = 1.0,
        after_publish: PublishedHook | None = None,
    ) -> None:
        if retention <= DUPLICATE_WINDOW:
            raise ValueError(f"outbox retention {retention} must exceed the duplicate window {DUPLICATE_WINDOW}")
        self._pool = pool
        self._nc = nats
        self._ns = namespace
        self._js = nats.jetstream()  # purges after tombstones
        self._publisher = BatchPublisher(nats)
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._publish_timeout = publish_timeout
        self._linger = linger
        self._retention = retention
        self._prune_interval = prune_interval
        self._max_attempts = max_attempts
        self._retry_delay = retry_delay
        self._max_backoff = max_backoff
        # Called with the ids of acknowledged rows before they are marked (metrics, fault injection).
        self._after_publish = after_publish
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self.leading = False
        self.published_total = 0
        self.parked_total = 0
        self.backoffs = 0  # times the whole relay waited after a failure of NATS or the database
        self.backoff = 0.0  # the wait after the next failure; back to the first step after a good batch

    # -- loop ----------------------------------------------------------------------------------
    async def run(self) -> None:
        """Relay until ``stop()``; survives database and NATS outages by retrying with backoff."""
        self._reset_backoff()
        while not self._stopping.is_set():
            try:
                await self._lead(until_empty=False)
            except (*_DATABASE_ERRORS, PublishFailed, LostLeadership) as exc:
                log.warning("outbox_relay_retrying", error=type(exc).__name__, detail=str(exc)[:200])
                await self._back_off()
            except Exception as exc:  # a bug must not stop the relay for good: events would pile up unseen
                if is_outage(exc):  # asyncpg's "cannot switch to state" (asyncpg#1069), a full pool: no bug
                    log.warning("outbox_relay_retrying", error=type(exc).__name__, detail=str(exc)[:200])
                else:
                    log.exception("outbox_relay_failed")
                await self._back_off()

    async def drain(self) -> int:
        """Take the lead, relay until nothing is left to publish, let go; return how many were published
        (benchmarks, tools). Returns 0 at once when another relay leads."""
        before = self.published_total
        await self._lead(until_empty=True)
        return self.published_total - before

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def _reset_backoff(self) -> None:
        self.backoff = min(0.1, self._max_backoff)

    async def _back_off(self) -> None:
        self.backoffs += 1
        await self._sleep(self.backoff)
        self.backoff = min(self.backoff * 2, self._max_backoff)

    async def _lead(self, *, until_empty: bool) -> None:
        async with self._pool.acquire() as leader:
            if not await leader.fetchval("SELECT pg_try_advisory_lock($1)", _RELAY_LOCK_KEY):
                if not until_empty:
                    await self._sleep(self._poll_interval)
                return
            try:
                await leader.add_listener(NOTIFY_CHANNEL, self._on_notify)
                self.leading = True
                log.info("outbox_relay_leading")
                await self._relay_while_leading(leader.get_server_pid(), until_empty=until_empty)
            finally:
                if self.leading:
                    self.leading = False
                    log.info("outbox_relay_standing_by")
                await self._release_lock(leader)
                await self._stop_publisher()

    async def _stop_publisher(self) -> None:
        with contextlib.suppress(Exception):  # NATS away: the client drops the subscription with itself
            await self._publisher.stop()

    async def _release_lock(self, leader: asyncpg.Connection) -> None:
        # The pool skips the server reset (db.create_pool): unlisten and unlock here, or the lock would
        # stay with the pooled connection.
        if leader.is_closed():
            return  # a closed connection holds no lock
        with contextlib.suppress(*_DATABASE_ERRORS):
            await leader.execute("SELECT pg_advisory_unlock_all()")
        with contextlib.suppress(*_DATABASE_ERRORS):
            await leader.remove_listener(NOTIFY_CHANNEL, self._on_notify)

    async def _relay_while_leading(self, leader_pid: int, *, until_empty: bool) -> None:
        loop = asyncio.get_running_loop()
        last_prune = -self._prune_interval
        # The finishing (acks, marks, commit) of published batches, in publish order, each running while
        # the next batch is published; at most two, so that with the batch being published and the one
        # being claimed no more than three batches hold a connection.
        finishing: list[asyncio.Future[int]] = []
        prefetch: asyncio.Future[_Batch | None] | None = None  # the next batch, being claimed
        publishing: _Batch | None = None  # claimed, not yet handed to its finishing
        try:
            while not self._stopping.is_set():
                if loop.time() - last_prune >= self._prune_interval:
                    # One chunk per round, so that a large prune never holds back publishing; the next
                    # round takes the next chunk until none is full.
                    if await self.prune(chunk=_PRUNE_CHUNK, max_chunks=1) < _PRUNE_CHUNK:
                        last_prune = loop.time()
                if not self._nc.is_connected:
                    # Claiming rows for a disconnected client would only time out: wait for it instead.
                    while finishing:
                        await finishing.pop(0)
                    await self._wait_for_nats()
                    continue
                if prefetch is None:
                    # Clear before reading: a NOTIFY that arrives during the read wakes the next round.
                    self._wake.clear()
                    prefetch = asyncio.ensure_future(self._claim(leader_pid))
                batch, prefetch = await prefetch, None
                publishing = batch
                while len(finishing) > 1:
                    await finishing.pop(0)  # it had a whole batch's publishing to finish in
                if batch is not None and len(batch.rows) == self._batch_size:
                    # Likely more: claim the next batch while this one is published and the one before
                    # is finished, each on a connection of its own.
                    self._wake.clear()
                    prefetch = asyncio.ensure_future(self._claim(leader_pid))
                if batch is not None:
                    await self._publish(batch)
                    previous = finishing[-1] if finishing else None
                    finishing.append(asyncio.ensure_future(self._finish_after(previous, batch)))
                publishing = None
                if prefetch is not None:
                    continue
                while finishing:
                    await finishing.pop(0)
                if until_empty and batch is None:
                    return
                if batch is not None:
                    # Rows came, so more are likely on their way, and a commit that finds rows waiting
                    # wakes no one (outbox._WAKE): look again after the linger.
                    await self._sleep(self._linger)
                    continue
                await self._sleep(self._poll_interval, wake=self._wake)
                if self._wake.is_set() and not self._stopping.is_set():
                    # Woken by a commit: linger a moment so that one batch carries the commits of the
                    # next few milliseconds, not one select/publish/update per registration.
                    await self._sleep(self._linger)
        finally:
            if prefetch is not None:
                if not prefetch.done():
                    prefetch.cancel()  # the claim rolls back and releases its connection itself
                    with contextlib.suppress(BaseException):
                        await prefetch
                elif not prefetch.cancelled() and prefetch.exception() is None and prefetch.result() is not None:
                    await self._abandon(prefetch.result())  # type: ignore[arg-type]
            if publishing is not None:
                await self._abandon(publishing)
            for future in finishing:  # finished (acknowledged rows marked) or, after a failure, abandoned
                with contextlib.suppress(BaseException):
                    await future

    async def _finish_after(self, previous: asyncio.Future[int] | None, batch: _Batch) -> int:
        """Finish ``batch`` once the batch published before it is finished: batches are marked in order.
        After a failure of the one before, the loop sees that failure; this one is abandoned."""
        if previous is not None:
            try:
                await asyncio.shield(previous)  # the loop awaits it too; cancelling this must not cancel it
            except BaseException:
                await self._abandon(batch)
                return 0
        return await self._finish(batch)

    async def _wait_for_nats(self) -> None:
        deadline = asyncio.get_running_loop().time() + self._poll_interval
        while not self._nc.is_connected and asyncio.get_running_loop().time() < deadline:
            if await self._sleep(0.05):
                return

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
        """Publish up to one batch of unpublished rows, without leading (tests, tools); return how many
        were acknowledged. Raises ``PublishFailed`` (after marking what was acknowledged) when NATS failed
        part of the batch."""
        batch = await self._claim(None)
        if batch is None:
            return 0
        try:
            try:
                await self._publish(batch)
            except BaseException:
                await self._abandon(batch)
                raise
            return await self._finish(batch)
        finally:
            await self._stop_publisher()

    async def _claim(self, leader_pid: int | None) -> _Batch | None:
        # A batch leaves nothing on its session (BEGIN ... COMMIT or ROLLBACK; SET LOCAL): no reset
        # round trip when it goes back to the pool (db.Pool; asyncpg still rolls back an open one).
        conn: asyncpg.Connection = await acquire_clean(self._pool)
        try:
            await conn.execute(_BEGIN)
            rows = await conn.fetch(_CLAIM, self._batch_size, leader_pid)
            if rows:
                return _Batch(conn, rows)
            leading = leader_pid is None or await conn.fetchval(_STILL_LEADING, leader_pid)
            await conn.execute("ROLLBACK")
        except BaseException:
            await self._close_quietly(conn)
            raise
        await self._pool.release(conn)
        if not leading:
            raise LostLeadership("the relay's lock connection no longer holds the lock")
        return None

    async def _publish(self, batch: _Batch) -> None:
        """Put the whole batch on the wire; its acknowledgements arrive as futures. Every
        ``_PUBLISH_CHUNK`` messages the loop gets a turn: the client's flusher sends what is there, so
        that NATS works on it while the rest is serialised, and the batch before this one takes in its
        acknowledgements and sends its mark to PostgreSQL meanwhile."""
        prefix = self._ns.subject("")  # the namespace's, before each row's relative subject
        try:
            await self._publisher.start()
        except Exception as exc:  # the connection closed: nothing of the batch went out
            raise PublishFailed(f"cannot subscribe to acknowledgements: {_describe(exc)}") from exc
        publish = self._publisher.publish
        acks = batch.acks = self._publisher.batch(len(batch.rows))
        for index, row in enumerate(batch.rows):
            if index and not index % _PUBLISH_CHUNK:
                await asyncio.sleep(0)
            # The event id comes as text (_CLAIM): no UUID object to make and format again per row.
            headers = {HEADER_MSG_ID: row["event_id"], HEADER_EVENT_TYPE: row["event_type"]}
            if row["correlation_id"]:
                headers[HEADER_CORRELATION_ID] = row["correlation_id"]
            # A row that cannot go out (too large, connection closed...) fails alone, not the batch.
            await publish(acks, index, prefix + row["subject"], row["body"], headers)

    async def _finish(self, batch: _Batch) -> int:
        """Await the acknowledgements, purge after tombstones, mark, schedule retries, commit."""
        try:
            outcomes = await self._outcomes(batch.acks)
            acked = [row["id"] for row, outcome in zip(batch.rows, outcomes, strict=True) if outcome is None]
            if self._after_publish is not None:
                await self._after_publish(acked)
            acked, purge_failures = await self._purge_after_tombstones(batch.conn, batch.rows, acked)
            conn = batch.conn
            own = [(row, o) for row, o in zip(batch.rows, outcomes, strict=True) if o is not None]
            transient = [(row, o) for row, o in own if isinstance(o, _TRANSIENT)] + purge_failures
            faulty = [(row, o) for row, o in own if not isinstance(o, _TRANSIENT)]
            if faulty:
                await self._retry_later(conn, faulty)
            # Ids are our own bigints: safe as a literal, and the mark and the commit take one round trip.
            marked = ",".join(str(int(row_id)) for row_id in acked)
            mark = f"UPDATE outbox SET published_at = now() WHERE id = ANY('{{{marked}}}'::bigint[]); " if acked else ""
            await conn.execute(mark + "COMMIT")
            # Counted at the commit, not after the release: a scrape in between saw the backlog empty
            # and the count not yet raised.
            self.published_total += len(acked)
        except BaseException:
            await self._close_quietly(batch.conn)
            raise
        await self._pool.release(batch.conn)
        # Raised after the commit, so that the acknowledged part of the batch stays marked.
        if transient:
            row, error = transient[0]
            raise PublishFailed(f"{len(transient)} of {len(batch.rows)} publishes failed: {_describe(error)}")
        self._reset_backoff()
        return len(acked)

    async def _abandon(self, batch: _Batch) -> None:
        """Give up a batch that was published but cannot be finished: its rows stay unpublished and are
        republished later (JetStream drops the copies)."""
        if batch.acks is not None:
            batch.acks.close()
        await self._close_quietly(batch.conn)

    async def _close_quietly(self, conn: asyncpg.Connection) -> None:
        with contextlib.suppress(*_DATABASE_ERRORS):
            if not conn.is_closed() and conn.is_in_transaction():
                await conn.execute("ROLLBACK")
        await self._pool.release(conn)

    async def _outcomes(self, acks: PublishedBatch | None) -> list[Outcome]:
        """Per row: None when acknowledged, else why not (an acknowledgement missing after the
        publish timeout is a ``TimeoutError``)."""
        assert acks is not None, "a batch is finished only after it was published"
        return await acks.wait(self._publish_timeout)

    async def _retry_later(self, conn: asyncpg.Connection, faulty: list[tuple[asyncpg.Record, BaseException]]) -> None:
        changed = await conn.fetch(
            _RETRY_LATER,
            [row["id"] for row, _ in faulty],
            [_describe(error) for _, error in faulty],
            self._retry_delay,
            self._max_attempts,
        )
        errors = {row["id"]: error for row, error in faulty}
        for row in changed:
            if row["parked"]:
                self.parked_total += 1
                log.error(
                    "outbox_row_parked",
                    event_id=str(row["event_id"]),
                    subject=row["subject"],
                    attempts=row["attempts"],
                    error=type(errors[row["id"]]).__name__,
                )
            else:
                log.warning("outbox_row_failed", event_id=str(row["event_id"]), attempts=row["attempts"])

    async def _purge_after_tombstones(
        self, conn: asyncpg.Connection, rows: Sequence[asyncpg.Record], acked: list[int]
    ) -> tuple[list[int], list[tuple[asyncpg.Record, BaseException]]]:
        """Erase from the streams what preceded each acknowledged tombstone; a tombstone whose purge
        failed stays unmarked (and so is retried), the rows before it stay marked."""
        done = set(acked)
        failures: list[tuple[asyncpg.Record, BaseException]] = []
        for row in rows:
            if row["purges"] is None or row["id"] not in done:
                continue
            try:
                await self.purge_aggregate(row["purges"])
            except Exception as exc:  # NATS away: republish (deduplicated) and purge again later
                log.warning("outbox_purge_failed", error=type(exc).__name__, aggregate_id=row["aggregate_id"])
                done.discard(row["id"])
                failures.append((row, exc))
                continue
            await conn.execute(
                "DELETE FROM outbox WHERE aggregate_id = $1 AND id < $2 AND published_at IS NOT NULL",
                row["aggregate_id"],
                row["id"],
            )
            log.info("aggregate_purged", aggregate_id=row["aggregate_id"], event_type=row["event_type"])
        return [row_id for row_id in acked if row_id in done], failures

    async def purge_aggregate(self, aggregate_subjects: str) -> None:
        """Purge one aggregate's messages: all but the latest (the tombstone) from its own stream, all
        of them from the dead-letter stream (copies and redrives by any consumer)."""
        source = self._ns.stream(stream_of_subject(aggregate_subjects))
        await self._js.purge_stream(source, subject=self._ns.subject(aggregate_subjects), keep=1)
        dead_letters = self._ns.stream(DEAD_LETTER_STREAM)
        for relative in (dead_letter_subject("*", aggregate_subjects), redrive_subject("*", aggregate_subjects)):
            await self._js.purge_stream(dead_letters, subject=self._ns.subject(relative))

    async def prune(self, *, chunk: int = _PRUNE_CHUNK, max_chunks: int | None = None) -> int:
        """Delete rows published longer ago than the retention, a chunk at a time (short locks). Parked
        and unpublished rows stay; so does the consumers' ``consumed_aggregates`` (it holds tombstones)."""
        pruned = 0
        chunks = 0
        while max_chunks is None or chunks < max_chunks:
            chunks += 1
            status = await self._pool.execute(
                """DELETE FROM outbox WHERE id IN (
                       SELECT id FROM outbox WHERE published_at < now() - $1::interval ORDER BY id LIMIT $2)""",
                self._retention,
                chunk,
            )
            count = int(status.split()[-1])
            pruned += count
            if count < chunk:
                break
        if pruned:
            log.info("outbox_pruned", rows=pruned)
        return pruned


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:500]
