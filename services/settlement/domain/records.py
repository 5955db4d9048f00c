"""Settlement records as stored and published: a settlement, and the reversal that undoes it.

A reversal is a record of its own whose every amount is the negation of the settlement's,
so that a settlement and its reversal sum to zero fen in every field — in reconciliation
totals, in the clearing ledger and in the person's accumulations.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Any, TypedDict, Unpack

from .accumulations import AccumulationDelta
from .codes import Insutype, VisitType
from .engine import MAX_PROC_INFO_CHARS, FundDetail, SettlementResult
from .engine import Amounts as Amounts  # the settlement record's, re-exported


class RecordKind(StrEnum):
    SETTLEMENT = "SETTLEMENT"
    REVERSAL = "REVERSAL"


@dataclass(frozen=True, kw_only=True)
class SettlementRecord:
    setl_id: str
    kind: RecordKind
    reverses_setl_id: str | None  # a reversal's: the settlement it undoes
    mdtrt_id: str
    hospital_code: str
    treatment_pool: str
    psn_no: str
    insured_pool: str
    insutype: Insutype
    med_type: VisitType
    relation: str
    msgid: str  # medins_setl_id: the hospital's msgid of the settling or reversing request
    setl_time: datetime
    setl_date: date
    clearing_period: str  # YYYYMM of the committing transaction
    acc_year: int
    amounts: Amounts
    pool_prop_selfpay_bp: int
    balc_fen: int  # personal-account balance after this record
    ratio_reduction_bp: int
    policy_version_id: str
    catalogue_version_id: str
    details: tuple[FundDetail, ...]
    delta: AccumulationDelta  # what a settlement added to the accumulations
    lines: tuple[dict[str, Any], ...]  # LineSplit.to_dict() of every line
    reversed_by_setl_id: str | None = None

    def __post_init__(self) -> None:
        is_reversal = self.kind is RecordKind.REVERSAL
        assert is_reversal == (self.reverses_setl_id is not None), self.setl_id
        assert not (is_reversal and self.reversed_by_setl_id), self.setl_id
        sign = -1 if is_reversal else 1
        assert sign * self.amounts.medfee_sumamt_fen > 0, self.setl_id
        detail_fen = sum(d.fund_payamt_fen for d in self.details)
        assert detail_fen == self.amounts.fund_pay_sumamt_fen + self.amounts.acct_pay_fen, self
        assert self.balc_fen >= 0, self.balc_fen
        assert len(self.clearing_period) == 6 and self.clearing_period.isdigit()

    @property
    def is_reversal(self) -> bool:
        return self.kind is RecordKind.REVERSAL


class RecordTimes(TypedDict):
    """When a record (a settlement or a reversal) was written: the committing
    transaction's time, its China date and its clearing period."""

    setl_time: datetime
    setl_date: date
    clearing_period: str


class Stamp(RecordTimes):
    """What the committing transaction gives a record: its times, its id and the
    hospital's msgid of the settling or reversing request."""

    setl_id: str
    msgid: str


class Settling(Stamp):
    """A settlement's stamp plus the encounter and coverage it settles."""

    mdtrt_id: str
    hospital_code: str
    treatment_pool: str
    psn_no: str
    insured_pool: str
    relation: str
    acc_year: int
    ratio_reduction_bp: int


def settlement_of(result: SettlementResult, **settling: Unpack[Settling]) -> SettlementRecord:
    return SettlementRecord(
        **settling,
        kind=RecordKind.SETTLEMENT,
        reverses_setl_id=None,
        insutype=result.insutype,
        med_type=result.med_type,
        amounts=result.amounts,
        pool_prop_selfpay_bp=result.pool_prop_selfpay_bp,
        balc_fen=result.balc_fen,
        policy_version_id=result.policy_version_id,
        catalogue_version_id=result.catalogue_version_id,
        details=result.details,
        delta=result.delta,
        lines=tuple(line.to_dict() for line in result.lines),
    )


def reversal_of(
    original: SettlementRecord, *, balc_fen: int, **stamp: Unpack[Stamp]
) -> SettlementRecord:
    """The record that undoes ``original``: every amount negated, its period its own."""
    assert not original.is_reversal and original.reversed_by_setl_id is None, original.setl_id
    reversal = replace(
        original,
        **stamp,
        kind=RecordKind.REVERSAL,
        reverses_setl_id=original.setl_id,
        reversed_by_setl_id=None,
        amounts=original.amounts.negated(),
        balc_fen=balc_fen,
        details=tuple(_negated_detail(d, original.setl_id) for d in original.details),
    )
    total = [
        a + b
        for a, b in zip(
            original.amounts.as_dict().values(), reversal.amounts.as_dict().values(), strict=True
        )
    ]
    assert not any(total), "a reversal restores exactly what the settlement took"
    return reversal


def _negated_detail(detail: FundDetail, setl_id: str) -> FundDetail:
    info = f"reversal of {setl_id}: {detail.setl_proc_info}"
    return FundDetail(
        fund_pay_type=detail.fund_pay_type,
        inscp_scp_amt_fen=-detail.inscp_scp_amt_fen,
        crt_payb_lmt_amt_fen=detail.crt_payb_lmt_amt_fen,
        fund_payamt_fen=-detail.fund_payamt_fen,
        setl_proc_info=info[:MAX_PROC_INFO_CHARS],
    )
