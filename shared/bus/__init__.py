"""Message bus: RabbitMQ connection, topology, transactional outbox and inbox consumer.

Publishing side: ``enqueue`` an event in the transaction of its change; an
``OutboxRelay`` publishes it with publisher confirms. Consuming side: an ``InboxConsumer``
applies each message's effect once, in the transaction that records its id.
Names of exchanges, queues and routing keys come from ``shared.bus.names`` only.
"""

from shared.bus.connection import Bus, PublishFailed
from shared.bus.inbox import ConsumerStats, Delivery, Handler, InboxConsumer, PoisonMessage
from shared.bus.names import (
    advance_alert_key,
    dead_letter_exchange,
    dead_letter_queue,
    exchange_name,
    filing_key,
    queue_name,
    region_pattern,
    region_queue,
    settlement_events_queue,
    settlement_reversed_key,
    settlement_settled_key,
    statement_issued_key,
)
from shared.bus.outbox import (
    OUTBOX_COLUMNS,
    OutboxItem,
    OutboxRelay,
    RelayPass,
    RelayStats,
    enqueue,
    enqueue_many,
    outbox_values,
)
from shared.bus.topology import QueueLimits, declare_topology, declare_work_queue, ensure_topology

__all__ = [
    "OUTBOX_COLUMNS",
    "Bus",
    "ConsumerStats",
    "Delivery",
    "Handler",
    "InboxConsumer",
    "OutboxItem",
    "OutboxRelay",
    "PoisonMessage",
    "PublishFailed",
    "QueueLimits",
    "RelayPass",
    "RelayStats",
    "advance_alert_key",
    "dead_letter_exchange",
    "dead_letter_queue",
    "declare_topology",
    "declare_work_queue",
    "enqueue",
    "enqueue_many",
    "ensure_topology",
    "exchange_name",
    "filing_key",
    "outbox_values",
    "queue_name",
    "region_pattern",
    "region_queue",
    "settlement_events_queue",
    "settlement_reversed_key",
    "settlement_settled_key",
    "statement_issued_key",
]
