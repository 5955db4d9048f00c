"""Helpers of the bus tests: a settlement event, an effects handler."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from google.protobuf.message import DecodeError

from shared.bus import (
    Delivery,
    OutboxItem,
    PoisonMessage,
    enqueue_many,
    exchange_name,
    settlement_settled_key,
)
from shared.pb.crossclear.events.v1 import events_pb2

EFFECTS_DDL = """
CREATE TABLE effects (
    id          bigserial PRIMARY KEY,
    message_id  text NOT NULL,   -- deliberately not unique: a double effect must show
    setl_id     text NOT NULL
)"""

SETTLEMENT_TYPE = events_pb2.SettlementEvent.DESCRIPTOR.full_name


def settlement_event(
    insured_pool: str, treatment_pool: str = "440100"
) -> events_pb2.SettlementEvent:
    event_id = str(uuid.uuid4())
    return events_pb2.SettlementEvent(
        event_id=event_id,
        kind=events_pb2.SETTLEMENT_EVENT_KIND_SETTLED,
        setl_id=f"S{event_id[:8]}",
        insured_pool=insured_pool,
        treatment_pool=treatment_pool,
        clearing_period="202405",
    )


async def enqueue_settled(pool: Any, namespace: str, pool_code: str, count: int) -> list[str]:
    """Commit count settlement events of pool_code into the outbox; return their ids."""
    events = [settlement_event(pool_code) for _ in range(count)]
    items = [
        OutboxItem(
            exchange=exchange_name(namespace, "settlement"),
            routing_key=settlement_settled_key(e.insured_pool, e.treatment_pool),
            message=e,
            message_id=e.event_id,
        )
        for e in events
    ]
    async with pool.acquire() as conn, conn.transaction():
        await enqueue_many(conn, items)
    return [e.event_id for e in events]


async def effects(pool: Any) -> list[str]:
    """The message ids of the effects rows, in the order they were written."""
    rows = await pool.fetch("SELECT message_id FROM effects ORDER BY id")
    return [row["message_id"] for row in rows]


def effects_handler(
    *, fail_ids: frozenset[str] = frozenset(), attempts: dict[str, int] | None = None
) -> Callable[[Any, list[Delivery]], Awaitable[None]]:
    """Decode each delivery and write one effects row; fail for ids in fail_ids."""

    async def handle(conn: Any, deliveries: list[Delivery]) -> None:
        rows = []
        for delivery in deliveries:
            if attempts is not None:
                attempts[delivery.message_id] = attempts.get(delivery.message_id, 0) + 1
            if delivery.message_id in fail_ids:
                raise RuntimeError(f"handler keeps failing for {delivery.message_id}")
            rows.append((delivery.message_id, decode(delivery).setl_id))
        await conn.executemany("INSERT INTO effects (message_id, setl_id) VALUES ($1, $2)", rows)

    return handle


def decode(delivery: Delivery) -> events_pb2.SettlementEvent:
    if delivery.message_type != SETTLEMENT_TYPE:
        raise PoisonMessage(f"unexpected message type {delivery.message_type!r}")
    event = events_pb2.SettlementEvent()
    try:
        event.ParseFromString(delivery.body)
    except DecodeError as exc:
        raise PoisonMessage("undecodable SettlementEvent") from exc
    if event.event_id != delivery.message_id:
        raise PoisonMessage("event_id differs from the message id")
    return event
