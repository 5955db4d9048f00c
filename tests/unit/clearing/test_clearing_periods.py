from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.clearing.domain.periods import Period, assign_period
from shared.errors import InvalidArgument


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("202501", Period(2025, 1), id="january"),
        pytest.param("202412", Period(2024, 12), id="december"),
    ],
)
def test_parse_accepts_yyyymm(text: str, expected: Period) -> None:
    assert Period.parse(text) == expected
    assert str(expected) == text


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("2025-01", id="dash"),
        pytest.param("20251", id="short"),
        pytest.param("202513", id="month-13"),
        pytest.param("202500", id="month-0"),
        pytest.param("199912", id="too-early"),
        pytest.param("２０２５０１", id="fullwidth-digits"),
        pytest.param("", id="empty"),
    ],
)
def test_parse_rejects_malformed(text: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        Period.parse(text, field_name="setlym")
    assert caught.value.violations[0].field == "setlym"


@pytest.mark.parametrize(
    ("period", "following"),
    [
        pytest.param(Period(2025, 1), Period(2025, 2), id="mid-year"),
        pytest.param(Period(2024, 12), Period(2025, 1), id="year-end"),
    ],
)
def test_next_and_previous_are_inverse(period: Period, following: Period) -> None:
    assert period.next() == following
    assert following.previous() == period


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        pytest.param(
            datetime(2025, 1, 31, 16, 0, tzinfo=UTC), Period(2025, 2), id="utc-past-cst-midnight"
        ),
        pytest.param(
            datetime(2025, 1, 31, 15, 59, tzinfo=UTC), Period(2025, 1), id="utc-before-cst-midnight"
        ),
        pytest.param(datetime(2024, 12, 31, 16, 0, tzinfo=UTC), Period(2025, 1), id="new-year"),
    ],
)
def test_period_of_uses_shanghai_calendar(moment: datetime, expected: Period) -> None:
    assert Period.from_datetime(moment) == expected


def test_period_of_refuses_naive_datetime() -> None:
    with pytest.raises(InvalidArgument):
        Period.from_datetime(datetime(2025, 1, 1, 12, 0))


JAN, FEB, MAR, APR = Period(2025, 1), Period(2025, 2), Period(2025, 3), Period(2025, 4)


@pytest.mark.parametrize(
    ("closed", "landing", "late"),
    [
        pytest.param(set(), JAN, False, id="own-period-open"),
        pytest.param({JAN}, FEB, True, id="own-closed-next-open"),
        pytest.param({JAN, FEB}, MAR, True, id="two-closed"),
        pytest.param({FEB}, JAN, False, id="later-closed-own-open"),
        pytest.param({JAN, MAR}, FEB, True, id="gap"),
    ],
)
def test_assign_period(closed: set[Period], landing: Period, late: bool) -> None:
    assignment = assign_period(JAN, closed)
    assert (assignment.period, assignment.late) == (landing, late)


periods = st.builds(Period, st.integers(2020, 2030), st.integers(1, 12))


@settings(max_examples=200, deadline=None)
@given(event_period=periods, closed=st.sets(periods, max_size=30))
def test_assign_period_lands_in_earliest_open_period_at_or_after(
    event_period: Period, closed: set[Period]
) -> None:
    assignment = assign_period(event_period, closed)
    assert assignment.period >= event_period
    assert assignment.period not in closed
    assert assignment.late == (assignment.period != event_period)
    between = event_period
    while between < assignment.period:
        assert between in closed
        between = between.next()
