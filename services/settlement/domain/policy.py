"""Insured-side benefit policy (参保地政策): deductibles, ratios and caps of one pool group.

A :class:`BenefitPolicy` is one version, effective from a date, of the benefits of a
group of insured pools (all of Guangxi; Guangzhou and the other GBA cities; the other
Guangdong cities). Which version applies is decided by :func:`select_policy` from the
insured pool and the treatment date. Figures are integer fen and basis points; each
figure group carries its :class:`Provenance` (``modeled`` or taken from the plans).

How the funds are modeled (see the engine for the order of payment):

* basic pool fund (hifp): inpatient and chronic/special outpatient share one annual cap
  (``basic.annual_cap_fen``); chronic/special outpatient also has a cap per disease;
  ordinary outpatient has its own annual deductible and cap outside the basic cap;
* employee large-amount subsidy (hifob) pays on the in-scope amount that the exhausted
  basic cap left unpaid;
* resident critical-illness insurance (hifmi) pays on the year's in-scope self-pay above
  a threshold, in tiers measured from that threshold;
* medical assistance (maf) pays a share, by category, of the in-scope self-pay left;
* an ordinary purchase at a designated pharmacy (med_type 41) is paid from the ordinary-
  outpatient pooling (its deductible, ratio and cap, shared with hospital outpatient
  visits) only where the policy admits pharmacies to it (:class:`PharmacyRule`);
  otherwise from the personal account and cash alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from shared.errors import NotFound, Violations
from shared.money import BP_PER_UNIT
from shared.vocabulary import FundType

from .codes import (
    ASSISTED_CATEGORIES,
    AssistanceCategory,
    ChronicDisease,
    HospitalLevel,
    Insutype,
    PersonType,
    VisitType,
)
from .parsing import bool_field, date_field, enum_field, int_field, opt_int

MAX_POLICY_AMOUNT_FEN = 10_000_000_000  # 100 million yuan: far above any annual cap
MAX_POOLS_PER_POLICY = 100
MAX_HIFMI_TIERS = 10
MAX_NOTE_CHARS = 500
POOL_CODE_PATTERN = re.compile(r"^[1-9][0-9]{5}$")
POLICY_ID_PATTERN = re.compile(r"^[A-Z][A-Z0-9_]{0,19}$")
VERSION_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
HOSPITAL_LEVELS = len(HospitalLevel)


@dataclass(frozen=True)
class Provenance:
    """Where a figure group comes from: the plans (seed) or a modeled default."""

    modeled: bool = True
    note: str = ""


@dataclass(frozen=True)
class BasicFundRule:
    annual_cap_fen: int  # hifp paid for inpatient + chronic/special outpatient, per year
    retiree_bonus_bp: int
    ratio_ceiling_bp: int  # no ratio (with the retiree bonus) goes above this
    source: Provenance = Provenance()


@dataclass(frozen=True)
class InpatientRule:
    deductible_fen_by_level: tuple[int, ...]  # per admission, hospital level 1, 2, 3
    ratio_bp_by_level: tuple[int, ...]
    source: Provenance = Provenance()

    def deductible_fen(self, level: HospitalLevel) -> int:
        return self.deductible_fen_by_level[level - 1]

    def ratio_bp(self, level: HospitalLevel) -> int:
        return self.ratio_bp_by_level[level - 1]


@dataclass(frozen=True)
class OutpatientRule:
    """Ordinary outpatient (普通门诊统筹): its own deductible and cap per year."""

    annual_deductible_fen: int
    ratio_bp: int
    annual_cap_fen: int
    source: Provenance = Provenance()


@dataclass(frozen=True)
class ChronicRule:
    """Chronic/special outpatient (门诊慢特病): no deductible, a cap per disease per year."""

    ratio_bp: int
    annual_cap_fen_per_disease: int
    diseases: tuple[ChronicDisease, ...]
    source: Provenance = Provenance()


@dataclass(frozen=True)
class InsutypeBenefits:
    basic: BasicFundRule
    inpatient: InpatientRule
    outpatient: OutpatientRule
    chronic: ChronicRule


@dataclass(frozen=True)
class HifobRule:
    """Employee large-amount subsidy (职工大额医疗费用补助)."""

    ratio_bp: int
    annual_cap_fen: int
    source: Provenance = Provenance()


@dataclass(frozen=True)
class HifmiTier:
    # Upper end of the tier, measured from the threshold; None: open-ended (last tier).
    segment_upto_fen: int | None
    ratio_bp: int


@dataclass(frozen=True)
class HifmiRule:
    """Resident critical-illness insurance (城乡居民大病保险)."""

    threshold_fen: int  # of the year's in-scope self-pay
    tiers: tuple[HifmiTier, ...]
    annual_cap_fen: int
    source: Provenance = Provenance()


@dataclass(frozen=True)
class MafRule:
    """Medical assistance (医疗救助) on the in-scope self-pay left after the insurances."""

    ratio_bp_by_category: Mapping[AssistanceCategory, int]  # ASSISTED_CATEGORIES
    annual_cap_fen: int
    source: Provenance = Provenance()


@dataclass(frozen=True)
class PharmacyRule:
    """Designated-pharmacy purchases (定点药店购药) of the policy's pools.

    ``outpatient_pooling`` (门诊统筹进药店): an ordinary purchase is paid by the basic
    fund under the ordinary-outpatient rules. Off unless the policy says so (a policy
    version without this group admits no pharmacy to pooling).
    """

    outpatient_pooling: bool = False
    source: Provenance = Provenance(True, "not stated: pharmacies not admitted to pooling")


NO_PHARMACY_POOLING = PharmacyRule()


@dataclass(frozen=True)
class BenefitPolicy:
    policy_id: str  # the pool group, e.g. "GX"
    name: str
    version_id: str
    effective_date: date
    pool_codes: tuple[str, ...]
    employee: InsutypeBenefits
    resident: InsutypeBenefits
    hifob: HifobRule
    hifmi: HifmiRule
    maf: MafRule
    pharmacy: PharmacyRule = NO_PHARMACY_POOLING

    def __post_init__(self) -> None:
        assert 0 < len(self.pool_codes) <= MAX_POOLS_PER_POLICY
        assert set(self.maf.ratio_bp_by_category) == set(ASSISTED_CATEGORIES)
        assert self.hifmi.tiers and self.hifmi.tiers[-1].segment_upto_fen is None

    def covers(self, pool_code: str) -> bool:
        return pool_code in self.pool_codes

    @property
    def fund_caps(self) -> Mapping[FundType, int]:
        """The annual cap of every fund paid after the basic fund, in fund order."""
        return {
            FundType.HIFOB: self.hifob.annual_cap_fen,
            FundType.HIFMI: self.hifmi.annual_cap_fen,
            FundType.MAF: self.maf.annual_cap_fen,
        }

    def benefits(self, insutype: Insutype) -> InsutypeBenefits:
        return self.employee if insutype is Insutype.EMPLOYEE else self.resident

    def to_dict(self) -> dict[str, Any]:
        return policy_to_dict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> BenefitPolicy:
        return policy_from_dict(raw)


def basic_ratio_bp(
    benefits: InsutypeBenefits,
    visit_type: VisitType,
    level: HospitalLevel,
    person_type: PersonType,
    reduction_bp: int,
) -> int:
    """The basic-fund ratio: by visit type (and level), retiree bonus, ceiling, reduction."""
    assert 0 <= reduction_bp <= BP_PER_UNIT
    base_bp = _base_ratio_bp(benefits, visit_type, level)
    if person_type is PersonType.RETIRED:
        bonus_bp = benefits.basic.retiree_bonus_bp
        base_bp = max(base_bp, min(base_bp + bonus_bp, benefits.basic.ratio_ceiling_bp))
    ratio_bp = max(0, base_bp - reduction_bp)
    assert 0 <= ratio_bp <= BP_PER_UNIT
    return ratio_bp


def _base_ratio_bp(benefits: InsutypeBenefits, visit_type: VisitType, level: HospitalLevel) -> int:
    if visit_type is VisitType.INPATIENT:
        return benefits.inpatient.ratio_bp(level)
    if visit_type is VisitType.CHRONIC_OUTPATIENT:
        return benefits.chronic.ratio_bp
    # Ordinary outpatient, and a pharmacy purchase admitted to outpatient pooling.
    return benefits.outpatient.ratio_bp


def select_policy(
    policies: Sequence[BenefitPolicy], insured_pool_code: str, on_date: date
) -> BenefitPolicy:
    """The latest version covering the pool that is in effect on ``on_date``."""
    candidates = [
        p for p in policies if p.covers(insured_pool_code) and p.effective_date <= on_date
    ]
    if not candidates:
        raise NotFound(f"no benefit policy for pool {insured_pool_code} in effect on {on_date}")
    return max(candidates, key=lambda p: (p.effective_date, p.version_id))


# --- serialisation -------------------------------------------------------------------


def policy_to_dict(policy: BenefitPolicy) -> dict[str, Any]:
    return {
        "policy_id": policy.policy_id,
        "name": policy.name,
        "version_id": policy.version_id,
        "effective_date": policy.effective_date.isoformat(),
        "pool_codes": list(policy.pool_codes),
        "employee": _benefits_to_dict(policy.employee),
        "resident": _benefits_to_dict(policy.resident),
        "hifob": {
            **_source_dict(policy.hifob.source),
            "ratio_bp": policy.hifob.ratio_bp,
            "annual_cap_fen": policy.hifob.annual_cap_fen,
        },
        "hifmi": {
            **_source_dict(policy.hifmi.source),
            "threshold_fen": policy.hifmi.threshold_fen,
            "tiers": [
                {"segment_upto_fen": t.segment_upto_fen, "ratio_bp": t.ratio_bp}
                for t in policy.hifmi.tiers
            ],
            "annual_cap_fen": policy.hifmi.annual_cap_fen,
        },
        "maf": {
            **_source_dict(policy.maf.source),
            "ratio_bp_by_category": {
                c.value: policy.maf.ratio_bp_by_category[c] for c in ASSISTED_CATEGORIES
            },
            "annual_cap_fen": policy.maf.annual_cap_fen,
        },
        "pharmacy": {
            **_source_dict(policy.pharmacy.source),
            "outpatient_pooling": policy.pharmacy.outpatient_pooling,
        },
    }


def _source_dict(source: Provenance) -> dict[str, Any]:
    return {"modeled": source.modeled, "note": source.note}


def _benefits_to_dict(b: InsutypeBenefits) -> dict[str, Any]:
    return {
        "basic": {
            **_source_dict(b.basic.source),
            "annual_cap_fen": b.basic.annual_cap_fen,
            "retiree_bonus_bp": b.basic.retiree_bonus_bp,
            "ratio_ceiling_bp": b.basic.ratio_ceiling_bp,
        },
        "inpatient": {
            **_source_dict(b.inpatient.source),
            "deductible_fen_by_level": list(b.inpatient.deductible_fen_by_level),
            "ratio_bp_by_level": list(b.inpatient.ratio_bp_by_level),
        },
        "outpatient": {
            **_source_dict(b.outpatient.source),
            "annual_deductible_fen": b.outpatient.annual_deductible_fen,
            "ratio_bp": b.outpatient.ratio_bp,
            "annual_cap_fen": b.outpatient.annual_cap_fen,
        },
        "chronic": {
            **_source_dict(b.chronic.source),
            "ratio_bp": b.chronic.ratio_bp,
            "annual_cap_fen_per_disease": b.chronic.annual_cap_fen_per_disease,
            "diseases": [d.value for d in b.chronic.diseases],
        },
    }


class _Reader:
    """Reads one JSON object, recording violations under a dotted field prefix."""

    def __init__(self, raw: object, prefix: str, errors: Violations) -> None:
        if not isinstance(raw, Mapping):
            errors.add(prefix or "policy", "an object")
            raw = {}
        self.raw: Mapping[str, Any] = raw
        self.prefix = prefix
        self.errors = errors

    def name(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def child(self, key: str) -> _Reader:
        return _Reader(self.raw.get(key), self.name(key), self.errors)

    def fen(self, key: str) -> int:
        value = int_field(self.raw.get(key), self.name(key), 0, MAX_POLICY_AMOUNT_FEN, self.errors)
        return value or 0

    def bp(self, key: str) -> int:
        value = int_field(self.raw.get(key), self.name(key), 0, BP_PER_UNIT, self.errors)
        return value or 0

    def per_level(self, key: str, high: int) -> tuple[int, ...]:
        values = self.raw.get(key)
        if not isinstance(values, list) or len(values) != HOSPITAL_LEVELS:
            self.errors.add(self.name(key), f"a list of {HOSPITAL_LEVELS} integers (level 1..3)")
            return (0,) * HOSPITAL_LEVELS
        named = [f"{self.name(key)}[{i}]" for i in range(HOSPITAL_LEVELS)]
        return tuple(
            int_field(v, n, 0, high, self.errors) or 0 for v, n in zip(values, named, strict=True)
        )

    def source(self) -> Provenance:
        modeled = bool_field(self.raw.get("modeled"), self.name("modeled"), self.errors)
        note = str(self.raw.get("note") or "")
        self.errors.check(len(note) <= MAX_NOTE_CHARS, self.name("note"), "at most 500 characters")
        return Provenance(modeled, note)


def policy_from_dict(raw: Mapping[str, Any]) -> BenefitPolicy:
    """Build and validate a policy; InvalidArgument names every bad field (dotted path)."""
    errors = Violations()
    top = _Reader(raw, "", errors)
    policy_id = str(raw.get("policy_id", ""))
    version_id = str(raw.get("version_id", ""))
    errors.check(bool(POLICY_ID_PATTERN.match(policy_id)), "policy_id", "upper-case, 1..20")
    errors.check(
        bool(VERSION_ID_PATTERN.match(version_id)), "version_id", "1..40 of A-Z a-z 0-9 ._-"
    )
    effective = date_field(raw.get("effective_date"), "effective_date", errors)
    pools = _pool_codes(raw.get("pool_codes"), errors)
    employee = _benefits(top.child("employee"))
    resident = _benefits(top.child("resident"))
    hifob_r = top.child("hifob")
    hifob = HifobRule(hifob_r.bp("ratio_bp"), hifob_r.fen("annual_cap_fen"), hifob_r.source())
    hifmi = _hifmi(top.child("hifmi"))
    maf = _maf(top.child("maf"))
    pharmacy = _pharmacy(top) if "pharmacy" in raw else NO_PHARMACY_POOLING
    errors.raise_if_any()
    assert effective is not None
    name = str(raw.get("name") or policy_id)
    return BenefitPolicy(
        policy_id,
        name,
        version_id,
        effective,
        pools,
        employee,
        resident,
        hifob,
        hifmi,
        maf,
        pharmacy,
    )


def _pharmacy(top: _Reader) -> PharmacyRule:
    r = top.child("pharmacy")
    pooling = bool_field(r.raw.get("outpatient_pooling"), r.name("outpatient_pooling"), r.errors)
    return PharmacyRule(bool(pooling), r.source())


def _pool_codes(values: object, errors: Violations) -> tuple[str, ...]:
    if not isinstance(values, list) or not 0 < len(values) <= MAX_POOLS_PER_POLICY:
        errors.add("pool_codes", f"a list of 1..{MAX_POOLS_PER_POLICY} pool codes")
        return ()
    for index, code in enumerate(values):
        errors.check(
            isinstance(code, str) and bool(POOL_CODE_PATTERN.match(code)),
            f"pool_codes[{index}]",
            f"a 6-digit pool code; got {code!r}",
        )
    errors.check(len(set(values)) == len(values), "pool_codes", "duplicate pool code")
    return tuple(str(code) for code in values)


def _benefits(r: _Reader) -> InsutypeBenefits:
    b = r.child("basic")
    basic = BasicFundRule(
        b.fen("annual_cap_fen"), b.bp("retiree_bonus_bp"), b.bp("ratio_ceiling_bp"), b.source()
    )
    i = r.child("inpatient")
    inpatient = InpatientRule(
        i.per_level("deductible_fen_by_level", MAX_POLICY_AMOUNT_FEN),
        i.per_level("ratio_bp_by_level", BP_PER_UNIT),
        i.source(),
    )
    o = r.child("outpatient")
    outpatient = OutpatientRule(
        o.fen("annual_deductible_fen"), o.bp("ratio_bp"), o.fen("annual_cap_fen"), o.source()
    )
    c = r.child("chronic")
    diseases = tuple(
        d
        for index, code in enumerate(c.raw.get("diseases") or [])
        if (d := enum_field(ChronicDisease, code, c.name(f"diseases[{index}]"), r.errors))
    )
    chronic = ChronicRule(
        c.bp("ratio_bp"), c.fen("annual_cap_fen_per_disease"), diseases, c.source()
    )
    return InsutypeBenefits(basic, inpatient, outpatient, chronic)


def _hifmi(r: _Reader) -> HifmiRule:
    raw_tiers = r.raw.get("tiers")
    tiers: list[HifmiTier] = []
    if not isinstance(raw_tiers, list) or not 0 < len(raw_tiers) <= MAX_HIFMI_TIERS:
        r.errors.add(r.name("tiers"), f"a list of 1..{MAX_HIFMI_TIERS} tiers")
        raw_tiers = []
    previous_upto_fen = 0
    for index, raw_tier in enumerate(raw_tiers):
        t = _Reader(raw_tier, f"{r.name('tiers')}[{index}]", r.errors)
        last = index == len(raw_tiers) - 1
        upto = opt_int(
            t.raw.get("segment_upto_fen"),
            t.name("segment_upto_fen"),
            previous_upto_fen + 1,
            MAX_POLICY_AMOUNT_FEN,
            r.errors,
        )
        r.errors.check(
            (upto is None) == last, t.name("segment_upto_fen"), "null on the last tier only"
        )
        tiers.append(HifmiTier(upto, t.bp("ratio_bp")))
        previous_upto_fen = upto or previous_upto_fen
    if not tiers:
        tiers.append(HifmiTier(None, 0))  # keeps construction valid; errors already recorded
    return HifmiRule(r.fen("threshold_fen"), tuple(tiers), r.fen("annual_cap_fen"), r.source())


def _maf(r: _Reader) -> MafRule:
    ratios = r.child("ratio_bp_by_category")
    by_category = {c: ratios.bp(c.value) for c in ASSISTED_CATEGORIES}
    return MafRule(by_category, r.fen("annual_cap_fen"), r.source())
