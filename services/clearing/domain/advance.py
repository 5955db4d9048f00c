"""Advance funds (预付金): the insured side pre-pays the treatment side, then clears.

Sizing (modeled, see POLICY.md): months_cover months of the trailing average monthly
cross-region fund payments, rounded half-up to whole yuan — advances are transferred
and budgeted in yuan, and rounding the product once (not the average, then again the
product) keeps the figure independent of how the months are split.

Alerts (modeled): when usage within the open period reaches 70 % and 90 % of the
advance, the insured side is told — each threshold once per period.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from services.clearing.domain.limits import (
    MAX_EVENT_AMOUNT_FEN,
    MAX_MONTHS_COVER,
    MAX_THRESHOLDS,
    MAX_TRAILING_MONTHS,
)
from shared.errors import InvalidArgument
from shared.money import BP_PER_UNIT, FEN_PER_YUAN, round_half_up

DEFAULT_MONTHS_COVER = 2
DEFAULT_THRESHOLDS_BP = (7000, 9000)
# A month of one pool's cross-region fund payments stays far below this; more is a unit error.
MAX_MONTHLY_FUND_FEN = 1_000 * MAX_EVENT_AMOUNT_FEN


def size_advance(
    trailing_monthly_fund_fen: Sequence[int], months_cover: int = DEFAULT_MONTHS_COVER
) -> int:
    """months_cover × the average of the trailing months, rounded half-up to the yuan, in fen."""
    months = len(trailing_monthly_fund_fen)
    if not 1 <= months <= MAX_TRAILING_MONTHS:
        raise InvalidArgument(
            "trailing_monthly_fund_fen", f"1..{MAX_TRAILING_MONTHS} months, got {months}"
        )
    if not all(0 <= m <= MAX_MONTHLY_FUND_FEN for m in trailing_monthly_fund_fen):
        raise InvalidArgument(
            "trailing_monthly_fund_fen", f"each month 0..{MAX_MONTHLY_FUND_FEN} fen"
        )
    if not 1 <= months_cover <= MAX_MONTHS_COVER:
        raise InvalidArgument("months_cover", f"1..{MAX_MONTHS_COVER}")
    total_fen = sum(trailing_monthly_fund_fen) * months_cover
    advance_yuan = round_half_up(total_fen, months * FEN_PER_YUAN)
    return advance_yuan * FEN_PER_YUAN


def crossed_thresholds(
    used_before_fen: int,
    used_after_fen: int,
    advance_fen: int,
    thresholds_bp: Sequence[int] = DEFAULT_THRESHOLDS_BP,
    already_alerted: Collection[int] | None = None,
) -> tuple[int, ...]:
    """Thresholds (bp of the advance) that usage now reaches and that are owed an alert.

    already_alerted is the period's record of alerts sent; it is authoritative, so an
    alert lost earlier is owed again while usage stays above its threshold. Without a
    record (None), a threshold already reached at used_before_fen counts as alerted:
    only thresholds crossed by this change fire.
    """
    _check_thresholds(thresholds_bp)
    if advance_fen <= 0:
        raise InvalidArgument("advance_fen", "must be positive")
    if used_before_fen < 0 or used_after_fen < 0:
        raise InvalidArgument("used_fen", "usage cannot be negative")
    if already_alerted is None:
        alerted = {t for t in thresholds_bp if _reached(used_before_fen, advance_fen, t)}
    else:
        alerted = set(already_alerted)
    return tuple(
        t for t in thresholds_bp if _reached(used_after_fen, advance_fen, t) and t not in alerted
    )


def _reached(used_fen: int, advance_fen: int, threshold_bp: int) -> bool:
    # Cross-multiplied, so no rounding decides whether a threshold is reached.
    return used_fen * BP_PER_UNIT >= advance_fen * threshold_bp


def _check_thresholds(thresholds_bp: Sequence[int]) -> None:
    if not 1 <= len(thresholds_bp) <= MAX_THRESHOLDS:
        raise InvalidArgument("thresholds_bp", f"1..{MAX_THRESHOLDS} thresholds")
    if not all(0 < t <= BP_PER_UNIT for t in thresholds_bp):
        raise InvalidArgument("thresholds_bp", "each in 1..10000 bp")
    if list(thresholds_bp) != sorted(set(thresholds_bp)):
        raise InvalidArgument("thresholds_bp", "strictly increasing")
