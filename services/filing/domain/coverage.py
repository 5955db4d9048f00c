"""Does a person get cross-region direct settlement for a treatment, and on what basis?

Order of decision:

1. Same pool → LOCAL (not cross-region). This is also how long-term filers keep their
   benefits at home (双向享受待遇): treatment back in the insured pool is local.
2. Both pools in the 北钦防 zone (switch on) → EXEMPT_BQF: no filing, local ratios.
3. Otherwise every basis that applies is a candidate, and the cheapest for the patient
   wins (smallest ratio reduction; on a tie a filing before an exemption before the
   emergency rule, so the record names the filing when there is one):
   - FILING / RETROACTIVE_FILING — a filing of this insured pool whose destination is
     the treatment pool or its province and which is valid on the treatment date;
     retroactive when it was submitted after the treatment date (补办). Among several
     filings a long-term one is preferred, then the smallest reduction.
   - EXEMPT_GD_IN_PROVINCE — Guangdong insured treated in another Guangdong pool (switch).
   - EMERGENCY — no filing but the visit is an emergency: counts as filed, with the
     emergency reduction. Chronic/special outpatient care is planned care, so an
     emergency flag cannot stand in for a filing there.
4. Nothing applies → refused with FILING_CANCELLED (a filing for that place would have
   covered the date but was cancelled), FILING_NOT_VALID_ON_DATE (a filing for that place
   exists but not for that date) or FILING_REQUIRED.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Final

from services.filing.domain.model import Filing, FilingCategory, FilingStatus, ReasonCode
from services.filing.domain.policy import FilingPolicy
from shared.errors import Violations
from shared.reference import ZONE_BQF, Relation, in_zone, is_pool, province_of, relation
from shared.vocabulary import VisitType

MAX_FILINGS_CONSIDERED = 500  # a person's whole filing history, every version
GUANGDONG = "44"


# The medical types coverage is decided for. A pharmacy purchase (41) is not one: it is
# asked about as the visit it is paid like (an ordinary outpatient visit, or a chronic one
# for 双通道 drugs), so med_type 41 is refused at the edge.
COVERED_VISITS: Final = frozenset(
    {VisitType.ORDINARY_OUTPATIENT, VisitType.CHRONIC_OUTPATIENT, VisitType.INPATIENT}
)


class CoverageBasis(StrEnum):
    LOCAL = "LOCAL"
    EXEMPT_BQF = "EXEMPT_BQF"
    EXEMPT_GD_IN_PROVINCE = "EXEMPT_GD_IN_PROVINCE"
    FILING = "FILING"
    RETROACTIVE_FILING = "RETROACTIVE_FILING"
    EMERGENCY = "EMERGENCY"


_TIE_BREAK = {
    CoverageBasis.FILING: 0,
    CoverageBasis.RETROACTIVE_FILING: 1,
    CoverageBasis.EXEMPT_GD_IN_PROVINCE: 2,
    CoverageBasis.EMERGENCY: 3,
}


@dataclass(frozen=True)
class Coverage:
    relation: Relation
    allowed: bool
    basis: CoverageBasis | None  # None when refused
    filing_id: str | None
    category: FilingCategory | None
    ratio_reduction_bp: int  # points off the insured pool's basic-fund ratio
    local_ratio: bool  # settle at the insured pool's local ratios
    reason_code: ReasonCode | None  # why refused; None when allowed
    message: str

    def refused(self, reason: ReasonCode, message: str) -> Coverage:
        """This decision turned into a refusal: the same place and filing, no benefit."""
        return Coverage(
            relation=self.relation,
            allowed=False,
            basis=None,
            filing_id=self.filing_id,
            category=self.category,
            ratio_reduction_bp=0,
            local_ratio=False,
            reason_code=reason,
            message=message,
        )


def _coverage(
    rel: Relation,
    message: str,
    *,
    basis: CoverageBasis | None = None,
    reason: ReasonCode | None = None,
    reduction_bp: int = 0,
    local_ratio: bool = False,
    filing: Filing | None = None,
    category: FilingCategory | None = None,
) -> Coverage:
    """Allowed on ``basis``, or refused for ``reason``: exactly one of the two is given."""
    assert (basis is None) != (reason is None), "allowed on a basis or refused for a reason"
    return Coverage(
        relation=rel,
        allowed=basis is not None,
        basis=basis,
        filing_id=filing.filing_id if filing else None,
        category=filing.category if filing else category,
        ratio_reduction_bp=reduction_bp,
        local_ratio=local_ratio,
        reason_code=reason,
        message=message,
    )


@dataclass(frozen=True, kw_only=True)
class Visit:
    """The treatment coverage is asked for: where, on which day, what kind of visit."""

    treatment_pool: str
    treatment_date: date
    visit_type: VisitType
    emergency: bool


def _check_query(insured_pool: str, visit: Visit, today: date) -> None:
    v = Violations()
    v.check(is_pool(insured_pool), "insured_pool", "unknown pool code")
    v.check(is_pool(visit.treatment_pool), "treatment_pool", "unknown pool code")
    v.check(visit.treatment_date <= today, "treatment_date", "is in the future")
    v.raise_if_any()


def decide_coverage(
    *,
    insured_pool: str,
    visit: Visit,
    filings: Sequence[Filing],
    policy: FilingPolicy,
    today: date,
) -> Coverage:
    """The coverage decision; ``policy`` is the version in force on the treatment date."""
    _check_query(insured_pool, visit, today)
    if len(filings) > MAX_FILINGS_CONSIDERED:
        raise ValueError(f"more than {MAX_FILINGS_CONSIDERED} filings for one person")
    treatment_pool = visit.treatment_pool
    rel = relation(insured_pool, treatment_pool)
    if rel is Relation.LOCAL:
        return _coverage(
            rel, "treatment in the insured pool", basis=CoverageBasis.LOCAL, local_ratio=True
        )
    if policy.bqf_zone_exempt and in_zone(ZONE_BQF, insured_pool, treatment_pool):
        return _coverage(
            rel,
            "北钦防 zone: no filing needed, local ratios",
            basis=CoverageBasis.EXEMPT_BQF,
            local_ratio=True,
        )
    # Only filings of this insurance relation, known by now, for this place count.
    matching = [
        f
        for f in filings
        if f.insured_pool == insured_pool
        and f.submitted_on <= today
        and f.destination.covers(treatment_pool)
    ]
    candidates = _candidates(rel, insured_pool, visit, matching, policy)
    if candidates:
        return min(candidates, key=_cheapest_for_patient)
    return _refusal(rel, visit, matching)


def _cheapest_for_patient(candidate: Coverage) -> tuple[int, int]:
    assert candidate.basis is not None  # only allowed coverages are candidates
    return candidate.ratio_reduction_bp, _TIE_BREAK[candidate.basis]


def _candidates(
    rel: Relation,
    insured_pool: str,
    visit: Visit,
    matching: list[Filing],
    policy: FilingPolicy,
) -> list[Coverage]:
    candidates: list[Coverage] = []
    best = _best_filing([f for f in matching if f.is_valid_on(visit.treatment_date)], policy)
    if best is not None:
        candidates.append(_filing_coverage(rel, best, visit.treatment_date, policy))
    gd_exempt = rel is Relation.IN_PROVINCE and province_of(insured_pool) == GUANGDONG
    if gd_exempt and policy.gd_in_province_exempt:
        candidates.append(
            _coverage(
                rel,
                "Guangdong in-province treatment: no filing needed",
                basis=CoverageBasis.EXEMPT_GD_IN_PROVINCE,
                reduction_bp=policy.gd_in_province_reduction_bp,
            )
        )
    if (
        visit.emergency
        and policy.emergency_counts_as_filed
        and visit.visit_type is not VisitType.CHRONIC_OUTPATIENT
    ):
        candidates.append(
            _coverage(
                rel,
                "emergency treatment counts as filed",
                basis=CoverageBasis.EMERGENCY,
                reduction_bp=policy.reduction_bp(FilingCategory.EMERGENCY),
                category=FilingCategory.EMERGENCY,
            )
        )
    return candidates


def _best_filing(valid: list[Filing], policy: FilingPolicy) -> Filing | None:
    if not valid:
        return None
    return min(
        valid,
        key=lambda f: (
            not f.is_long_term,
            policy.reduction_bp(f.category),
            f.valid_from,
            f.filing_id,
        ),
    )


def _filing_coverage(
    rel: Relation, filing: Filing, treatment_date: date, policy: FilingPolicy
) -> Coverage:
    retroactive = filing.submitted_on > treatment_date
    until = filing.effective_until
    window = f"{filing.valid_from.isoformat()}–{until.isoformat() if until else 'until cancelled'}"
    return _coverage(
        rel,
        f"filing {filing.filing_id} ({filing.category}, {filing.category.label_zh}) valid {window}",
        basis=CoverageBasis.RETROACTIVE_FILING if retroactive else CoverageBasis.FILING,
        reduction_bp=policy.reduction_bp(filing.category),
        filing=filing,
    )


def _refusal(rel: Relation, visit: Visit, matching: list[Filing]) -> Coverage:
    treatment_date = visit.treatment_date
    cancelled = [
        f
        for f in matching
        if f.status is FilingStatus.CANCELLED and f.would_be_valid_on(treatment_date)
    ]
    if cancelled:
        filing = cancelled[0]
        on = filing.cancelled_on.isoformat() if filing.cancelled_on else "?"
        return _coverage(
            rel,
            f"filing {filing.filing_id} was cancelled on {on}",
            reason=ReasonCode.FILING_CANCELLED,
            filing=filing,
        )
    if matching:
        filing = max(matching, key=lambda f: (f.valid_from, f.version))
        return _coverage(
            rel,
            f"no filing for this place is valid on {treatment_date.isoformat()}",
            reason=ReasonCode.FILING_NOT_VALID_ON_DATE,
            filing=filing,
        )
    message = (
        "no filing for this place: file first (it may be filed retroactively before discharge)"
    )
    if visit.emergency and visit.visit_type is VisitType.CHRONIC_OUTPATIENT:
        message = "chronic/special outpatient care needs a filing even when marked as emergency"
    return _coverage(rel, message, reason=ReasonCode.FILING_REQUIRED)
