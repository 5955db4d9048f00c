"""The bus connection: bounded start-up, health, and recovery from a dropped connection."""

from __future__ import annotations

import asyncio
import shutil
import uuid

import aiormq
import pytest

from shared.bus import Bus, InboxConsumer, OutboxRelay
from shared.config import Settings
from tests.support.polling import wait_until

from .conftest import Schema
from .support import effects, effects_handler, enqueue_settled


async def test_connecting_to_no_broker_gives_up_in_bounded_time() -> None:
    loop = asyncio.get_running_loop()
    started_s = loop.time()
    with pytest.raises((OSError, aiormq.exceptions.AMQPError)):
        await Bus.connect(
            "amqp://guest:guest@127.0.0.1:1/",
            connect_timeout_s=1,
            connect_attempts=2,
            retry_interval_s=0.1,
        )
    assert loop.time() - started_s < 5


async def _rabbitmqctl(*args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        "rabbitmqctl", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def _drop_connection(connection_name: str) -> None:
    """Have the broker close the one connection of that name (no other one)."""
    listing = await _rabbitmqctl(
        "list_connections", "pid", "client_properties", "-q", "--no-table-headers"
    )
    pids = [line.split("\t")[0] for line in listing.splitlines() if connection_name in line]
    assert len(pids) == 1, listing
    await _rabbitmqctl("close_connection", pids[0], "bus test: dropped on purpose")


@pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="needs rabbitmqctl")
async def test_relay_and_consumer_carry_on_after_the_connection_drops(
    settings: Settings, topology: str, schema: Schema, make_work_queue
) -> None:
    queue = await make_work_queue()
    name = f"bus-test-{uuid.uuid4().hex[:8]}"
    bus = await Bus.connect(settings.amqp_url, connection_name=name, reconnect_interval_s=0.5)
    consumer = InboxConsumer(bus, schema.pool, queue.name, "test", effects_handler())
    relay = OutboxRelay(schema.pool, bus, schema.name, poll_interval_s=0.1, backoff_max_s=1)
    await consumer.start()
    run = asyncio.create_task(relay.run())
    try:
        first = await enqueue_settled(schema.pool, topology, queue.pool_code, 1)

        async def effects_are(expected: list[str]) -> bool:
            return sorted(await effects(schema.pool)) == sorted(expected)

        await wait_until(lambda: effects_are(first), what="effect before the drop")
        assert bus.is_healthy()

        await _drop_connection(name)

        async def reconnected() -> bool:
            return bus.reconnects == 1 and bus.is_healthy()

        await wait_until(reconnected, timeout_s=15, what="bus reconnected")
        later = await enqueue_settled(schema.pool, topology, queue.pool_code, 5)
        await wait_until(lambda: effects_are(first + later), timeout_s=15, what="effects after")
    finally:
        relay.stop()
        await asyncio.wait_for(run, timeout=10)
        await consumer.stop()
        await bus.close()
