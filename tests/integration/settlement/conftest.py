"""Fixtures of the settlement tests: the session's settlement and filing services over real
gRPC, a pool on the settlement schema for counting rows, and a test queue bound to every
settlement event of the run's namespace (declared before the first settlement)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import asyncpg
import grpc
import pytest

from shared import db
from shared.bus import Bus, QueueLimits, declare_work_queue, exchange_name, queue_name
from shared.bus.names import SETTLEMENT_EVENTS_PATTERN
from shared.config import Settings
from shared.pb.crossclear.filing.v1 import filing_pb2_grpc
from shared.pb.crossclear.settlement.v1 import settlement_pb2_grpc
from tests.support.polling import wait_until

from .support import Filing, Hospital, Msgids

BUS_CONNECT_TIMEOUT_S = 20.0


@pytest.fixture(scope="session")
async def settlement_ready(settlement_service: object) -> object:
    """The service's broker connection is up: topology declared, outbox relay running."""
    bus = settlement_service.bus  # type: ignore[attr-defined]

    async def connected() -> bool:
        return bool(bus.connected)

    await wait_until(connected, timeout_s=BUS_CONNECT_TIMEOUT_S, what="broker connected")
    return settlement_service


@pytest.fixture(scope="session")
async def event_queue(settings: Settings, settlement_ready: object) -> AsyncIterator[str]:
    """A quorum queue bound to ``settlement.#``: receives every settlement event of the run."""
    bus = await Bus.connect(settings.amqp_url, connect_timeout_s=5, connect_attempts=2)
    name = queue_name(settings.bus_namespace, "test", "settlement-events")
    channel = await bus.open_channel(prefetch_count=1)
    await declare_work_queue(
        channel,
        settings.bus_namespace,
        name,
        [(exchange_name(settings.bus_namespace, "settlement"), SETTLEMENT_EVENTS_PATTERN)],
        limits=QueueLimits(delivery_limit=5, max_length=100_000),
    )
    yield name
    await channel.queue_delete(name, timeout=10)
    await channel.close()
    await bus.close()


@pytest.fixture(scope="session")
async def settlement_db(
    settlement_service: object, settings: Settings
) -> AsyncIterator[asyncpg.Pool]:
    pool = await db.create_pool(settings.database_url, "settlement", min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def settlement_channel(
    event_queue: str, settlement_ready: object
) -> AsyncIterator[grpc.aio.Channel]:
    # Every test that calls the service depends on the event queue, so no settlement event
    # of the run is published before the queue exists.
    port = settlement_ready.port  # type: ignore[attr-defined]
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield channel
    await channel.close()


@pytest.fixture(scope="session")
def msgids() -> Msgids:
    return Msgids()


@pytest.fixture(scope="session")
def hospital(settlement_channel: grpc.aio.Channel, msgids: Msgids) -> Callable[[str], Hospital]:
    stub = settlement_pb2_grpc.SettlementServiceStub(settlement_channel)
    return lambda code: Hospital(code, stub, msgids)


@pytest.fixture(scope="session")
async def filing(filing_service: object) -> AsyncIterator[Filing]:
    port = filing_service.port  # type: ignore[attr-defined]
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield Filing(filing_pb2_grpc.FilingServiceStub(channel))
    await channel.close()
