"""What the simulation reads from a settlement's answer, whoever settled it (a hospital or a
pharmacy): the amount each fund paid, under the tally's fund names, and the China-time day
it was settled on."""

from __future__ import annotations

from datetime import UTC, date

from shared.clock import CHINA_TZ
from shared.pb.crossclear.settlement.v1 import settlement_pb2


def fund_amounts(info: settlement_pb2.SettlementInfo) -> dict[str, int]:
    """Fen by fund, in the order of ``tally.FUNDS``; the parts sum to the bill's total."""
    return {
        "hifp": info.hifp_pay_fen,
        "hifob": info.hifob_pay_fen,
        "hifmi": info.hifmi_pay_fen,
        "cvlserv": info.cvlserv_pay_fen,
        "hifes": info.hifes_pay_fen,
        "maf": info.maf_pay_fen,
        "oth": info.oth_pay_fen,
        "acct": info.acct_pay_fen,
        "cash": info.psn_cash_pay_fen,
    }


def china_day(info: settlement_pb2.SettlementInfo) -> date:
    """The day of the settlement in China time."""
    return info.setl_time.ToDatetime(tzinfo=UTC).astimezone(CHINA_TZ).date()
