"""Hospitals and pharmacies apart: the kind comes from the institution code, every ledger
entry and statement line has one, and a statement's figures per kind add up to its own
and travel in the CSV export and the StatementIssued message."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest
from hypothesis import given, settings

from services.clearing.domain.disputes import resolve_disputed_line, split_disputed
from services.clearing.domain.events import FUND_ORDER, EventKind, FundType, SettlementEvent
from services.clearing.domain.exports import render_csv_files
from services.clearing.domain.lines import DisputeOutcome
from services.clearing.domain.pools import (
    INSTITUTION_KINDS,
    check_hospital_code,
    institution_kind_of,
)
from services.clearing.domain.statements import (
    InstitutionSummary,
    Statement,
    StatementBuilder,
    build_statements,
)
from services.clearing.messages import statement_issued_items
from shared.errors import InvalidArgument
from shared.pb.crossclear.events.v1 import events_pb2
from shared.reference.institutions import InstitutionKind

from .clearing_factories import (
    FEB,
    HOSPITAL_GZ,
    JAN,
    PHARMACY_GZ,
    SHANGHAI,
    entries_of,
    event_lists,
    make_event,
    settle_time,
)

HOSPITAL, PHARMACY = InstitutionKind.HOSPITAL, InstitutionKind.PHARMACY


def _month() -> Statement:
    """One hospital settlement; two pharmacy settlements, one of them reversed."""
    events = [
        make_event("H1", funds={FundType.HIFP: 120_000, FundType.ACCT: 5_000}),
        make_event("P1", hospital=PHARMACY_GZ, funds={FundType.ACCT: 3_200, FundType.HIFP: 800}),
        make_event("P2", hospital=PHARMACY_GZ, funds={FundType.ACCT: 1_500}),
        make_event(
            "RP2",
            kind=EventKind.REVERSED,
            hospital=PHARMACY_GZ,
            funds={FundType.ACCT: 1_500},
            reversed_setl_id="P2",
        ),
    ]
    (statement,) = build_statements(JAN, entries_of(events))
    return statement


def _fund_nets(summary: InstitutionSummary) -> dict[FundType, int]:
    return {f.fund: f.net_fen for f in summary.funds if f.net_fen}


def test_the_kind_is_the_first_letter_of_the_institution_code() -> None:
    assert institution_kind_of("H44010000001") is HOSPITAL
    assert institution_kind_of("P44010000001") is PHARMACY
    assert INSTITUTION_KINDS == (HOSPITAL, PHARMACY)
    with pytest.raises(InvalidArgument) as error:
        check_hospital_code("X44010000001")
    assert error.value.violations[0].field == "hospital_code"
    entries = entries_of([make_event("P1", hospital=PHARMACY_GZ, funds={FundType.ACCT: 9})])
    assert [e.institution_kind for e in entries] == [PHARMACY]


def test_a_statement_shows_hospitals_and_pharmacies_apart_exactly() -> None:
    statement = _month()
    hospital, pharmacy = statement.summary().institutions
    assert (hospital.kind, pharmacy.kind) == (HOSPITAL, PHARMACY)
    assert (hospital.settlement_count, hospital.reversal_count, hospital.line_count) == (1, 0, 1)
    assert (pharmacy.settlement_count, pharmacy.reversal_count, pharmacy.line_count) == (2, 1, 3)
    assert _fund_nets(hospital) == {FundType.HIFP: 120_000, FundType.ACCT: 5_000}
    assert _fund_nets(pharmacy) == {FundType.HIFP: 800, FundType.ACCT: 3_200}
    assert (hospital.net_fen, pharmacy.net_fen, statement.net_fen) == (125_000, 4_000, 129_000)
    acct = next(f for f in pharmacy.funds if f.fund is FundType.ACCT)
    assert (acct.settled_count, acct.settled_fen, acct.reversed_fen) == (2, 4_700, -1_500)
    # Streamed line by line, generation reaches the same figures.
    builder = StatementBuilder(statement.period, statement.pair, statement.adjustments)
    for line in statement.lines:
        builder.add(line)
    assert builder.summary().institutions == statement.summary().institutions


def test_a_carried_adjustment_counts_for_the_kind_of_its_line() -> None:
    january = _month()
    _, moved = split_disputed(january, {"P1"}, "not dispensed")
    adjustment = resolve_disputed_line(
        moved[0], DisputeOutcome.AMENDED, {FundType.ACCT: 1_000}, note="part"
    )
    later = [make_event("H2", period=FEB, when=settle_time(period=FEB))]
    (february,) = build_statements(FEB, entries_of(later), [adjustment])
    hospital, pharmacy = february.summary().institutions
    assert (hospital.line_count, hospital.adjustment_count, hospital.net_fen) == (1, 0, 10_000)
    assert (pharmacy.line_count, pharmacy.adjustment_count, pharmacy.net_fen) == (0, 1, 1_000)
    assert _fund_nets(pharmacy) == {FundType.ACCT: 1_000}


@settings(max_examples=100, deadline=None)
@given(events=event_lists(institutions=(HOSPITAL_GZ, PHARMACY_GZ)))
def test_the_kinds_add_up_to_the_statement(events: list[SettlementEvent]) -> None:
    for statement in build_statements(JAN, entries_of(events)):
        summary = statement.summary()  # its checks: counts and each fund add up
        kinds = summary.institutions
        assert [k.kind for k in kinds] == list(INSTITUTION_KINDS)
        assert sum(k.line_count for k in kinds) == summary.line_count
        for index, fund in enumerate(FUND_ORDER):
            assert sum(k.funds[index].net_fen for k in kinds) == summary.funds[index].net_fen
            for k in kinds:
                assert k.funds[index].net_fen == sum(
                    x.amount_of(fund) for x in statement.lines if x.institution_kind is k.kind
                )


def test_the_institutions_csv_has_a_row_per_kind_and_the_total() -> None:
    (table,) = [f for f in render_csv_files(_month()) if f.table == "institutions"]
    header, *rows = list(csv.reader(io.StringIO(table.data.decode("utf-8-sig"))))
    records = [dict(zip(header, row, strict=True)) for row in rows]
    picked = [
        (
            r["机构类型(institution_kind)"],
            r["结算笔数(settlement_count)"],
            r["结算撤销笔数(reversal_count)"],
            r["统筹基金（分）(hifp_fen)"],
            r["个人账户（分）(acct_fen)"],
            r["净额（元）(net_yuan)"],
            r["净额（分）(net_fen)"],
        )
        for r in records
    ]
    assert picked == [
        ("HOSPITAL", "1", "0", "120000", "5000", "1250.00", "125000"),
        ("PHARMACY", "2", "1", "800", "3200", "40.00", "4000"),
        ("TOTAL", "3", "1", "120800", "8200", "1290.00", "129000"),
    ]
    assert records[1]["机构类型名称(institution_kind_name)"] == "定点零售药店"


def test_statement_issued_carries_the_kinds() -> None:
    statement = _month()
    summary = statement.summary()

    class Issued:
        statement_id = statement.statement_id
        period = str(statement.period)
        insured_pool, treatment_pool = statement.pair
        level = statement.level
        funds = summary.funds
        settlement_count = summary.settlement_count
        net_fen = summary.net_fen
        digest = statement.digest()
        institutions = summary.institutions

    issued_at = datetime(2025, 2, 5, tzinfo=SHANGHAI)
    first, second = statement_issued_items("ns", Issued(), issued_at)
    for item in (first, second):
        message = item.message
        assert isinstance(message, events_pb2.StatementIssued)
        hospital, pharmacy = message.institution_totals
        assert hospital.institution_kind == events_pb2.INSTITUTION_KIND_HOSPITAL
        assert pharmacy.institution_kind == events_pb2.INSTITUTION_KIND_PHARMACY
        assert (hospital.settlement_count, hospital.reversal_count, hospital.total_fen) == (
            1,
            0,
            125_000,
        )
        assert (pharmacy.settlement_count, pharmacy.reversal_count, pharmacy.total_fen) == (
            2,
            1,
            4_000,
        )
        assert sum(f.net_fen for f in pharmacy.funds) == 4_000
        assert message.total_fen == 129_000
