"""A person's annual accumulations (年度累计) and the delta one settlement adds to them.

Caps and the ordinary-outpatient deductible are per calendar year and shared by every
hospital, so the service layer keeps one row per person, insurance type and year, locks
it for the settlement, applies the delta the engine returns, and on reversal subtracts
the same delta: :func:`reverse_delta` is the exact inverse of :func:`apply_delta`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Self

from shared.vocabulary import FUND_ORDER

from .codes import ByFund, ChronicDisease, FundType, Insutype
from .policy import BenefitPolicy

# Far above any cap: a larger stored value means corrupted data, not a rich patient.
MAX_ACCUMULATION_FEN = 10_000_000_000
# Every fund but the basic one keeps one annual counter, stored and published under the
# name ``<fund>_paid_fen``; the basic fund's are split by visit type (below).
COUNTED_FUNDS: tuple[FundType, ...] = tuple(f for f in FUND_ORDER if f is not FundType.HIFP)


def paid_counter_name(fund: FundType) -> str:
    """The stored and published name of a fund's annual counter, e.g. ``maf_paid_fen``."""
    return f"{fund.value}{_Counters.FUND_SUFFIX}"


@dataclass(frozen=True, init=False)
class _Counters(ByFund):
    """The annual counters; ``<fund>_paid_fen`` (keyword or attribute) is ``fund_fen(fund)``."""

    outpatient_deductible_used_fen: int  # ordinary-outpatient annual deductible used
    hifp_basic_paid_fen: int  # basic fund, inpatient + chronic/special outpatient
    hifp_outpatient_paid_fen: int  # basic fund, ordinary outpatient
    # basic fund per chronic/special disease (also counted in hifp_basic_paid_fen)
    chronic_hifp_paid_fen: Mapping[ChronicDisease, int] = field(hash=False)
    hifmi_selfpay_base_fen: int  # residents' in-scope self-pay, the hifmi base
    # what each fund of COUNTED_FUNDS paid this year; zero entries are dropped
    fund_paid_fen: Mapping[FundType, int] = field(hash=False)

    FUNDS = COUNTED_FUNDS
    FUND_SUFFIX = "_paid_fen"
    FUND_MAP = "fund_paid_fen"

    def __init__(
        self,
        *,
        outpatient_deductible_used_fen: int = 0,
        hifp_basic_paid_fen: int = 0,
        hifp_outpatient_paid_fen: int = 0,
        chronic_hifp_paid_fen: Mapping[ChronicDisease, int] | None = None,
        hifmi_selfpay_base_fen: int = 0,
        fund_paid_fen: Mapping[FundType, int] | None = None,
        **paid_by_name: int,
    ) -> None:
        fund_of = _FUND_OF_COUNTER
        unknown = set(paid_by_name) - fund_of.keys()
        if unknown:
            raise TypeError(f"unknown counters {sorted(unknown)}")
        paid = dict(fund_paid_fen or {})
        for name, value in paid_by_name.items():
            paid[fund_of[name]] = paid.get(fund_of[name], 0) + value
        assert set(paid) <= set(COUNTED_FUNDS), paid
        # Zero entries are dropped so that equal sums compare equal, whatever their history.
        chronic = {
            ChronicDisease(k): v for k, v in sorted((chronic_hifp_paid_fen or {}).items()) if v
        }
        funds = {f: paid[f] for f in COUNTED_FUNDS if paid.get(f, 0) != 0}
        setattr_ = object.__setattr__
        setattr_(self, "outpatient_deductible_used_fen", outpatient_deductible_used_fen)
        setattr_(self, "hifp_basic_paid_fen", hifp_basic_paid_fen)
        setattr_(self, "hifp_outpatient_paid_fen", hifp_outpatient_paid_fen)
        setattr_(self, "chronic_hifp_paid_fen", MappingProxyType(chronic))
        setattr_(self, "hifmi_selfpay_base_fen", hifmi_selfpay_base_fen)
        setattr_(self, "fund_paid_fen", MappingProxyType(funds))
        for name, value in self.scalars().items():
            assert 0 <= value <= MAX_ACCUMULATION_FEN, (name, value)
        for disease, value in chronic.items():
            assert 0 < value <= MAX_ACCUMULATION_FEN, (disease, value)

    def scalars(self) -> dict[str, int]:
        """Every counter but the per-disease ones, by its stored name."""
        return {
            "outpatient_deductible_used_fen": self.outpatient_deductible_used_fen,
            "hifp_basic_paid_fen": self.hifp_basic_paid_fen,
            "hifp_outpatient_paid_fen": self.hifp_outpatient_paid_fen,
            **{name: self.fund_fen(f) for name, f in _FUND_OF_COUNTER.items()},
            "hifmi_selfpay_base_fen": self.hifmi_selfpay_base_fen,
        }

    def chronic_paid_fen(self, disease: ChronicDisease) -> int:
        return self.chronic_hifp_paid_fen.get(disease, 0)

    def is_zero(self) -> bool:
        return not self.chronic_hifp_paid_fen and not any(self.scalars().values())

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.scalars(),
            "chronic_hifp_paid_fen": {d.value: v for d, v in self.chronic_hifp_paid_fen.items()},
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Self:
        """The inverse of :meth:`to_dict`; a counter it does not name is 0."""
        chronic = {
            ChronicDisease(k): int(v) for k, v in (raw.get("chronic_hifp_paid_fen") or {}).items()
        }
        return cls.of_counters({name: int(raw.get(name, 0)) for name in _COUNTER_NAMES}, chronic)

    @classmethod
    def of_counters(
        cls, counters: Mapping[str, int], chronic: Mapping[ChronicDisease, int]
    ) -> Self:
        """From every counter of :meth:`scalars`, by name, and the per-disease ones."""
        return cls(
            outpatient_deductible_used_fen=counters["outpatient_deductible_used_fen"],
            hifp_basic_paid_fen=counters["hifp_basic_paid_fen"],
            hifp_outpatient_paid_fen=counters["hifp_outpatient_paid_fen"],
            chronic_hifp_paid_fen=chronic,
            hifmi_selfpay_base_fen=counters["hifmi_selfpay_base_fen"],
            fund_paid_fen={f: counters[paid_counter_name(f)] for f in COUNTED_FUNDS},
        )


# Each counted fund's counter name, in fund order (built once: every settlement builds
# several sets of counters).
_FUND_OF_COUNTER: Mapping[str, FundType] = MappingProxyType(
    {paid_counter_name(f): f for f in COUNTED_FUNDS}
)
_COUNTER_NAMES = tuple(_Counters().scalars())


@dataclass(frozen=True, init=False)
class Accumulations(_Counters):
    """What a person has used this year, before the bill being settled."""


@dataclass(frozen=True, init=False)
class AccumulationDelta(_Counters):
    """What one settlement adds to :class:`Accumulations` (every part ≥ 0)."""


def apply_delta(acc: Accumulations, delta: AccumulationDelta) -> Accumulations:
    return _combine(acc, delta, sign=1)


def reverse_delta(acc: Accumulations, delta: AccumulationDelta) -> Accumulations:
    """Undo a settlement; asserts the accumulations still hold everything it took."""
    restored = _combine(acc, delta, sign=-1)
    assert apply_delta(restored, delta) == acc
    return restored


def _combine(acc: Accumulations, delta: AccumulationDelta, sign: int) -> Accumulations:
    change = delta.scalars()
    scalars = {name: value + sign * change[name] for name, value in acc.scalars().items()}
    diseases = set(acc.chronic_hifp_paid_fen) | set(delta.chronic_hifp_paid_fen)
    chronic = {d: acc.chronic_paid_fen(d) + sign * delta.chronic_paid_fen(d) for d in diseases}
    return Accumulations.of_counters(scalars, chronic)


def exceeded_caps(acc: Accumulations, policy: BenefitPolicy, insutype: Insutype) -> list[str]:
    """Names of the counters above their annual cap (empty when all are within)."""
    benefits = policy.benefits(insutype)
    caps = {
        "outpatient_deductible_used_fen": benefits.outpatient.annual_deductible_fen,
        "hifp_basic_paid_fen": benefits.basic.annual_cap_fen,
        "hifp_outpatient_paid_fen": benefits.outpatient.annual_cap_fen,
        **{paid_counter_name(f): cap for f, cap in policy.fund_caps.items()},
    }
    counters = acc.scalars()
    over = [name for name, cap in caps.items() if counters[name] > cap]
    per_disease_cap = benefits.chronic.annual_cap_fen_per_disease
    over += [
        f"chronic_hifp_paid_fen[{d.value}]"
        for d, paid in acc.chronic_hifp_paid_fen.items()
        if paid > per_disease_cap
    ]
    return over


@dataclass(frozen=True)
class CapUsage:
    """One annual counter against its cap in the policy in force."""

    used_fen: int
    cap_fen: int

    @property
    def left_fen(self) -> int:
        return max(0, self.cap_fen - self.used_fen)


@dataclass(frozen=True)
class AnnualUsage:
    """A person's year (5206): each counter, its cap and the headroom left to it."""

    outpatient_deductible: CapUsage
    hifp_basic: CapUsage
    hifp_outpatient: CapUsage
    chronic: tuple[tuple[ChronicDisease, CapUsage], ...]  # in code order
    hifob: CapUsage
    hifmi: CapUsage
    hifmi_selfpay_base_fen: int
    maf: CapUsage
    acct_paid_fen: int


def annual_usage(acc: Accumulations, policy: BenefitPolicy, insutype: Insutype) -> AnnualUsage:
    """The counters with the caps the engine applies (see ``exceeded_caps``): every chronic
    disease of the policy, and any other the person has an amount for."""
    benefits = policy.benefits(insutype)
    per_disease_cap = benefits.chronic.annual_cap_fen_per_disease
    diseases = sorted(set(benefits.chronic.diseases) | set(acc.chronic_hifp_paid_fen))
    return AnnualUsage(
        outpatient_deductible=CapUsage(
            acc.outpatient_deductible_used_fen, benefits.outpatient.annual_deductible_fen
        ),
        hifp_basic=CapUsage(acc.hifp_basic_paid_fen, benefits.basic.annual_cap_fen),
        hifp_outpatient=CapUsage(acc.hifp_outpatient_paid_fen, benefits.outpatient.annual_cap_fen),
        chronic=tuple((d, CapUsage(acc.chronic_paid_fen(d), per_disease_cap)) for d in diseases),
        hifob=CapUsage(acc.fund_fen(FundType.HIFOB), policy.hifob.annual_cap_fen),
        hifmi=CapUsage(acc.fund_fen(FundType.HIFMI), policy.hifmi.annual_cap_fen),
        hifmi_selfpay_base_fen=acc.hifmi_selfpay_base_fen,
        maf=CapUsage(acc.fund_fen(FundType.MAF), policy.maf.annual_cap_fen),
        acct_paid_fen=acc.fund_fen(FundType.ACCT),
    )
