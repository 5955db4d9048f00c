"""What the simulated month produced, as the services answered it: plain records and counters.

The traffic fills a ``Tally``; the month-end run a ``MonthEnd``; the summary, the report and
the conservation check read both. Amounts are integer fen as the services returned them.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from shared.money import format_fen

# Every fund of a settlement result, patient cash last. All but cash are cleared between
# pools (the personal account is the insured pool's money, so it is cleared too).
FUNDS = ("hifp", "hifob", "hifmi", "cvlserv", "hifes", "maf", "oth", "acct", "cash")
CLEARED_FUNDS = FUNDS[:-1]
RELATIONS = ("LOCAL", "IN_PROVINCE", "CROSS_PROVINCE")
VISITS = {"11": "ordinary outpatient", "14": "chronic/special outpatient", "21": "inpatient"}


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
    visit: str  # med_type "11" / "14" / "21"
    clr_ym: str
    sim_day: date  # the simulated settlement day (visit or discharge day)
    medfee_fen: int
    amounts: dict[str, int]  # fund -> fen, every key of FUNDS
    reversal: bool

    @property
    def cleared_fen(self) -> int:
        return sum(self.amounts[f] for f in CLEARED_FUNDS)

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
    settle_latencies_ms: list[float] = field(default_factory=list)
    filings_by_channel: Counter[str] = field(default_factory=Counter)
    persons_by_document: Counter[str] = field(default_factory=Counter)
    paid_in_full_fen: int = 0
    traffic_seconds: float = 0.0
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


@dataclass(frozen=True)
class NetLevelView:
    leg: str  # PROVINCIAL / NATIONAL / ALLOCATION
    scope: str
    hub: str
    positions: tuple[tuple[str, int, int, int], ...]  # party, receivable, payable, net
    cells: tuple[tuple[str, str, int], ...]  # payer, receiver, amount
    province_net_fen: int

    @property
    def net_sum_fen(self) -> int:
        return sum(p[3] for p in self.positions)

    @property
    def balanced(self) -> bool:
        """PROVINCIAL and NATIONAL levels sum to zero; an ALLOCATION sums to the province's
        national position."""
        target = self.province_net_fen if self.leg == "ALLOCATION" else 0
        return self.net_sum_fen == target


@dataclass
class MonthEnd:
    periods: list[str] = field(default_factory=list)
    statements: list[StatementView] = field(default_factory=list)
    net_levels: list[NetLevelView] = field(default_factory=list)
    instructions: list[tuple[str, str, str, str, int, str]] = field(default_factory=list)
    advance: list[tuple[str, str, int, int, int, tuple[int, ...]]] = field(default_factory=list)
    period_states: dict[str, str] = field(default_factory=dict)
    steps: list[tuple[str, str]] = field(default_factory=list)  # (step, what happened)
    disputes: list[tuple[str, str, str, int]] = field(
        default_factory=list
    )  # stmt, setl, outcome, fen
    applications: Counter[str] = field(default_factory=Counter)  # matched / unmatched
    reconciliations: Counter[str] = field(default_factory=Counter)  # MATCH / MISMATCH
    regenerated_changed: int = -1
    exports: list[str] = field(default_factory=list)
    ingest_seconds: float = 0.0
    seconds: float = 0.0

    def statements_total_fen(self) -> int:
        """Settled plus reversed over every statement: adjustments carried from earlier
        periods are not this month's settlements."""
        return sum(s.net_fen - s.adjustment_fen for s in self.statements)


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
