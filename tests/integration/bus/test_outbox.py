"""Outbox and relay against the real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import structlog
from prometheus_client import REGISTRY

from shared import db
from shared.bus import (
    Bus,
    InboxConsumer,
    OutboxRelay,
    enqueue,
    exchange_name,
    settlement_settled_key,
)
from shared.config import Settings
from tests.support.polling import wait_until

from ..foundation.proxy import CuttableProxy
from .conftest import Schema
from .support import effects, effects_handler, enqueue_settled, settlement_event

CRASHING_RELAY = Path(__file__).with_name("crashing_relay.py")
PROJECT_ROOT = Path(__file__).resolve().parents[3]


async def test_rolled_back_event_is_never_published(
    bus: Bus, topology: str, schema: Schema, make_work_queue
) -> None:
    queue = await make_work_queue()
    consumer = InboxConsumer(bus, schema.pool, queue.name, "test", effects_handler())
    await consumer.start()
    try:
        rolled_back = settlement_event(queue.pool_code)

        class Abort(Exception):
            pass

        with pytest.raises(Abort):
            async with schema.pool.acquire() as conn, conn.transaction():
                await enqueue(
                    conn,
                    exchange=exchange_name(topology, "settlement"),
                    routing_key=settlement_settled_key(queue.pool_code, "440100"),
                    message=rolled_back,
                    message_id=rolled_back.event_id,
                )
                raise Abort
        # A committed event after it: once its effect shows, the relay has had its chance.
        (committed,) = await enqueue_settled(schema.pool, topology, queue.pool_code, 1)
        relay = OutboxRelay(schema.pool, bus, schema.name)
        result = await relay.publish_pending_once()
        assert (result.selected, result.published) == (1, 1)
        await wait_until(lambda: _has_effects(schema, 1), what="committed event's effect")
        await asyncio.sleep(0.3)  # bounded grace for a stray delivery to show up
        assert await effects(schema.pool) == [committed]
        assert consumer.stats.received == 1
        rows = await schema.pool.fetch("SELECT message_id::text AS id FROM outbox")
        assert [row["id"] for row in rows] == [committed]
    finally:
        await consumer.stop()


async def _has_effects(schema: Schema, count: int) -> bool:
    return len(await effects(schema.pool)) >= count


async def test_relay_killed_after_confirm_leads_to_republish_but_one_effect(
    settings: Settings, bus: Bus, topology: str, schema: Schema, make_work_queue
) -> None:
    queue = await make_work_queue()
    consumer = InboxConsumer(bus, schema.pool, queue.name, "test", effects_handler())
    await consumer.start()
    try:
        (message_id,) = await enqueue_settled(schema.pool, topology, queue.pool_code, 1)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(CRASHING_RELAY),
            settings.database_url,
            schema.name,
            settings.amqp_url,
            cwd=PROJECT_ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(process.communicate(), timeout=30)
        assert process.returncode == 137, output.decode()
        # The broker has it, yet the row is still pending: the kill came before the mark.
        pending = await schema.pool.fetchval(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL"
        )
        assert pending == 1
        await wait_until(lambda: _settled(consumer, 1), what="first publication consumed")

        relay = OutboxRelay(schema.pool, bus, schema.name)
        result = await relay.publish_pending_once()
        assert result.published == 1
        await wait_until(lambda: _settled(consumer, 2), what="re-publication delivered")
        assert consumer.stats.duplicates == 1
        assert await effects(schema.pool) == [message_id]
        assert await relay.publish_pending_once() == type(result)(0, 0, 0)
    finally:
        await consumer.stop()


async def _settled(consumer: InboxConsumer, count: int) -> bool:
    """count deliveries received and done with (committed or skipped, and acked)."""
    return consumer.stats.settled >= count


async def test_running_relay_is_woken_by_notify(
    bus: Bus, topology: str, schema: Schema, make_work_queue
) -> None:
    queue = await make_work_queue()
    consumer = InboxConsumer(bus, schema.pool, queue.name, "test", effects_handler())
    await consumer.start()
    # Polls only every 60 s: an event consumed within 5 s came through LISTEN/NOTIFY.
    relay = OutboxRelay(schema.pool, bus, schema.name, poll_interval_s=60)
    run = asyncio.create_task(relay.run())
    try:
        await wait_until(lambda: _listening(schema), what="relay listening")
        expected = await enqueue_settled(schema.pool, topology, queue.pool_code, 3)
        await wait_until(lambda: _has_effects(schema, 3), timeout_s=5, what="3 effects")
        assert sorted(await effects(schema.pool)) == sorted(expected)
    finally:
        relay.stop()
        await asyncio.wait_for(run, timeout=10)
        await consumer.stop()


async def _listening(schema: Schema) -> bool:
    # LISTEN is per session: look for the relay's session among the server's.
    listeners = await schema.pool.fetchval(
        """SELECT count(*) FROM pg_stat_activity
            WHERE datname = current_database() AND query LIKE 'LISTEN %' AND query LIKE $1""",
        f'%"{schema.name}_outbox"%',
    )
    return bool(listeners)


async def test_two_relays_publish_every_event_exactly_once(
    settings: Settings, bus: Bus, topology: str, schema: Schema, make_work_queue
) -> None:
    events_total = 500
    queue = await make_work_queue()
    consumer = InboxConsumer(bus, schema.pool, queue.name, "test", effects_handler())
    await consumer.start()
    buses = [await Bus.connect(settings.amqp_url, connect_timeout_s=5) for _ in range(2)]
    relays = [
        OutboxRelay(schema.pool, relay_bus, schema.name, batch_size=25, poll_interval_s=0.05)
        for relay_bus in buses
    ]
    runs = [asyncio.create_task(relay.run()) for relay in relays]
    try:
        expected: list[str] = []
        for _ in range(events_total // 100):
            expected += await enqueue_settled(schema.pool, topology, queue.pool_code, 100)
        await wait_until(
            lambda: _has_effects(schema, events_total), timeout_s=20, what="500 effects"
        )
        await asyncio.sleep(0.3)  # bounded grace for a double publication to show up
        applied = await effects(schema.pool)
        assert sorted(applied) == sorted(expected)  # none lost, none twice
        assert consumer.stats.received == events_total
        assert consumer.stats.duplicates == 0
        assert sum(relay.stats.published for relay in relays) == events_total
        assert all(relay.stats.published > 0 for relay in relays), [r.stats for r in relays]
        pending = await schema.pool.fetchval(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL"
        )
        assert pending == 0
    finally:
        for relay in relays:
            relay.stop()
        await asyncio.wait_for(asyncio.gather(*runs), timeout=10)
        for relay_bus in buses:
            await relay_bus.close()
        await consumer.stop()


async def test_publish_failure_is_recorded_and_the_row_kept(
    settings: Settings, topology: str, schema: Schema
) -> None:
    bus = await Bus.connect(settings.amqp_url, connect_timeout_s=5, publish_timeout_s=2)
    try:
        event = settlement_event("110000")
        async with schema.pool.acquire() as conn, conn.transaction():
            await enqueue(
                conn,
                exchange=f"{topology}.no-such-exchange",
                routing_key=settlement_settled_key("110000", "440100"),
                message=event,
                message_id=uuid.UUID(event.event_id),
            )
        relay = OutboxRelay(schema.pool, bus, schema.name)
        result = await relay.publish_pending_once()
        assert (result.published, result.failed) == (0, 1)
        row = await schema.pool.fetchrow("SELECT published_at, attempts, last_error FROM outbox")
        assert row["published_at"] is None
        assert row["attempts"] == 1
        assert "NOT_FOUND" in row["last_error"] or "404" in row["last_error"], row["last_error"]
        # The channel the broker closed is reopened: the bus publishes again.
        await wait_until(_async(bus.is_healthy), timeout_s=10, what="bus healthy again")
        assert await bus.publish(
            exchange_name(topology, "settlement"),
            settlement_settled_key("110000", "440100"),
            b"",
            message_id=str(uuid.uuid4()),
            message_type="test.Empty",
        )
    finally:
        await bus.close()
    assert not bus.is_healthy()


def _async(predicate):
    async def check() -> bool:
        return bool(predicate())

    return check


async def test_cleanup_deletes_only_rows_published_long_ago(
    bus: Bus, topology: str, schema: Schema
) -> None:
    await enqueue_settled(schema.pool, topology, "110000", 3)
    await schema.pool.execute(
        """UPDATE outbox SET published_at = now() - interval '8 days'
            WHERE id = (SELECT min(id) FROM outbox)"""
    )
    await schema.pool.execute(
        """UPDATE outbox SET published_at = now() - interval '1 day'
            WHERE id = (SELECT max(id) FROM outbox)"""
    )
    relay = OutboxRelay(schema.pool, bus, schema.name, retention_days=7, cleanup_batch_size=1)
    assert await relay.cleanup_once() == 1
    remaining = await schema.pool.fetchval("SELECT count(*) FROM outbox")
    assert remaining == 2


async def test_enqueue_outside_a_transaction_is_refused(topology: str, schema: Schema) -> None:
    event = settlement_event("110000")
    async with schema.pool.acquire() as conn:
        with pytest.raises(AssertionError, match="transaction"):
            await enqueue(
                conn,
                exchange=exchange_name(topology, "settlement"),
                routing_key=settlement_settled_key("110000", "440100"),
                message=event,
                message_id=event.event_id,
            )
    assert await schema.pool.fetchval("SELECT count(*) FROM outbox") == 0


async def test_unroutable_event_stays_unpublished_and_is_counted(
    bus: Bus, topology: str, schema: Schema, make_work_queue
) -> None:
    queue = await make_work_queue()
    (routed,) = await enqueue_settled(schema.pool, topology, queue.pool_code, 1)
    lost = settlement_event(queue.pool_code)
    async with schema.pool.acquire() as conn, conn.transaction():
        # The broker confirms this message but no queue is bound for its key.
        await enqueue(
            conn,
            exchange=exchange_name(topology, "clearing"),
            routing_key="nobody.binds.this",
            message=lost,
            message_id=lost.event_id,
        )
    counted_before = _unroutable_count(schema.name)
    relay = OutboxRelay(schema.pool, bus, schema.name)
    result = await relay.publish_pending_once()
    assert (result.selected, result.published, result.failed) == (2, 1, 1)
    assert relay.stats.unroutable == 1
    assert _unroutable_count(schema.name) == counted_before + 1
    rows = {
        r["id"]: r
        for r in await schema.pool.fetch(
            "SELECT message_id::text AS id, published_at, attempts, last_error FROM outbox"
        )
    }
    assert rows[routed]["published_at"] is not None
    assert rows[lost.event_id]["published_at"] is None
    assert rows[lost.event_id]["attempts"] == 1
    assert rows[lost.event_id]["last_error"].startswith("unroutable")


def _unroutable_count(schema: str) -> float:
    value = REGISTRY.get_sample_value(
        "crossclear_outbox_unroutable_total", {"crossclear_service": schema}
    )
    return value or 0.0


async def test_failing_rows_do_not_hold_back_fresh_ones(
    bus: Bus, topology: str, schema: Schema, make_work_queue
) -> None:
    queue = await make_work_queue()
    stuck = [settlement_event(queue.pool_code) for _ in range(3)]
    async with schema.pool.acquire() as conn, conn.transaction():
        for event in stuck:
            await enqueue(
                conn,
                exchange=exchange_name(topology, "clearing"),
                routing_key="nobody.binds.this",
                message=event,
                message_id=event.event_id,
            )
    relay = OutboxRelay(schema.pool, bus, schema.name, batch_size=3)
    assert (await relay.publish_pending_once()).failed == 3
    fresh = await enqueue_settled(schema.pool, topology, queue.pool_code, 3)
    # A full batch of the stuck rows would come first by id; fresh rows go first now.
    result = await relay.publish_pending_once()
    assert (result.selected, result.published) == (3, 3)
    published = await schema.pool.fetch(
        "SELECT message_id::text AS id FROM outbox WHERE published_at IS NOT NULL"
    )
    assert sorted(r["id"] for r in published) == sorted(fresh)


async def test_backlog_drains_within_seconds_of_the_broker_returning(
    settings: Settings, topology: str, schema: Schema, make_work_queue
) -> None:
    """A relay backing off for a long time is woken by the reconnection."""
    queue = await make_work_queue()
    parts = urlsplit(settings.amqp_url)
    proxy = CuttableProxy(parts.hostname or "127.0.0.1", parts.port or 5672)
    await proxy.start()
    netloc = parts.netloc.rsplit("@", 1)[0] + f"@127.0.0.1:{proxy.port}"
    bus = await Bus.connect(
        urlunsplit(parts._replace(netloc=netloc)),
        reconnect_interval_s=0.5,
        publish_timeout_s=2,
    )
    relay = OutboxRelay(
        schema.pool, bus, schema.name, poll_interval_s=5, backoff_initial_s=20, backoff_max_s=30
    )
    run = asyncio.create_task(relay.run())
    try:
        await proxy.cut()
        await wait_until(_async(lambda: not bus.is_healthy()), what="bus sees the outage")
        backlog = await enqueue_settled(schema.pool, topology, queue.pool_code, 50)
        await asyncio.sleep(1.5)  # the relay has failed and is now backing off 10-20 s
        assert await _pending(schema) == len(backlog)
        await proxy.restore()
        restored_at = asyncio.get_running_loop().time()

        async def drained() -> bool:
            return await _pending(schema) == 0

        await wait_until(drained, timeout_s=5, what="outbox empty after the broker returned")
        assert asyncio.get_running_loop().time() - restored_at < 5
    finally:
        relay.stop()
        await asyncio.wait_for(run, timeout=10)
        await bus.close()
        await proxy.cut()


async def _pending(schema: Schema) -> int:
    return int(await schema.pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"))


async def test_relay_outlives_a_cut_database_without_error_logs(
    bus: Bus, topology: str, schema: Schema, make_work_queue, database: str
) -> None:
    queue = await make_work_queue()
    parts = urlsplit(database)
    proxy = CuttableProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.start()
    netloc = parts.netloc.rsplit("@", 1)[0] + f"@127.0.0.1:{proxy.port}"
    pool = await db.create_pool(
        urlunsplit(parts._replace(netloc=netloc)), schema.name, min_size=1, max_size=4
    )
    relay = OutboxRelay(
        pool, bus, schema.name, poll_interval_s=0.2, backoff_initial_s=0.2, backoff_max_s=0.5
    )
    with structlog.testing.capture_logs() as logs:
        run = asyncio.create_task(relay.run())
        try:
            await enqueue_settled(schema.pool, topology, queue.pool_code, 2)
            await wait_until(lambda: _drained(schema), what="published before the cut")
            await proxy.cut()  # drops the LISTEN connection and every pooled one
            await asyncio.sleep(2)  # several failed passes and LISTEN attempts
            assert not run.done(), "the relay loop must survive the outage"
            await proxy.restore()
            await enqueue_settled(schema.pool, topology, queue.pool_code, 3)
            await wait_until(lambda: _drained(schema), timeout_s=15, what="published after")
        finally:
            relay.stop()
            await asyncio.wait_for(run, timeout=10)
            await pool.close()
            await proxy.cut()
    errors = [entry for entry in logs if entry["log_level"] in ("error", "critical")]
    assert errors == [], errors
    assert any(entry["log_level"] == "warning" for entry in logs), "the outage is reported"


async def _drained(schema: Schema) -> bool:
    return await _pending(schema) == 0
