"""A relay process that dies right after the broker confirmed, before marking the rows.

Run as ``python crashing_relay.py <database_url> <schema> <amqp_url>``: it publishes one
batch of the schema's outbox and exits with status 137 (as if SIGKILLed) from the
``after_publish`` hook, leaving the rows unmarked. Exit status 3 means it found nothing
to publish.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence

from shared.bus import Bus, OutboxRelay
from shared.db import create_pool

KILLED_STATUS = 137
NOTHING_PUBLISHED_STATUS = 3


async def _die(message_ids: Sequence[str]) -> None:
    print(f"confirmed {len(message_ids)} messages; dying before marking them", flush=True)
    os._exit(KILLED_STATUS)


async def main(database_url: str, schema: str, amqp_url: str) -> int:
    pool = await create_pool(database_url, schema, min_size=1, max_size=2)
    bus = await Bus.connect(amqp_url, connect_timeout_s=5, connect_attempts=2)
    relay = OutboxRelay(pool, bus, schema, after_publish=_die)
    await relay.publish_pending_once()
    return NOTHING_PUBLISHED_STATUS


if __name__ == "__main__":
    sys.exit(asyncio.run(main(*sys.argv[1:4])))
