"""A person's annual accumulations (年度累计) and the delta one settlement adds to them.

Caps and the ordinary-outpatient deductible are per calendar year and shared by every
hospital, so the service layer keeps one row per person, insurance type and year, locks
it for the settlement, applies the delta the engine returns, and on reversal subtracts
the same delta: :func:`reverse_delta` is the exact inverse of :func:`apply_delta`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Self

from .codes import ChronicDisease, Insutype
from .policy import BenefitPolicy

# Far above any cap: a larger stored value means corrupted data, not a rich patient.
MAX_ACCUMULATION_FEN = 10_000_000_000


@dataclass(frozen=True)
class _Counters:
    outpatient_deductible_used_fen: int = 0  # ordinary-outpatient annual deductible used
    hifp_basic_paid_fen: int = 0  # basic fund, inpatient + chronic/special outpatient
    hifp_outpatient_paid_fen: int = 0  # basic fund, ordinary outpatient
    chronic_hifp_paid_fen: Mapping[ChronicDisease, int] = field(
        default_factory=dict, hash=False
    )  # basic fund per chronic/special disease (also counted in hifp_basic_paid_fen)
    hifob_paid_fen: int = 0
    hifmi_paid_fen: int = 0
    hifmi_selfpay_base_fen: int = 0  # residents' in-scope self-pay, the hifmi base
    maf_paid_fen: int = 0
    acct_paid_fen: int = 0

    def __post_init__(self) -> None:
        # Zero entries are dropped so that equal sums compare equal, whatever their history.
        chronic = {
            ChronicDisease(k): v for k, v in sorted(self.chronic_hifp_paid_fen.items()) if v != 0
        }
        object.__setattr__(self, "chronic_hifp_paid_fen", MappingProxyType(chronic))
        for name, value in self.scalars().items():
            assert 0 <= value <= MAX_ACCUMULATION_FEN, (name, value)
        for disease, value in chronic.items():
            assert 0 < value <= MAX_ACCUMULATION_FEN, (disease, value)

    def scalars(self) -> dict[str, int]:
        return {
            f.name: getattr(self, f.name) for f in fields(self) if f.name != "chronic_hifp_paid_fen"
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
        chronic = {
            ChronicDisease(k): int(v) for k, v in (raw.get("chronic_hifp_paid_fen") or {}).items()
        }
        scalar_names = [f.name for f in fields(cls) if f.name != "chronic_hifp_paid_fen"]
        return cls(
            chronic_hifp_paid_fen=chronic,
            **{name: int(raw.get(name, 0)) for name in scalar_names},
        )


@dataclass(frozen=True)
class Accumulations(_Counters):
    """What a person has used this year, before the bill being settled."""


@dataclass(frozen=True)
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
    scalars = {name: value + sign * getattr(delta, name) for name, value in acc.scalars().items()}
    diseases = set(acc.chronic_hifp_paid_fen) | set(delta.chronic_hifp_paid_fen)
    chronic = {d: acc.chronic_paid_fen(d) + sign * delta.chronic_paid_fen(d) for d in diseases}
    return Accumulations(chronic_hifp_paid_fen=chronic, **scalars)


def exceeded_caps(acc: Accumulations, policy: BenefitPolicy, insutype: Insutype) -> list[str]:
    """Names of the counters above their annual cap (empty when all are within)."""
    benefits = policy.benefits(insutype)
    caps = {
        "outpatient_deductible_used_fen": benefits.outpatient.annual_deductible_fen,
        "hifp_basic_paid_fen": benefits.basic.annual_cap_fen,
        "hifp_outpatient_paid_fen": benefits.outpatient.annual_cap_fen,
        "hifob_paid_fen": policy.hifob.annual_cap_fen,
        "hifmi_paid_fen": policy.hifmi.annual_cap_fen,
        "maf_paid_fen": policy.maf.annual_cap_fen,
    }
    over = [name for name, cap in caps.items() if getattr(acc, name) > cap]
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
        hifob=CapUsage(acc.hifob_paid_fen, policy.hifob.annual_cap_fen),
        hifmi=CapUsage(acc.hifmi_paid_fen, policy.hifmi.annual_cap_fen),
        hifmi_selfpay_base_fen=acc.hifmi_selfpay_base_fen,
        maf=CapUsage(acc.maf_paid_fen, policy.maf.annual_cap_fen),
        acct_paid_fen=acc.acct_paid_fen,
    )
