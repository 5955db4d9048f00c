"""What each pooling region received on its queue of the bus."""

from __future__ import annotations

from collections import defaultdict

import aio_pika

from services.simulation.stack import namespace_queues
from shared.config import Settings

MAX_REGION_MESSAGES = 100_000


async def drain_region_queues(settings: Settings) -> dict[str, dict[str, int]]:
    """What each pooling region received on its queue: message type → count. A region's
    own system would consume these; the simulation reads them to show delivery."""
    received: dict[str, dict[str, int]] = {}
    connection = await aio_pika.connect(settings.amqp_url, timeout=10)
    try:
        channel = await connection.channel()
        for queue_name in namespace_queues(settings.bus_namespace):
            if ".region." not in queue_name:
                continue
            region = queue_name.rsplit(".", 1)[1]
            try:
                queue = await channel.get_queue(queue_name, ensure=True)
            except aio_pika.exceptions.ChannelClosed:
                channel = await connection.channel()
                continue
            counts: dict[str, int] = defaultdict(int)
            for _ in range(MAX_REGION_MESSAGES):
                message = await queue.get(no_ack=True, fail=False)
                if message is None:
                    break
                counts[(message.type or "unknown").rsplit(".", 1)[-1]] += 1
            if counts:
                received[region] = dict(counts)
    finally:
        await connection.close()
    return received
