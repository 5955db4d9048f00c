"""Fixtures of the clearing tests: the running service, a client, a publisher, the schema."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from shared.broker import region_codes
from shared.bus import (
    Bus,
    dead_letter_exchange,
    dead_letter_queue,
    exchange_name,
    region_queue,
    settlement_events_queue,
)
from shared.bus.names import EXCHANGE_KINDS
from shared.config import Settings
from shared.db import create_pool
from shared.grpc_client import caller_metadata
from shared.grpc_server import BROKER_HEALTH
from shared.pb.crossclear.clearing.v1 import clearing_pb2_grpc
from tests.support.polling import wait_until

OPERATOR = "op-clearing-test"


@pytest.fixture(scope="session")
async def namespace_cleanup(settings: Settings) -> AsyncIterator[None]:
    """Deletes the run's queues and exchanges at the end of the session.

    Quorum queues are durable: left behind, every test run would add ~40 of them to the
    broker for good. Set up before the service, so torn down after it has stopped.
    """
    yield
    namespace = settings.bus_namespace
    queues = [
        settlement_events_queue(namespace),
        dead_letter_queue(namespace),
        *(region_queue(namespace, code) for code in region_codes()),
    ]
    exchanges = [exchange_name(namespace, kind) for kind in EXCHANGE_KINDS]
    exchanges.append(dead_letter_exchange(namespace))
    bus = await Bus.connect(settings.amqp_url, connect_timeout_s=5, connect_attempts=1)
    try:
        channel = await bus.open_channel(prefetch_count=1)
        for queue in queues:
            await channel.queue_delete(queue, timeout=5)
        for exchange in exchanges:
            await channel.exchange_delete(exchange, timeout=5)
        await channel.close()
    finally:
        await bus.close()


@pytest.fixture(scope="session")
async def clearing_port(namespace_cleanup: None, clearing_service: Any) -> int:
    """The service's port, once SERVING and connected to the broker (its topology is
    then declared)."""
    port = int(clearing_service.port)

    async def serving() -> bool:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            for service in ("", BROKER_HEALTH):
                reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
                if reply.status != health_pb2.HealthCheckResponse.SERVING:
                    return False
            return True

    await wait_until(serving, timeout_s=30, what="clearing SERVING")
    return port


@pytest.fixture(scope="session")
async def channel(clearing_port: int) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{clearing_port}") as chan:
        yield chan


class Client:
    """The ClearingService stub, calling as a given caller code."""

    def __init__(self, channel: grpc.aio.Channel, code: str) -> None:
        self._stub = clearing_pb2_grpc.ClearingServiceStub(channel)
        self._metadata = caller_metadata(code)

    def __getattr__(self, name: str) -> Callable[[Any], Awaitable[Any]]:
        method = getattr(self._stub, name)

        async def call(request: Any) -> Any:
            return await method(request, metadata=self._metadata, timeout=30)

        return call


@pytest.fixture(scope="session")
def as_caller(channel: grpc.aio.Channel) -> Callable[[str], Client]:
    return lambda code: Client(channel, code)


@pytest.fixture(scope="session")
def operator(as_caller: Callable[[str], Client]) -> Client:
    return as_caller(OPERATOR)


@pytest.fixture(scope="session")
async def publisher(settings: Settings) -> AsyncIterator[Bus]:
    bus = await Bus.connect(settings.amqp_url, connect_timeout_s=5, connect_attempts=2)
    yield bus
    await bus.close()


@pytest.fixture(scope="session")
async def db(settings: Settings, clearing_port: int) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the clearing schema (migrated by the service at start)."""
    pool = await create_pool(settings.database_url, "clearing", min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
def namespace(settings: Settings) -> str:
    return settings.bus_namespace
