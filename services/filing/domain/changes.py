"""Changing and cancelling a filing.

Rules:

- A cancelled or superseded filing cannot be changed or cancelled (FILING_CANCELLED,
  FILING_SUPERSEDED); neither can a temporary filing whose validity has ended
  (FILING_EXPIRED) — the person files anew.
- A long-term filing that has taken effect is locked for the policy's lock period (6
  months from ``valid_from``): no change unless the resettlement place or the employer
  changed, no cancellation unless one of those or the insurance ended
  (LONG_TERM_CHANGE_LOCKED). Before it takes effect nothing has been used, so it is
  not locked.
- A change of place (destination or referral) takes effect today, or on ``valid_from``
  if that is later. The previous version is closed the day before (status SUPERSEDED)
  so treatment before the change is still judged against the place then on file; a
  long-term filing's lock restarts from the new ``valid_from``.
- A change of a temporary filing's end date applies to the whole validity: it may not
  lie in the past, undercut the minimum validity or exceed the maximum.
- A cancellation takes effect today: the filing covers treatment up to yesterday.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

from services.filing.domain.dates import add_months, window_end
from services.filing.domain.model import (
    ChangeReason,
    Destination,
    Filing,
    FilingCategory,
    FilingStatus,
    ReasonCode,
    ReferralDetails,
)
from services.filing.domain.policy import FilingPolicy
from services.filing.domain.submission import check_destination, check_referral, check_temporary_end
from shared.errors import FailedPrecondition, Violations


@dataclass(frozen=True)
class FilingChange:
    reason: ChangeReason
    destination: Destination | None = None
    end_date: date | None = None
    referral: ReferralDetails | None = None


@dataclass(frozen=True)
class ChangeOutcome:
    amended: Filing  # the new current version (same filing_id, version + 1)
    superseded: Filing | None  # the previous version closed the day before; None if replaced whole


def check_open(existing: Filing, today: date) -> None:
    """FailedPrecondition unless the filing is the current, unexpired version."""
    if existing.status is FilingStatus.CANCELLED:
        raise FailedPrecondition(ReasonCode.FILING_CANCELLED, "the filing has been cancelled")
    if existing.status is FilingStatus.SUPERSEDED:
        raise FailedPrecondition(
            ReasonCode.FILING_SUPERSEDED,
            "this is an earlier version of the filing; use the current one",
        )
    if existing.valid_until is not None and existing.valid_until < today:
        raise FailedPrecondition(
            ReasonCode.FILING_EXPIRED,
            f"the filing expired on {existing.valid_until.isoformat()}; submit a new one",
        )


def lock_ends_on(filing: Filing, policy: FilingPolicy) -> date | None:
    """First day a long-term filing may be changed freely; None for a temporary filing."""
    if not filing.is_long_term:
        return None
    return add_months(filing.valid_from, policy.long_term_change_lock_months)


def _check_lock(
    existing: Filing,
    reason: ChangeReason,
    today: date,
    policy: FilingPolicy,
    exempt: frozenset[ChangeReason],
) -> None:
    lock_end = lock_ends_on(existing, policy)
    in_lock = lock_end is not None and existing.valid_from <= today < lock_end
    if in_lock and reason not in exempt:
        assert lock_end is not None
        raise FailedPrecondition(
            ReasonCode.LONG_TERM_CHANGE_LOCKED,
            f"a long-term filing cannot be changed within {policy.long_term_change_lock_months} "
            f"months of taking effect ({existing.valid_from.isoformat()}); allowed from "
            f"{lock_end.isoformat()}, or earlier for: {', '.join(sorted(exempt))}",
        )


def _check_change_fields(
    v: Violations, existing: Filing, change: FilingChange, today: date, policy: FilingPolicy
) -> Destination | None:
    """The new destination if one is asked for (None otherwise); violations added."""
    destination = None
    if change.destination is not None:
        destination = check_destination(v, existing.insured_pool, change.destination)
        if destination == existing.destination:
            v.add("destination", "is already the filing's destination")
    if change.end_date is not None:
        _check_new_end(v, existing, change.end_date, today, policy)
    if change.referral is not None:
        place = destination if change.destination is not None else existing.destination
        check_referral(v, existing.category, existing.insured_pool, place, change.referral)
    elif destination is not None and existing.category is FilingCategory.REFERRAL:
        v.add("referral", "a new destination needs referral details naming a hospital there")
    return destination


def _check_new_end(
    v: Violations, existing: Filing, end_date: date, today: date, policy: FilingPolicy
) -> None:
    if existing.is_long_term:
        v.add("end_date", "a long-term filing is valid until cancelled: it has no end date")
        return
    months = policy.temporary_min_validity_months
    if end_date < today:
        v.add("end_date", "is in the past: cancel the filing instead")
    elif end_date < window_end(existing.valid_from, months):
        v.add("end_date", f"a temporary filing is valid at least {months} months")
    else:
        check_temporary_end(v, existing.valid_from, end_date, policy)


def validate_change(
    existing: Filing, change: FilingChange, today: date, policy: FilingPolicy
) -> ChangeOutcome:
    """The amended filing (and the closed previous version), or the error that blocks it."""
    check_open(existing, today)
    v = Violations()
    if change.destination is None and change.end_date is None and change.referral is None:
        v.add("destination", "nothing to change: set destination, end_date or referral")
    destination = _check_change_fields(v, existing, change, today, policy)
    v.raise_if_any()
    if existing.is_long_term:
        _check_lock(existing, change.reason, today, policy, policy.lock_exempt_change_reasons)
    return _amend(existing, change, destination, today)


def _amend(
    existing: Filing, change: FilingChange, destination: Destination | None, today: date
) -> ChangeOutcome:
    valid_until = change.end_date if change.end_date is not None else existing.valid_until
    if destination is None and change.referral is None:
        amended = replace(existing, valid_until=valid_until, version=existing.version + 1)
        return ChangeOutcome(amended=amended, superseded=None)
    effective = max(today, existing.valid_from)
    amended = replace(
        existing,
        destination=destination or existing.destination,
        referral=change.referral or existing.referral,
        valid_from=effective,
        valid_until=valid_until,
        version=existing.version + 1,
    )
    superseded = None
    if effective > existing.valid_from:
        closed_on = effective - timedelta(days=1)
        superseded = replace(existing, status=FilingStatus.SUPERSEDED, valid_until=closed_on)
    return ChangeOutcome(amended=amended, superseded=superseded)


def validate_cancel(
    existing: Filing, reason: ChangeReason, today: date, policy: FilingPolicy
) -> Filing:
    """The cancelled filing (covering treatment up to yesterday), or the error that blocks it."""
    check_open(existing, today)
    if existing.is_long_term:
        _check_lock(existing, reason, today, policy, policy.lock_exempt_cancel_reasons)
    return replace(
        existing, status=FilingStatus.CANCELLED, cancelled_on=today, version=existing.version + 1
    )
