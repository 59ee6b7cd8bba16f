"""JetStream publishing by the batch, for the outbox relay: every message of a batch is published with a
reply subject of its own (``<inbox>.<batch>.<index>``), and one subscription of the client takes in the
acknowledgements and writes each into its batch's list of outcomes.

Why not ``js.publish_async``: it makes, per message, a future, a NUID token, a semaphore turn, a done
callback and a ``PubAck`` dataclass, which is half of its cost (``bench/intake.py``, phase 2: about 25 µs a
message here against 12 µs this way). The relay needs none of them: it wants, per batch, which messages
were acknowledged and why the others were not. Only nats-py's public client API is used (``new_inbox``,
``subscribe``, ``publish``); the subscription is resubscribed by the client after a reconnect.

What an acknowledgement means is JetStream's, as ``publish_async`` reads it: a reply with a 503 status is
``NoStreamResponseError`` (no stream captures the subject), a reply with an ``error`` is the ``APIError``
it describes, any other reply is the stored message's acknowledgement.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from typing import TYPE_CHECKING

import nats.js.errors
from nats.js.api import Header

if TYPE_CHECKING:
    from nats.aio.client import Client as NatsClient
    from nats.aio.msg import Msg

_NO_RESPONDERS = "503"
_ERROR_KEY = b'"error"'


class _Pending:
    """An outcome not yet known."""


PENDING = _Pending()
Outcome = BaseException | None  # None: acknowledged


class PublishedBatch:
    """The outcomes of one batch's messages, by position: ``PENDING`` until its acknowledgement (None) or
    its failure (the exception) is known."""

    def __init__(self, publisher: BatchPublisher, token: str, size: int) -> None:
        self._publisher = publisher
        self.reply_prefix = f"{publisher.inbox}.{token}."
        self._token = token
        self.outcomes: list[Outcome | _Pending] = [PENDING] * size
        self._pending = size
        self._all_known = asyncio.get_running_loop().create_future()
        if not size:
            self._all_known.set_result(None)

    def settle(self, index: int, outcome: Outcome) -> None:
        """Record a message's outcome; the first one known counts (a late duplicate reply does not)."""
        if not 0 <= index < len(self.outcomes) or self.outcomes[index] is not PENDING:
            return
        self.outcomes[index] = outcome
        self._pending -= 1
        if not self._pending and not self._all_known.done():
            self._all_known.set_result(None)

    async def wait(self, timeout: float) -> list[Outcome]:
        """Every message's outcome once all are known or ``timeout`` has passed; an acknowledgement still
        missing then is a ``TimeoutError``. The batch takes no more replies afterwards."""
        if self._pending:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._all_known), timeout)
        self.close()
        missing = TimeoutError(f"no acknowledgement within {timeout}s")
        return [missing if isinstance(o, _Pending) else o for o in self.outcomes]

    def close(self) -> None:
        """Take no more replies (the batch is finished or abandoned)."""
        self._publisher.forget(self._token)


class BatchPublisher:
    """Publishes batches to JetStream on one NATS client; ``start()`` subscribes to their replies."""

    def __init__(self, nc: NatsClient) -> None:
        self._nc = nc
        self.inbox = nc.new_inbox()
        self._batches: dict[str, PublishedBatch] = {}
        self._tokens = itertools.count(1)
        self._subscription: object | None = None

    async def start(self) -> None:
        if self._subscription is None:
            # No pending limit of note: a batch's replies come in at most a batch at a time.
            self._subscription = await self._nc.subscribe(f"{self.inbox}.*.*", cb=self._on_reply)

    async def stop(self) -> None:
        subscription, self._subscription = self._subscription, None
        if subscription is not None and not self._nc.is_closed:
            await subscription.unsubscribe()  # type: ignore[attr-defined]
        self._batches.clear()

    def batch(self, size: int) -> PublishedBatch:
        token = str(next(self._tokens))
        batch = self._batches[token] = PublishedBatch(self, token, size)
        return batch

    def forget(self, token: str) -> None:
        self._batches.pop(token, None)

    async def publish(
        self, batch: PublishedBatch, index: int, subject: str, body: bytes, headers: dict[str, str]
    ) -> None:
        """Put one message of ``batch`` on the wire; a failure to do so (too large, no connection) is
        that message's outcome."""
        try:
            await self._nc.publish(subject, body, reply=batch.reply_prefix + str(index), headers=headers)
        except Exception as exc:  # this message fails, not the batch
            batch.settle(index, exc)

    async def _on_reply(self, msg: Msg) -> None:
        token, _, index = msg.subject[len(self.inbox) + 1 :].partition(".")
        batch = self._batches.get(token)
        if batch is None or not index.isdigit():
            return  # a batch finished or abandoned already: its late replies change nothing
        batch.settle(int(index), _outcome_of(msg))


def _outcome_of(msg: Msg) -> Outcome:
    if msg.headers and msg.headers.get(Header.STATUS) == _NO_RESPONDERS:
        return nats.js.errors.NoStreamResponseError()
    data = msg.data
    if _ERROR_KEY in data:  # the quotes make it a key or a value: a stream named "error" is read in full
        try:
            reply = json.loads(data)
        except ValueError:
            return nats.js.errors.Error(f"unreadable acknowledgement: {data[:100]!r}")
        if isinstance(reply, dict) and "error" in reply:
            return _api_error(reply["error"])
    return None


def _api_error(error: object) -> BaseException:
    """JetStream's error as nats-py's exception for it (``from_error`` raises it, not returns it: in
    ``publish_async``'s reply handler that leaves the future unresolved until its timeout)."""
    try:
        nats.js.errors.APIError.from_error(error)  # type: ignore[arg-type]
    except nats.js.errors.Error as exc:
        return exc
    except Exception:  # noqa: BLE001, S110 - an error of a shape nats-py does not know: described below
        pass
    return nats.js.errors.Error(f"JetStream refused the message: {str(error)[:200]}")
