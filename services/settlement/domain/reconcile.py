"""Reconciliation with a hospital (对账): totals (3201), then records (3202) if they differ.

Both compare the hospital's view of its settlements over a range of settlement dates with
ours. A reversal is a record of its own with negated amounts and counts −1, so the totals
are those of the settlements that stand, whichever way a hospital books reversals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date
from enum import StrEnum

from shared.errors import FailedPrecondition, Violations

RANGE_DAYS_MAX = 31
RECORDS_MAX = 20_000  # per request, and ours per range
MISMATCHES_MAX = 1_000  # returned; the count says how many there were


@dataclass(frozen=True)
class Totals:
    medfee_sumamt_fen: int = 0
    fund_pay_sumamt_fen: int = 0
    acct_pay_fen: int = 0
    fixmedins_setl_cnt: int = 0

    def differing_fields(self, other: Totals) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name) != getattr(other, f.name)]


@dataclass(frozen=True)
class Record:
    setl_id: str
    mdtrt_id: str
    psn_no: str
    medfee_sumamt_fen: int
    fund_pay_sumamt_fen: int
    acct_pay_fen: int
    refd_setl_flag: bool  # a reversal

    def same_amounts(self, other: Record) -> bool:
        return (
            self.medfee_sumamt_fen,
            self.fund_pay_sumamt_fen,
            self.acct_pay_fen,
            self.refd_setl_flag,
        ) == (
            other.medfee_sumamt_fen,
            other.fund_pay_sumamt_fen,
            other.acct_pay_fen,
            other.refd_setl_flag,
        )


class DetailResult(StrEnum):
    MISSING_OURS = "MISSING_OURS"
    MISSING_THEIRS = "MISSING_THEIRS"
    AMOUNT_DIFFERS = "AMOUNT_DIFFERS"


@dataclass(frozen=True)
class Mismatch:
    setl_id: str
    ours: Record | None
    theirs: Record | None

    @property
    def result(self) -> DetailResult:
        if self.ours is None:
            return DetailResult.MISSING_OURS
        if self.theirs is None:
            return DetailResult.MISSING_THEIRS
        return DetailResult.AMOUNT_DIFFERS


@dataclass(frozen=True)
class DetailOutcome:
    matched_count: int
    mismatch_count: int
    mismatches: tuple[Mismatch, ...]  # the first MISMATCHES_MAX in setl_id order

    @property
    def truncated(self) -> bool:
        return self.mismatch_count > len(self.mismatches)


def check_range(begin: date | None, end: date | None, errors: Violations) -> None:
    if begin is None or end is None:
        return  # the date readers recorded why
    errors.check(begin <= end, "stmt_enddate", "must not be before stmt_begndate")
    errors.check(
        (end - begin).days < RANGE_DAYS_MAX,
        "stmt_enddate",
        f"a range covers at most {RANGE_DAYS_MAX} days",
    )


def check_records(records: Sequence[Record], errors: Violations) -> None:
    errors.check(
        len(records) <= RECORDS_MAX,
        "records",
        f"at most {RECORDS_MAX} records per request; split the range",
    )
    if len(records) > RECORDS_MAX:
        return
    seen: set[str] = set()
    for index, record in enumerate(records):
        errors.check(record.setl_id not in seen, f"records[{index}].setl_id", "appears twice")
        seen.add(record.setl_id)


def totals_of(records: Sequence[Record]) -> Totals:
    return Totals(
        medfee_sumamt_fen=sum(r.medfee_sumamt_fen for r in records),
        fund_pay_sumamt_fen=sum(r.fund_pay_sumamt_fen for r in records),
        acct_pay_fen=sum(r.acct_pay_fen for r in records),
        fixmedins_setl_cnt=sum(-1 if r.refd_setl_flag else 1 for r in records),
    )


def require_range_size(count: int) -> None:
    if count > RECORDS_MAX:
        raise FailedPrecondition(
            "RECONCILE_RANGE_TOO_LARGE",
            f"more than {RECORDS_MAX} settlement records in the range: narrow it",
        )


def compare_records(ours: Sequence[Record], theirs: Sequence[Record]) -> DetailOutcome:
    assert len(ours) <= RECORDS_MAX and len(theirs) <= RECORDS_MAX
    our_by_id = {r.setl_id: r for r in ours}
    their_by_id = {r.setl_id: r for r in theirs}
    assert len(our_by_id) == len(ours), "setl_id is our primary key"
    matched = 0
    mismatches: list[Mismatch] = []
    for setl_id in sorted(our_by_id.keys() | their_by_id.keys()):
        mine, yours = our_by_id.get(setl_id), their_by_id.get(setl_id)
        if mine is not None and yours is not None and mine.same_amounts(yours):
            matched += 1
            continue
        mismatches.append(Mismatch(setl_id, ours=mine, theirs=yours))
    assert matched + len(mismatches) == len(our_by_id.keys() | their_by_id.keys())
    return DetailOutcome(matched, len(mismatches), tuple(mismatches[:MISMATCHES_MAX]))
