"""Topology declaration on the real broker: idempotent, routed as documented."""

from __future__ import annotations

import uuid

import aiormq
import pytest

from shared.bus import (
    Bus,
    QueueLimits,
    advance_alert_key,
    declare_topology,
    ensure_topology,
    exchange_name,
    filing_key,
    region_queue,
    settlement_events_queue,
    settlement_reversed_key,
    settlement_settled_key,
    statement_issued_key,
)
from shared.bus.names import queue_name, region_pattern

from .conftest import REGIONS


async def test_declaring_the_topology_again_changes_nothing(bus: Bus, topology: str) -> None:
    channel = await bus.open_channel(prefetch_count=1)
    try:
        await declare_topology(channel, topology, REGIONS)
        await declare_topology(channel, topology, reversed(REGIONS))
        assert not channel.is_closed
    finally:
        await channel.close()
    await ensure_topology(bus, topology, REGIONS)


async def test_declaring_other_limits_is_refused(bus: Bus, topology: str) -> None:
    channel = await bus.open_channel(prefetch_count=1)
    try:
        with pytest.raises(aiormq.exceptions.ChannelPreconditionFailed):
            await declare_topology(channel, topology, REGIONS, limits=QueueLimits(delivery_limit=9))
    finally:
        if not channel.is_closed:
            await channel.close()


async def _take_all(bus: Bus, queue: str) -> set[str]:
    """Take every message waiting in queue off it; return their ids."""
    channel = await bus.open_channel(prefetch_count=1)
    try:
        declared = await channel.get_queue(queue)
        taken: set[str] = set()
        for _ in range(100):
            message = await declared.get(no_ack=True, fail=False, timeout=5)
            if message is None:
                return taken
            taken.add(message.message_id or "")
        raise AssertionError(f"{queue} holds more messages than this test published")
    finally:
        await channel.close()


async def _purge(bus: Bus, queue: str) -> None:
    channel = await bus.open_channel(prefetch_count=1)
    try:
        await (await channel.get_queue(queue)).purge(timeout=10)
    finally:
        await channel.close()


async def _publish(bus: Bus, exchange: str, key: str) -> str:
    message_id = str(uuid.uuid4())
    routed = await bus.publish(exchange, key, b"", message_id=message_id, message_type="test.Empty")
    assert routed, key
    return message_id


async def test_messages_reach_the_queues_their_keys_name(bus: Bus, topology: str) -> None:
    settlement = exchange_name(topology, "settlement")
    clearing = exchange_name(topology, "clearing")
    events = settlement_events_queue(topology)
    await _purge(bus, events)  # earlier tests' settlement events land here too

    settled = await _publish(bus, settlement, settlement_settled_key("110000", "440100"))
    reversed_ = await _publish(bus, settlement, settlement_reversed_key("440100", "110000"))
    assert await _take_all(bus, events) == {settled, reversed_}

    statement = await _publish(bus, clearing, statement_issued_key("440100"))
    alert = await _publish(bus, clearing, advance_alert_key("44"))
    assert await _take_all(bus, region_queue(topology, "440100")) == {statement}
    assert await _take_all(bus, region_queue(topology, "44")) == {alert}
    assert await _take_all(bus, region_queue(topology, "110000")) == set()

    # A filing event reaches the region queue of the person's insured pool only.
    filed = await _publish(
        bus, exchange_name(topology, "filing"), filing_key("effective", "110000", "440100")
    )
    assert await _take_all(bus, region_queue(topology, "110000")) == {filed}
    assert await _take_all(bus, region_queue(topology, "440100")) == set()
    assert await _take_all(bus, region_queue(topology, "44")) == set()


def test_names_carry_namespace_and_regions() -> None:
    assert exchange_name("cc", "settlement") == "cc.settlement"
    assert region_queue("cc", "440100") == "cc.region.440100"
    assert region_pattern("44") == "*.*.44"
    assert settlement_settled_key("110000", "44") == "settlement.settled.110000.44"
    assert filing_key("revoked", "110000", "440100") == "filing.revoked.110000.440100"
    assert queue_name("cc", "filing", "audit") == "cc.filing.audit"
    for bad in ("4401", "44010a", "", "*", "#"):
        with pytest.raises(ValueError):
            region_queue("cc", bad)
    with pytest.raises(ValueError):
        exchange_name("Bad Namespace", "settlement")
    with pytest.raises(ValueError):
        filing_key("created.x", "110000", "440100")
