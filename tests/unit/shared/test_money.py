import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.money import allocate, apply_bp, format_fen, round_half_up, yuan_to_fen


@pytest.mark.parametrize(
    ("num", "den", "expected"),
    [
        (5, 10, 1),
        (4, 10, 0),
        (15, 10, 2),
        (-5, 10, -1),
        (-15, 10, -2),
        (25, 10, 3),
        (1, 3, 0),
        (2, 3, 1),
    ],
)
def test_round_half_up(num: int, den: int, expected: int) -> None:
    assert round_half_up(num, den) == expected


def test_apply_bp_rounds_half_fen_up() -> None:
    assert apply_bp(1, 5000) == 1  # 0.5 fen → 1
    assert apply_bp(12345, 8500) == 10493  # 10493.25
    assert apply_bp(100_00, 10000) == 100_00


def test_yuan_conversion_and_format() -> None:
    assert yuan_to_fen("1234.56") == 123456
    assert yuan_to_fen(60000) == 6_000_000
    with pytest.raises(ValueError):
        yuan_to_fen("1.234")
    assert format_fen(123456789) == "1,234,567.89"
    assert format_fen(-5) == "-0.05"


@given(st.integers(-(10**12), 10**12), st.lists(st.integers(0, 10**6), min_size=1, max_size=20))
def test_allocate_sums_exactly(total: int, weights: list[int]) -> None:
    if sum(weights) == 0:
        weights[0] = 1
    parts = allocate(total, weights)
    assert sum(parts) == total
    assert all((p >= 0) if total >= 0 else (p <= 0) for p in parts)
