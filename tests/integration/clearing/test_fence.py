"""The cut-off fence: settlements published while their period is being closed each land
in exactly one period, and none lands in the period after its close committed."""

from __future__ import annotations

import asyncio

import asyncpg

from services.clearing.consumer import LedgerIngest
from services.clearing.domain.periods import Period
from services.clearing.messages import SETTLEMENT_EVENT_TYPE
from shared.bus import Bus, Delivery
from shared.pb.crossclear.clearing.v1 import clearing_pb2 as pb
from tests.support.polling import wait_until

from .conftest import Client
from .support import Event, publish, settlement, wait_ingested

PERIOD, NEXT = "200605", "200606"
LIUZHOU, SHENZHEN = "450200", "440300"
EVENTS = 600
CHUNK = 20


async def _count_in(db: asyncpg.Pool, period: str, ids: list[str]) -> int:
    count = await db.fetchval(
        "SELECT count(DISTINCT event_id) FROM ledger WHERE period = $1 AND event_id = ANY($2)",
        period,
        ids,
    )
    return int(count)


async def test_events_published_during_close_land_in_exactly_one_period(
    operator: Client, publisher: Bus, namespace: str, db: asyncpg.Pool, unique: str
) -> None:
    events = [
        settlement(f"F{unique}{i:04d}", LIUZHOU, SHENZHEN, PERIOD, hifp=1_000 + i)
        for i in range(EVENTS)
    ]
    ids = [e.event_id for e in events]

    async def stream() -> None:
        for start in range(0, EVENTS, CHUNK):
            await publish(publisher, namespace, events[start : start + CHUNK])
            await asyncio.sleep(0.005)

    streaming = asyncio.create_task(stream())
    try:

        async def some_landed() -> bool:
            return await _count_in(db, PERIOD, ids) >= EVENTS // 6

        await wait_until(some_landed, timeout_s=15, what="the first events ingested")
        assert not streaming.done(), "the stream must still run while the period closes"
        closed = await operator.ClosePeriod(pb.ClosePeriodRequest(period=PERIOD))
        in_period_at_close = await _count_in(db, PERIOD, ids)
        await streaming
    finally:
        streaming.cancel()
    await wait_ingested(db, events)

    rows = await db.fetch(
        """SELECT event_id, count(*) AS entries, min(period) AS period, bool_and(late) AS late,
                  min(event_period) AS event_period
             FROM ledger WHERE event_id = ANY($1) GROUP BY event_id""",
        ids,
    )
    assert len(rows) == EVENTS
    assert all(r["entries"] == 1 and r["event_period"] == PERIOD for r in rows)
    landed = {r["event_id"]: r["period"] for r in rows}
    in_period = [e for e in events if landed[e.event_id] == PERIOD]
    late = [e for e in events if landed[e.event_id] == NEXT]
    assert len(in_period) + len(late) == EVENTS
    assert in_period and late, "the close must fall inside the stream"
    # Nothing landed in the period after its close committed; every late one is flagged.
    assert len(in_period) == in_period_at_close == closed.period.event_count
    assert all(r["late"] == (r["period"] == NEXT) for r in rows)
    next_period = await operator.GetPeriod(pb.GetPeriodRequest(period=NEXT))
    assert next_period.period.state == pb.PERIOD_STATE_OPEN
    assert next_period.period.late_event_count == len(late)

    # The closed period's statement holds exactly the events that landed in it.
    await operator.GenerateStatements(pb.GenerateStatementsRequest(period=PERIOD))
    detail = await operator.GetStatement(
        pb.GetStatementRequest(statement_id=f"{PERIOD}-{LIUZHOU}-{SHENZHEN}")
    )
    assert detail.statement.settlement_count == len(in_period)
    assert detail.statement.net_fen == sum(_fen(e) for e in in_period)


def _fen(event: Event) -> int:
    return event.cleared_fen


async def test_close_waits_for_an_ingesting_transaction_and_later_ones_land_late(
    operator: Client, publisher: Bus, namespace: str, db: asyncpg.Pool, unique: str
) -> None:
    period, after = Period.parse("200611"), "200612"
    first = settlement(f"G{unique}1", LIUZHOU, SHENZHEN, str(period), hifp=1_000)
    second = settlement(f"G{unique}2", LIUZHOU, SHENZHEN, str(period), hifp=2_000)
    ingest = LedgerIngest(namespace, (7000, 9000))
    async with db.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            # An ingestion transaction in flight: the period rows are locked, the row
            # inserted, nothing committed yet.
            await ingest(conn, [_delivery(first)])
            closing = asyncio.create_task(
                operator.ClosePeriod(pb.ClosePeriodRequest(period=str(period)))
            )
            await asyncio.sleep(0.5)
            assert not closing.done(), "the close must wait for the ingesting transaction"
        finally:
            await transaction.commit()
    closed = await closing
    assert closed.period.event_count == 1  # the in-flight event made it into the period
    await publish(publisher, namespace, [second])
    await wait_ingested(db, [second])
    landed = await db.fetchval("SELECT period FROM ledger WHERE event_id = $1", second.event_id)
    assert landed == after


def _delivery(event: Event) -> Delivery:
    return Delivery(
        message_id=event.event_id,
        routing_key="settlement.settled",
        message_type=SETTLEMENT_EVENT_TYPE,
        body=event.message().SerializeToString(),
        headers={},
        redelivered=False,
    )
