"""The clearing ledger: one entry per (event, fund) with a non-zero amount.

Sign convention: an entry's amount is what the insured pool owes the treatment pool —
positive for a settlement, negative for a reversal. Same-pool (local) settlements are
never cleared; an event for one arriving here yields no entries at all.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from services.clearing.domain.events import EventKind, FundType, SettlementEvent
from services.clearing.domain.periods import Period, assign_period
from services.clearing.domain.pools import ClearingLevel, clearing_level, institution_kind_of
from shared.reference.institutions import InstitutionKind


@dataclass(frozen=True)
class LedgerEntry:
    event_id: str
    period: Period  # the clearing period the entry landed in
    event_period: Period  # the period the settlement service assigned
    late: bool
    insured_pool: str
    treatment_pool: str
    level: ClearingLevel
    hospital_code: str
    fund: FundType
    amount_fen: int
    setl_id: str
    kind: EventKind
    reversed_setl_id: str | None
    settle_time: datetime

    def __post_init__(self) -> None:
        assert self.amount_fen != 0, "zero amounts make no entry"
        assert self.late == (self.period != self.event_period)
        assert (self.amount_fen > 0) == (self.kind is EventKind.SETTLED)

    @property
    def institution_kind(self) -> InstitutionKind:
        """Hospital or pharmacy; the ledger row keeps it, derived from the code by the same
        rule (migration 0003)."""
        return institution_kind_of(self.hospital_code)


def ledger_entries(
    event: SettlementEvent, closed_periods: Collection[Period]
) -> tuple[LedgerEntry, ...]:
    """The entries an event records, in fund order; empty for a local settlement."""
    level = clearing_level(event.insured_pool, event.treatment_pool)
    if level is None:
        return ()
    landing = assign_period(event.period, closed_periods)
    entries = tuple(
        LedgerEntry(
            event_id=event.event_id,
            period=landing.period,
            event_period=event.period,
            late=landing.late,
            insured_pool=event.insured_pool,
            treatment_pool=event.treatment_pool,
            level=level,
            hospital_code=event.hospital_code,
            fund=fund,
            amount_fen=amount_fen,
            setl_id=event.setl_id,
            kind=event.kind,
            reversed_setl_id=event.reversed_setl_id,
            settle_time=event.settle_time,
        )
        for fund, amount_fen in event.fund_amounts().items()
        if amount_fen != 0
    )
    assert sum(e.amount_fen for e in entries) == event.cleared_fen()
    return entries
