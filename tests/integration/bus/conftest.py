"""Fixtures of the bus tests: the run's topology on the real broker, a schema per test.

Every exchange and queue is named under the run's namespace and deleted at the end of the
session; every test gets its own schema (outbox, inbox, effects) and its own work queue
bound to the settlement exchange by a pooling region of its own.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import pytest

from shared import db
from shared.bus import (
    Bus,
    QueueLimits,
    dead_letter_exchange,
    dead_letter_queue,
    declare_topology,
    declare_work_queue,
    exchange_name,
    queue_name,
    region_queue,
    settlement_events_queue,
)
from shared.bus.names import EXCHANGE_KINDS
from shared.config import Settings

from .support import EFFECTS_DDL

REGIONS = ("110000", "440100", "44")


@pytest.fixture(scope="session")
async def bus(settings: Settings) -> AsyncIterator[Bus]:
    bus = await Bus.connect(settings.amqp_url, connect_timeout_s=5, connect_attempts=2)
    yield bus
    await bus.close()


@pytest.fixture(scope="session")
def declared_queues() -> list[str]:
    """Names of the test queues declared during the run, deleted at its end."""
    return []


@pytest.fixture(scope="session")
async def topology(settings: Settings, bus: Bus, declared_queues: list[str]) -> AsyncIterator[str]:
    """Declares a namespace of the bus tests' own; yields it; deletes it all after.

    Not the run's namespace: the services' own tests run in the same session, and the
    clearing consumer would take (and dead-letter) the bus tests' bare events."""
    namespace = f"{settings.bus_namespace}-bus"
    channel = await bus.open_channel(prefetch_count=1)
    await declare_topology(channel, namespace, REGIONS)
    yield namespace
    queues = [
        settlement_events_queue(namespace),
        dead_letter_queue(namespace),
        *(region_queue(namespace, code) for code in REGIONS),
        *declared_queues,
    ]
    for queue in queues:
        await channel.queue_delete(queue, timeout=10)
    for kind in EXCHANGE_KINDS:
        await channel.exchange_delete(exchange_name(namespace, kind), timeout=10)
    await channel.exchange_delete(dead_letter_exchange(namespace), timeout=10)
    await channel.close()


@pytest.fixture
def pool_code() -> str:
    """A 6-digit pooling region of the test's own, so its routing keys reach only it."""
    return f"{random.randrange(100_000, 1_000_000)}"


@dataclass(frozen=True)
class WorkQueue:
    name: str
    pool_code: str


@pytest.fixture
def make_work_queue(
    bus: Bus, topology: str, declared_queues: list[str], unique: str, pool_code: str
) -> Callable[..., Awaitable[WorkQueue]]:
    """Declare the test's quorum queue: settlement events of its pool as insured pool."""

    async def make(*, delivery_limit: int = 5) -> WorkQueue:
        name = queue_name(topology, "test", unique)
        channel = await bus.open_channel(prefetch_count=1)
        await declare_work_queue(
            channel,
            topology,
            name,
            [(exchange_name(topology, "settlement"), f"settlement.*.{pool_code}.*")],
            limits=QueueLimits(delivery_limit=delivery_limit, max_length=10_000),
        )
        await channel.close()
        declared_queues.append(name)
        return WorkQueue(name, pool_code)

    return make


@dataclass(frozen=True)
class Schema:
    name: str
    pool: asyncpg.Pool


@pytest.fixture
async def schema(settings: Settings, database: str, unique: str) -> AsyncIterator[Schema]:
    """A fresh schema with the shared migrations (outbox, inbox) and an effects table."""
    name = f"bus_{unique}"
    conn = await asyncpg.connect(database, timeout=10)
    try:
        await db.migrate(conn, name, db._load_folder("shared", "shared"))
        await conn.execute(f'SET search_path TO "{name}"')
        await conn.execute(EFFECTS_DDL)
    finally:
        await conn.close()
    pool = await db.create_pool(database, name, min_size=1, max_size=8)
    yield Schema(name, pool)
    await pool.close()
