"""What the simulation reads from a settlement's answer, whoever settled it (a hospital or a
pharmacy): the amount each fund paid, under the tally's fund names, and the China-time day
it was settled on.

The funds are read generically: each ``setldetail`` row names its fund (``fund_pay_type``)
and what it paid, so a fund the vocabulary gains is counted without a change here; the
patient's cash, which is no fund, comes from ``setlinfo``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date

from services.simulation.tally import CASH, FUNDS, PAYING_FUNDS
from shared import pb_enums
from shared.clock import CHINA_TZ
from shared.pb.crossclear.settlement.v1 import settlement_pb2
from shared.vocabulary import FundType


def fund_amounts(
    info: settlement_pb2.SettlementInfo, details: Iterable[settlement_pb2.FundDetail]
) -> dict[str, int]:
    """Fen by payer, every key of ``tally.FUNDS`` in its order: each fund's the sum of its
    ``setldetail`` rows, the patient's cash from ``setlinfo``. A row of a fund the
    vocabulary does not know is an error: counting it under no fund would lose money."""
    amounts = dict.fromkeys(FUNDS, 0)
    for row in details:
        fund = pb_enums.FUND_TYPE.member(row.fund_pay_type)
        if fund is None:
            raise ValueError(
                f"settlement {info.setl_id or info.mdtrt_id}: setldetail fund_pay_type "
                f"{row.fund_pay_type} is no fund of the vocabulary"
            )
        amounts[fund.value] += row.fund_payamt_fen
    amounts[CASH] = info.psn_cash_pay_fen
    return amounts


def disagreement(info: settlement_pb2.SettlementInfo, amounts: dict[str, int]) -> str | None:
    """Where the funds read from ``setldetail`` disagree with the totals of ``setlinfo``
    (the bill, the funds' payment, the personal account); None when they agree."""
    checks = (
        ("medfee_sumamt_fen", sum(amounts.values()), info.medfee_sumamt_fen),
        ("fund_pay_sumamt_fen", sum(amounts[f] for f in PAYING_FUNDS), info.fund_pay_sumamt_fen),
        ("acct_pay_fen", amounts[FundType.ACCT.value], info.acct_pay_fen),
    )
    differing = [f"{name} {theirs} ≠ {ours}" for name, ours, theirs in checks if ours != theirs]
    return "; ".join(differing) or None


def negated(details: Iterable[settlement_pb2.FundDetail]) -> list[settlement_pb2.FundDetail]:
    """The fund rows of a reversal: the rows of the settlement it undoes, amounts negated."""
    rows = []
    for row in details:
        copy = settlement_pb2.FundDetail()
        copy.CopyFrom(row)
        copy.fund_payamt_fen = -row.fund_payamt_fen
        rows.append(copy)
    return rows


def china_day(info: settlement_pb2.SettlementInfo) -> date:
    """The day of the settlement in China time."""
    return info.setl_time.ToDatetime(tzinfo=UTC).astimezone(CHINA_TZ).date()
