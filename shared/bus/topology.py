"""The broker topology, declared in code at every start (idempotent).

Exchanges (durable, topic): ``<ns>.settlement``, ``<ns>.filing``, ``<ns>.clearing`` and the
dead-letter exchange ``<ns>.dlx``. Queues are quorum queues (replicated, durable) with a
delivery limit: a message that failed ``delivery_limit`` times is dead-lettered to
``<ns>.dlx`` and lands in ``<ns>.dead-letter``. Dead-lettering is at-least-once, which
RabbitMQ allows only with ``x-overflow: reject-publish``: a full queue then refuses new
messages (the publisher's confirm is a nack and its outbox row stays pending) instead of
dropping old ones.

Declaring a queue again with other arguments fails (PRECONDITION_FAILED): changing a
queue's limits means a new queue name or a migration of the broker, never a silent drift.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import structlog
from aio_pika import ExchangeType
from aio_pika.abc import AbstractChannel, AbstractQueue
from pamqp.common import FieldTable

from shared.bus import names
from shared.bus.connection import Bus

log = structlog.get_logger(__name__)

POOL_CODE_CHARS = 6  # a pool's region queue also carries its insured persons' filings

REGIONS_MAX: Final = 1_000  # China has about 400 pooling regions and 31 province centres
DELIVERY_LIMIT_MAX: Final = 100
QUEUE_LENGTH_MAX: Final = 100_000_000


@dataclass(frozen=True)
class QueueLimits:
    # Deliveries before a message is dead-lettered (RabbitMQ's x-delivery-limit).
    delivery_limit: int = 5
    # Messages a queue holds before it refuses publishes (x-max-length, reject-publish).
    max_length: int = 1_000_000

    def __post_init__(self) -> None:
        assert 1 <= self.delivery_limit <= DELIVERY_LIMIT_MAX, self.delivery_limit
        assert 1 <= self.max_length <= QUEUE_LENGTH_MAX, self.max_length


def work_queue_arguments(namespace: str, limits: QueueLimits) -> FieldTable:
    return {
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": names.dead_letter_exchange(namespace),
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
        "x-delivery-limit": limits.delivery_limit,
        "x-max-length": limits.max_length,
    }


def dead_letter_queue_arguments(limits: QueueLimits) -> FieldTable:
    # No dead-letter exchange of its own: this is where failures end, for an operator.
    # reject-publish rather than drop-head: when full, the failing messages stay in
    # their source queues (at-least-once) instead of older dead letters being discarded.
    return {
        "x-queue-type": "quorum",
        "x-overflow": "reject-publish",
        "x-max-length": limits.max_length,
    }


async def declare_work_queue(
    channel: AbstractChannel,
    namespace: str,
    queue: str,
    bindings: Iterable[tuple[str, str]],
    *,
    limits: QueueLimits = QueueLimits(),
    timeout_s: float = 10.0,
) -> AbstractQueue:
    """Declare a quorum queue that dead-letters to ``<ns>.dlx``; bind (exchange, pattern)s."""
    assert queue.startswith(names.check_namespace(namespace) + "."), queue
    declared = await channel.declare_queue(
        queue, durable=True, arguments=work_queue_arguments(namespace, limits), timeout=timeout_s
    )
    for exchange, pattern in bindings:
        await declared.bind(exchange, routing_key=pattern, timeout=timeout_s)
    return declared


async def declare_topology(
    channel: AbstractChannel,
    namespace: str,
    region_codes: Iterable[str],
    *,
    limits: QueueLimits = QueueLimits(),
    timeout_s: float = 10.0,
) -> None:
    """Declare every exchange, queue and binding of the namespace; safe to run again."""
    regions = sorted({names.check_region_code(code) for code in region_codes})
    assert len(regions) <= REGIONS_MAX, len(regions)
    async with asyncio.timeout(timeout_s * (len(regions) + 8)):
        await _declare_exchanges(channel, namespace, timeout_s)
        await _declare_dead_letters(channel, namespace, limits, timeout_s)
        await declare_work_queue(
            channel,
            namespace,
            names.settlement_events_queue(namespace),
            [(names.exchange_name(namespace, "settlement"), names.SETTLEMENT_EVENTS_PATTERN)],
            limits=limits,
            timeout_s=timeout_s,
        )
        clearing = names.exchange_name(namespace, "clearing")
        filing = names.exchange_name(namespace, "filing")
        for code in regions:
            bindings = [(clearing, names.region_pattern(code))]
            if len(code) == POOL_CODE_CHARS:
                bindings.append((filing, names.filing_region_pattern(code)))
            await declare_work_queue(
                channel,
                namespace,
                names.region_queue(namespace, code),
                bindings,
                limits=limits,
                timeout_s=timeout_s,
            )
    log.info("bus topology declared", namespace=namespace, regions=len(regions))


async def ensure_topology(
    bus: Bus,
    namespace: str,
    region_codes: Iterable[str],
    *,
    limits: QueueLimits = QueueLimits(),
    timeout_s: float = 10.0,
) -> None:
    """``declare_topology`` on a channel of its own, closed afterwards (service start-up)."""
    channel = await bus.open_channel(prefetch_count=1)
    try:
        await declare_topology(channel, namespace, region_codes, limits=limits, timeout_s=timeout_s)
    finally:
        if not channel.is_closed:
            await channel.close()


async def _declare_exchanges(channel: AbstractChannel, namespace: str, timeout_s: float) -> None:
    for kind in names.EXCHANGE_KINDS:
        await channel.declare_exchange(
            names.exchange_name(namespace, kind),
            ExchangeType.TOPIC,
            durable=True,
            timeout=timeout_s,
        )


async def _declare_dead_letters(
    channel: AbstractChannel, namespace: str, limits: QueueLimits, timeout_s: float
) -> None:
    dlx = await channel.declare_exchange(
        names.dead_letter_exchange(namespace), ExchangeType.TOPIC, durable=True, timeout=timeout_s
    )
    queue = await channel.declare_queue(
        names.dead_letter_queue(namespace),
        durable=True,
        arguments=dead_letter_queue_arguments(limits),
        timeout=timeout_s,
    )
    await queue.bind(dlx, routing_key=names.DEAD_LETTER_PATTERN, timeout=timeout_s)
