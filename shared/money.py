"""Money is integer fen (分) everywhere. This module holds the one rounding rule.

Every fractional amount in the project — a ratio applied to an amount, a share, a
proportional allocation — goes through :func:`round_half_up`, so that one rule decides
every half fen, and that rule is the one a Chinese settlement clerk would use (四舍五入).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

BP_PER_UNIT = 10_000  # basis points in 100 %
FEN_PER_YUAN = 100


def round_half_up(numerator: int, denominator: int) -> int:
    """Return numerator / denominator rounded half away from zero, exactly, in integers."""
    if denominator == 0:
        raise ZeroDivisionError("round_half_up: denominator is zero")
    if denominator < 0:
        numerator, denominator = -numerator, -denominator
    sign = -1 if numerator < 0 else 1
    quotient, remainder = divmod(abs(numerator), denominator)
    if remainder * 2 >= denominator:
        quotient += 1
    return sign * quotient


def apply_bp(amount_fen: int, ratio_bp: int) -> int:
    """amount × ratio, the ratio in basis points (8500 = 85 %), rounded half-up to a fen."""
    return round_half_up(amount_fen * ratio_bp, BP_PER_UNIT)


def yuan_to_fen(yuan: int | str | Decimal) -> int:
    """Convert a yuan figure (integer or a decimal string with at most 2 places) to fen."""
    try:
        value = Decimal(str(yuan))
    except InvalidOperation as exc:
        raise ValueError(f"not an amount in yuan: {yuan!r}") from exc
    fen = value * FEN_PER_YUAN
    if fen != fen.to_integral_value():
        raise ValueError(f"amount {yuan!r} has more than 2 decimal places")
    return int(fen)


def format_fen(amount_fen: int) -> str:
    """Render fen as yuan with two decimals and thousands separators: 123456 → '1,234.56'."""
    sign = "-" if amount_fen < 0 else ""
    yuan, fen = divmod(abs(amount_fen), FEN_PER_YUAN)
    return f"{sign}{yuan:,}.{fen:02d}"


def allocate(total_fen: int, weights: list[int]) -> list[int]:
    """Split total_fen across weights proportionally; the parts sum exactly to total_fen.

    Largest-remainder method: each part is floored, then the leftover fen go to the
    largest remainders (ties to the earlier index), so the result is deterministic.
    """
    if not weights:
        raise ValueError("allocate: no weights")
    if any(w < 0 for w in weights):
        raise ValueError("allocate: negative weight")
    weight_sum = sum(weights)
    if weight_sum == 0:
        raise ValueError("allocate: weights sum to zero")
    sign = -1 if total_fen < 0 else 1
    magnitude = abs(total_fen)
    floors = [magnitude * w // weight_sum for w in weights]
    remainders = [magnitude * w % weight_sum for w in weights]
    leftover = magnitude - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[:leftover]:
        floors[i] += 1
    parts = [sign * f for f in floors]
    assert sum(parts) == total_fen
    return parts
