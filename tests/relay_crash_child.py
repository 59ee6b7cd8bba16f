"""Run as a child process by the relay crash test: publish one outbox batch, then die by SIGKILL after
the publish acks arrive and before the rows are marked published."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Sequence

import nats

from sprakvan_shared.contracts.subjects import Namespace
from sprakvan_shared.db import create_pool
from sprakvan_shared.outbox import OutboxRelay


async def main(database_url: str, nats_url: str, namespace: str) -> None:
    pool = await create_pool(database_url, min_size=1, max_size=2)
    nc = await nats.connect(nats_url)

    async def die(acked: Sequence[int]) -> None:
        print(f"acked {len(acked)}", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    await OutboxRelay(pool, nc, namespace=Namespace(namespace), after_publish=die).relay_batch()
    raise SystemExit("unreachable: the relay should have been killed")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
