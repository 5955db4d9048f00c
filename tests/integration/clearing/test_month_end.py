"""The month-end run against the real service, PostgreSQL and RabbitMQ: statements equal
the events' sums, net positions sum to zero at every level, regeneration is byte-identical,
parties only act on their own statements, and the period ends SETTLED."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
import grpc
import pytest

from shared.bus import Bus
from shared.grpc_errors import reason_of
from shared.pb.crossclear.clearing.v1 import clearing_pb2 as pb
from shared.pb.crossclear.common.v1 import common_pb2
from shared.pb.crossclear.events.v1 import events_pb2

from .conftest import Client
from .support import (
    FUND_NAMES,
    Event,
    drain_region,
    expected_statements,
    publish,
    reversal,
    settlement,
    wait_ingested,
    wait_relayed,
)

PERIOD = "200403"
NANNING, LIUZHOU, GUILIN, BEIHAI = "450100", "450200", "450300", "450500"
GUANGZHOU, SHENZHEN = "440100", "440300"


def _events() -> list[Event]:
    p = PERIOD
    s1 = settlement("MS001", NANNING, GUANGZHOU, p, hifp=120_000, hifob=30_000, acct=5_000)
    s2 = settlement("MS002", NANNING, GUANGZHOU, p, hifp=80_000, maf=7_000)
    s3 = settlement("MS003", SHENZHEN, GUANGZHOU, p, hifp=50_000, acct=1_000)
    s4 = settlement("MS004", NANNING, LIUZHOU, p, hifp=40_000, hifmi=9_000)
    s5 = settlement("MS005", GUANGZHOU, NANNING, p, hifp=60_000, cvlserv=2_000)
    s6 = settlement("MS006", LIUZHOU, NANNING, p, hifp=15_000)
    s7 = settlement("MS007", GUILIN, SHENZHEN, p, hifp=33_000)
    local = settlement("MS008", BEIHAI, BEIHAI, p, hifp=99_000)
    return [s1, s2, s3, s4, s5, s6, s7, local, reversal(s2), reversal(s6)]


async def _statements(client: Client, period: str) -> list[pb.Statement]:
    reply = await client.ListStatements(
        pb.ListStatementsRequest(period=period, page=common_pb2.PageRequest(page_size=1000))
    )
    return list(reply.statements)


async def _canonical(client: Client, statement_id: str) -> bytes:
    reply = await client.GetStatement(
        pb.GetStatementRequest(statement_id=statement_id, include_canonical=True)
    )
    return bytes(reply.canonical)


async def test_month_end_run_from_events_to_settled(
    operator: Client,
    as_caller: Callable[[str], Client],
    publisher: Bus,
    namespace: str,
    db: asyncpg.Pool,
) -> None:
    events = _events()
    await publish(publisher, namespace, events, copies=2)
    await wait_ingested(db, events)

    # An illegal step is refused with the domain's reason, and changes nothing.
    with pytest.raises(grpc.aio.AioRpcError) as early:
        await operator.GenerateStatements(pb.GenerateStatementsRequest(period=PERIOD))
    assert early.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert reason_of(early.value) == "ILLEGAL_TRANSITION"
    # Month-end steps are for operators only.
    with pytest.raises(grpc.aio.AioRpcError) as pool_agency:
        await as_caller(NANNING).ClosePeriod(pb.ClosePeriodRequest(period=PERIOD))
    assert pool_agency.value.code() is grpc.StatusCode.PERMISSION_DENIED

    closed = await operator.ClosePeriod(pb.ClosePeriodRequest(period=PERIOD))
    assert closed.period.state == pb.PERIOD_STATE_CLOSED and not closed.no_op
    again = await operator.ClosePeriod(pb.ClosePeriodRequest(period=PERIOD))
    assert again.no_op
    cross = [e for e in events if e.insured != e.treatment]
    assert closed.period.event_count == len(cross)

    first = await operator.GenerateStatements(pb.GenerateStatementsRequest(period=PERIOD))
    statements = await _statements(operator, PERIOD)
    canonical = {s.statement_id: await _canonical(operator, s.statement_id) for s in statements}

    # Statements equal the events' sums, per pair and fund; the local event is not cleared.
    expected = expected_statements(events)
    assert {(s.insured_pool, s.treatment_pool) for s in statements} == set(expected)
    for s in statements:
        want = expected[(s.insured_pool, s.treatment_pool)]
        got = {FUND_NAMES[f.fund_type]: f.net_fen for f in s.funds if f.net_fen}
        assert got == {f: a for f, a in want.items() if a}, s.statement_id
        assert s.net_fen == sum(want.values())
    assert first.total_net_fen == sum(e.cleared_fen * (-1 if e.reversal_of else 1) for e in cross)

    # Regenerating the same cut-off gives byte-identical statements.
    second = await operator.GenerateStatements(pb.GenerateStatementsRequest(period=PERIOD))
    assert not second.no_op and second.changed_count == 0
    assert second.period.statements_digest == first.period.statements_digest
    for s in await _statements(operator, PERIOD):
        assert await _canonical(operator, s.statement_id) == canonical[s.statement_id]

    delivered = await operator.DeliverStatements(pb.DeliverStatementsRequest(period=PERIOD))
    assert delivered.delivered_count == len(statements)
    assert delivered.period.state == pb.PERIOD_STATE_DELIVERED
    # After delivery, generation is a no-op: the parties hold the statements.
    after = await operator.GenerateStatements(pb.GenerateStatementsRequest(period=PERIOD))
    assert after.no_op and after.period.statements_digest == first.period.statements_digest

    # Each statement reached both parties' region queues.
    await wait_relayed(db)
    for pool in (NANNING, GUANGZHOU):
        issued = [
            m
            for m in await drain_region(publisher, namespace, pool, events_pb2.StatementIssued)
            if m.period == PERIOD
        ]
        mine = {s.statement_id for s in statements if pool in (s.insured_pool, s.treatment_pool)}
        assert {m.statement_id for m in issued} == mine
        for m in issued:
            assert m.digest == next(
                s.digest for s in statements if s.statement_id == m.statement_id
            )

    # A Guangxi pool may not confirm a Guangdong-only statement; a hospital confirms nothing.
    guangdong_only = f"{PERIOD}-{SHENZHEN}-{GUANGZHOU}"
    for outsider in (NANNING, "45", "H45010000001"):
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await as_caller(outsider).ConfirmStatement(
                pb.ConfirmStatementRequest(statement_id=guangdong_only)
            )
        assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED
    # ...nor read it.
    with pytest.raises(grpc.aio.AioRpcError) as hidden:
        await as_caller(NANNING).GetStatement(pb.GetStatementRequest(statement_id=guangdong_only))
    assert hidden.value.code() is grpc.StatusCode.PERMISSION_DENIED
    seen = await _statements(as_caller(NANNING), PERIOD)
    assert {s.statement_id for s in seen} == {
        s.statement_id for s in statements if NANNING in (s.insured_pool, s.treatment_pool)
    }

    # Netting before every statement is final is refused.
    with pytest.raises(grpc.aio.AioRpcError) as not_final:
        await operator.NetPeriod(pb.NetPeriodRequest(period=PERIOD))
    assert reason_of(not_final.value) == "STATEMENTS_NOT_FINAL"

    # Both parties confirm each statement (pool agencies, or Guangdong's centre for 440300).
    for s in statements:
        if s.insured_pool == SHENZHEN:
            # The centre acts for both Guangdong pools here: it must say for which side.
            with pytest.raises(grpc.aio.AioRpcError) as ambiguous:
                await as_caller("44").ConfirmStatement(
                    pb.ConfirmStatementRequest(statement_id=s.statement_id)
                )
            assert ambiguous.value.code() is grpc.StatusCode.INVALID_ARGUMENT
            await as_caller("44").ConfirmStatement(
                pb.ConfirmStatementRequest(statement_id=s.statement_id, party=pb.PARTY_INSURED)
            )
        else:
            await as_caller(s.insured_pool).ConfirmStatement(
                pb.ConfirmStatementRequest(statement_id=s.statement_id)
            )
        confirmed = await as_caller(s.treatment_pool).ConfirmStatement(
            pb.ConfirmStatementRequest(statement_id=s.statement_id)
        )
        assert confirmed.statement.state == pb.STATEMENT_STATE_CONFIRMED

    netted = await operator.NetPeriod(pb.NetPeriodRequest(period=PERIOD))
    assert netted.period.state == pb.PERIOD_STATE_NETTED and netted.instruction_count > 0
    positions = await operator.GetNetPositions(pb.GetNetPositionsRequest(period=PERIOD))
    legs = {(level.leg, level.scope): level for level in positions.levels}
    assert set(legs) == {
        (pb.NET_LEG_PROVINCIAL, "44"),
        (pb.NET_LEG_PROVINCIAL, "45"),
        (pb.NET_LEG_NATIONAL, "NATIONAL"),
        (pb.NET_LEG_ALLOCATION, "44"),
        (pb.NET_LEG_ALLOCATION, "45"),
    }
    national = {p.party: p.net_fen for p in legs[(pb.NET_LEG_NATIONAL, "NATIONAL")].positions}
    for (leg, scope), level in legs.items():
        total = sum(p.net_fen for p in level.positions)
        if leg == pb.NET_LEG_ALLOCATION:
            assert total == national[scope] == level.province_net_fen
        else:
            assert total == 0, (leg, scope)
    # Cross-province: Guangdong receives what Guangxi's pools owe it, net of the reverse.
    owed = {pair: sum(funds.values()) for pair, funds in expected.items()}
    gx_to_gd = sum(v for (i, t), v in owed.items() if i[:2] == "45" and t[:2] == "44")
    gd_to_gx = sum(v for (i, t), v in owed.items() if i[:2] == "44" and t[:2] == "45")
    assert national["44"] == gx_to_gd - gd_to_gx == -national["45"]

    # Paying every instruction settles the period.
    reply = await operator.ListPaymentInstructions(pb.ListPaymentInstructionsRequest(period=PERIOD))
    assert len(reply.instructions) == netted.instruction_count
    for index, instruction in enumerate(reply.instructions):
        with pytest.raises(grpc.aio.AioRpcError) as wrong_amount:
            await operator.RecordPayment(
                pb.RecordPaymentRequest(
                    instruction_id=instruction.instruction_id,
                    amount_fen=instruction.amount_fen + 1,
                    payment_reference=f"BANK-{index}",
                )
            )
        assert wrong_amount.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        paid = await operator.RecordPayment(
            pb.RecordPaymentRequest(
                instruction_id=instruction.instruction_id,
                amount_fen=instruction.amount_fen,
                payment_reference=f"BANK-{index}",
            )
        )
        assert paid.instruction.state == pb.INSTRUCTION_STATE_PAID
    assert paid.period_state == pb.PERIOD_STATE_SETTLED
    final = await operator.GetPeriod(pb.GetPeriodRequest(period=PERIOD))
    assert final.period.state == pb.PERIOD_STATE_SETTLED
    assert final.period.paid_instruction_count == final.period.instruction_count
