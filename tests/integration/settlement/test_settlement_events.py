"""Every committed settlement and reversal is exactly one outbox event, a refused one none,
and the broker delivers exactly the outbox's events to a queue bound to ``settlement.#``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import asyncpg
import grpc

from shared.bus import Bus
from shared.config import Settings
from shared.pb.crossclear.events.v1 import events_pb2
from tests.support.polling import wait_until

from .support import (
    COLONOSCOPY,
    GUANGZHOU,
    GUANGZHOU_HOSPITALS,
    NANNING,
    Filing,
    Hospital,
    fee,
    rpc_error,
)

DELIVERY_WAIT_S = 20.0


async def outbox_events(db: asyncpg.Pool) -> dict[str, tuple[str, events_pb2.SettlementEvent]]:
    """message_id → (routing key, event) of every outbox row."""
    async with db.acquire() as conn:
        rows = await conn.fetch("SELECT message_id, routing_key, payload FROM outbox")
    return {
        str(r["message_id"]): (
            r["routing_key"],
            events_pb2.SettlementEvent.FromString(r["payload"]),
        )
        for r in rows
    }


async def test_each_settlement_and_reversal_is_one_event_delivered_once(
    hospital: Callable[[str], Hospital],
    filing: Filing,
    settlement_db: asyncpg.Pool,
    settings: Settings,
    event_queue: str,
) -> None:
    person = await filing.new_person(NANNING)
    await filing.file(person, pool_code=GUANGZHOU)
    h = hospital(GUANGZHOU_HOSPITALS[0])
    mdtrt_id, total_fen = await h.outpatient_visit(person, [fee(1, COLONOSCOPY, "44")])
    before = await outbox_events(settlement_db)

    info = (await h.settle(person, mdtrt_id, total_fen)).setlinfo
    refused = await rpc_error(h.settle(person, mdtrt_id, total_fen))  # settled already
    assert refused.code() is grpc.StatusCode.FAILED_PRECONDITION
    reversal = (await h.reverse(person, info)).setlinfo

    after = await outbox_events(settlement_db)
    new = {k: v for k, v in after.items() if k not in before}
    by_setl_id = {event.setl_id: (key, event) for key, event in new.values()}
    assert len(new) == 2 and set(by_setl_id) == {info.setl_id, reversal.setl_id}
    key, settled = by_setl_id[info.setl_id]
    assert key == f"settlement.settled.{NANNING}.{GUANGZHOU}"
    assert settled.kind == events_pb2.SETTLEMENT_EVENT_KIND_SETTLED
    assert settled.amounts.medfee_sumamt_fen == total_fen
    assert settled.amounts.hifp_fen == info.hifp_pay_fen
    assert settled.clearing_period == info.clr_ym and settled.medins_setl_id == info.medins_setl_id
    key, undone = by_setl_id[reversal.setl_id]
    assert key == f"settlement.reversed.{NANNING}.{GUANGZHOU}"
    assert undone.kind == events_pb2.SETTLEMENT_EVENT_KIND_REVERSED
    assert undone.reversed_setl_id == info.setl_id
    assert undone.amounts.medfee_sumamt_fen == -total_fen

    # The broker: the queue gets these two exactly once, and nothing the outbox lacks.
    received = await drain_until(settings, event_queue, set(new))
    outbox_ids = set((await outbox_events(settlement_db)).keys())
    assert all(received[m] == 1 for m in new)
    assert set(received) <= outbox_ids
    assert max(received.values()) == 1


async def drain_until(settings: Settings, queue: str, expected: set[str]) -> Counter[str]:
    """Consume the queue until every expected message id arrived; count every id seen."""
    bus = await Bus.connect(settings.amqp_url, connect_timeout_s=5, connect_attempts=2)
    seen: Counter[str] = Counter()
    try:
        channel = await bus.open_channel(prefetch_count=100)
        declared = await channel.get_queue(queue, ensure=False)

        async def arrived() -> bool:
            while not expected <= set(seen):
                message = await declared.get(no_ack=False, fail=False, timeout=5)
                if message is None:
                    return False
                assert message.message_id is not None
                seen[message.message_id] += 1
                await message.ack()
            return True

        await wait_until(arrived, timeout_s=DELIVERY_WAIT_S, what=f"{len(expected)} events")
        # Whatever else is already queued is checked too (no duplicates, nothing extra).
        while (message := await declared.get(no_ack=False, fail=False, timeout=5)) is not None:
            assert message.message_id is not None
            seen[message.message_id] += 1
            await message.ack()
        await channel.close()
    finally:
        await bus.close()
    return seen
