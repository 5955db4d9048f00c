"""Gauges an operator needs beside RPC latency: the outbox backlog and its oldest event,
the database pool, queue depths (work and dead-letter queues), requests in progress.

The host samples them every ``SAMPLE_INTERVAL_S`` (a service may add samplers of its own,
e.g. clearing's advance-fund usage). Sampling never fails the service: a sample that
cannot be taken (the database or broker is down) leaves the gauge at its last value, and
the dependency gauge ``crossclear_dependency_up`` says why.

Label names avoid the ones Prometheus Operator and the kube-state exporters attach
(``service``, ``namespace``, ``pod``, ``job``, ``instance``): ours are ``grpc_service``,
``grpc_method``, ``grpc_code``, ``crossclear_service``, ``queue``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

import asyncpg
import structlog
from prometheus_client import Gauge

from shared import clock
from shared.faults import describe

log = structlog.get_logger(__name__)

SAMPLE_INTERVAL_S: Final = 5.0
_SAMPLE_TIMEOUT_S: Final = 3.0

OUTBOX_PENDING = Gauge(
    "crossclear_outbox_pending",
    "Outbox events not yet confirmed by the broker",
    ["crossclear_service"],
)
OUTBOX_OLDEST_AGE = Gauge(
    "crossclear_outbox_oldest_pending_seconds",
    "Age of the oldest unpublished outbox event (0 when the outbox is empty)",
    ["crossclear_service"],
)
DB_POOL = Gauge(
    "crossclear_db_pool_connections",
    "Database pool connections by state: in_use, idle, max, waiting (acquirers queued)",
    ["crossclear_service", "state"],
)
QUEUE_MESSAGES = Gauge(
    "crossclear_queue_messages",
    "Messages ready in a queue the service consumes or watches (work and dead-letter)",
    ["queue"],
)
INFLIGHT = Gauge(
    "crossclear_grpc_inflight",
    "RPCs in progress (load shedding starts at CROSSCLEAR_GRPC_MAX_INFLIGHT)",
    ["grpc_service"],
)

Sampler = Callable[[], Awaitable[None]]


def pool_waiting(pool: asyncpg.Pool) -> int:
    """Acquirers waiting for a connection. asyncpg keeps its idle connections in an
    asyncio.Queue; the tasks waiting on it are that queue's getters (read-only here)."""
    queue: Any = getattr(pool, "_queue", None)
    getters = getattr(queue, "_getters", None)
    return sum(1 for g in getters if not g.done()) if getters is not None else 0


def sample_pool(service: str, pool: asyncpg.Pool) -> None:
    size, idle = pool.get_size(), pool.get_idle_size()
    DB_POOL.labels(service, "in_use").set(size - idle)
    DB_POOL.labels(service, "idle").set(idle)
    DB_POOL.labels(service, "max").set(pool.get_max_size())
    DB_POOL.labels(service, "waiting").set(pool_waiting(pool))


async def sample_outbox(service: str, pool: asyncpg.Pool) -> None:
    row = await pool.fetchrow(
        "SELECT count(*) AS pending, min(created_at) AS oldest FROM outbox"
        " WHERE published_at IS NULL",
        timeout=_SAMPLE_TIMEOUT_S,
    )
    assert row is not None
    OUTBOX_PENDING.labels(service).set(row["pending"])
    oldest = row["oldest"]
    age = 0.0 if oldest is None else max(0.0, (clock.now() - oldest).total_seconds())
    OUTBOX_OLDEST_AGE.labels(service).set(age)


async def sample_queues(bus: Any, queues: Sequence[str]) -> None:
    """Depth of each named queue, by a passive declare on a short-lived channel."""
    if not queues or not bus.is_healthy():
        return
    channel = await bus.open_channel(prefetch_count=1)
    try:
        for name in queues:
            declared = await channel.declare_queue(name, passive=True, timeout=_SAMPLE_TIMEOUT_S)
            QUEUE_MESSAGES.labels(name).set(declared.declaration_result.message_count or 0)
    finally:
        await channel.close()


async def run_samplers(samplers: Sequence[Sampler], interval_s: float = SAMPLE_INTERVAL_S) -> None:
    """Take every sample each interval, forever; a failed sample is skipped quietly."""
    while True:
        for sample in samplers:
            try:
                async with asyncio.timeout(_SAMPLE_TIMEOUT_S * 2):
                    await sample()
            except Exception as error:  # a gauge must never take the service down
                log.debug("metric sample skipped", fault=describe(error))
        await asyncio.sleep(interval_s)
