"""Advance funds: usage alerts reach the insured side's region queue once per threshold."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
import grpc
import pytest

from shared.bus import Bus
from shared.grpc_errors import reason_of
from shared.pb.crossclear.clearing.v1 import clearing_pb2 as pb
from shared.pb.crossclear.events.v1 import events_pb2

from .conftest import Client
from .support import drain_region, publish, settlement, wait_ingested, wait_relayed

PERIOD = "200811"
GUILIN, GUANGZHOU = "450300", "440100"
ADVANCE_FEN = 1_000_000


async def _alerts(publisher: Bus, namespace: str, db: asyncpg.Pool) -> list[tuple[int, int]]:
    await wait_relayed(db)
    messages = await drain_region(publisher, namespace, GUILIN, events_pb2.AdvanceFundAlert)
    return [
        (m.threshold_bp, m.used_fen)
        for m in messages
        if m.period == PERIOD and m.treatment_pool == GUANGZHOU
    ]


async def test_alerts_arrive_once_per_threshold(
    operator: Client,
    as_caller: Callable[[str], Client],
    publisher: Bus,
    namespace: str,
    db: asyncpg.Pool,
    unique: str,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await as_caller(GUILIN).SetAdvanceFund(
            pb.SetAdvanceFundRequest(
                insured_pool=GUILIN, treatment_pool=GUANGZHOU, amount_fen=ADVANCE_FEN
            )
        )
    assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as no_history:
        await operator.SetAdvanceFund(
            pb.SetAdvanceFundRequest(
                insured_pool=GUILIN,
                treatment_pool=GUANGZHOU,
                from_history=pb.SizeFromHistory(as_of_period=PERIOD),
            )
        )
    assert reason_of(no_history.value) == "NO_HISTORY"
    await operator.SetAdvanceFund(
        pb.SetAdvanceFundRequest(
            insured_pool=GUILIN, treatment_pool=GUANGZHOU, amount_fen=ADVANCE_FEN
        )
    )
    await _alerts(publisher, namespace, db)  # whatever earlier runs left on the queue

    counter = iter(range(1_000))

    async def spend(*amounts_fen: int) -> None:
        events = [
            settlement(f"V{unique}{next(counter):03d}", GUILIN, GUANGZHOU, PERIOD, hifp=a)
            for a in amounts_fen
        ]
        await publish(publisher, namespace, events, copies=2)
        await wait_ingested(db, events)

    await spend(300_000, 350_000)  # 65 %
    assert await _alerts(publisher, namespace, db) == []
    await spend(100_000)  # 75 %: the first threshold
    assert await _alerts(publisher, namespace, db) == [(7_000, 750_000)]
    await spend(100_000, 100_000)  # 95 %: the second
    assert await _alerts(publisher, namespace, db) == [(9_000, 950_000)]
    await spend(200_000)  # 115 %: nothing new
    assert await _alerts(publisher, namespace, db) == []

    funds = await as_caller(GUILIN).GetAdvanceFunds(
        pb.GetAdvanceFundsRequest(period=PERIOD, treatment_pool=GUANGZHOU)
    )
    (fund,) = funds.advance_funds
    assert (fund.advance_fen, fund.used_fen, fund.used_bp) == (ADVANCE_FEN, 1_150_000, 11_500)
    assert list(fund.alerted_thresholds_bp) == [7_000, 9_000]
    assert list(funds.thresholds_bp) == [7_000, 9_000]
    # Another pool sees nothing of the pair.
    other = await as_caller("440300").GetAdvanceFunds(pb.GetAdvanceFundsRequest(period=PERIOD))
    assert not [f for f in other.advance_funds if f.insured_pool == GUILIN]

    # Sized from history: two months of the trailing average (one month here), in yuan.
    sized = await operator.SetAdvanceFund(
        pb.SetAdvanceFundRequest(
            insured_pool=GUILIN,
            treatment_pool=GUANGZHOU,
            from_history=pb.SizeFromHistory(as_of_period="200812", trailing_months=1),
        )
    )
    assert list(sized.trailing_monthly_fen) == [1_150_000]
    assert sized.advance_fund.advance_fen == 2_300_000
    topped = await operator.TopUpAdvanceFund(
        pb.TopUpAdvanceFundRequest(
            insured_pool=GUILIN,
            treatment_pool=GUANGZHOU,
            top_up_id=f"TOPUP-{unique}",
            amount_fen=100_000,
        )
    )
    again = await operator.TopUpAdvanceFund(
        pb.TopUpAdvanceFundRequest(
            insured_pool=GUILIN,
            treatment_pool=GUANGZHOU,
            top_up_id=f"TOPUP-{unique}",
            amount_fen=100_000,
        )
    )
    assert topped.advance_fund.advance_fen == again.advance_fund.advance_fen == 2_400_000
    assert again.no_op
