"""How the main job reads a settlement's answer: each fund's amount from the setldetail rows
(whatever funds the vocabulary has), cash from setlinfo, checked against setlinfo's totals;
a statement's funds named from the proto's enum."""

from __future__ import annotations

import pytest

from services.simulation.settlement_info import disagreement, fund_amounts, negated
from services.simulation.statement_views import fund_name
from services.simulation.tally import CASH, CLEARED_FUNDS, FUNDS, PAYING_FUNDS
from shared import pb_enums
from shared.pb.crossclear.common.v1 import common_pb2
from shared.pb.crossclear.settlement.v1 import settlement_pb2
from shared.vocabulary import FUND_ORDER, FundType


def _row(fund: FundType, fen: int) -> settlement_pb2.FundDetail:
    return settlement_pb2.FundDetail(
        fund_pay_type=pb_enums.FUND_TYPE.number(fund), fund_payamt_fen=fen
    )


def _info(rows: list[settlement_pb2.FundDetail], cash_fen: int) -> settlement_pb2.SettlementInfo:
    """A setlinfo whose totals agree with ``rows``."""
    acct = sum(r.fund_payamt_fen for r in rows if r.fund_pay_type == common_pb2.FUND_TYPE_ACCT)
    funds = sum(r.fund_payamt_fen for r in rows) - acct
    return settlement_pb2.SettlementInfo(
        setl_id="S1",
        medfee_sumamt_fen=funds + acct + cash_fen,
        fund_pay_sumamt_fen=funds,
        acct_pay_fen=acct,
        psn_cash_pay_fen=cash_fen,
        psn_part_amt_fen=acct + cash_fen,
    )


def test_the_tally_funds_are_the_vocabularys_in_order_with_cash_last() -> None:
    assert (*(f.value for f in FUND_ORDER), CASH) == FUNDS
    assert FUNDS[:-1] == CLEARED_FUNDS
    assert FundType.ACCT.value not in PAYING_FUNDS
    assert set(PAYING_FUNDS) == set(CLEARED_FUNDS) - {FundType.ACCT.value}


def test_every_fund_of_the_vocabulary_is_read_from_its_rows() -> None:
    # A distinct amount per fund, one fund paid in two rows: each lands under its own name.
    rows = [_row(fund, 100 * (i + 1)) for i, fund in enumerate(FUND_ORDER)]
    rows.append(_row(FUND_ORDER[0], 7))
    info = _info(rows, cash_fen=55)
    amounts = fund_amounts(info, rows)
    assert list(amounts) == list(FUNDS)
    expected = {fund.value: 100 * (i + 1) for i, fund in enumerate(FUND_ORDER)}
    expected[FUND_ORDER[0].value] += 7
    assert amounts == {**expected, CASH: 55}
    assert disagreement(info, amounts) is None


def test_funds_without_rows_are_zero() -> None:
    info = _info([], cash_fen=300)
    amounts = fund_amounts(info, [])
    assert amounts == {**dict.fromkeys(FUNDS, 0), CASH: 300}
    assert disagreement(info, amounts) is None


def test_a_row_of_no_vocabulary_fund_is_refused() -> None:
    rows = [settlement_pb2.FundDetail(fund_pay_type=common_pb2.FUND_TYPE_HIFES, fund_payamt_fen=1)]
    with pytest.raises(ValueError, match="fund_pay_type 5"):
        fund_amounts(_info([], 0), rows)


def test_rows_that_disagree_with_setlinfo_are_named() -> None:
    rows = [_row(FundType.HIFP, 600), _row(FundType.ACCT, 100)]
    info = _info(rows, cash_fen=300)
    short = fund_amounts(info, rows[:1])  # the personal account's row is missing
    assert disagreement(info, short) == "medfee_sumamt_fen 1000 ≠ 900; acct_pay_fen 100 ≠ 0"
    moved = fund_amounts(info, [_row(FundType.HIFP, 500), _row(FundType.ACCT, 200)])
    assert disagreement(info, moved) == "fund_pay_sumamt_fen 600 ≠ 500; acct_pay_fen 100 ≠ 200"


def test_a_reversal_without_rows_takes_the_undone_settlements_negated() -> None:
    rows = [_row(FundType.HIFP, 600), _row(FundType.MAF, 50), _row(FundType.ACCT, 100)]
    undone = negated(rows)
    assert [r.fund_payamt_fen for r in undone] == [-600, -50, -100]
    assert [r.fund_pay_type for r in undone] == [r.fund_pay_type for r in rows]
    assert [r.fund_payamt_fen for r in rows] == [600, 50, 100], "the originals are unchanged"
    info = _info(undone, cash_fen=-250)
    amounts = fund_amounts(info, undone)
    assert amounts[FundType.HIFP.value] == -600 and amounts[CASH] == -250
    assert disagreement(info, amounts) is None


def test_statement_funds_are_named_from_the_proto_enum() -> None:
    for fund in FUND_ORDER:
        assert fund_name(pb_enums.FUND_TYPE.number(fund)) == fund.value
    assert fund_name(common_pb2.FUND_TYPE_CASH) == CASH
    assert fund_name(999) == "fund999"
