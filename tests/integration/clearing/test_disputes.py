"""Disputes: the disputed lines leave the period's netting and come back, exactly those,
as adjustments on the next period's statement once resolved."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
import grpc
import pytest

from shared.bus import Bus
from shared.grpc_errors import reason_of
from shared.pb.crossclear.clearing.v1 import clearing_pb2 as pb
from shared.pb.crossclear.common.v1 import common_pb2

from .conftest import Client
from .support import publish, settlement, wait_ingested

PERIOD, NEXT = "200709", "200710"
NANNING, LIUZHOU, GUANGZHOU = "450100", "450200", "440100"


async def test_disputing_two_lines_moves_exactly_those_lines_into_the_next_period(
    operator: Client,
    as_caller: Callable[[str], Client],
    publisher: Bus,
    namespace: str,
    db: asyncpg.Pool,
    unique: str,
) -> None:
    lines = [
        settlement(f"D{unique}{i}", NANNING, GUANGZHOU, PERIOD, hifp=10_000 * i, maf=100 * i)
        for i in range(1, 6)
    ]
    provincial = settlement(f"D{unique}P", LIUZHOU, NANNING, PERIOD, hifp=4_000)
    await publish(publisher, namespace, [*lines, provincial])
    await wait_ingested(db, [*lines, provincial])
    for step in ("ClosePeriod", "GenerateStatements", "DeliverStatements"):
        request = getattr(pb, f"{step}Request")(period=PERIOD)
        await getattr(operator, step)(request)

    national_id = f"{PERIOD}-{NANNING}-{GUANGZHOU}"
    disputed = [lines[1], lines[3]]
    reply = await as_caller(NANNING).DisputeStatement(
        pb.DisputeStatementRequest(
            statement_id=national_id,
            setl_ids=[e.setl_id for e in disputed],
            reason="billed twice 重复收费",
        )
    )
    assert reply.disputed_line_count == 2
    assert reply.statement.state == pb.STATEMENT_STATE_DISPUTED
    assert reply.statement.disputed_fen == sum(e.cleared_fen for e in disputed)
    # Repeating the dispute changes nothing.
    again = await as_caller(NANNING).DisputeStatement(
        pb.DisputeStatementRequest(
            statement_id=national_id, setl_ids=[disputed[0].setl_id], reason="billed twice"
        )
    )
    assert again.no_op and again.disputed_line_count == 0
    # A settlement id not on the statement is named in the error.
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await as_caller(NANNING).DisputeStatement(
            pb.DisputeStatementRequest(statement_id=national_id, setl_ids=["nope"], reason="x")
        )
    assert unknown.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    # The other party can no longer confirm the statement as generated.
    with pytest.raises(grpc.aio.AioRpcError) as late_confirm:
        await as_caller(GUANGZHOU).ConfirmStatement(
            pb.ConfirmStatementRequest(statement_id=national_id)
        )
    assert reason_of(late_confirm.value) == "ILLEGAL_TRANSITION"
    # Only operators, the national centre (or a province centre inside its province) decide.
    for outsider in (NANNING, "45", "44"):
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await as_caller(outsider).ResolveDispute(
                pb.ResolveDisputeRequest(statement_id=national_id)
            )
        assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED

    resolved = await as_caller("NHSA").ResolveDispute(
        pb.ResolveDisputeRequest(
            statement_id=national_id,
            decisions=[
                pb.LineDecision(
                    setl_id=disputed[0].setl_id,
                    outcome=pb.DISPUTE_OUTCOME_REJECTED,
                    note="billed once; the line stands",
                ),
                pb.LineDecision(
                    setl_id=disputed[1].setl_id,
                    outcome=pb.DISPUTE_OUTCOME_AMENDED,
                    amended_amounts=[
                        pb.FundAmount(fund_type=common_pb2.FUND_TYPE_HIFP, amount_fen=25_000)
                    ],
                    note="one item not covered",
                ),
            ],
        )
    )
    assert resolved.statement.state == pb.STATEMENT_STATE_RESOLVED
    assert resolved.undecided_line_count == 0
    assert {(a.setl_id, a.target_period) for a in resolved.adjustments} == {
        (disputed[0].setl_id, NEXT),
        (disputed[1].setl_id, NEXT),
    }

    provincial_id = f"{PERIOD}-{LIUZHOU}-{NANNING}"
    for code in (LIUZHOU, NANNING):
        await as_caller(code).ConfirmStatement(
            pb.ConfirmStatementRequest(statement_id=provincial_id)
        )
    await operator.NetPeriod(pb.NetPeriodRequest(period=PERIOD))
    positions = await operator.GetNetPositions(
        pb.GetNetPositionsRequest(period=PERIOD, leg=pb.NET_LEG_NATIONAL)
    )
    (national,) = positions.levels
    kept = [e for e in lines if e not in disputed]
    assert {p.party: p.net_fen for p in national.positions} == {
        "44": sum(e.cleared_fen for e in kept),
        "45": -sum(e.cleared_fen for e in kept),
    }

    # The next period's statement for the pair carries exactly the two decided lines.
    await operator.ClosePeriod(pb.ClosePeriodRequest(period=NEXT))
    await operator.GenerateStatements(pb.GenerateStatementsRequest(period=NEXT))
    detail = await operator.GetStatement(
        pb.GetStatementRequest(statement_id=f"{NEXT}-{NANNING}-{GUANGZHOU}")
    )
    carried = {a.setl_id: a for a in detail.adjustments}
    assert set(carried) == {e.setl_id for e in disputed}
    assert carried[disputed[0].setl_id].total_fen == disputed[0].cleared_fen
    assert carried[disputed[1].setl_id].total_fen == 25_000
    assert all(a.origin_period == PERIOD for a in carried.values())
    assert detail.statement.line_count == 0
    assert detail.statement.net_fen == disputed[0].cleared_fen + 25_000
