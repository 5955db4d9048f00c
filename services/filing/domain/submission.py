"""Validating a new filing and turning it into its normalised form.

Every bad field is reported at once (one INVALID_ARGUMENT naming each field), so a
channel can mark the whole form in one round trip.

Validity, decided here:

- long-term: from ``start_date``, no end (valid until cancelled); an end date is refused.
- temporary: from ``start_date`` to ``end_date`` inclusive, but never shorter than the
  policy minimum (6 months): an earlier end date, or none, is extended to the minimum so
  a stay that runs longer than planned is still covered. An end date past the policy
  maximum is refused rather than cut, so the person sees the limit.
- ``start_date`` may lie up to the retroactive window before the submission date (a
  patient admitted without a filing files before discharge, 补办) and up to the advance
  window after it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from services.filing.domain.dates import window_end, window_fits
from services.filing.domain.model import (
    Channel,
    Destination,
    Filing,
    FilingCategory,
    FilingTerms,
    ReferralDetails,
)
from services.filing.domain.policy import FilingPolicy
from shared.errors import Violations
from shared.reference import (
    INSTITUTION_CODE_RE,
    UnknownCode,
    get_hospital,
    get_pool,
    is_pool,
    is_province,
    pools_in_province,
)

ICD10_RE = re.compile(r"[A-Z]\d{2}(?:\.[0-9A-Z]{1,4})?")
MAX_DIAGNOSIS_NAME_CHARS = 100
MAX_FILING_ID_CHARS = 64


@dataclass(frozen=True, kw_only=True)
class FilingRequest:
    """What a person asks to file: where, which kind, from when to when.

    A submission adds whose insured pool it is for, the channel and the day it came in.
    """

    destination: Destination
    category: FilingCategory
    start_date: date
    end_date: date | None
    commitment_accepted: bool  # 告知承诺: the person vouches for the facts, no documents
    referral: ReferralDetails | None = None


@dataclass(frozen=True, kw_only=True)
class FilingSubmission:
    """A request as submitted: for a person of ``insured_pool``, through ``channel``, on
    ``submitted_on``."""

    request: FilingRequest
    insured_pool: str
    channel: Channel
    submitted_on: date


@dataclass(frozen=True, kw_only=True)
class NormalisedFiling(FilingTerms):
    """The terms a valid submission gets, and how they differ from what was asked."""

    referral: ReferralDetails | None
    policy_version: str
    ratio_reduction_bp: int
    retroactive: bool  # starts before the submission date (补办)
    validity_extended: bool  # the end date given was raised to the minimum validity

    def to_filing(self, filing_id: str) -> Filing:
        if not 0 < len(filing_id) <= MAX_FILING_ID_CHARS:
            raise ValueError(f"filing_id must be 1–{MAX_FILING_ID_CHARS} characters")
        return Filing(
            filing_id=filing_id,
            insured_pool=self.insured_pool,
            destination=self.destination,
            category=self.category,
            channel=self.channel,
            valid_from=self.valid_from,
            valid_until=self.valid_until,
            submitted_on=self.submitted_on,
            referral=self.referral,
            policy_version=self.policy_version,
        )


def check_insured_pool(v: Violations, insured_pool: str, field: str = "insured_pool") -> bool:
    known = is_pool(insured_pool)
    v.check(known, field, "unknown pool code")
    return known


def check_destination(
    v: Violations, insured_pool: str, destination: Destination, field: str = "destination"
) -> Destination | None:
    """The destination normalised, or None after adding the violations that make it bad."""
    d = destination.normalised()
    before = len(v.items)
    if (d.pool_code is None) == (d.province_code is None):
        v.add(field, "set exactly one of pool_code and province_code")
    elif d.pool_code is not None:
        _check_destination_pool(v, insured_pool, d.pool_code, field)
    else:
        v.check(is_province(d.province_code or ""), f"{field}.province_code", "unknown province")
    return d if len(v.items) == before else None


def _check_destination_pool(v: Violations, insured_pool: str, pool_code: str, field: str) -> None:
    if not is_pool(pool_code):
        v.add(f"{field}.pool_code", "unknown pool code")
    elif get_pool(pool_code).region_level:
        v.add(f"{field}.pool_code", "a region-level pool is not a place of treatment")
    elif pool_code == insured_pool:
        v.add(field, "is the insured pool: treatment there needs no filing")


def check_referral(
    v: Violations,
    category: FilingCategory,
    insured_pool: str | None,
    destination: Destination | None,
    referral: ReferralDetails | None,
    field: str = "referral",
) -> None:
    """Referral details present exactly for REFERRAL; each part checked against what is
    known (an unknown insured pool or a bad destination is reported by its own check)."""
    if category is not FilingCategory.REFERRAL:
        v.check(referral is None, field, "only REFERRAL filings carry referral details")
        return
    if referral is None:
        v.add(field, "required for a REFERRAL filing")
        return
    if insured_pool is not None:
        _check_referring_hospital(v, insured_pool, referral.referring_hospital_code, field)
    if destination is not None:
        _check_receiving_hospital(v, destination, referral.hospital_code, field)
    v.check(
        ICD10_RE.fullmatch(referral.diagnosis_code) is not None,
        f"{field}.diagnosis_code",
        "not an ICD-10 code (e.g. C34.900)",
    )
    v.check(
        len(referral.diagnosis_name) <= MAX_DIAGNOSIS_NAME_CHARS,
        f"{field}.diagnosis_name",
        f"longer than {MAX_DIAGNOSIS_NAME_CHARS} characters",
    )


def _check_referring_hospital(v: Violations, insured_pool: str, code: str, field: str) -> None:
    name = f"{field}.referring_hospital_code"
    try:
        hospital = get_hospital(code)
    except UnknownCode:
        v.add(name, "not a designated hospital")
        return
    v.check(hospital.pool_code == insured_pool, name, "must be a hospital of the insured pool")


def _check_receiving_hospital(
    v: Violations, destination: Destination, code: str, field: str
) -> None:
    name = f"{field}.hospital_code"
    if not INSTITUTION_CODE_RE.fullmatch(code) or not code.startswith("H"):
        v.add(name, "not a 12-character hospital code")
        return
    province = destination.province_code or (destination.pool_code or "")[:2]
    if not pools_in_province(province):
        # No reference data for that province: check what the code itself says.
        v.check(code[1:3] == province, name, "not a hospital in the destination")
        return
    try:
        hospital = get_hospital(code)
    except UnknownCode:
        v.add(name, "not a designated hospital")
        return
    v.check(destination.covers(hospital.pool_code), name, "not a hospital in the destination")


def _check_dates(v: Violations, s: FilingSubmission, policy: FilingPolicy) -> None:
    r = s.request
    earliest = s.submitted_on - timedelta(days=policy.retroactive_window_days)
    latest = s.submitted_on + timedelta(days=policy.advance_start_days)
    v.check(
        r.start_date >= earliest,
        "start_date",
        f"more than {policy.retroactive_window_days} days before the submission date",
    )
    v.check(
        r.start_date <= latest,
        "start_date",
        f"more than {policy.advance_start_days} days after the submission date",
    )
    if r.end_date is None:
        return
    if r.category.is_long_term:
        v.add("end_date", "a long-term filing is valid until cancelled: leave end_date empty")
        return
    check_temporary_end(v, r.start_date, r.end_date, policy)


def check_temporary_end(
    v: Violations, valid_from: date, end_date: date, policy: FilingPolicy
) -> None:
    months = policy.temporary_max_validity_months
    if end_date < valid_from:
        v.add("end_date", "is before start_date")
    elif window_fits(valid_from, months) and end_date > window_end(valid_from, months):
        v.add("end_date", f"a temporary filing lasts at most {months} months")


def validate_submission(submission: FilingSubmission, policy: FilingPolicy) -> NormalisedFiling:
    """The normalised filing, or InvalidArgument naming every bad field.

    ``policy`` is the version in force on the submission date.
    """
    if policy.effective_from > submission.submitted_on:
        raise ValueError(f"policy {policy.version} is not in force on the submission date")
    s = submission
    r = submission.request
    v = Violations()
    insured_pool = s.insured_pool if check_insured_pool(v, s.insured_pool) else None
    destination = check_destination(v, s.insured_pool, r.destination)
    check_referral(v, r.category, insured_pool, destination, r.referral)
    v.check(
        r.commitment_accepted,
        "commitment_accepted",
        "the personal commitment (告知承诺) is required",
    )
    _check_dates(v, s, policy)
    v.raise_if_any()
    assert destination is not None  # no violations, so the destination was good
    return _normalise(s, destination, policy)


def _normalise(
    s: FilingSubmission, destination: Destination, policy: FilingPolicy
) -> NormalisedFiling:
    r = s.request
    valid_until, extended = _validity_end(r, policy)
    return NormalisedFiling(
        insured_pool=s.insured_pool,
        destination=destination,
        category=r.category,
        channel=s.channel,
        valid_from=r.start_date,
        valid_until=valid_until,
        submitted_on=s.submitted_on,
        referral=r.referral,
        policy_version=policy.version,
        ratio_reduction_bp=policy.reduction_bp(r.category),
        retroactive=r.start_date < s.submitted_on,
        validity_extended=extended,
    )


def _validity_end(r: FilingRequest, policy: FilingPolicy) -> tuple[date | None, bool]:
    if r.category.is_long_term:
        return None, False
    minimum = window_end(r.start_date, policy.temporary_min_validity_months)
    if r.end_date is None:
        return minimum, False
    return max(r.end_date, minimum), r.end_date < minimum
