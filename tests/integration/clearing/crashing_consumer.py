"""A ledger consumer process that dies in the middle of its first batch.

Run as ``python -m tests.integration.clearing.crashing_consumer <mode> <database_url>
<schema> <amqp_url> <namespace> <queue>``. It consumes ``queue`` into ``schema`` with the
clearing service's own handler and consumer name, and kills itself (status 137, as if
SIGKILLed) at the point ``mode`` names:

- ``after-commit``: the batch's ledger rows and inbox rows are committed, no message is
  acknowledged yet: every message of the batch comes back to the queue;
- ``before-commit``: the ledger insert ran inside the transaction, which never commits.

Exit status 3 means no message arrived within the wait.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence

from services.clearing.consumer import CONSUMER_NAME, LedgerIngest
from shared.bus import Bus, Delivery, InboxConsumer
from shared.bus.pg import Conn
from shared.db import create_pool

KILLED_STATUS = 137
NOTHING_CONSUMED_STATUS = 3
WAIT_S = 20.0


def _die(what: str, count: int) -> None:
    print(f"{what}: {count} messages; dying", flush=True)
    os._exit(KILLED_STATUS)


async def main(
    mode: str, database_url: str, schema: str, amqp_url: str, namespace: str, queue: str
) -> int:
    pool = await create_pool(database_url, schema, min_size=1, max_size=2)
    bus = await Bus.connect(amqp_url, connect_timeout_s=5, connect_attempts=2)
    ingest = LedgerIngest(namespace, (7000, 9000))

    async def handler(conn: Conn, deliveries: list[Delivery]) -> None:
        await ingest(conn, deliveries)
        if mode == "before-commit":
            _die("ledger rows inserted, transaction open", len(deliveries))

    consumer = InboxConsumer(
        bus, pool, queue, CONSUMER_NAME, handler, batch_size=100, batch_wait_ms=500
    )
    if mode == "after-commit":

        async def ack_all(messages: Sequence[object]) -> None:
            _die("committed, not acknowledged", len(messages))

        consumer._ack_all = ack_all  # type: ignore[method-assign]
    await consumer.start()
    await asyncio.sleep(WAIT_S)
    return NOTHING_CONSUMED_STATUS


if __name__ == "__main__":
    sys.exit(asyncio.run(main(*sys.argv[1:7])))
