"""Chronic/special outpatient disease certification (门诊慢特病资格认定).

A person is settled as a chronic/special outpatient (med type 14) for a disease only
when their insured pool has certified that disease for them. A certification is either
decided by the pool's agency (AGENCY_DECISION, ACTIVE at once) or applied for by a
designated hospital (2503, HOSPITAL_APPLICATION): PENDING until the pool's agency
approves it, or ACTIVE at once where the filing policy in force says so
(``chronic_hospital_filing_immediate``). Either is cancelled from a day on (2504).

A chronic visit is covered for its disease on a treatment date when an ACTIVE
certification of that disease by the insured pool is valid on that date.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import StrEnum

from services.filing.domain.dates import last_day_covered
from services.filing.domain.policy import FilingPolicy
from shared import vocabulary
from shared.errors import FailedPrecondition, Violations

# The chronic/special diseases settled cross-region, by national code (shared.vocabulary;
# settlement's ChronicDisease is the same set).
CHRONIC_DISEASE_CODES = vocabulary.CHRONIC_DISEASE_CODES
MAX_CERTIFICATIONS_PER_PERSON = 100  # every certification ever, cancelled ones included
MAX_DIAGNOSIS_CODE_CHARS = 20

REASON_NOT_CERTIFIED = "CHRONIC_DISEASE_NOT_CERTIFIED"
REASON_ALREADY_CERTIFIED = "CHRONIC_DISEASE_ALREADY_CERTIFIED"
REASON_NOT_PENDING = "CHRONIC_CERTIFICATION_NOT_PENDING"
REASON_CANCELLED = "CHRONIC_CERTIFICATION_CANCELLED"
REASON_LIMIT = "CHRONIC_CERTIFICATION_LIMIT_REACHED"


class CertificationSource(StrEnum):
    AGENCY_DECISION = "AGENCY_DECISION"  # the insured pool's agency decided
    HOSPITAL_APPLICATION = "HOSPITAL_APPLICATION"  # 2503 by a designated hospital


class CertificationStatus(StrEnum):
    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True, kw_only=True)
class CertificationRequest:
    """A certification as asked for: decided by the agency, or applied for by a hospital
    (``hospital_code``)."""

    disease_code: str
    source: CertificationSource
    valid_from: date
    valid_until: date | None  # inclusive; None = until cancelled
    hospital_code: str | None
    diagnosis_code: str | None


@dataclass(frozen=True, kw_only=True)
class CertificationDraft:
    """A request for a person, to be certified by their insured pool."""

    psn_no: str
    certifying_pool: str
    request: CertificationRequest


@dataclass(frozen=True, kw_only=True)
class ChronicCertification(CertificationRequest):
    """A request as decided for a person: its id, where it stands, under which policy."""

    psn_no: str
    certifying_pool: str
    certification_id: str
    status: CertificationStatus
    submitted_on: date
    policy_version: str
    approved_on: date | None = None
    cancelled_on: date | None = None  # covers treatment up to the day before

    @property
    def effective_until(self) -> date | None:
        """Last day covered: the validity end, cut short by a cancellation."""
        return last_day_covered(self.valid_until, self.cancelled_on)

    def overlaps(self, start: date, until: date | None) -> bool:
        mine = self.effective_until
        return (until is None or self.valid_from <= until) and (mine is None or start <= mine)

    def covers(self, disease_code: str, day: date) -> bool:
        """ACTIVE, of this disease, and valid on ``day``."""
        until = self.effective_until
        return (
            self.status is CertificationStatus.ACTIVE
            and self.disease_code == disease_code
            and self.valid_from <= day
            and (until is None or day <= until)
        )


def check_disease_code(v: Violations, field: str, code: str) -> None:
    """A national disease code (what is stored and compared)."""
    v.check(code in CHRONIC_DISEASE_CODES, field, vocabulary.CHRONIC_DISEASE_LIST_HINT)


def read_disease_code(v: Violations, field: str, code: str) -> str:
    """A caller's disease code as the national code: a legacy alias (MT01…) is mapped.

    Records a violation naming ``field`` (and returns the text unchanged) when unknown.
    """
    national = vocabulary.national_chronic_code(code)
    if national is None:
        v.add(field, f"{code[:20]!r} is not {vocabulary.CHRONIC_DISEASE_LIST_HINT}")
        return code
    return national


def new_certification(
    draft: CertificationDraft,
    certification_id: str,
    existing: Sequence[ChronicCertification],
    policy: FilingPolicy,
    today: date,
) -> ChronicCertification:
    """Validate ``draft`` against the person's certifications and the policy in force today.

    InvalidArgument names the field; FailedPrecondition when the person already holds a
    certification (or application) of the disease for an overlapping period, or holds as
    many certifications as one person may.
    """
    request = draft.request
    v = Violations()
    check_disease_code(v, "disease_code", request.disease_code)
    earliest = today - timedelta(days=policy.retroactive_window_days)
    latest = today + timedelta(days=policy.advance_start_days)
    v.check(
        earliest <= request.valid_from <= latest,
        "valid_from_date",
        f"must lie between {earliest.isoformat()} and {latest.isoformat()}",
    )
    if request.valid_until is not None:
        v.check(
            request.valid_until >= request.valid_from, "valid_until_date", "before valid_from_date"
        )
    if request.diagnosis_code is not None:
        v.check(
            0 < len(request.diagnosis_code) <= MAX_DIAGNOSIS_CODE_CHARS,
            "diagnosis_code",
            f"at most {MAX_DIAGNOSIS_CODE_CHARS} characters",
        )
    v.raise_if_any()
    if len(existing) >= MAX_CERTIFICATIONS_PER_PERSON:
        raise FailedPrecondition(
            REASON_LIMIT,
            f"the person holds {len(existing)} certifications, the most one person may",
        )
    clash = [
        c
        for c in existing
        if c.disease_code == request.disease_code
        and c.status is not CertificationStatus.CANCELLED
        and c.overlaps(request.valid_from, request.valid_until)
    ]
    if clash:
        raise FailedPrecondition(
            REASON_ALREADY_CERTIFIED,
            f"certification {clash[0].certification_id} ({clash[0].status}) of "
            f"{request.disease_code} already covers part of this period",
        )
    immediate = (
        request.source is CertificationSource.AGENCY_DECISION
        or policy.chronic_hospital_filing_immediate
    )
    return ChronicCertification(
        certification_id=certification_id,
        psn_no=draft.psn_no,
        certifying_pool=draft.certifying_pool,
        disease_code=request.disease_code,
        source=request.source,
        valid_from=request.valid_from,
        valid_until=request.valid_until,
        hospital_code=request.hospital_code,
        diagnosis_code=request.diagnosis_code,
        status=CertificationStatus.ACTIVE if immediate else CertificationStatus.PENDING,
        submitted_on=today,
        policy_version=policy.version,
        approved_on=today if immediate else None,
    )


def approve(current: ChronicCertification, today: date) -> ChronicCertification:
    if current.status is not CertificationStatus.PENDING:
        raise FailedPrecondition(
            REASON_NOT_PENDING,
            f"certification {current.certification_id} is {current.status}, not PENDING",
        )
    return replace(current, status=CertificationStatus.ACTIVE, approved_on=today)


def cancel(current: ChronicCertification, today: date) -> ChronicCertification:
    if current.status is CertificationStatus.CANCELLED:
        raise FailedPrecondition(
            REASON_CANCELLED, f"certification {current.certification_id} is already cancelled"
        )
    return replace(current, status=CertificationStatus.CANCELLED, cancelled_on=today)


def certification_for_visit(
    certifications: Sequence[ChronicCertification],
    insured_pool: str,
    disease_code: str,
    treatment_date: date,
) -> ChronicCertification | None:
    """The ACTIVE certification by the insured pool covering the visit (earliest first)."""
    covering = [
        c
        for c in certifications
        if c.certifying_pool == insured_pool and c.covers(disease_code, treatment_date)
    ]
    return min(covering, key=lambda c: (c.valid_from, c.certification_id), default=None)


def not_certified_message(
    certifications: Sequence[ChronicCertification], disease_code: str, treatment_date: date
) -> str:
    pending = [
        c
        for c in certifications
        if c.disease_code == disease_code and c.status is CertificationStatus.PENDING
    ]
    message = (
        f"no ACTIVE certification of chronic/special disease {disease_code} by the insured "
        f"pool valid on {treatment_date.isoformat()} (门诊慢特病资格未认定)"
    )
    if pending:
        message += f"; application {pending[0].certification_id} awaits the pool's approval"
    return message
