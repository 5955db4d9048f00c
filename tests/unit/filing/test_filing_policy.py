from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from services.filing.domain import (
    DEFAULT_POLICY_BOOK,
    SEED_POLICY,
    ChangeReason,
    Channel,
    FilingCategory,
    FilingPolicyBook,
    add_months,
    channel_figures,
    figures_from_counts,
    policy_from_mapping,
    window_end,
)
from shared.errors import InvalidArgument, NotFound

NEXT = replace(
    SEED_POLICY,
    version="2027.1",
    effective_from=date(2027, 1, 1),
    temporary_max_validity_months=24,
    gd_in_province_exempt=False,
)
BOOK = FilingPolicyBook((NEXT, SEED_POLICY))


def test_seed_figures() -> None:
    assert SEED_POLICY.temporary_min_validity_months == 6
    assert SEED_POLICY.long_term_change_lock_months == 6
    assert {c: SEED_POLICY.reduction_bp(c) for c in FilingCategory} == {
        FilingCategory.RETIREE_RESETTLED: 0,
        FilingCategory.LONG_TERM_RESIDENT: 0,
        FilingCategory.STATIONED_WORKER: 0,
        FilingCategory.REFERRAL: 1000,
        FilingCategory.EMERGENCY: 1000,
        FilingCategory.OTHER_TEMPORARY: 2000,
    }
    assert SEED_POLICY.gd_in_province_exempt and SEED_POLICY.bqf_zone_exempt
    assert DEFAULT_POLICY_BOOK.policy_on(date(2026, 11, 22)) is SEED_POLICY


@pytest.mark.parametrize(
    ("day", "version"),
    [
        pytest.param(date(2024, 1, 1), "2024.1", id="first-day"),
        pytest.param(date(2026, 12, 31), "2024.1", id="day-before-next"),
        pytest.param(date(2027, 1, 1), "2027.1", id="next-takes-effect"),
        pytest.param(date(2030, 6, 1), "2027.1", id="latest"),
    ],
)
def test_version_selection_by_date(day: date, version: str) -> None:
    assert BOOK.policy_on(day).version == version


def test_no_policy_before_the_first_version() -> None:
    with pytest.raises(NotFound):
        BOOK.policy_on(date(2023, 12, 31))


@pytest.mark.parametrize(
    ("versions", "message"),
    [
        pytest.param((), "1–", id="empty"),
        pytest.param(
            (SEED_POLICY, replace(NEXT, effective_from=SEED_POLICY.effective_from)),
            "same date",
            id="date",
        ),
        pytest.param(
            (SEED_POLICY, replace(NEXT, version=SEED_POLICY.version)), "version name", id="name"
        ),
    ],
)
def test_bad_policy_books(versions: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FilingPolicyBook(versions)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param(
            {"temporary_min_validity_months": 13}, "exceeds the maximum", id="min-over-max"
        ),
        pytest.param({"long_term_change_lock_months": 0}, "month figures", id="zero-lock"),
        pytest.param({"retroactive_window_days": -1}, "day windows", id="negative-window"),
        pytest.param({"gd_in_province_reduction_bp": 10_001}, "0–10000 bp", id="bp-over"),
        pytest.param(
            {"ratio_reduction_bp": {FilingCategory.REFERRAL: 1000}}, "no ratio reduction", id="gap"
        ),
        pytest.param({"version": ""}, "version", id="no-version"),
    ],
)
def test_policy_values_are_checked(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replace(SEED_POLICY, **changes)


def test_policy_from_mapping() -> None:
    policy = policy_from_mapping(
        {
            "version": "2027.1",
            "effective_from": "2027-01-01",
            "temporary_max_validity_months": "24",
            "gd_in_province_exempt": False,
            "ratio_reduction_bp": {"OTHER_TEMPORARY": 1500},
            "lock_exempt_change_reasons": ["EMPLOYER_CHANGED"],
        }
    )
    assert policy.effective_from == date(2027, 1, 1)
    assert policy.temporary_max_validity_months == 24
    assert not policy.gd_in_province_exempt
    assert policy.reduction_bp(FilingCategory.OTHER_TEMPORARY) == 1500
    assert policy.reduction_bp(FilingCategory.REFERRAL) == 1000
    assert policy.lock_exempt_change_reasons == {ChangeReason.EMPLOYER_CHANGED}
    assert policy.temporary_min_validity_months == SEED_POLICY.temporary_min_validity_months


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param({"effective_from": "2027-01-01"}, "missing", id="no-version"),
        pytest.param(
            {"version": "x", "effective_from": "2027-01-01", "colour": 1}, "unknown", id="unknown"
        ),
        pytest.param({"version": "x", "effective_from": "soon"}, "effective_from", id="bad-date"),
        pytest.param(
            {"version": "x", "effective_from": "2027-01-01", "bqf_zone_exempt": "yes"},
            "bqf_zone_exempt",
            id="bad-bool",
        ),
        pytest.param(
            {"version": "x", "effective_from": "2027-01-01", "ratio_reduction_bp": {"VACATION": 1}},
            "ratio_reduction_bp",
            id="bad-category",
        ),
    ],
)
def test_policy_from_mapping_rejects(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        policy_from_mapping(data)


@pytest.mark.parametrize(
    ("start", "months", "added", "end"),
    [
        pytest.param(date(2026, 1, 15), 6, date(2026, 7, 15), date(2026, 7, 14), id="mid-month"),
        pytest.param(date(2026, 8, 31), 6, date(2027, 2, 28), date(2027, 2, 27), id="clamped"),
        pytest.param(date(2027, 8, 31), 6, date(2028, 2, 29), date(2028, 2, 28), id="leap-year"),
        pytest.param(date(2026, 11, 22), 12, date(2027, 11, 22), date(2027, 11, 21), id="a-year"),
    ],
)
def test_month_arithmetic(start: date, months: int, added: date, end: date) -> None:
    assert add_months(start, months) == added
    assert window_end(start, months) == end


def test_channel_figures_for_a_period() -> None:
    november = (date(2026, 11, 1), date(2026, 11, 30))
    submissions = [
        (Channel.APP, date(2026, 11, 2)),
        (Channel.APP, date(2026, 11, 30)),
        (Channel.MINI_PROGRAM, date(2026, 11, 5)),
        (Channel.WEB, date(2026, 11, 6)),
        (Channel.COUNTER, date(2026, 11, 7)),
        (Channel.COUNTER, date(2026, 11, 8)),
        (Channel.APP, date(2026, 10, 31)),  # outside the period
        (Channel.COUNTER, date(2026, 12, 1)),  # outside the period
    ]
    figures = channel_figures(submissions, *november)
    assert dict(figures.filings_by_channel) == {
        Channel.APP: 2,
        Channel.MINI_PROGRAM: 1,
        Channel.WEB: 1,
        Channel.COUNTER: 2,
    }
    assert (figures.filings_total, figures.filings_online) == (6, 4)
    assert figures.online_share_bp == 6667  # 4/6 rounded half-up
    assert figures.online_channels_used == 3


@pytest.mark.parametrize(
    ("counts", "share_bp"),
    [
        pytest.param({}, 0, id="empty"),
        pytest.param({Channel.COUNTER: 5}, 0, id="counter-only"),
        pytest.param({Channel.APP: 1, Channel.COUNTER: 7}, 1250, id="one-in-eight"),
        pytest.param({Channel.WEB: 3}, 10_000, id="online-only"),
    ],
)
def test_online_share(counts: dict[Channel, int], share_bp: int) -> None:
    figures = figures_from_counts(date(2026, 11, 1), date(2026, 11, 30), counts)
    assert figures.online_share_bp == share_bp


def test_channel_period_is_checked() -> None:
    with pytest.raises(InvalidArgument) as exc:
        figures_from_counts(date(2026, 11, 30), date(2026, 11, 1), {})
    assert exc.value.violations[0].field == "period_end"
    with pytest.raises(ValueError):
        figures_from_counts(date(2026, 11, 1), date(2026, 11, 30), {Channel.APP: -1})
