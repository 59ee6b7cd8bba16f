"""The replay's stream reader on real NATS: everything the stream held, once, even when the rebuild
falls behind (nats-py drops what exceeds a subscription's pending limits, silently for the ordered
consumer)."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from reporting_events import participant_state, registered

from sprakvan_reporting.service_layer.replay import READ_STREAMS, stream_messages
from sprakvan_shared.contracts.subjects import HEADER_MSG_ID
from sprakvan_shared.messaging import ensure_streams

pytestmark = pytest.mark.infra


async def test_a_slow_rebuild_still_reads_every_message(nc, ns):
    js = nc.jetstream()
    await ensure_streams(js, READ_STREAMS, ns)
    events = [registered(participant_state(date(2019, 1, 1))) for _ in range(20_000)]
    for start in range(0, len(events), 2000):
        futures = [
            await js.publish_async(
                ns.subject(e.subject), e.model_dump_json().encode(), headers={HEADER_MSG_ID: str(e.event_id)}
            )
            for e in events[start : start + 2000]
        ]
        await asyncio.gather(*futures)

    seen = []
    async for subject, _data in stream_messages(js, ns, READ_STREAMS, chunk=100):
        if not seen:
            await asyncio.sleep(1.0)  # fall behind: the server keeps sending meanwhile
        seen.append(subject)
    assert len(seen) == len(set(seen)) == 20_000
    assert set(seen) == {e.subject for e in events}
