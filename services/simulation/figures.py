"""The figures of the run, computed once from the tally and the month-end results: for the
whole run and for each treatment month (= its clearing period). The terminal summary,
``summary.json`` and the HTML report all render these.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date

from services.simulation.scenario import month_end_at
from services.simulation.tally import (
    CLEARED_FUNDS,
    FUNDS,
    CarriedIn,
    DisputeView,
    MonthEnd,
    NetLevelView,
    SettlementRecord,
    Tally,
    fingerprint,
    percentile_ms,
)
from shared.money import BP_PER_UNIT, round_half_up

RETROACTIVE = "RETROACTIVE_FILING"


def split_funds(
    settlements: list[SettlementRecord],
) -> tuple[dict[str, int], dict[str, int]]:
    """Per fund: what is cleared between pools (a cross-pool settlement's funds that the
    clearing counts) and what is not (settlements in the insured pool, cash everywhere).
    The two add up to the medical fees, fund by fund."""
    cleared: Counter[str] = Counter()
    not_cleared: Counter[str] = Counter()
    for s in settlements:
        for fund in FUNDS:
            if s.cross_pool and fund in CLEARED_FUNDS:
                cleared[fund] += s.amounts[fund]
            else:
                not_cleared[fund] += s.amounts[fund]
    return (
        {fund: cleared[fund] for fund in FUNDS if fund in CLEARED_FUNDS},
        {fund: not_cleared[fund] for fund in FUNDS},
    )


@dataclass(frozen=True)
class ChannelFigures:
    total: int
    online: int
    share_bp: int
    channels_used: int
    by_channel: dict[str, int]


@dataclass(frozen=True)
class CapFirst:
    """The first settlement a person's annual cap cut."""

    psn_no: str
    cohort: str
    cap: str
    period: str  # when the cap was first reached
    first_period: str  # the person's first settlement period (accumulations from then)


@dataclass
class PeriodFigures:
    """One treatment month, cleared in its own period."""

    period: str
    cleared_on: date | None
    state: str
    by_relation_visit: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    funds_fen: dict[str, int] = field(default_factory=dict)
    funds_cleared_fen: dict[str, int] = field(default_factory=dict)  # see split_funds
    funds_not_cleared_fen: dict[str, int] = field(default_factory=dict)
    settlements: int = 0  # standing: settlements less reversals
    reversals: int = 0
    outside_treatment_month: int = 0  # settlements of another treatment month in this period
    bases: dict[str, int] = field(default_factory=dict)  # coverage basis at settlement
    cross_region_encounters: int = 0
    retroactive: int = 0
    settlements_cleared_fen: int = 0
    statements_fen: int = 0  # statements' settled + reversed (adjustments apart)
    adjustments_fen: int = 0  # carried in, as the statements show them
    decided_for_period_fen: int = 0  # the decisions that named this period as their target
    statement_count: int = 0
    statement_states: dict[str, int] = field(default_factory=dict)
    late_events: int = 0
    late_lines: int = 0
    net_levels: list[NetLevelView] = field(default_factory=list)
    zero_sums: list[tuple[str, str, int, bool]] = field(default_factory=list)
    instructions: int = 0
    paid: int = 0
    disputes: list[DisputeView] = field(default_factory=list)  # raised at this month-end
    carried_in: list[CarriedIn] = field(default_factory=list)
    advance_pairs: int = 0
    advance_fen: int = 0
    advance_used_fen: int = 0
    advance_max_used_bp: int = 0
    advance_alerts: dict[int, int] = field(default_factory=dict)  # threshold bp -> pairs
    advance_sizing: str = ""
    resized_pairs: int = 0
    resized_kept: int = 0
    resized_before_fen: int = 0
    resized_after_fen: int = 0
    caps_hit: dict[str, int] = field(default_factory=dict)  # cap -> persons cut this period
    caps_first: list[CapFirst] = field(default_factory=list)
    traffic_seconds: float = 0.0
    settle_p50_ms: float = 0.0
    settle_p99_ms: float = 0.0
    month_end_seconds: float = 0.0

    @property
    def settlements_per_s(self) -> float:
        return self.settlements / self.traffic_seconds if self.traffic_seconds else 0.0

    @property
    def conservation_ok(self) -> bool:
        return self.settlements_cleared_fen == self.statements_fen

    @property
    def adjustments_ok(self) -> bool:
        return self.adjustments_fen == self.decided_for_period_fen

    @property
    def zero_sum_ok(self) -> bool:
        return all(ok for *_, ok in self.zero_sums)

    @property
    def retroactive_bp(self) -> int:
        return rate_bp(self.retroactive, self.cross_region_encounters)


@dataclass
class Figures:
    seed: int
    month: str  # the first treatment month
    scale: str
    persons: int
    encounters: int
    periods: list[str]
    months: list[str] = field(default_factory=list)
    first_day: date = date.min
    last_day: date = date.min
    run_start: date = date.min
    # (relation, visit) -> [standing settlements, medical fees, fund payments]
    by_relation_visit: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    funds_fen: dict[str, int] = field(default_factory=dict)
    funds_cleared_fen: dict[str, int] = field(default_factory=dict)  # see split_funds
    funds_not_cleared_fen: dict[str, int] = field(default_factory=dict)
    reversals: int = 0
    cross_inpatient: tuple[int, int] = (0, 0)  # settled directly, all encounters
    in_province: tuple[int, int] = (0, 0)
    in_province_inpatient: tuple[int, int] = (0, 0)
    one_stop: int = 0  # maf alongside hifp: basic + critical illness + assistance
    channels: ChannelFigures | None = None
    per_day: dict[date, int] = field(default_factory=dict)
    flows_fen: dict[tuple[str, str], int] = field(default_factory=dict)
    settlements_cleared_fen: int = 0
    statements_fen: int = 0
    zero_sums: list[tuple[str, str, int, bool]] = field(default_factory=list)
    fingerprint: str = ""
    settlements_per_s: float = 0.0
    settle_p50_ms: float = 0.0
    settle_p99_ms: float = 0.0
    paid_in_full: int = 0
    bases: dict[str, int] = field(default_factory=dict)
    cross_region_encounters: int = 0
    retroactive: int = 0
    planned_retroactive: int = 0
    outside_treatment_month: int = 0
    caps_first: list[CapFirst] = field(default_factory=list)
    by_period: list[PeriodFigures] = field(default_factory=list)

    @property
    def conservation_ok(self) -> bool:
        return self.settlements_cleared_fen == self.statements_fen and all(
            p.conservation_ok and p.adjustments_ok for p in self.by_period
        )

    @property
    def zero_sum_ok(self) -> bool:
        return all(ok for *_, ok in self.zero_sums)

    @property
    def passed(self) -> bool:
        return self.conservation_ok and self.zero_sum_ok

    @property
    def retroactive_bp(self) -> int:
        return rate_bp(self.retroactive, self.cross_region_encounters)

    @property
    def caps_first_in_later_month(self) -> list[CapFirst]:
        """Caps first reached in a later month than the person's first settlement: the
        year's accumulations carried across months."""
        later = [c for c in self.caps_first if c.period > c.first_period]
        # The per-disease and basic caps first: they take months of heavy bills.
        return sorted(later, key=lambda c: (c.cap.startswith("outpatient"), c.period, c.psn_no))


def rate_bp(part: int, whole: int) -> int:
    return round_half_up(part * BP_PER_UNIT, whole) if whole else 0


def pct(part: int, whole: int) -> str:
    bp = rate_bp(part, whole)
    return f"{bp // 100}.{bp % 100:02d} %" if whole else "n/a"


def bp_text(bp: int) -> str:
    return f"{bp // 100}.{bp % 100:02d} %"


def months_line(months: list[str]) -> str:
    """What the months are, in one line."""
    if not months:
        return "no treatment month"
    day = month_end_at(months[0]).day
    if len(months) == 1:
        return (
            f"treatment month {months[0]}, cleared in its own period on day {day} of the next month"
        )
    return (
        f"treatment months {months[0]}–{months[-1]}, each cleared in its own period on "
        f"day {day} of the next month"
    )


def compute(
    tally: Tally,
    month_end: MonthEnd,
    *,
    seed: int,
    months: list[str],
    scale: str,
    persons: int,
    encounters: int,
    channels: ChannelFigures | None,
    first_day: date = date.min,
    last_day: date = date.min,
    run_start: date = date.min,
    planned_retroactive: int = 0,
) -> Figures:
    f = Figures(
        seed=seed,
        month=months[0] if months else "",
        scale=scale,
        persons=persons,
        encounters=encounters,
        periods=list(month_end.periods),
        months=list(months),
        channels=channels,
        first_day=first_day,
        last_day=last_day,
        run_start=run_start,
        planned_retroactive=planned_retroactive,
    )
    _settlements(f, tally)
    _rates(f, tally)
    f.settlements_cleared_fen = sum(
        s.cleared_fen for s in tally.settlements if s.cross_pool and s.clr_ym in month_end.periods
    )
    f.statements_fen = month_end.statements_total_fen()
    f.zero_sums = _zero_sums(month_end.net_levels)
    f.fingerprint = fingerprint(month_end.statements)
    standing = sum(v[0] for v in f.by_relation_visit.values())
    f.settlements_per_s = standing / tally.traffic_seconds if tally.traffic_seconds else 0.0
    latencies = [ms for _, ms in tally.settle_latencies_ms]
    f.settle_p50_ms = percentile_ms(latencies, 50)
    f.settle_p99_ms = percentile_ms(latencies, 99)
    f.paid_in_full = sum(1 for o in tally.outcomes if o.outcome == "PAID_IN_FULL")
    f.bases = dict(Counter(o.basis for o in tally.outcomes if o.basis))
    cross = [o for o in tally.outcomes if o.relation != "LOCAL"]
    f.cross_region_encounters = len(cross)
    f.retroactive = sum(1 for o in cross if o.basis == RETROACTIVE)
    f.outside_treatment_month = sum(1 for s in tally.settlements if s.clr_ym != s.treatment_month)
    f.caps_first = _caps_first(tally)
    f.by_period = [_period(tally, month_end, period, f.caps_first) for period in months]
    return f


def _zero_sums(levels: list[NetLevelView]) -> list[tuple[str, str, int, bool]]:
    return [
        (
            lv.leg,
            lv.scope,
            lv.net_sum_fen - (lv.province_net_fen if lv.leg == "ALLOCATION" else 0),
            lv.balanced,
        )
        for lv in levels
    ]


def _add_settlement(
    by: dict[tuple[str, str], list[int]], funds: Counter[str], s: SettlementRecord
) -> int:
    """Adds one settlement to its (relation, visit) row (count, billed, the funds' payment
    without the personal account) and to the fund totals; a reversal counts negative. Its sign."""
    sign = -1 if s.reversal else 1
    row = by[(s.relation, s.visit)]
    row[0] += sign
    row[1] += s.medfee_fen
    row[2] += s.fund_pay_fen
    for fund in FUNDS:
        funds[fund] += s.amounts[fund]
    return sign


def _settlements(f: Figures, tally: Tally) -> None:
    by: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    funds: Counter[str] = Counter()
    per_day: Counter[date] = Counter()
    flows: Counter[tuple[str, str]] = Counter()
    maf_with_hifp: dict[str, int] = {}
    for s in tally.settlements:
        sign = _add_settlement(by, funds, s)
        per_day[s.sim_day] += sign
        if s.cross_pool:
            flows[(s.insured_pool, s.treatment_pool)] += s.cleared_fen
        if s.reversal:
            maf_with_hifp.pop(s.reversed_setl_id, None)
        elif s.amounts["maf"] > 0 and s.amounts["hifp"] > 0:
            maf_with_hifp[s.setl_id] = 1
        f.reversals += 1 if s.reversal else 0
    f.by_relation_visit = dict(by)
    f.funds_fen = {fund: funds[fund] for fund in FUNDS}
    f.funds_cleared_fen, f.funds_not_cleared_fen = split_funds(tally.settlements)
    f.per_day = dict(sorted(per_day.items()))
    f.flows_fen = dict(flows)
    f.one_stop = len(maf_with_hifp)


def _rates(f: Figures, tally: Tally) -> None:
    direct = ("DIRECT", "DIRECT_AFTER_FILING")

    def rate(relation: str, visit: str | None) -> tuple[int, int]:
        chosen = [
            o
            for o in tally.outcomes
            if o.relation == relation and (visit is None or o.visit == visit)
        ]
        return sum(1 for o in chosen if o.outcome in direct), len(chosen)

    f.cross_inpatient = rate("CROSS_PROVINCE", "21")
    f.in_province = rate("IN_PROVINCE", None)
    f.in_province_inpatient = rate("IN_PROVINCE", "21")


def _caps_first(tally: Tally) -> list[CapFirst]:
    first_settled: dict[str, str] = {}
    for s in tally.settlements:
        if not s.reversal:
            current = first_settled.get(s.psn_no)
            first_settled[s.psn_no] = min(current, s.clr_ym) if current else s.clr_ym
    first: dict[tuple[str, str], CapFirst] = {}
    for hit in sorted(tally.caps, key=lambda h: (h.period, h.day, h.psn_no, h.cap)):
        key = (hit.psn_no, hit.cap)
        if key not in first:
            first[key] = CapFirst(
                hit.psn_no,
                hit.cohort,
                hit.cap,
                hit.period,
                first_settled.get(hit.psn_no, hit.period),
            )
    return sorted(first.values(), key=lambda c: (c.period, c.cap, c.psn_no))


def _period(
    tally: Tally, month_end: MonthEnd, period: str, caps_first: list[CapFirst]
) -> PeriodFigures:
    pf = PeriodFigures(
        period=period,
        cleared_on=month_end.cleared_on.get(period),
        state=month_end.period_states.get(period, "NOT CLEARED"),
    )
    by: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    funds: Counter[str] = Counter()
    for s in tally.settlements:
        if s.clr_ym != period:
            continue
        sign = _add_settlement(by, funds, s)
        pf.settlements += sign
        pf.reversals += 1 if s.reversal else 0
        pf.outside_treatment_month += s.treatment_month != period
        if s.cross_pool:
            pf.settlements_cleared_fen += s.cleared_fen
    pf.by_relation_visit = dict(by)
    pf.funds_fen = {fund: funds[fund] for fund in FUNDS}
    pf.funds_cleared_fen, pf.funds_not_cleared_fen = split_funds(
        [s for s in tally.settlements if s.clr_ym == period]
    )
    outcomes = [o for o in tally.outcomes if o.month == period]
    pf.bases = dict(Counter(o.basis for o in outcomes if o.basis))
    cross = [o for o in outcomes if o.relation != "LOCAL"]
    pf.cross_region_encounters = len(cross)
    pf.retroactive = sum(1 for o in cross if o.basis == RETROACTIVE)

    statements = month_end.statements_of(period)
    pf.statement_count = len(statements)
    pf.statement_states = dict(Counter(s.state for s in statements))
    pf.statements_fen = month_end.statements_total_fen(period)
    pf.adjustments_fen = sum(s.adjustment_fen for s in statements)
    pf.decided_for_period_fen = sum(
        d.carried_fen for d in month_end.disputes if d.target_period == period
    )
    pf.late_events = month_end.late_events.get(period, 0)
    pf.late_lines = sum(s.late_count for s in statements)
    pf.net_levels = [lv for lv in month_end.net_levels if lv.period == period]
    pf.zero_sums = _zero_sums(pf.net_levels)
    instructions = [i for i in month_end.instructions if i[0] == period]
    pf.instructions = len(instructions)
    pf.paid = sum(1 for i in instructions if i[-1] == "PAID")
    pf.disputes = [d for d in month_end.disputes if d.period == period]
    pf.carried_in = [c for c in month_end.carried_in if c.period == period]

    advance = [a for a in month_end.advance if a.period == period]
    pf.advance_pairs = len(advance)
    pf.advance_fen = sum(a.advance_fen for a in advance)
    pf.advance_used_fen = sum(a.used_fen for a in advance)
    pf.advance_max_used_bp = max((a.used_bp for a in advance), default=0)
    alerts: Counter[int] = Counter()
    for a in advance:
        for threshold in a.alerts:
            alerts[threshold] += 1
    pf.advance_alerts = dict(sorted(alerts.items()))
    resized = [r for r in month_end.resizes if r.for_period == period]
    if resized:
        sized = [r for r in resized if not r.kept]
        pf.resized_pairs = len(sized)
        pf.resized_kept = len(resized) - len(sized)
        pf.resized_before_fen = sum(r.before_fen for r in resized)
        pf.resized_after_fen = sum(r.after_fen for r in resized)
        trailing = max((len(r.trailing_fen) for r in sized), default=0)
        pf.advance_sizing = f"sized from the payments of the {trailing} month(s) before"
    else:
        pf.advance_sizing = "modeled (two months of the plan's expected payments)"

    hit: dict[str, set[str]] = defaultdict(set)
    for h in tally.caps:
        if h.period == period:
            hit[h.cap].add(h.psn_no)
    pf.caps_hit = {cap: len(persons) for cap, persons in sorted(hit.items())}
    pf.caps_first = [c for c in caps_first if c.period == period]

    pf.traffic_seconds = tally.traffic_seconds_by_month.get(period, 0.0)
    latencies = [ms for p, ms in tally.settle_latencies_ms if p == period]
    pf.settle_p50_ms = percentile_ms(latencies, 50)
    pf.settle_p99_ms = percentile_ms(latencies, 99)
    pf.month_end_seconds = month_end.seconds_by_period.get(period, 0.0)
    return pf
