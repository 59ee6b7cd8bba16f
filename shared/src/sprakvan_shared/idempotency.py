"""``Idempotency-Key`` for every POST of every service, in one place.

How it works (``IdempotencyMiddleware``, installed by ``http.install``):

- A POST with an ``Idempotency-Key`` header (1-200 visible ASCII characters) is looked up in
  ``idempotent_requests`` under the caller's organisation (keys are scoped per organisation: the same key
  in two organisations is two requests).
- Not seen before: the request runs with a *claim*. The service layer's ``db.transaction`` records the
  claim in the same transaction as the change, so the key exists exactly when the change does. The
  response (status, body, ``Location``/``ETag``) is stored before it is sent.
- Seen with the same method, path and body: the ORIGINAL response is returned again (same status, same
  body, even if the resource changed since), with ``Idempotent-Replayed: true``. Nothing runs twice.
- Seen with another request: 422 naming the header. Still running (a concurrent retry): wait up to a few
  seconds for its response, else 409 with ``Retry-After``. A record is visible only once its transaction
  committed, so one still without a response a minute later was saved and its response lost (the process
  died, or the connection went, between the commit and the response): 409 ``response_lost`` with the
  ``resource_id`` it concerned, and no ``Retry-After``: sending it again would never run it.
- A response that holds a secret shown only once (a calendar feed's URL: its token is kept only as a hash)
  is not stored: the handler calls ``response_shown_once()``, and a replay answers 409
  ``response_shown_once`` with the ``resource_id`` instead of the secret.
- The resource it concerned was erased (GDPR): 410. The record then keeps only ids: its response
  (names, contacts) is deleted with the person (``forget_resource``).
- Keys expire ``IDEMPOTENCY_TTL_HOURS`` (default 24 h) after first use; then the key may be used anew.

A handler takes part by opening its transaction on the service's pool, ``db.transaction(pool)`` or
``conn.transaction()`` (the pool's connections claim in every top-level read-write transaction,
``db.Connection``), and, when the request concerns one aggregate, calling ``bind_resource(id)`` first
(so that erasure finds its keys). A POST that writes without a transaction is still recorded, after its
response (logged as ``idempotency_key_recorded_after_commit``: a crash in that moment lets a retry run
again, and two concurrent retries both run). A POST without the header is not deduplicated.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
import re
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .db import acquire_clean

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
DEFAULT_TTL = timedelta(hours=24)
_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
_STORED_HEADERS = (b"content-type", b"location", b"etag")
_WAIT_FOR_RUNNING = 5.0  # seconds a retry waits for the first request's response
_LOST_AFTER = timedelta(minutes=1)  # a committed request still without its response this long after: lost
_PRUNE_PROBABILITY = 0.01

log = structlog.get_logger(__name__)


class ConcurrentDuplicate(Exception):
    """Another request with the same key committed first; this one was rolled back."""


@dataclass
class Claim:
    organisation_id: str
    key: str
    fingerprint: str
    ttl: timedelta
    resource_id: str | None = None
    claimed: bool = False
    finished: bool = False  # the response is sent: work the request left behind (a task) claims nothing
    shown_once: bool = False  # the response holds a secret: its body is never stored


_current: ContextVar[Claim | None] = ContextVar("idempotency_claim", default=None)


def active() -> bool:
    """Whether this request carries an Idempotency-Key that is not recorded yet."""
    claim = _current.get()
    return claim is not None and not claim.claimed and not claim.finished


def bind_resource(resource_id: object) -> None:
    """Name the aggregate this request concerns (for erasure); a no-op without a key."""
    claim = _current.get()
    if claim is not None:
        claim.resource_id = str(resource_id)


def response_shown_once() -> None:
    """This request's response holds a secret shown only once: keep its status, never its body (a replay
    answers 409 ``response_shown_once``); a no-op without a key."""
    claim = _current.get()
    if claim is not None:
        claim.shown_once = True


async def claim_in(conn: asyncpg.Connection) -> None:
    """Record the current claim inside the caller's transaction; ``ConcurrentDuplicate`` if another request
    with the same key got there first (the caller's transaction must then roll back)."""
    claim = _current.get()
    if claim is None or claim.claimed or claim.finished:
        return
    if random.random() < _PRUNE_PROBABILITY:
        await prune(conn)
    row = await conn.fetchval(
        """INSERT INTO idempotent_requests (organisation_id, key, request_hash, resource_id, expires_at)
           VALUES ($1, $2, $3, $4, now() + $5::interval)
           ON CONFLICT (organisation_id, key) DO UPDATE
               SET request_hash = EXCLUDED.request_hash, resource_id = EXCLUDED.resource_id,
                   status_code = NULL, response_headers = NULL, response_body = NULL, gone = false,
                   created_at = now(), expires_at = EXCLUDED.expires_at
               WHERE idempotent_requests.expires_at <= now()
           RETURNING 1""",
        claim.organisation_id,
        claim.key,
        claim.fingerprint,
        claim.resource_id,
        claim.ttl,
    )
    if row is None:
        raise ConcurrentDuplicate(claim.key)
    claim.claimed = True


async def forget_resource(conn: asyncpg.Connection, organisation_id: str, resource_id: object) -> None:
    """Erasure: the keys that concerned ``resource_id`` keep answering 410 until they expire, but their
    stored responses and request hashes are deleted."""
    await conn.execute(
        """UPDATE idempotent_requests
           SET gone = true, request_hash = NULL, response_headers = NULL, response_body = NULL
           WHERE organisation_id = $1 AND resource_id = $2""",
        organisation_id,
        str(resource_id),
    )


async def prune(conn: asyncpg.Connection | asyncpg.Pool, *, limit: int = 1000) -> int:
    """Delete up to ``limit`` expired records; return how many (the runtime also prunes hourly)."""
    status = await conn.execute(
        """DELETE FROM idempotent_requests WHERE ctid = ANY (ARRAY(
               SELECT ctid FROM idempotent_requests WHERE expires_at <= now() LIMIT $1))""",
        limit,
    )
    return int(status.split()[-1])


@dataclass(frozen=True)
class _Record:
    request_hash: str | None
    status_code: int | None
    headers: list[tuple[bytes, bytes]]
    body: bytes
    gone: bool
    resource_id: str | None
    lost: bool  # claimed (so committed) over _LOST_AFTER ago and still no response
    shown_once: bool  # answered, but its body (a secret) was not kept


async def _lookup(pool: asyncpg.Pool, organisation_id: str, key: str, ttl: timedelta) -> _Record | None:
    async with acquire_clean(pool) as conn:  # one statement: no reset round trip
        row = await conn.fetchrow(
            """SELECT request_hash, status_code, response_headers, response_body, gone, resource_id,
                      expires_at - $3::interval < now() - $4::interval AS old
               FROM idempotent_requests
               WHERE organisation_id = $1 AND key = $2 AND expires_at > now()""",
            organisation_id,
            key,
            ttl,
            _LOST_AFTER,
        )
    if row is None:
        return None
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (row["response_headers"] or [])]
    return _Record(
        row["request_hash"],
        row["status_code"],
        headers,
        bytes(row["response_body"] or b""),
        row["gone"],
        row["resource_id"],
        lost=row["old"] and row["status_code"] is None,
        shown_once=row["status_code"] is not None and row["response_body"] is None,
    )


async def _store(
    pool: asyncpg.Pool, claim: Claim, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    kept = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in headers if k.lower() in _STORED_HEADERS]
    async with acquire_clean(pool) as conn:
        await conn.execute(
            # resource_id too: a handler may learn it (bind_resource) only after the claim, as it made the row.
            """UPDATE idempotent_requests SET status_code = $3, response_headers = $4, response_body = $5,
                                              resource_id = coalesce(resource_id, $6)
               WHERE organisation_id = $1 AND key = $2 AND NOT gone""",
            claim.organisation_id,
            claim.key,
            status,
            kept,
            None if claim.shown_once else body,
            claim.resource_id,
        )


async def _record_after(
    pool: asyncpg.Pool, claim: Claim, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    kept = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in headers if k.lower() in _STORED_HEADERS]
    async with acquire_clean(pool) as conn:
        await conn.execute(
            """INSERT INTO idempotent_requests (organisation_id, key, request_hash, resource_id, status_code,
                                                response_headers, response_body, expires_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, now() + $8::interval)
               ON CONFLICT DO NOTHING""",
            claim.organisation_id,
            claim.key,
            claim.fingerprint,
            claim.resource_id,
            status,
            kept,
            None if claim.shown_once else body,
            claim.ttl,
        )


def _json_response(status: int, detail: object, headers: list[tuple[bytes, bytes]] = ()) -> tuple[int, list, bytes]:  # type: ignore[assignment]
    return status, [(b"content-type", b"application/json"), *headers], json.dumps({"detail": detail}).encode()


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers = [h for h in headers if h[0].lower() != b"content-length"]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, *, ttl: timedelta = DEFAULT_TTL) -> None:
        self.app = app
        self.ttl = ttl

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        raw_key = next((v for k, v in scope["headers"] if k == b"idempotency-key"), None)
        if raw_key is None:
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1")
        if not _KEY.match(key):
            await _send(send, *_invalid_key("must be 1 to 200 visible ASCII characters"))
            return
        principal = await _principal(scope)
        if principal is None:  # no valid token: the route answers 401 as usual
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        fingerprint = hashlib.sha256(
            b"\0".join([scope["method"].encode(), scope["path"].encode(), scope.get("query_string", b""), body])
        ).hexdigest()
        pool = scope["app"].state.runtime.pool
        # A record without a response yet: its request is running (or just committed); wait for it.
        if await self._answer_from_record(pool, principal.organisation_id, key, fingerprint, send):
            return
        claim = Claim(principal.organisation_id, key, fingerprint, self.ttl)
        token = _current.set(claim)
        try:
            await self._run(scope, _replay_body(body), send, pool, claim)
        except ConcurrentDuplicate:
            if not await self._answer_from_record(pool, principal.organisation_id, key, fingerprint, send):
                raise
        finally:
            claim.finished = True  # a task started by the request keeps this context, not the claim
            _current.reset(token)

    async def _run(self, scope: Scope, receive: Receive, send: Send, pool: asyncpg.Pool, claim: Claim) -> None:
        start: Message | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            status, headers = start["status"], list(start.get("headers", []))
            if claim.claimed and status < 500:
                try:
                    await _store(pool, claim, status, headers, body)
                except Exception as exc:  # the change is committed: still answer; a retry gets 409
                    log.warning("idempotent_response_not_stored", error=type(exc).__name__)
            elif not claim.claimed and 200 <= status < 300:
                # The route wrote without db.transaction: record after the fact, so that a retry still gets
                # this response (not atomic with the change: a crash in between lets a retry run again).
                log.warning("idempotency_key_recorded_after_commit", path=scope["path"])
                try:
                    await _record_after(pool, claim, status, headers, body)
                except Exception as exc:
                    log.warning("idempotent_response_not_stored", error=type(exc).__name__)
            await send(start)
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, capture)

    async def _answer_from_record(
        self, pool: asyncpg.Pool, organisation_id: str, key: str, fingerprint: str, send: Send
    ) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _WAIT_FOR_RUNNING
        while True:
            record = await _lookup(pool, organisation_id, key, self.ttl)
            if record is None:
                return False
            if record.gone:
                await _send(send, *_json_response(410, "what this Idempotency-Key created or changed was erased"))
                return True
            if record.request_hash is not None and record.request_hash != fingerprint:
                await _send(send, *_invalid_key("this key was already used for a different request"))
                return True
            if record.shown_once:
                await _send_done_without_response(
                    send,
                    "response_shown_once",
                    "the request with this Idempotency-Key was done; its response held a secret that is shown "
                    "only once: read what it concerned, or replace it",
                    record.resource_id,
                )
                return True
            if record.status_code is not None:
                await _send(
                    send,
                    record.status_code,
                    [*record.headers, (REPLAYED_HEADER.lower().encode(), b"true")],
                    record.body,
                )
                return True
            if record.lost:
                await _send_done_without_response(
                    send,
                    "response_lost",
                    "the request with this Idempotency-Key was saved, but its response was lost; do not send it "
                    "again: read what it concerned",
                    record.resource_id,
                )
                return True
            if loop.time() >= deadline:
                await _send(
                    send,
                    *_json_response(
                        409,
                        "a request with this Idempotency-Key is still running (or its response was lost); retry later",
                        [(b"retry-after", b"1")],
                    ),
                )
                return True
            await asyncio.sleep(0.05)


async def _send_done_without_response(send: Send, code: str, detail: str, resource_id: str | None) -> None:
    """409 for a request that was done but whose response cannot be given again: what it concerned instead."""
    body = {"detail": detail, "code": code, "resource_id": resource_id}
    await _send(send, 409, [(b"content-type", b"application/json")], json.dumps(body).encode())


def _invalid_key(message: str) -> tuple[int, list, bytes]:
    return _json_response(422, [{"loc": ["header", HEADER], "msg": message, "type": "value_error"}])


async def _principal(scope: Scope) -> Any:
    from .auth import InvalidToken

    authorization = next((v for k, v in scope["headers"] if k == b"authorization"), b"").decode("latin-1")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    with contextlib.suppress(InvalidToken):
        return await scope["app"].state.token_verifier.verify(token.strip())
    return None


async def read_body(receive: Receive) -> bytes:
    """The whole request body from ASGI ``receive`` (the middlewares that must see it before the app)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay_body(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # like a client that keeps the connection open
        return {"type": "http.disconnect"}

    return receive
