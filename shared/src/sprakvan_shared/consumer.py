"""Ordered, gated consumption of integration events: the consumer side of the event backbone.

One durable pull consumer per (consuming service, source stream), filtered to the event types the
service handles, dispatching by type. A durable whose types changed starts again at the stream's first
message, so that a handler added in a later release sees the events published before it (the gate skips
the rest); a server that cannot keep the filters (NATS before 2.10) is refused. The rules, chosen on
purpose:

* **Order per aggregate.** A fetched batch is grouped by aggregate (the subject's id token); each
  group runs serially in stream order, different aggregates in parallel (bounded). When a message
  fails, the rest of its aggregate's group in that batch is sent back with it, so no later event of
  that aggregate is applied in between.
* **One transaction per fetched batch.** The valid events of a batch are applied in one transaction
  behind one gate statement (a transaction per event cost about six round trips each); a consumer with
  a batch handler (``on_batch``) gets them in one call. When a handler raises, the transaction is rolled
  back, that event alone gets the answer below (this delivery's one attempt) and the others are applied
  again in a new one: a rolled-back handler may run again, no event is applied twice, out of its
  aggregate's order or past a tombstone. A failure no event is to blame for (the database away, a
  deadlock) leaves the batch to the one-by-one way: a transaction per event, as below.
* **The gate.** The handler runs inside one transaction with a row of ``consumed_aggregates`` locked
  for (consumer, aggregate): an event whose version is not above the applied one is skipped (a
  duplicate, a stale retry, a redelivery), and once a tombstone (``participant.erased``) was applied
  nothing of that aggregate is applied again. Events carry full state, so skipping stale ones loses
  nothing, and version gaps are harmless.
* **Failures.** A handler that raises is nak'ed with a growing delay; after ``max_deliveries`` the
  message goes byte for byte to ``deadletter.<service>.<original subject>`` with the reason in headers
  (exception type and field locations only: never input values), and the consumer moves on. A message
  that is not a valid event is dead-lettered at once; one of a type this process has no handler for
  (a newer replica, mid-deploy, declared it) is sent back like a failure, for that replica to take. A
  tombstone is never given up on: it is retried until applied, and logged as an error on every retry
  after the limit.
* The JetStream consumer has no ``max_deliver``: the server never drops a message because a process
  died while handling it. Acks come after the commit; a crash in between redelivers, and the gate
  makes the repeat a no-op.
* **Redrive.** ``sprakvan deadletters redrive`` republishes dead letters to
  ``redrive.<service>.<original subject>``; a second durable consumer of each service reads those
  through the same dispatch and gate.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import asyncpg
import structlog
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import BadRequestError, NotFoundError
from pydantic import ValidationError

from .contracts.envelope import IntegrationEvent, parse_subject
from .contracts.subjects import (
    DEAD_LETTER_STREAM,
    HEADER_MSG_ID,
    Namespace,
    StreamSpec,
    dead_letter_subject,
    redrive_subject,
    stream_of_subject,
)
from .db import is_outage
from .logging import bind_correlation_id

if TYPE_CHECKING:
    from nats.aio.client import Client as NatsClient
    from nats.js import JetStreamContext

log = structlog.get_logger(__name__)

Handler = Callable[[asyncpg.Connection, Any], Awaitable[None]]
BatchHandler = Callable[[asyncpg.Connection, list[Any]], Awaitable[None]]

# Dead-letter headers: the original message stays byte for byte in the body, the reason goes here.
DLQ_ERROR = "Sprakvan-Error"
DLQ_ERROR_TYPE = "Sprakvan-Error-Type"
DLQ_ORIGINAL_SUBJECT = "Sprakvan-Original-Subject"
DLQ_ORIGINAL_SEQUENCE = "Sprakvan-Original-Sequence"
DLQ_DELIVERIES = "Sprakvan-Deliveries"
DLQ_CONSUMER = "Sprakvan-Consumer"


@dataclass(frozen=True)
class RetryPolicy:
    max_deliveries: int = 5
    backoff: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0)
    ack_wait: float = 60.0

    def delay_after(self, delivery: int) -> float:
        return self.backoff[min(delivery, len(self.backoff)) - 1] if self.backoff else 0.0


class InvalidEvent(Exception):
    """The message is not an event this consumer can read: retrying cannot help."""


class UnhandledType(InvalidEvent):
    """The durable asked for a type this process has no handler for: a newer replica of the service
    declared it (a rolling deploy) and will handle it. Sent back like a failure, so that a new replica
    gets it; dead-lettered only after the limit."""


def error_summary(error: BaseException) -> str:
    """What a dead letter or a log line may say about a failure: the type and, for validation errors,
    the locations and kinds of the problems. Never a value from the message."""
    cause = error.__cause__ if isinstance(error, InvalidEvent) and error.__cause__ else error
    if isinstance(cause, ValidationError):
        problems = ", ".join(
            f"{'.'.join(str(part) for part in e['loc']) or '(root)'}: {e['type']}" for e in cause.errors()[:10]
        )
        return f"{cause.error_count()} validation errors: {problems}"[:500]
    if isinstance(error, InvalidEvent):
        return str(error)[:500]  # our own messages, which never quote input
    return type(error).__name__


class IncompatibleServer(RuntimeError):
    """The NATS server does not keep what a durable consumer needs (multi-subject filters: 2.10+)."""


def subject_filters(config: ConsumerConfig) -> list[str]:
    """The subjects a durable reads, as the server reports them (one filter may come back either way)."""
    return sorted(config.filter_subjects or ([config.filter_subject] if config.filter_subject else []))


def require_filters(kept: ConsumerConfig, wanted: ConsumerConfig, *, server: str) -> None:
    """A server older than 2.10 ignores ``filter_subjects`` and would deliver every type of the stream,
    each then dead-lettered as unhandled: refuse to consume instead, saying why."""
    if subject_filters(kept) != sorted(wanted.filter_subjects or ()):
        log.error("nats_server_incompatible", consumer=wanted.durable_name, server_version=server)
        raise IncompatibleServer(
            f"NATS {server} did not keep the subject filters of {wanted.durable_name}: NATS 2.10 or later is needed"
        )


@dataclass
class EventConsumer:
    """What one service consumes from one source stream. Register handlers with ``on``; the service
    kit starts it. ``handler(conn, event)`` runs inside the gate's transaction: it should write the
    event's full state (an upsert), which makes it right whatever it missed before."""

    service: str
    source: StreamSpec
    handlers: dict[str, tuple[type[IntegrationEvent], Handler]] = field(default_factory=dict)
    batch_handler: BatchHandler | None = None

    def on(self, event_type: type[IntegrationEvent]) -> Callable[[Handler], Handler]:
        if stream_of_subject(event_type.subject_filter()) != self.source:
            raise ValueError(f"{event_type.EVENT_TYPE} is not published on {self.source.key}")
        if event_type.EVENT_TYPE in self.handlers:
            raise ValueError(f"{self.service} handles {event_type.EVENT_TYPE} twice on {self.source.key}")

        def register(handler: Handler) -> Handler:
            self.handlers[event_type.EVENT_TYPE] = (event_type, handler)
            return handler

        return register

    def on_batch(self, handler: BatchHandler) -> BatchHandler:
        """Optional: ``handler(conn, events)`` applies many events at once, in the same transaction and
        behind the same gate, as the per-event handlers would one after the other (each aggregate's
        events in stream order). When it raises, the transaction is rolled back and the events go
        through the per-event handlers, which say which event failed."""
        self.batch_handler = handler
        return handler

    @property
    def name(self) -> str:
        """The durable consumer's name (the gate's consumer key too)."""
        return f"{self.service}-{self.source.key.lower()}"

    @property
    def redrive_name(self) -> str:
        return f"{self.name}-redrive"

    def filter_subjects(self) -> list[str]:
        if not self.handlers:
            raise ValueError(f"{self.name} handles no event type")
        return sorted(cls.subject_filter() for cls, _ in self.handlers.values())


# How long a fetch waits for more once one message came: the server answers at once with what it has.
_TOP_UP_WAIT = 0.005


def _not_the_events(exc: Exception) -> bool:
    """A failure no event is to blame for: the database away or overloaded, or a transaction a handler
    left aborted (its own error swallowed)."""
    return is_outage(exc) or isinstance(exc, asyncpg.InFailedSQLTransactionError)


class _RollBack(Exception):
    """Leaves a batch's transaction (rolled back) when one event's handler raised."""


@dataclass(frozen=True)
class _Failure:
    group: int
    index: int
    error: Exception


@dataclass(frozen=True)
class _Delivery:
    msg: Msg
    relative_subject: str  # the event's own subject, also for a redrive
    aggregate_type: str
    aggregate_id: str
    deliveries: int


class ConsumerRunner:
    """Runs one ``EventConsumer`` (its main and its redrive durable) until stopped."""

    def __init__(
        self,
        consumer: EventConsumer,
        pool: asyncpg.Pool,
        nats: NatsClient,
        *,
        namespace: Namespace,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen dataclass
        batch_size: int = 64,
        parallel_aggregates: int = 4,
        fetch_timeout: float = 1.0,
        on_dead_letter: Callable[[str], None] | None = None,
    ) -> None:
        self.consumer = consumer
        self._pool = pool
        self._nc = nats
        self._js: JetStreamContext = nats.jetstream()
        self._ns = namespace
        self._retry = retry
        self._batch_size = batch_size
        self._parallel = asyncio.Semaphore(parallel_aggregates)
        self._fetch_timeout = fetch_timeout
        self._on_dead_letter = on_dead_letter
        self._stopping = asyncio.Event()
        self.applied = 0
        self.skipped = 0
        self.dead_lettered = 0

    # -- set-up ----------------------------------------------------------------------------------
    async def declare(self) -> None:
        """Create or update both durables. A new durable starts at the stream's first message, so a
        service that joins late reads the latest state of every aggregate."""
        c = self.consumer

        def config(durable: str, description: str, subjects: list[str]) -> ConsumerConfig:
            return ConsumerConfig(
                durable_name=durable,
                description=description,
                deliver_policy=DeliverPolicy.ALL,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=self._retry.ack_wait,
                max_deliver=-1,
                filter_subjects=[self._ns.subject(s) for s in subjects],
                max_ack_pending=self._batch_size * 16,
            )

        main = config(c.name, f"{c.service} reads {c.source.key}", c.filter_subjects())
        redrive = config(
            c.redrive_name,
            f"{c.service}: dead letters of {c.source.key} sent back by an operator",
            [redrive_subject(c.service, s) for s in c.filter_subjects()],
        )
        await self._declare_durable(self._ns.stream(c.source), main, from_start_on_change=True)
        # Redrives are an operator's, of types the service handled: a new type has none to catch up on.
        await self._declare_durable(self._ns.stream(DEAD_LETTER_STREAM), redrive, from_start_on_change=False)

    async def _declare_durable(self, stream: str, config: ConsumerConfig, *, from_start_on_change: bool) -> None:
        """Create the durable, or bring an existing one in line. When the types it reads changed (a
        release added a handler), the main durable starts again at the stream's first message: otherwise
        the events of the new type published before would never reach it. The gate skips what was
        applied already."""
        durable = str(config.durable_name)
        try:
            before = (await self._js.consumer_info(stream, durable)).config
        except NotFoundError:
            before = None
        changed = before is not None and subject_filters(before) != sorted(config.filter_subjects or ())
        if changed and from_start_on_change:
            log.info(
                "consumer_types_changed_reading_from_start",
                consumer=durable,
                before=subject_filters(before),
                after=sorted(config.filter_subjects or ()),
            )
            with contextlib.suppress(NotFoundError):  # another replica may have done it first
                await self._js.delete_consumer(stream, durable)
        try:
            info = await self._js.add_consumer(stream, config)  # creates, or updates the other settings
        except BadRequestError as exc:  # a setting the server cannot change in place: start afresh
            log.warning("consumer_recreated", consumer=durable, error=exc.description)
            with contextlib.suppress(NotFoundError):
                await self._js.delete_consumer(stream, durable)
            info = await self._js.add_consumer(stream, config)
        version = self._nc.connected_server_version
        require_filters(info.config, config, server=f"{version.major}.{version.minor}.{version.patch}")

    async def lag(self) -> int:
        """Messages not yet delivered to this consumer: what an operator watches."""
        info = await self._js.consumer_info(self._ns.stream(self.consumer.source), self.consumer.name)
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    # -- loop ------------------------------------------------------------------------------------
    async def run(self) -> None:
        await asyncio.gather(
            self._loop(self._ns.stream(self.consumer.source), self.consumer.name, redrive=False),
            self._loop(self._ns.stream(DEAD_LETTER_STREAM), self.consumer.redrive_name, redrive=True),
        )

    def stop(self) -> None:
        self._stopping.set()

    async def _loop(self, stream: str, durable: str, *, redrive: bool) -> None:
        subscription = None
        while not self._stopping.is_set():
            try:
                if subscription is None:
                    subscription = await self._js.pull_subscribe_bind(durable=durable, stream=stream)
                try:
                    batch = await self._fetch(subscription)
                except TimeoutError:  # nothing to fetch: nats-py raises its own or asyncio's, both TimeoutError
                    continue
                await self.handle_batch(batch, redrive=redrive)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # NATS or PostgreSQL away: wait, then carry on where the server left
                log.warning("consumer_retrying", consumer=durable, error=type(exc).__name__)
                if isinstance(exc, NotFoundError):
                    subscription = None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=1.0)

    async def _fetch(self, subscription: Any) -> list[Msg]:
        """Wait for one message, then take what else is there at once. nats-py's ``fetch(n)`` returns
        only when n messages came or its timeout ran out: at a trickle of events (200 registrations a
        second) that could hold the first one back for up to the whole timeout."""
        batch = await subscription.fetch(1, timeout=self._fetch_timeout)
        if self._batch_size > 1:
            with contextlib.suppress(TimeoutError):
                batch += await subscription.fetch(self._batch_size - 1, timeout=_TOP_UP_WAIT)
        return batch

    async def handle_batch(self, batch: Sequence[Msg], *, redrive: bool = False) -> None:
        groups: dict[tuple[str, str], list[_Delivery]] = defaultdict(list)
        for msg in batch:
            delivery = self._delivery(msg, redrive=redrive)
            if delivery is None:
                continue
            groups[(delivery.aggregate_type, delivery.aggregate_id)].append(delivery)
        # The batch's groups whose every message is a valid event go through one transaction; a group
        # with a message that is not (rare) goes the one-by-one way, which dead-letters or sends it back.
        together: list[list[tuple[_Delivery, IntegrationEvent, Handler]]] = []
        alone: list[list[_Delivery]] = []
        for group in groups.values():
            parsed = self._parse_group(group)
            if parsed is None:
                alone.append(group)
            else:
                together.append(parsed)
        alone.extend(await self._apply_together(together))
        await asyncio.gather(*(self._handle_group(group) for group in alone))

    def _parse_group(self, group: list[_Delivery]) -> list[tuple[_Delivery, IntegrationEvent, Handler]] | None:
        parsed = []
        for delivery in group:
            try:
                event, handler = self._parse(delivery)
            except InvalidEvent:
                return None
            parsed.append((delivery, event, handler))
        return parsed

    async def _apply_together(
        self, groups: list[list[tuple[_Delivery, IntegrationEvent, Handler]]]
    ) -> list[list[_Delivery]]:
        """Apply the groups' events in one transaction behind one gate statement (measured: one
        transaction per event cost about six round trips per event). When a handler raises, the
        transaction is rolled back, that event alone takes the one-by-one way's answer (sent back with
        the rest of its group, or dead-lettered after the limit) and the others are applied again in a
        new transaction: a rolled-back handler may run again, an event is never applied twice, out of
        its aggregate's order or past a tombstone (the gate is read again in each transaction). What
        cannot be put on one event (the database away, a deadlock) leaves the groups to the one-by-one
        way, returned here. Acks come after the COMMIT."""
        whole = self.consumer.batch_handler is not None
        while groups:
            try:
                outcome = await self._try_together(groups, whole=whole)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("consumer_batch_fell_back", consumer=self.consumer.name, error=type(exc).__name__)
                return [[d for d, _, _ in group] for group in groups]
            if outcome is None:  # the batch handler raised: again, one handler call per event
                whole = False
                continue
            if isinstance(outcome, _Failure):
                groups = await self._after_failure(groups, outcome)
                continue
            for delivery, event, applied in outcome:
                await self._committed(delivery, event, applied)
            return []
        return []

    async def _try_together(
        self, groups: list[list[tuple[_Delivery, IntegrationEvent, Handler]]], *, whole: bool = False
    ) -> list[tuple[_Delivery, IntegrationEvent, bool]] | _Failure | None:
        keys = sorted({(event.aggregate_type(), event.aggregate_id) for group in groups for _, event, _ in group})
        done: list[tuple[_Delivery, IntegrationEvent, bool]] = []
        failure: _Failure | None = None
        whole_failed = False
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                # One statement takes (or creates) every aggregate's row and locks them, in one order
                # for every replica: a replica or a redelivery racing this one waits, then sees it.
                rows = await conn.fetch(
                    """INSERT INTO consumed_aggregates (consumer, aggregate_type, aggregate_id, version)
                       SELECT $1, t, i, 0 FROM unnest($2::text[], $3::text[]) AS k(t, i) ORDER BY t, i
                       ON CONFLICT (consumer, aggregate_type, aggregate_id) DO UPDATE SET consumer = EXCLUDED.consumer
                       RETURNING aggregate_type, aggregate_id, version, tombstone""",
                    self.consumer.name,
                    [t for t, _ in keys],
                    [i for _, i in keys],
                )
                gate = {(r["aggregate_type"], r["aggregate_id"]): (r["version"], r["tombstone"]) for r in rows}
                changed: set[tuple[str, str]] = set()
                passed: list[IntegrationEvent] = []
                for g, group in enumerate(groups):
                    for e, (delivery, event, handler) in enumerate(group):
                        key = (event.aggregate_type(), event.aggregate_id)
                        version, tombstone = gate[key]
                        if tombstone or event.version <= version:
                            done.append((delivery, event, False))
                            continue
                        if whole:
                            passed.append(event)
                        else:
                            bind_correlation_id(event.correlation_id)
                            try:
                                await handler(conn, event)
                            except asyncio.CancelledError:
                                raise
                            except Exception as exc:
                                if _not_the_events(exc):
                                    raise  # the one-by-one way, for every group
                                failure = _Failure(g, e, exc)
                                raise _RollBack from exc
                        gate[key] = (event.version, event.TOMBSTONE)
                        changed.add(key)
                        done.append((delivery, event, True))
                if passed:
                    assert self.consumer.batch_handler is not None
                    try:
                        await self.consumer.batch_handler(conn, passed)
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:
                        if _not_the_events(exc):
                            raise
                        log.warning(
                            "consumer_batch_handler_failed", consumer=self.consumer.name, error=type(exc).__name__
                        )
                        whole_failed = True
                        raise _RollBack from exc
                if changed:
                    ordered = sorted(changed)
                    await conn.execute(
                        """UPDATE consumed_aggregates AS c SET version = k.v, tombstone = k.ts, updated_at = now()
                           FROM unnest($2::text[], $3::text[], $4::bigint[], $5::boolean[]) AS k(t, i, v, ts)
                           WHERE c.consumer = $1 AND c.aggregate_type = k.t AND c.aggregate_id = k.i""",
                        self.consumer.name,
                        [t for t, _ in ordered],
                        [i for _, i in ordered],
                        [gate[k][0] for k in ordered],
                        [gate[k][1] for k in ordered],
                    )
        except _RollBack:
            if whole_failed:
                return None
            assert failure is not None
            return failure
        return done

    async def _after_failure(
        self, groups: list[list[tuple[_Delivery, IntegrationEvent, Handler]]], failure: _Failure
    ) -> list[list[tuple[_Delivery, IntegrationEvent, Handler]]]:
        """The failed event gets the answer of the one-by-one way (this delivery's one attempt); what is
        left to apply again: every other group, and of the failed one what came before it, and what came
        after it only when it was dead-lettered (sent back, it takes the rest of its group with it)."""
        group = groups[failure.group]
        delivery, event, _ = group[failure.index]
        bound = log.bind(
            consumer=self.consumer.name, event_id=str(event.event_id), event_type=event.type, version=event.version
        )
        bind_correlation_id(event.correlation_id)
        rest = groups[: failure.group] + groups[failure.group + 1 :]
        before, after = group[: failure.index], group[failure.index + 1 :]
        if await self._failed(delivery, event, failure.error, bound):
            kept = before + after
        else:
            delay = self._retry.delay_after(delivery.deliveries)
            for later, _, _ in after:
                await later.msg.nak(delay=delay)
            kept = before
        return rest + [kept] if kept else rest

    def _delivery(self, msg: Msg, *, redrive: bool) -> _Delivery | None:
        relative = self._ns.relative(msg.subject)
        if redrive:
            relative = relative.split(".", 2)[2]  # redrive.<service>.<original subject>
        deliveries = msg.metadata.num_delivered or 1
        try:
            _producer, aggregate_type, aggregate_id, _action = parse_subject(relative)
        except ValueError:
            aggregate_type, aggregate_id = "?", relative  # dead-lettered as invalid in its own group
        return _Delivery(msg, relative, aggregate_type, aggregate_id, deliveries)

    async def _handle_group(self, group: list[_Delivery]) -> None:
        async with self._parallel:
            for index, delivery in enumerate(group):
                if not await self._handle_one(delivery):
                    # Keep the aggregate's order: what came after the failure goes back with it.
                    delay = self._retry.delay_after(delivery.deliveries)
                    for later in group[index + 1 :]:
                        await later.msg.nak(delay=delay)
                    return

    async def _handle_one(self, d: _Delivery) -> bool:
        """Apply, skip or dead-letter one message; False when it was sent back for a retry."""
        try:
            event, handler = self._parse(d)
        except InvalidEvent as exc:
            if isinstance(exc, UnhandledType) and d.deliveries < self._retry.max_deliveries:
                delay = self._retry.delay_after(d.deliveries)
                log.warning("event_type_unhandled_will_retry", consumer=self.consumer.name, error=str(exc))
                await d.msg.nak(delay=delay)
                return False
            log.error("event_invalid", consumer=self.consumer.name, error=error_summary(exc))
            await self._dead_letter(d, exc)
            await d.msg.ack()
            return True
        bind_correlation_id(event.correlation_id)
        bound = log.bind(
            consumer=self.consumer.name, event_id=str(event.event_id), event_type=event.type, version=event.version
        )
        try:
            applied = await self._apply(event, handler)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return await self._failed(d, event, exc, bound)
        await self._committed(d, event, applied)
        bound.debug("event_handled" if applied else "event_skipped", deliveries=d.deliveries)
        return True

    async def _committed(self, d: _Delivery, event: IntegrationEvent, applied: bool) -> None:
        """After the COMMIT: the counts, the ack, and after an erasure this service's dead letters of it go.
        Counted before the ack: once the server has the ack, the consumer shows no lag, and a reader of the
        counts then (a test, a scrape) saw the last event missing from them."""
        if applied:
            self.applied += 1
        else:
            self.skipped += 1
        await d.msg.ack()
        if applied and event.TOMBSTONE:
            await self._purge_own_dead_letters(event)

    def _parse(self, d: _Delivery) -> tuple[IntegrationEvent, Handler]:
        try:
            _producer, aggregate_type, aggregate_id, action = parse_subject(d.relative_subject)
        except ValueError as exc:
            raise InvalidEvent("not an event subject") from exc
        found = self.consumer.handlers.get(f"{aggregate_type}.{action}")
        if found is None:
            raise UnhandledType(f"no handler for subject type {aggregate_type}.{action}")
        event_type, handler = found
        try:
            event = event_type.model_validate_json(d.msg.data)
        except ValidationError as exc:
            raise InvalidEvent("invalid event") from exc
        if event.aggregate_id != aggregate_id or event.type != event_type.EVENT_TYPE:
            raise InvalidEvent("the envelope does not match its subject")
        return event, handler

    async def _apply(self, event: IntegrationEvent, handler: Handler) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            # One statement takes (or creates) the aggregate's row and locks it: two replicas, or a
            # redelivery racing the original, wait here and then see what the first one applied.
            row = await conn.fetchrow(
                """INSERT INTO consumed_aggregates (consumer, aggregate_type, aggregate_id, version)
                   VALUES ($1, $2, $3, 0)
                   ON CONFLICT (consumer, aggregate_type, aggregate_id) DO UPDATE SET consumer = EXCLUDED.consumer
                   RETURNING version, tombstone""",
                self.consumer.name,
                event.aggregate_type(),
                event.aggregate_id,
            )
            if row["tombstone"] or event.version <= row["version"]:
                return False
            await handler(conn, event)
            await conn.execute(
                """UPDATE consumed_aggregates SET version = $4, tombstone = $5, updated_at = now()
                   WHERE consumer = $1 AND aggregate_type = $2 AND aggregate_id = $3""",
                self.consumer.name,
                event.aggregate_type(),
                event.aggregate_id,
                event.version,
                event.TOMBSTONE,
            )
            return True

    async def _failed(self, d: _Delivery, event: IntegrationEvent, exc: Exception, bound: Any) -> bool:
        summary = error_summary(exc)
        if d.deliveries >= self._retry.max_deliveries and not event.TOMBSTONE:
            bound.error("event_dead_lettered", deliveries=d.deliveries, error=summary)
            await self._dead_letter(d, exc)
            await d.msg.ack()
            return True
        delay = self._retry.delay_after(d.deliveries)
        if event.TOMBSTONE and d.deliveries >= self._retry.max_deliveries:
            # An erasure is never given up on; it stays visible as an error and as consumer lag.
            bound.error("tombstone_failing_will_retry", deliveries=d.deliveries, retry_in=delay, error=summary)
        else:
            bound.warning("event_failed_will_retry", deliveries=d.deliveries, retry_in=delay, error=summary)
        await d.msg.nak(delay=delay)
        return False

    async def _dead_letter(self, d: _Delivery, error: BaseException) -> None:
        metadata = d.msg.metadata
        source_stream, sequence = metadata.stream, metadata.sequence.stream
        await self._js.publish(
            self._ns.subject(dead_letter_subject(self.consumer.service, d.relative_subject)),
            d.msg.data,
            stream=self._ns.stream(DEAD_LETTER_STREAM),
            headers={
                # Idempotent: a crash between this publish and the ack does not dead-letter twice.
                HEADER_MSG_ID: f"{self.consumer.name}.{source_stream}.{sequence}",
                DLQ_ERROR: error_summary(error),
                DLQ_ERROR_TYPE: type(error).__name__,
                DLQ_ORIGINAL_SUBJECT: d.relative_subject,
                DLQ_ORIGINAL_SEQUENCE: str(sequence),
                DLQ_DELIVERIES: str(d.deliveries),
                DLQ_CONSUMER: self.consumer.name,
            },
        )
        self.dead_lettered += 1
        if self._on_dead_letter is not None:
            self._on_dead_letter(self.consumer.name)

    async def _purge_own_dead_letters(self, tombstone: IntegrationEvent) -> None:
        """After an erasure: nothing of the aggregate stays in this service's dead letters."""
        aggregate = tombstone.aggregate_subjects(tombstone.aggregate_id)
        for relative in (
            dead_letter_subject(self.consumer.service, aggregate),
            redrive_subject(self.consumer.service, aggregate),
        ):
            try:
                await self._js.purge_stream(self._ns.stream(DEAD_LETTER_STREAM), subject=self._ns.subject(relative))
            except Exception as exc:  # the producer's relay purges them too
                log.warning("dead_letter_purge_failed", consumer=self.consumer.name, error=type(exc).__name__)
