"""Filing policy: versioned data with an effective date, never constants in the rules.

An operator loads a new version (``policy_from_mapping`` on a YAML/JSON document) with
the date it takes effect; the rules ask the book for the version in force on the date
that matters (submission date for a filing, treatment date for a coverage decision).

Seed version ``2024.1`` — where each figure comes from:

| field | value | source |
| --- | --- | --- |
| temporary_min_validity_months | 6 | seed: temporary filings valid at least 6 months |
| temporary_max_validity_months | 12 | modeled |
| long_term_change_lock_months | 6 | seed: no change within 6 months of taking effect |
| retroactive_window_days | 180 | modeled: covers a long stay filed just before discharge |
| advance_start_days | 90 | modeled: how far ahead a start date may lie |
| ratio_reduction_bp | referral 1000, emergency 1000, other temporary 2000, long-term 0 | seed |
| gd_in_province_exempt | on | modeled switch |
| gd_in_province_reduction_bp | 0 | modeled |
| bqf_zone_exempt | on | seed: 北钦防 exempt among themselves, local ratios |
| emergency_counts_as_filed | on | seed |
| lock-exempt change reasons | resettlement place or employer changed | seed |
| lock-exempt cancel reasons | those two, and insurance ended | modeled |
| chronic_hospital_filing_immediate | off: a hospital's 2503 chronic-disease filing waits for the insured pool's approval | modeled |
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Any

from services.filing.domain.model import ChangeReason, FilingCategory
from shared.errors import InvalidArgument, NotFound
from shared.vocabulary import parse_national_date

BP_MAX = 10_000
MAX_VALIDITY_MONTHS = 120
MAX_WINDOW_DAYS = 3 * 366
MAX_POLICY_VERSIONS = 200
MAX_VERSION_CHARS = 32


@dataclass(frozen=True)
class FilingPolicy:
    version: str
    effective_from: date
    temporary_min_validity_months: int
    temporary_max_validity_months: int
    long_term_change_lock_months: int
    retroactive_window_days: int
    advance_start_days: int
    ratio_reduction_bp: Mapping[FilingCategory, int]
    gd_in_province_exempt: bool
    gd_in_province_reduction_bp: int
    bqf_zone_exempt: bool
    emergency_counts_as_filed: bool
    lock_exempt_change_reasons: frozenset[ChangeReason]
    lock_exempt_cancel_reasons: frozenset[ChangeReason]
    # Modeled: a hospital's chronic/special disease filing (2503) is ACTIVE at once (True)
    # or PENDING until the insured pool's agency approves it (False).
    chronic_hospital_filing_immediate: bool = False
    source_note: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "ratio_reduction_bp", MappingProxyType(dict(self.ratio_reduction_bp))
        )
        for problem in _problems(self):
            raise ValueError(f"filing policy {self.version!r}: {problem}")

    def reduction_bp(self, category: FilingCategory) -> int:
        return self.ratio_reduction_bp[category]


def _problems(policy: FilingPolicy) -> list[str]:
    problems: list[str] = []
    if not 0 < len(policy.version) <= MAX_VERSION_CHARS:
        problems.append(f"version must be 1–{MAX_VERSION_CHARS} characters")
    months = (
        policy.temporary_min_validity_months,
        policy.temporary_max_validity_months,
        policy.long_term_change_lock_months,
    )
    if not all(0 < m <= MAX_VALIDITY_MONTHS for m in months):
        problems.append(f"month figures must be 1–{MAX_VALIDITY_MONTHS}")
    if policy.temporary_min_validity_months > policy.temporary_max_validity_months:
        problems.append("temporary minimum validity exceeds the maximum")
    windows = (policy.retroactive_window_days, policy.advance_start_days)
    if not all(0 <= d <= MAX_WINDOW_DAYS for d in windows):
        problems.append(f"day windows must be 0–{MAX_WINDOW_DAYS}")
    problems.extend(_reduction_problems(policy))
    return problems


def _reduction_problems(policy: FilingPolicy) -> list[str]:
    problems: list[str] = []
    missing = set(FilingCategory) - set(policy.ratio_reduction_bp)
    if missing:
        problems.append(f"no ratio reduction for {sorted(missing)}")
    bps = [*policy.ratio_reduction_bp.values(), policy.gd_in_province_reduction_bp]
    if not all(0 <= bp <= BP_MAX for bp in bps):
        problems.append(f"ratio reductions must be 0–{BP_MAX} bp")
    return problems


SEED_POLICY = FilingPolicy(
    version="2024.1",
    effective_from=date(2024, 1, 1),
    temporary_min_validity_months=6,
    temporary_max_validity_months=12,
    long_term_change_lock_months=6,
    retroactive_window_days=180,
    advance_start_days=90,
    ratio_reduction_bp={
        FilingCategory.RETIREE_RESETTLED: 0,
        FilingCategory.LONG_TERM_RESIDENT: 0,
        FilingCategory.STATIONED_WORKER: 0,
        FilingCategory.REFERRAL: 1000,
        FilingCategory.EMERGENCY: 1000,
        FilingCategory.OTHER_TEMPORARY: 2000,
    },
    gd_in_province_exempt=True,
    gd_in_province_reduction_bp=0,
    bqf_zone_exempt=True,
    emergency_counts_as_filed=True,
    lock_exempt_change_reasons=frozenset(
        {ChangeReason.RESETTLEMENT_PLACE_CHANGED, ChangeReason.EMPLOYER_CHANGED}
    ),
    lock_exempt_cancel_reasons=frozenset(
        {
            ChangeReason.RESETTLEMENT_PLACE_CHANGED,
            ChangeReason.EMPLOYER_CHANGED,
            ChangeReason.INSURANCE_ENDED,
        }
    ),
    chronic_hospital_filing_immediate=False,
    source_note="seed figures from the product policy; max validity and day windows modeled",
)


@dataclass(frozen=True)
class FilingPolicyBook:
    """All policy versions; the one in force on a date has the latest effective_from ≤ date."""

    versions: tuple[FilingPolicy, ...]

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.versions, key=lambda p: p.effective_from))
        if not 0 < len(ordered) <= MAX_POLICY_VERSIONS:
            raise ValueError(f"a policy book holds 1–{MAX_POLICY_VERSIONS} versions")
        if len({p.effective_from for p in ordered}) != len(ordered):
            raise ValueError("two policy versions take effect on the same date")
        if len({p.version for p in ordered}) != len(ordered):
            raise ValueError("two policy versions share a version name")
        object.__setattr__(self, "versions", ordered)

    def policy_on(self, day: date) -> FilingPolicy:
        starts = [p.effective_from for p in self.versions]
        index = bisect.bisect_right(starts, day) - 1
        if index < 0:
            raise NotFound(f"no filing policy in force on {day.isoformat()}")
        return self.versions[index]


DEFAULT_POLICY_BOOK = FilingPolicyBook((SEED_POLICY,))


REQUIRED_FIELDS = ("version", "effective_from")


def _coerce(name: str, raw: Any) -> Any:
    seed = getattr(SEED_POLICY, name)
    if isinstance(seed, bool):
        if not isinstance(raw, bool):
            raise ValueError(f"{name}: expected true or false")
        return raw
    if isinstance(seed, int):
        return int(raw)
    if isinstance(seed, frozenset):
        return frozenset(ChangeReason(str(r)) for r in raw)
    if name == "effective_from":
        try:
            return parse_national_date(str(raw), name)
        except InvalidArgument as exc:
            raise ValueError(str(exc)) from exc
    if name == "ratio_reduction_bp":
        return {**seed, **{FilingCategory(str(k)): int(v) for k, v in dict(raw).items()}}
    return str(raw)


def policy_from_mapping(data: Mapping[str, Any]) -> FilingPolicy:
    """A policy version from a parsed document; absent fields take the seed values.

    ``version`` and ``effective_from`` are required. Raises ValueError naming the field
    for an unknown field, a missing one or a bad value.
    """
    known = set(FilingPolicy.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown filing-policy fields: {unknown}")
    missing = [name for name in REQUIRED_FIELDS if name not in data]
    if missing:
        raise ValueError(f"missing filing-policy fields: {missing}")
    values: dict[str, Any] = {name: getattr(SEED_POLICY, name) for name in known}
    for name, raw in data.items():
        try:
            values[name] = _coerce(name, raw)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name}: {exc}") from exc
    return FilingPolicy(**values)
