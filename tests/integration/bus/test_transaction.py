"""shared.transaction against the real PostgreSQL: nothing is kept unless committed, and a
keyed request is answered once."""

from __future__ import annotations

import pytest

from shared.bus import OutboxItem, exchange_name, settlement_settled_key
from shared.pb.crossclear.events.v1 import events_pb2
from shared.transaction import MAX_PENDING_EVENTS, answer_once, transaction
from shared.unit_of_work import UnitOfWork

from .conftest import Schema
from .support import settlement_event


def _item(event: events_pb2.SettlementEvent) -> OutboxItem:
    return OutboxItem(
        exchange_name("crossclear-transaction-test", "settlement"),
        settlement_settled_key(event.insured_pool, event.treatment_pool),
        event,
        event.event_id,
    )


async def _outbox_ids(schema: Schema) -> list[str]:
    async with schema.pool.acquire() as conn:
        rows = await conn.fetch("SELECT message_id FROM outbox ORDER BY id")
    return [str(r["message_id"]) for r in rows]


async def test_a_transaction_not_committed_leaves_nothing(schema: Schema) -> None:
    async with transaction(schema.pool) as tx:
        tx.emit(_item(settlement_event("450100")))
        await tx.flush()  # written in the transaction, then rolled back with it
        assert await tx.conn.fetchval("SELECT count(*) FROM outbox") == 1
    assert await _outbox_ids(schema) == []


async def test_a_committed_transaction_writes_what_it_emitted(schema: Schema) -> None:
    first, second = settlement_event("450100"), settlement_event("450200")
    async with transaction(schema.pool) as tx:
        tx.emit(_item(first))
        await tx.flush()
        tx.emit(_item(second))
        await tx.commit()
    assert await _outbox_ids(schema) == [first.event_id, second.event_id]


async def test_a_failing_transaction_rolls_back_its_flushed_events(schema: Schema) -> None:
    class Abort(Exception):
        pass

    with pytest.raises(Abort):
        async with transaction(schema.pool) as tx:
            tx.emit(_item(settlement_event("450100")))
            await tx.flush()
            raise Abort
    assert await _outbox_ids(schema) == []


async def test_pending_events_are_bounded(schema: Schema) -> None:
    event = settlement_event("450100")
    async with transaction(schema.pool) as tx:
        with pytest.raises(ValueError, match="flush"):
            tx.emit(*[_item(event)] * (MAX_PENDING_EVENTS + 1))


async def test_a_keyed_request_is_answered_once(schema: Schema) -> None:
    request = settlement_event("450100")
    runs: list[str] = []

    async def work(uow: UnitOfWork) -> events_pb2.SettlementEvent:
        runs.append(request.event_id)
        uow.emit(_item(request))
        return events_pb2.SettlementEvent(event_id=f"answer-{len(runs)}")

    first = await answer_once(schema.pool, "test", "K1", request, events_pb2.SettlementEvent, work)
    again = await answer_once(schema.pool, "test", "K1", request, events_pb2.SettlementEvent, work)
    assert first.event_id == again.event_id == "answer-1"
    assert len(runs) == 1
    assert await _outbox_ids(schema) == [request.event_id]


async def test_a_failed_keyed_request_is_judged_afresh(schema: Schema) -> None:
    request = settlement_event("450100")

    async def failing(uow: UnitOfWork) -> events_pb2.SettlementEvent:
        uow.emit(_item(request))
        raise RuntimeError("the work failed")

    async def working(uow: UnitOfWork) -> events_pb2.SettlementEvent:
        return events_pb2.SettlementEvent(event_id="answered")

    with pytest.raises(RuntimeError):
        await answer_once(schema.pool, "test", "K2", request, events_pb2.SettlementEvent, failing)
    assert await _outbox_ids(schema) == []
    answer = await answer_once(
        schema.pool, "test", "K2", request, events_pb2.SettlementEvent, working
    )
    assert answer.event_id == "answered"
