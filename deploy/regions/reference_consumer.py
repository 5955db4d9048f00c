"""A pooling region's reference consumer: read statements and alerts from the region's
own queue, decode them, hand them to the region's system, acknowledge.

    pip install aio-pika protobuf   # plus the generated crossclear.events.v1 code
    AMQP_URL=amqps://crossclear-region-450100:<password>@broker:5671/ \
    QUEUE=crossclear.region.450100 python reference_consumer.py

Contract: every message is protobuf (content type application/x-protobuf); its AMQP
``type`` is the full message name, its ``message_id`` the event id. Delivery is at least
once: store the message id with the effect and skip an id seen before. Acknowledge only
after your own commit; a message not acknowledged (or rejected with requeue) comes back.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

import aio_pika
from google.protobuf.message import Message

from shared.pb.crossclear.events.v1 import events_pb2

TYPES: dict[str, type[Message]] = {
    m.DESCRIPTOR.full_name: m
    for m in (events_pb2.StatementIssued, events_pb2.AdvanceFundAlert, events_pb2.FilingEvent)
}


async def consume(
    url: str, queue: str, handle: Callable[[str, Message], Awaitable[None]], limit: int = 0
) -> int:
    """Consume until ``limit`` messages were handled (0 = forever); return the count."""
    done = 0
    connection = await aio_pika.connect_robust(url)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=20)
        source = await channel.get_queue(queue, ensure=True)  # passive: it must exist
        async with source.iterator() as messages:
            async for message in messages:
                kind = TYPES.get(message.type or "")
                if kind is None or message.message_id is None:
                    await message.reject(requeue=False)  # not ours: dead-lettered
                    continue
                await handle(message.message_id, kind.FromString(message.body))
                await message.ack()  # after the region's own commit
                done += 1
                if limit and done >= limit:
                    break
    return done


async def _print(message_id: str, event: Message) -> None:
    print(message_id, type(event).__name__, event)


if __name__ == "__main__":
    asyncio.run(consume(os.environ["AMQP_URL"], os.environ["QUEUE"], _print))
