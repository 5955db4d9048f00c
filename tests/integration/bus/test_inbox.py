"""Inbox consumer against the real PostgreSQL and RabbitMQ: dedupe and dead-lettering."""

from __future__ import annotations

import uuid

from aio_pika.abc import AbstractIncomingMessage

from shared.bus import (
    Bus,
    InboxConsumer,
    dead_letter_queue,
    exchange_name,
    settlement_settled_key,
)
from tests.support.polling import wait_until

from .conftest import Schema
from .support import SETTLEMENT_TYPE, effects_handler, settlement_event


async def _publish_event(bus: Bus, namespace: str, pool_code: str) -> str:
    event = settlement_event(pool_code)
    await bus.publish(
        exchange_name(namespace, "settlement"),
        settlement_settled_key(pool_code, event.treatment_pool),
        event.SerializeToString(),
        message_id=event.event_id,
        message_type=SETTLEMENT_TYPE,
    )
    return event.event_id


async def _effect_ids(schema: Schema) -> set[str]:
    return {r["message_id"] for r in await schema.pool.fetch("SELECT message_id FROM effects")}


async def _dead_letter(
    bus: Bus, namespace: str, message_id: str, *, timeout_s: float = 15.0
) -> AbstractIncomingMessage:
    """Take messages off the namespace's dead-letter queue until message_id shows up."""
    channel = await bus.open_channel(prefetch_count=1)
    try:
        queue = await channel.get_queue(dead_letter_queue(namespace))

        async def taken() -> AbstractIncomingMessage | None:
            while (message := await queue.get(no_ack=False, fail=False, timeout=5)) is not None:
                await message.ack()  # dead letters of this run's earlier tests: already checked
                if message.message_id == message_id:
                    return message
            return None

        return await wait_until(taken, timeout_s=timeout_s, what=f"{message_id} dead-lettered")
    finally:
        await channel.close()


def _stat(consumer: InboxConsumer, name: str, at_least: int):
    async def check() -> bool:
        return getattr(consumer.stats, name) >= at_least

    return check


def _death_reason(message: AbstractIncomingMessage) -> str:
    reason = message.headers.get("x-first-death-reason")
    return reason.decode() if isinstance(reason, bytes) else str(reason)


async def test_redelivered_message_has_one_effect(
    bus: Bus, topology: str, schema: Schema, make_work_queue
) -> None:
    queue = await make_work_queue()
    consumer = InboxConsumer(bus, schema.pool, queue.name, "test", effects_handler())
    await consumer.start()
    try:
        event = settlement_event(queue.pool_code)

        async def publish() -> None:
            await bus.publish(
                exchange_name(topology, "settlement"),
                settlement_settled_key(queue.pool_code, event.treatment_pool),
                event.SerializeToString(),
                message_id=event.event_id,
                message_type=SETTLEMENT_TYPE,
            )

        def received(count: int):
            async def check() -> bool:
                return consumer.stats.settled >= count

            return check

        # The same message id three times, as a relay could: the copies come in later
        # batches, so only the inbox table can tell they were seen.
        await publish()
        await wait_until(received(1), what="first delivery")
        await publish()
        await publish()
        await wait_until(received(3), what="three deliveries")
        assert (consumer.stats.handled, consumer.stats.duplicates) == (1, 2)
        assert await _effect_ids(schema) == {event.event_id}
        assert await schema.pool.fetchval("SELECT count(*) FROM effects") == 1
    finally:
        await consumer.stop()


async def test_poison_message_is_dead_lettered_at_once_and_the_rest_consumed(
    bus: Bus, topology: str, schema: Schema, make_work_queue
) -> None:
    queue = await make_work_queue(delivery_limit=3)
    attempts: dict[str, int] = {}
    handler = effects_handler(attempts=attempts)
    consumer = InboxConsumer(bus, schema.pool, queue.name, "test", handler, batch_wait_ms=100)
    await consumer.start()
    try:
        poison_id = str(uuid.uuid4())
        await bus.publish(
            exchange_name(topology, "settlement"),
            settlement_settled_key(queue.pool_code, "440100"),
            b"\xff\xff not a protobuf",
            message_id=poison_id,
            message_type=SETTLEMENT_TYPE,
        )
        good = {await _publish_event(bus, topology, queue.pool_code) for _ in range(20)}

        async def all_good_applied() -> bool:
            return await _effect_ids(schema) == good

        await wait_until(all_good_applied, what="the 20 good messages applied")
        dead = await _dead_letter(bus, topology, poison_id)
        assert _death_reason(dead) == "rejected"
        await wait_until(_stat(consumer, "rejected", 1), what="rejection counted")
        assert consumer.stats.requeued == 0
        inboxed = await schema.pool.fetchval(
            "SELECT count(*) FROM inbox WHERE message_id = $1", poison_id
        )
        assert inboxed == 0  # its transaction rolled back
    finally:
        await consumer.stop()


async def test_failing_message_is_dead_lettered_after_the_delivery_limit(
    bus: Bus, topology: str, schema: Schema, make_work_queue
) -> None:
    delivery_limit = 3
    queue = await make_work_queue(delivery_limit=delivery_limit)
    failing_id = str(uuid.uuid4())
    attempts: dict[str, int] = {}
    handler = effects_handler(fail_ids=frozenset({failing_id}), attempts=attempts)
    consumer = InboxConsumer(bus, schema.pool, queue.name, "test", handler, batch_wait_ms=20)
    await consumer.start()
    try:
        failing = settlement_event(queue.pool_code)
        await bus.publish(
            exchange_name(topology, "settlement"),
            settlement_settled_key(queue.pool_code, "440100"),
            failing.SerializeToString(),
            message_id=failing_id,
            message_type=SETTLEMENT_TYPE,
        )
        later = {await _publish_event(bus, topology, queue.pool_code) for _ in range(20)}

        async def later_applied() -> bool:
            return await _effect_ids(schema) == later

        await wait_until(later_applied, what="the messages behind the failing one applied")
        dead = await _dead_letter(bus, topology, failing_id)
        assert _death_reason(dead) == "delivery_limit"
        await wait_until(_stat(consumer, "requeued", delivery_limit), what="returns counted")
        # Each delivery is tried at most twice (in its batch, then alone); the broker
        # delivered it delivery_limit + 1 times at most before dead-lettering it.
        assert delivery_limit <= consumer.stats.requeued <= delivery_limit + 1
        assert attempts[failing_id] <= 2 * (delivery_limit + 1)
        assert failing_id not in await _effect_ids(schema)
    finally:
        await consumer.stop()


async def test_purge_removes_only_old_ids_of_its_own_consumer(
    bus: Bus, topology: str, schema: Schema, make_work_queue
) -> None:
    queue = await make_work_queue()
    consumer = InboxConsumer(bus, schema.pool, queue.name, "purging", effects_handler())
    await schema.pool.execute(
        """INSERT INTO inbox (consumer, message_id, received_at) VALUES
           ('purging', 'old-1', now() - interval '40 days'),
           ('purging', 'old-2', now() - interval '31 days'),
           ('purging', 'recent', now() - interval '2 days'),
           ('someone-else', 'old-3', now() - interval '40 days')"""
    )
    assert await consumer.purge_once() == 2
    rows = await schema.pool.fetch("SELECT consumer, message_id FROM inbox ORDER BY message_id")
    assert [(r["consumer"], r["message_id"]) for r in rows] == [
        ("someone-else", "old-3"),
        ("purging", "recent"),
    ]
