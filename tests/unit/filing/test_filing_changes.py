from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from services.filing.domain import (
    SEED_POLICY,
    ChangeReason,
    Channel,
    Destination,
    Filing,
    FilingCategory,
    FilingChange,
    FilingStatus,
    ReasonCode,
    ReferralDetails,
    lock_ends_on,
    validate_cancel,
    validate_change,
)
from shared.errors import FailedPrecondition, InvalidArgument

NANNING, GUANGZHOU, SHENZHEN = "450100", "440100", "440300"
TOOK_EFFECT = date(2026, 3, 10)
LONG_TERM = Filing(
    filing_id="F-LT",
    insured_pool=NANNING,
    destination=Destination.of_pool(GUANGZHOU),
    category=FilingCategory.RETIREE_RESETTLED,
    channel=Channel.APP,
    valid_from=TOOK_EFFECT,
    valid_until=None,
    submitted_on=TOOK_EFFECT,
)
TEMPORARY = replace(
    LONG_TERM,
    filing_id="F-TMP",
    category=FilingCategory.OTHER_TEMPORARY,
    valid_from=date(2026, 10, 1),
    valid_until=date(2027, 3, 31),
    submitted_on=date(2026, 10, 1),
)
REFERRAL = replace(
    TEMPORARY,
    filing_id="F-REF",
    category=FilingCategory.REFERRAL,
    referral=ReferralDetails("H45010000001", "H44010000001", "I21.000"),
)
MOVE_TO_SHENZHEN = Destination.of_pool(SHENZHEN)


def _reason_of(call: object) -> str:
    assert callable(call)
    with pytest.raises(FailedPrecondition) as exc:
        call()
    return exc.value.reason


def _fields_of(call: object) -> list[str]:
    assert callable(call)
    with pytest.raises(InvalidArgument) as exc:
        call()
    return [v.field for v in exc.value.violations]


def test_lock_ends_six_months_after_taking_effect() -> None:
    assert lock_ends_on(LONG_TERM, SEED_POLICY) == date(2026, 9, 10)
    assert lock_ends_on(TEMPORARY, SEED_POLICY) is None


@pytest.mark.parametrize(
    ("today", "reason", "locked"),
    [
        pytest.param(date(2026, 3, 10), ChangeReason.PERSONAL_REQUEST, True, id="first-day"),
        pytest.param(date(2026, 9, 9), ChangeReason.PERSONAL_REQUEST, True, id="last-locked-day"),
        pytest.param(date(2026, 9, 10), ChangeReason.PERSONAL_REQUEST, False, id="lock-over"),
        pytest.param(date(2026, 4, 1), ChangeReason.INSURANCE_ENDED, True, id="insurance-ended"),
        pytest.param(
            date(2026, 4, 1),
            ChangeReason.RESETTLEMENT_PLACE_CHANGED,
            False,
            id="resettlement-changed",
        ),
        pytest.param(date(2026, 4, 1), ChangeReason.EMPLOYER_CHANGED, False, id="employer-changed"),
        pytest.param(
            date(2026, 3, 1), ChangeReason.PERSONAL_REQUEST, False, id="not-yet-in-effect"
        ),
    ],
)
def test_long_term_change_lock(today: date, reason: ChangeReason, locked: bool) -> None:
    change = FilingChange(reason=reason, destination=MOVE_TO_SHENZHEN)
    if locked:
        assert _reason_of(lambda: validate_change(LONG_TERM, change, today, SEED_POLICY)) == (
            ReasonCode.LONG_TERM_CHANGE_LOCKED
        )
    else:
        outcome = validate_change(LONG_TERM, change, today, SEED_POLICY)
        assert outcome.amended.destination == MOVE_TO_SHENZHEN


def test_destination_change_closes_the_previous_version() -> None:
    today = date(2026, 10, 15)
    change = FilingChange(ChangeReason.PERSONAL_REQUEST, destination=MOVE_TO_SHENZHEN)
    outcome = validate_change(LONG_TERM, change, today, SEED_POLICY)
    assert outcome.amended.valid_from == today
    assert outcome.amended.version == 2
    assert outcome.amended.status is FilingStatus.ACTIVE
    assert outcome.superseded is not None
    assert outcome.superseded.status is FilingStatus.SUPERSEDED
    assert outcome.superseded.valid_until == today - timedelta(days=1)
    assert outcome.superseded.destination == LONG_TERM.destination
    # The lock restarts from the new place's start.
    assert lock_ends_on(outcome.amended, SEED_POLICY) == date(2027, 4, 15)


def test_change_before_taking_effect_replaces_the_whole_filing() -> None:
    future = replace(LONG_TERM, valid_from=date(2026, 12, 1))
    change = FilingChange(ChangeReason.PERSONAL_REQUEST, destination=MOVE_TO_SHENZHEN)
    outcome = validate_change(future, change, date(2026, 11, 22), SEED_POLICY)
    assert outcome.superseded is None
    assert outcome.amended.valid_from == date(2026, 12, 1)


@pytest.mark.parametrize(
    ("end_date", "ok"),
    [
        pytest.param(date(2027, 9, 30), True, id="extend-to-max"),
        pytest.param(date(2027, 3, 31), True, id="same-as-min"),
        pytest.param(date(2027, 10, 1), False, id="beyond-max"),
        pytest.param(date(2027, 2, 1), False, id="below-min"),
        pytest.param(date(2026, 10, 31), False, id="in-the-past"),
    ],
)
def test_temporary_end_date_change(end_date: date, ok: bool) -> None:
    today = date(2026, 11, 22)
    change = FilingChange(ChangeReason.PERSONAL_REQUEST, end_date=end_date)
    if ok:
        outcome = validate_change(TEMPORARY, change, today, SEED_POLICY)
        assert outcome.amended.valid_until == end_date
        assert outcome.amended.valid_from == TEMPORARY.valid_from
        assert outcome.superseded is None
    else:
        assert _fields_of(lambda: validate_change(TEMPORARY, change, today, SEED_POLICY)) == [
            "end_date"
        ]


@pytest.mark.parametrize(
    ("existing", "change", "fields"),
    [
        pytest.param(
            LONG_TERM,
            FilingChange(ChangeReason.EMPLOYER_CHANGED, end_date=date(2027, 1, 1)),
            ["end_date"],
            id="long-term-end-date",
        ),
        pytest.param(
            LONG_TERM,
            FilingChange(ChangeReason.EMPLOYER_CHANGED),
            ["destination"],
            id="nothing-to-change",
        ),
        pytest.param(
            LONG_TERM,
            FilingChange(ChangeReason.EMPLOYER_CHANGED, destination=Destination.of_pool(GUANGZHOU)),
            ["destination"],
            id="same-destination",
        ),
        pytest.param(
            LONG_TERM,
            FilingChange(ChangeReason.EMPLOYER_CHANGED, destination=Destination.of_pool(NANNING)),
            ["destination"],
            id="back-to-insured-pool",
        ),
        pytest.param(
            REFERRAL,
            FilingChange(ChangeReason.PERSONAL_REQUEST, destination=MOVE_TO_SHENZHEN),
            ["referral"],
            id="referral-move-needs-hospital",
        ),
        pytest.param(
            TEMPORARY,
            FilingChange(
                ChangeReason.PERSONAL_REQUEST,
                referral=ReferralDetails("H45010000001", "H44010000001", "I21.000"),
            ),
            ["referral"],
            id="referral-on-temporary",
        ),
    ],
)
def test_invalid_changes_name_the_field(
    existing: Filing, change: FilingChange, fields: list[str]
) -> None:
    today = date(2026, 11, 22)
    assert _fields_of(lambda: validate_change(existing, change, today, SEED_POLICY)) == fields


def test_referral_moves_with_a_hospital_in_the_new_place() -> None:
    referral = ReferralDetails("H45010000001", "H44030000002", "I21.000")
    change = FilingChange(
        ChangeReason.PERSONAL_REQUEST, destination=MOVE_TO_SHENZHEN, referral=referral
    )
    outcome = validate_change(REFERRAL, change, date(2026, 11, 22), SEED_POLICY)
    assert outcome.amended.referral == referral
    assert outcome.amended.valid_until == REFERRAL.valid_until


@pytest.mark.parametrize(
    ("existing", "today", "reason"),
    [
        pytest.param(
            replace(LONG_TERM, status=FilingStatus.CANCELLED, cancelled_on=date(2026, 10, 1)),
            date(2026, 11, 22),
            ReasonCode.FILING_CANCELLED,
            id="cancelled",
        ),
        pytest.param(
            replace(LONG_TERM, status=FilingStatus.SUPERSEDED, valid_until=date(2026, 10, 1)),
            date(2026, 11, 22),
            ReasonCode.FILING_SUPERSEDED,
            id="superseded",
        ),
        pytest.param(TEMPORARY, date(2027, 4, 1), ReasonCode.FILING_EXPIRED, id="expired"),
    ],
)
def test_closed_filings_cannot_change_or_cancel(existing: Filing, today: date, reason: str) -> None:
    change = FilingChange(ChangeReason.EMPLOYER_CHANGED, destination=MOVE_TO_SHENZHEN)
    assert _reason_of(lambda: validate_change(existing, change, today, SEED_POLICY)) == reason
    cancel = ChangeReason.EMPLOYER_CHANGED
    assert _reason_of(lambda: validate_cancel(existing, cancel, today, SEED_POLICY)) == reason


@pytest.mark.parametrize(
    ("existing", "today", "reason", "locked"),
    [
        pytest.param(
            LONG_TERM, date(2026, 4, 1), ChangeReason.PERSONAL_REQUEST, True, id="lt-locked"
        ),
        pytest.param(
            LONG_TERM, date(2026, 4, 1), ChangeReason.INSURANCE_ENDED, False, id="lt-ended"
        ),
        pytest.param(
            LONG_TERM,
            date(2026, 4, 1),
            ChangeReason.RESETTLEMENT_PLACE_CHANGED,
            False,
            id="lt-moved",
        ),
        pytest.param(
            LONG_TERM, date(2026, 9, 10), ChangeReason.PERSONAL_REQUEST, False, id="lt-after"
        ),
        pytest.param(
            TEMPORARY, date(2026, 10, 2), ChangeReason.PERSONAL_REQUEST, False, id="temporary"
        ),
    ],
)
def test_cancel(existing: Filing, today: date, reason: ChangeReason, locked: bool) -> None:
    if locked:
        assert _reason_of(lambda: validate_cancel(existing, reason, today, SEED_POLICY)) == (
            ReasonCode.LONG_TERM_CHANGE_LOCKED
        )
        return
    cancelled = validate_cancel(existing, reason, today, SEED_POLICY)
    assert cancelled.status is FilingStatus.CANCELLED
    assert cancelled.cancelled_on == today
    assert cancelled.effective_until == today - timedelta(days=1)
    assert cancelled.is_valid_on(today - timedelta(days=1))
    assert not cancelled.is_valid_on(today)
