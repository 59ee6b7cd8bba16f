"""Transactional outbox: ``enqueue`` writes events in the caller's transaction, so a change and the
events announcing it commit together or not at all; ``insert_after`` does the same in one statement.
``relay.OutboxRelay`` (re-exported here) publishes the committed rows to JetStream.

``outbox_status`` and ``unpark`` are for operators and metrics: the backlog, the age of its oldest row,
the rows parked after failing to publish, and giving those new attempts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import asyncpg

from .contracts.envelope import IntegrationEvent
from .relay import DEFAULT, NOTIFY_CHANNEL, LostLeadership, OutboxRelay, PublishedHook, PublishFailed

__all__ = [
    "DEFAULT",
    "NOTIFY_CHANNEL",
    "OUTBOX_COLUMNS",
    "LostLeadership",
    "OutboxRelay",
    "OutboxStatus",
    "PublishFailed",
    "PublishedHook",
    "enqueue",
    "insert_after",
    "insert_after_changes",
    "insert_many_after",
    "outbox_row",
    "outbox_status",
    "unpark",
]

OUTBOX_COLUMNS = "event_id, subject, event_type, organisation_id, aggregate_id, correlation_id, body, purges"
_COLUMN_COUNT = len(OUTBOX_COLUMNS.split(","))
_COLUMN_TYPES = ("uuid", "text", "text", "text", "uuid", "text", "bytea", "text")  # as OUTBOX_COLUMNS


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


# Wake the relay (LISTEN/NOTIFY) only when no row waits but those this statement adds, which it does not see
# (one snapshot): rows waiting mean the relay is at work and looks again after its linger (relay.py), and
# every notifying transaction takes a global lock at commit, so a NOTIFY per change would serialise the
# commits of every writer of the database (half the commits per second, measured). A row retried later or
# parked does not count as waiting. The rows of earlier statements of the same transaction do: the first of
# them notified. In the statement itself, not in a trigger: an insert trigger (migrations 0002-0005) cost
# about a tenth of the inserts per second (``shared/migrations/0006``). The notification is sent at commit,
# only if it commits; any other writer of the outbox is found by the relay's poll, a second later at most.
_WAKE = f"""SELECT pg_notify('{NOTIFY_CHANNEL}', '') WHERE NOT EXISTS (
    SELECT 1 FROM outbox WHERE published_at IS NULL AND parked_at IS NULL
       AND (next_attempt_at IS NULL OR next_attempt_at <= now()))"""


def insert_after(change_sql: str, change_params: int) -> str:
    """One statement that makes a change and adds one event to the outbox: ``change_sql`` (an INSERT or
    UPDATE with parameters $1..$change_params) becomes a data-modifying CTE, the outbox row takes the
    next ``len(OUTBOX_COLUMNS)`` parameters. A single statement is atomic without BEGIN/COMMIT: one round trip instead
    of four, for the most common write, a change announced by one event."""
    return insert_after_changes({"change": change_sql}, change_params)


def insert_after_changes(changes: Mapping[str, str], change_params: int) -> str:
    """``insert_after`` with several changes, each a data-modifying CTE of the given name, all with
    parameters $1..$change_params."""
    ctes = [f"{name} AS ({sql})" for name, sql in changes.items()]
    return _announcing(ctes, first_param=change_params + 1)


def insert_many_after(change_sql: str, change_params: int) -> str:
    """``insert_after`` for any number of changes, each with one event (``coalesce.CoalescedStatement``):
    ``change_sql`` takes each of $1..$change_params as an array, a column's values in row order (``unnest``),
    and the outbox rows come in the next ``len(OUTBOX_COLUMNS)`` arrays, as ``outbox_row`` gives them."""
    arrays = ", ".join(f"${change_params + 1 + i}::{kind}[]" for i, kind in enumerate(_COLUMN_TYPES))
    added = f"announced AS (INSERT INTO outbox ({OUTBOX_COLUMNS}) SELECT * FROM unnest({arrays}))"
    return f"WITH change AS ({change_sql}), {added} {_WAKE}"


def _announcing(ctes: list[str], first_param: int) -> str:
    placeholders = ", ".join(f"${first_param + i}" for i in range(_COLUMN_COUNT))
    added = f"announced AS (INSERT INTO outbox ({OUTBOX_COLUMNS}) VALUES ({placeholders}))"
    return f"WITH {', '.join([*ctes, added])} {_WAKE}"


_INSERT = _announcing([], first_param=1)


async def enqueue(conn: asyncpg.Connection, *events: IntegrationEvent) -> None:
    """Add events to the outbox. Call inside the transaction that makes the change they announce."""
    if not conn.is_in_transaction():
        raise RuntimeError("outbox.enqueue must run inside the transaction of the change")
    rows = [outbox_row(event) for event in events]
    # Each insert wakes the relay if nothing waited before it (_WAKE): a second one finds the first waiting.
    if len(rows) == 1:
        await conn.execute(_INSERT, *rows[0])  # one round trip; executemany costs more for one row
    else:
        await conn.executemany(_INSERT, rows)


@dataclass(frozen=True)
class OutboxStatus:
    backlog: int  # unpublished rows the relay still works on
    oldest_unpublished_age: float  # seconds; 0 without backlog
    parked: int


async def outbox_status(conn: asyncpg.Connection | asyncpg.Pool) -> OutboxStatus:
    row = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE parked_at IS NULL) AS backlog,
                  coalesce(extract(epoch FROM now() - min(created_at) FILTER (WHERE parked_at IS NULL)), 0) AS age,
                  count(*) FILTER (WHERE parked_at IS NOT NULL) AS parked
             FROM outbox WHERE published_at IS NULL"""
    )
    return OutboxStatus(row["backlog"], float(row["age"]), row["parked"])


async def unpark(conn: asyncpg.Connection | asyncpg.Pool, event_ids: Sequence[object] | None = None) -> int:
    """Give parked rows (all, or these event ids) a fresh set of attempts, e.g. after adding a stream."""
    status = await conn.execute(
        """UPDATE outbox SET parked_at = NULL, attempts = 0, next_attempt_at = NULL
            WHERE parked_at IS NOT NULL AND published_at IS NULL AND ($1::uuid[] IS NULL OR event_id = ANY($1))""",
        None if event_ids is None else list(event_ids),
    )
    return int(status.split()[-1])
