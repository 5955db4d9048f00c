"""What the simulated months produced, as the services answered it: plain records and
counters.

The traffic fills a ``Tally``; the month-end runs a ``MonthEnd``; the summary, the report
and the conservation check read both. Amounts are integer fen as the services returned
them; every record names the clearing period it belongs to.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from shared.money import format_fen
from shared.vocabulary import FUND_ORDER, SETTLED_FUNDS

# Every payer of a settlement result: the vocabulary's funds in its order, patient cash
# last. All but cash are cleared between pools (the personal account is the insured pool's
# money, so it is cleared too); all but the personal account and cash make up the
# settlement's fund payment (fund_pay_sumamt).
CASH = "cash"
CLEARED_FUNDS: tuple[str, ...] = tuple(fund.value for fund in FUND_ORDER)
PAYING_FUNDS: tuple[str, ...] = tuple(fund.value for fund in SETTLED_FUNDS)
FUNDS: tuple[str, ...] = (*CLEARED_FUNDS, CASH)
RELATIONS = ("LOCAL", "IN_PROVINCE", "CROSS_PROVINCE")
VISITS = {
    "11": "ordinary outpatient",
    "14": "chronic/special outpatient",
    "21": "inpatient",
    "41": "pharmacy purchase",
    "41/14": "chronic drugs at a pharmacy (dual channel)",  # med_type 14 at a pharmacy
}
PRE_RUN = "pre-run"  # the days before the first treatment month (filings only)


@dataclass(frozen=True)
class SettlementRecord:
    """One committed settlement, or a reversal (negated amounts, ``reversal`` True)."""

    setl_id: str
    reversed_setl_id: str
    psn_no: str
    cohort: str
    hospital: str
    insured_pool: str
    treatment_pool: str
    relation: str  # LOCAL / IN_PROVINCE / CROSS_PROVINCE, as the service returned it
    visit: str  # med_type "11" / "14" / "21"; a pharmacy's "41", or "41/14" (chronic drugs)
    clr_ym: str  # the clearing period the settlement service assigned
    treatment_month: str  # the plan's treatment month of the encounter
    sim_day: date  # the settlement's date as the service recorded it (China time)
    medfee_fen: int
    amounts: dict[str, int]  # fund -> fen, every key of FUNDS
    reversal: bool

    @property
    def cleared_fen(self) -> int:
        return sum(self.amounts[f] for f in CLEARED_FUNDS)

    @property
    def fund_pay_fen(self) -> int:
        """What the funds paid (fund_pay_sumamt): neither the personal account nor cash."""
        return sum(self.amounts[f] for f in PAYING_FUNDS)

    @property
    def cross_pool(self) -> bool:
        return self.insured_pool != self.treatment_pool


@dataclass(frozen=True)
class EncounterOutcome:
    psn_no: str
    relation: str
    visit: str
    outcome: str  # DIRECT / DIRECT_AFTER_FILING / PAID_IN_FULL / FAILED
    amount_fen: int
    month: str = ""  # the treatment month
    period: str = ""  # the clearing period of the settlement ("" when not settled)
    # Coverage basis the settlement stood on (LOCAL, FILING, RETROACTIVE_FILING, …);
    # REFUSED when the patient paid in full, "" when the encounter failed.
    basis: str = ""


@dataclass(frozen=True)
class CapHit:
    """A settlement whose basic-fund payment an annual cap cut (the cap was reached)."""

    psn_no: str
    cohort: str
    cap: str  # "basic annual cap", "outpatient annual cap", "M07803 annual cap", …
    period: str
    day: date


@dataclass
class Tally:
    settlements: list[SettlementRecord] = field(default_factory=list)
    outcomes: list[EncounterOutcome] = field(default_factory=list)
    refusals: Counter[str] = field(default_factory=Counter)  # reason code -> count
    warnings: Counter[str] = field(default_factory=Counter)  # supervision warning code
    bases: Counter[str] = field(default_factory=Counter)  # coverage basis at 2201/2401
    errors: Counter[str] = field(default_factory=Counter)  # unexpected "method CODE reason"
    error_samples: dict[str, str] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)  # named events of the run
    settle_latencies_ms: list[tuple[str, float]] = field(default_factory=list)  # (period, ms)
    filings_by_channel: Counter[str] = field(default_factory=Counter)
    filings_by_timing: Counter[str] = field(default_factory=Counter)
    persons_by_document: Counter[str] = field(default_factory=Counter)
    caps: list[CapHit] = field(default_factory=list)
    paid_in_full_fen: int = 0
    traffic_seconds: float = 0.0
    traffic_seconds_by_month: dict[str, float] = field(default_factory=dict)
    clock_settings: int = 0
    rpc_count: int = 0

    def error(self, key: str, detail: str) -> None:
        self.errors[key] += 1
        self.error_samples.setdefault(key, detail[:300])

    def cross_pool_cleared_fen(self, period: str | None = None) -> int:
        return sum(
            s.cleared_fen
            for s in self.settlements
            if s.cross_pool and (period is None or s.clr_ym == period)
        )

    def periods(self) -> list[str]:
        return sorted({s.clr_ym for s in self.settlements if s.cross_pool})


@dataclass(frozen=True)
class StatementView:
    """A statement as the clearing service returned it (generated figures)."""

    statement_id: str
    period: str
    insured_pool: str
    treatment_pool: str
    level: str  # PROVINCIAL / NATIONAL
    state: str
    settlement_count: int
    reversal_count: int
    line_count: int
    net_fen: int
    confirmed_net_fen: int
    disputed_line_count: int
    disputed_fen: int
    adjustment_fen: int
    funds: dict[str, tuple[int, int, int, int, int]]  # fund -> settled n/fen, reversed n/fen, net
    digest: str
    adjustment_count: int = 0
    late_count: int = 0


@dataclass(frozen=True)
class NetLevelView:
    leg: str  # PROVINCIAL / NATIONAL / ALLOCATION
    scope: str
    hub: str
    positions: tuple[tuple[str, int, int, int], ...]  # party, receivable, payable, net
    cells: tuple[tuple[str, str, int], ...]  # payer, receiver, amount
    province_net_fen: int
    period: str = ""

    @property
    def net_sum_fen(self) -> int:
        return sum(p[3] for p in self.positions)

    @property
    def balanced(self) -> bool:
        """PROVINCIAL and NATIONAL levels sum to zero; an ALLOCATION sums to the province's
        national position."""
        target = self.province_net_fen if self.leg == "ALLOCATION" else 0
        return self.net_sum_fen == target


@dataclass(frozen=True)
class AdvanceView:
    """A pair's advance fund and its usage in one period (as GetAdvanceFunds answered)."""

    period: str
    insured_pool: str
    treatment_pool: str
    advance_fen: int
    used_fen: int
    used_bp: int
    alerts: tuple[int, ...]  # thresholds (bp) alerted in the period


@dataclass(frozen=True)
class Resize:
    """An advance fund set again after a month-end, from the months cleared so far."""

    for_period: str  # the first period the new size applies to
    insured_pool: str
    treatment_pool: str
    before_fen: int
    after_fen: int
    trailing_fen: tuple[int, ...]  # the monthly payments it was sized from, oldest first
    kept: bool  # no payments in the trailing months: the modeled size was kept


@dataclass(frozen=True)
class DisputeView:
    """A disputed line: raised at a period's month-end, decided later, carried forward."""

    period: str  # the period whose statement it was disputed on
    statement_id: str
    setl_id: str
    disputed_fen: int
    raised_on: date
    outcome: str = ""  # UPHELD / REJECTED / AMENDED once decided
    decided_on: date | None = None
    target_period: str = ""  # the period whose statement carries the adjustment
    carried_fen: int = 0


@dataclass(frozen=True)
class CarriedIn:
    """An adjustment on a period's statement: a line decided after an earlier dispute."""

    period: str
    statement_id: str
    origin_period: str
    setl_id: str
    outcome: str
    total_fen: int


@dataclass
class MonthEnd:
    periods: list[str] = field(default_factory=list)
    statements: list[StatementView] = field(default_factory=list)
    net_levels: list[NetLevelView] = field(default_factory=list)
    # (period, leg, scope, payer, payee, amount, state)
    instructions: list[tuple[str, str, str, str, str, int, str]] = field(default_factory=list)
    advance: list[AdvanceView] = field(default_factory=list)
    resizes: list[Resize] = field(default_factory=list)
    period_states: dict[str, str] = field(default_factory=dict)
    cleared_on: dict[str, date] = field(default_factory=dict)
    steps: list[tuple[str, str]] = field(default_factory=list)  # (step, what happened)
    disputes: list[DisputeView] = field(default_factory=list)
    carried_in: list[CarriedIn] = field(default_factory=list)
    late_events: dict[str, int] = field(default_factory=dict)
    applications: Counter[str] = field(default_factory=Counter)  # matched / differences
    reconciliations: Counter[str] = field(default_factory=Counter)  # MATCH / MISMATCH
    regenerated_changed: dict[str, int] = field(default_factory=dict)
    exports: list[str] = field(default_factory=list)
    ingest_seconds: float = 0.0
    seconds: float = 0.0
    seconds_by_period: dict[str, float] = field(default_factory=dict)

    def statements_of(self, period: str) -> list[StatementView]:
        return [s for s in self.statements if s.period == period]

    def statements_total_fen(self, period: str | None = None) -> int:
        """Settled plus reversed over the statements: adjustments carried from earlier
        periods are not this period's settlements."""
        return sum(
            s.net_fen - s.adjustment_fen
            for s in self.statements
            if period is None or s.period == period
        )


def fingerprint(statements: Iterable[StatementView]) -> str:
    """sha256 over each statement's pool pair, counts and per-fund amounts (no ids, times
    or states), in pool-pair order: equal for two runs that cleared the same money."""
    rows = sorted(
        (
            s.period,
            s.insured_pool,
            s.treatment_pool,
            s.level,
            s.settlement_count,
            s.reversal_count,
            s.line_count,
            s.net_fen,
            sorted(s.funds.items()),
        )
        for s in statements
    )
    blob = json.dumps(rows, separators=(",", ":"), ensure_ascii=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def yuan(amount_fen: int) -> str:
    return format_fen(amount_fen)


def percentile_ms(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[rank]
