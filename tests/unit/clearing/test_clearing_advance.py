from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.clearing.domain.advance import crossed_thresholds, size_advance
from shared.errors import InvalidArgument


@pytest.mark.parametrize(
    ("months_fen", "cover", "advance_fen"),
    [
        pytest.param([300_000, 300_000, 300_000], 2, 600_000, id="flat-two-months"),
        pytest.param([100_001, 100_000], 2, 200_000, id="one-fen-rounds-down-to-yuan"),
        pytest.param([25, 25], 2, 100, id="half-yuan-rounds-up"),
        pytest.param([24, 25], 2, 0, id="below-half-yuan"),
        pytest.param([100_000, 200_000, 600_000], 3, 900_000, id="three-months-cover"),
        pytest.param([0], 2, 0, id="no-payments"),
    ],
)
def test_size_advance(months_fen: list[int], cover: int, advance_fen: int) -> None:
    assert size_advance(months_fen, months_cover=cover) == advance_fen
    assert advance_fen % 100 == 0


@pytest.mark.parametrize(
    ("months_fen", "cover", "field"),
    [
        pytest.param([], 2, "trailing_monthly_fund_fen", id="no-history"),
        pytest.param([1] * 13, 2, "trailing_monthly_fund_fen", id="too-many-months"),
        pytest.param([-5, 10], 2, "trailing_monthly_fund_fen", id="negative-month"),
        pytest.param([10], 0, "months_cover", id="zero-cover"),
        pytest.param([10], 7, "months_cover", id="too-much-cover"),
    ],
)
def test_size_advance_rejects(months_fen: list[int], cover: int, field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        size_advance(months_fen, months_cover=cover)
    assert caught.value.violations[0].field == field


ADVANCE_FEN = 1_000_000


@pytest.mark.parametrize(
    ("before", "after", "alerted", "fired"),
    [
        pytest.param(0, 650_000, set(), (), id="below-both"),
        pytest.param(650_000, 699_999, set(), (), id="one-fen-short"),
        pytest.param(650_000, 700_000, set(), (7000,), id="exactly-70"),
        pytest.param(700_000, 950_000, {7000}, (9000,), id="then-90"),
        pytest.param(950_000, 990_000, {7000, 9000}, (), id="both-already-alerted"),
        pytest.param(0, 950_000, set(), (7000, 9000), id="jump-over-both"),
        pytest.param(800_000, 800_001, set(), (7000,), id="lost-alert-owed-again"),
        pytest.param(710_000, 720_000, None, (), id="no-record-already-above"),
        pytest.param(0, 720_000, None, (7000,), id="no-record-crossing"),
        pytest.param(950_000, 600_000, {7000, 9000}, (), id="usage-falls"),
    ],
)
def test_crossed_thresholds(
    before: int, after: int, alerted: set[int] | None, fired: tuple[int, ...]
) -> None:
    assert crossed_thresholds(before, after, ADVANCE_FEN, already_alerted=alerted) == fired


@pytest.mark.parametrize(
    ("advance", "thresholds"),
    [
        pytest.param(0, (7000,), id="no-advance"),
        pytest.param(ADVANCE_FEN, (), id="no-thresholds"),
        pytest.param(ADVANCE_FEN, (9000, 7000), id="not-increasing"),
        pytest.param(ADVANCE_FEN, (7000, 10_001), id="above-100-percent"),
    ],
)
def test_crossed_thresholds_rejects(advance: int, thresholds: tuple[int, ...]) -> None:
    with pytest.raises(InvalidArgument):
        crossed_thresholds(0, 1, advance, thresholds_bp=thresholds)


@settings(max_examples=200, deadline=None)
@given(
    advance=st.integers(1, 10**9),
    changes=st.lists(st.integers(-(10**8), 3 * 10**8), max_size=30),
)
def test_each_threshold_fires_at_most_once_per_period(advance: int, changes: list[int]) -> None:
    alerted: set[int] = set()
    used = peak = 0
    for change in changes:
        after = max(0, used + change)
        fired = crossed_thresholds(used, after, advance, already_alerted=alerted)
        assert not alerted & set(fired)
        alerted |= set(fired)
        used, peak = after, max(peak, after)
    assert alerted == {t for t in (7000, 9000) if peak * 10_000 >= advance * t}
