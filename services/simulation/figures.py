"""The figures of the month, computed once from the tally and the month-end result; the
terminal summary and the HTML report both render these.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date

from services.simulation.tally import FUNDS, MonthEnd, Tally, fingerprint, percentile_ms
from shared.money import BP_PER_UNIT, round_half_up


@dataclass(frozen=True)
class ChannelFigures:
    total: int
    online: int
    share_bp: int
    channels_used: int
    by_channel: dict[str, int]


@dataclass
class Figures:
    seed: int
    month: str
    scale: str
    persons: int
    encounters: int
    periods: list[str]
    first_day: date = date.min
    last_day: date = date.min
    # (relation, visit) -> [standing settlements, medical fees, fund payments]
    by_relation_visit: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    funds_fen: dict[str, int] = field(default_factory=dict)
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

    @property
    def conservation_ok(self) -> bool:
        return self.settlements_cleared_fen == self.statements_fen

    @property
    def zero_sum_ok(self) -> bool:
        return all(ok for *_, ok in self.zero_sums)

    @property
    def passed(self) -> bool:
        return self.conservation_ok and self.zero_sum_ok


def rate_bp(part: int, whole: int) -> int:
    return round_half_up(part * BP_PER_UNIT, whole) if whole else 0


def pct(part: int, whole: int) -> str:
    bp = rate_bp(part, whole)
    return f"{bp // 100}.{bp % 100:02d} %" if whole else "n/a"


def compute(
    tally: Tally,
    month_end: MonthEnd,
    *,
    seed: int,
    month: str,
    scale: str,
    persons: int,
    encounters: int,
    channels: ChannelFigures | None,
    first_day: date = date.min,
    last_day: date = date.min,
) -> Figures:
    f = Figures(
        seed=seed,
        month=month,
        scale=scale,
        persons=persons,
        encounters=encounters,
        periods=list(month_end.periods),
        channels=channels,
        first_day=first_day,
        last_day=last_day,
    )
    _settlements(f, tally)
    _rates(f, tally)
    f.settlements_cleared_fen = sum(
        s.cleared_fen for s in tally.settlements if s.cross_pool and s.clr_ym in month_end.periods
    )
    f.statements_fen = month_end.statements_total_fen()
    f.zero_sums = [
        (
            lv.leg,
            lv.scope,
            lv.net_sum_fen - (lv.province_net_fen if lv.leg == "ALLOCATION" else 0),
            lv.balanced,
        )
        for lv in month_end.net_levels
    ]
    f.fingerprint = fingerprint(month_end.statements)
    standing = sum(v[0] for v in f.by_relation_visit.values())
    f.settlements_per_s = standing / tally.traffic_seconds if tally.traffic_seconds else 0.0
    f.settle_p50_ms = percentile_ms(tally.settle_latencies_ms, 50)
    f.settle_p99_ms = percentile_ms(tally.settle_latencies_ms, 99)
    f.paid_in_full = sum(1 for o in tally.outcomes if o.outcome == "PAID_IN_FULL")
    return f


def _settlements(f: Figures, tally: Tally) -> None:
    by: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    funds: Counter[str] = Counter()
    per_day: Counter[date] = Counter()
    flows: Counter[tuple[str, str]] = Counter()
    maf_with_hifp: dict[str, int] = {}
    for s in tally.settlements:
        sign = -1 if s.reversal else 1
        row = by[(s.relation, s.visit)]
        row[0] += sign
        row[1] += s.medfee_fen
        row[2] += s.cleared_fen - s.amounts["acct"]
        for fund in FUNDS:
            funds[fund] += s.amounts[fund]
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
