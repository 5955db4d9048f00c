"""Hospitals and pharmacies apart, against the real service, PostgreSQL and RabbitMQ: one
hospital and one pharmacy settling for the same pair of pools land in the ledger under
their kinds, and the statement (GetStatement) and its StatementIssued message show each
kind's counts and fund totals exactly, adding up to the statement's own."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from shared.bus import Bus
from shared.pb.crossclear.clearing.v1 import clearing_pb2 as pb
from shared.pb.crossclear.events.v1 import events_pb2

from .conftest import Client
from .support import FUND_NAMES, Event, drain_region, publish, reversal, wait_ingested, wait_relayed

PERIOD = "200502"  # used by no other test
NANNING, GUANGZHOU = "450100", "440100"
HOSPITAL, PHARMACY = "H44010000001", "P44010000007"
STATEMENT_ID = f"{PERIOD}-{NANNING}-{GUANGZHOU}"


def _events() -> list[Event]:
    at_hospital = Event(
        "IK001", NANNING, GUANGZHOU, PERIOD, {"hifp": 120_000, "acct": 5_000}, hospital=HOSPITAL
    )
    at_pharmacy = Event(
        "IK002", NANNING, GUANGZHOU, PERIOD, {"acct": 3_200, "hifp": 800}, 100, hospital=PHARMACY
    )
    undone = Event("IK003", NANNING, GUANGZHOU, PERIOD, {"acct": 1_500}, hospital=PHARMACY)
    return [at_hospital, at_pharmacy, undone, reversal(undone)]


def _funds(totals: list[pb.FundTotal] | list[events_pb2.StatementFundTotal]) -> dict[str, int]:
    return {FUND_NAMES[f.fund_type]: f.net_fen for f in totals if f.net_fen}


async def test_hospital_and_pharmacy_amounts_apart_from_ledger_to_statement_issued(
    operator: Client,
    as_caller: Callable[[str], Client],
    publisher: Bus,
    namespace: str,
    db: asyncpg.Pool,
) -> None:
    events = _events()
    await publish(publisher, namespace, events)
    await wait_ingested(db, events)

    # The ledger keeps each entry's institution kind, from the code in its event.
    rows = await db.fetch(
        "SELECT institution_kind, count(DISTINCT event_id) AS events,"
        " sum(amount_fen)::bigint AS fen FROM ledger WHERE period = $1"
        " GROUP BY institution_kind ORDER BY institution_kind",
        PERIOD,
    )
    assert [(r["institution_kind"], r["events"], r["fen"]) for r in rows] == [
        ("HOSPITAL", 1, 125_000),
        ("PHARMACY", 3, 4_000),
    ]

    await operator.ClosePeriod(pb.ClosePeriodRequest(period=PERIOD))
    await operator.GenerateStatements(pb.GenerateStatementsRequest(period=PERIOD))
    reply = await as_caller(NANNING).GetStatement(pb.GetStatementRequest(statement_id=STATEMENT_ID))
    statement = reply.statement
    assert (statement.settlement_count, statement.reversal_count) == (3, 1)
    assert statement.net_fen == 129_000
    hospital, pharmacy = statement.institution_totals
    assert hospital.institution_kind == events_pb2.INSTITUTION_KIND_HOSPITAL
    assert pharmacy.institution_kind == events_pb2.INSTITUTION_KIND_PHARMACY
    assert (
        hospital.settlement_count,
        hospital.reversal_count,
        hospital.line_count,
        hospital.adjustment_count,
        hospital.net_fen,
    ) == (1, 0, 1, 0, 125_000)
    assert (
        pharmacy.settlement_count,
        pharmacy.reversal_count,
        pharmacy.line_count,
        pharmacy.adjustment_count,
        pharmacy.net_fen,
    ) == (2, 1, 3, 0, 4_000)
    assert _funds(hospital.funds) == {"hifp": 120_000, "acct": 5_000}
    assert _funds(pharmacy.funds) == {"hifp": 800, "acct": 3_200}
    acct = next(f for f in pharmacy.funds if FUND_NAMES[f.fund_type] == "acct")
    assert (acct.settled_count, acct.settled_fen, acct.reversed_count, acct.reversed_fen) == (
        2,
        4_700,
        1,
        -1_500,
    )
    # The kinds add up to the statement, fund by fund.
    assert _funds(statement.funds) == {"hifp": 120_800, "acct": 8_200}
    # The split names the lines' institutions: the lines say which is which.
    kinds = {line.setl_id: line.hospital_code[0] for line in reply.lines}
    assert kinds == {"IK001": "H", "IK002": "P", "IK003": "P", "RIK003": "P"}

    # Both parties receive the split in the StatementIssued message.
    await operator.DeliverStatements(pb.DeliverStatementsRequest(period=PERIOD))
    await wait_relayed(db)
    for pool in (NANNING, GUANGZHOU):
        (issued,) = [
            m
            for m in await drain_region(publisher, namespace, pool, events_pb2.StatementIssued)
            if m.statement_id == STATEMENT_ID
        ]
        got = [
            (k.institution_kind, k.settlement_count, k.reversal_count, k.total_fen, _funds(k.funds))
            for k in issued.institution_totals
        ]
        assert got == [
            (events_pb2.INSTITUTION_KIND_HOSPITAL, 1, 0, 125_000, {"hifp": 120_000, "acct": 5_000}),
            (events_pb2.INSTITUTION_KIND_PHARMACY, 2, 1, 4_000, {"hifp": 800, "acct": 3_200}),
        ]
        assert issued.total_fen == 129_000
