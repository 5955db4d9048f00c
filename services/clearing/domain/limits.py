"""Upper bounds for everything the clearing core accepts.

Sizing, for a month: 2024 saw about 20 M cross-province settlements nationally per month;
one province's share is a small fraction, and one pool pair's smaller still. The limits
below leave an order of magnitude of headroom over the busiest pair and province, while
still refusing input that can only come from a bug (an unbounded loop, a replayed feed).
"""

from __future__ import annotations

from shared.errors import FailedPrecondition

# One bill is far below 100 M yuan; a larger figure is a unit error (yuan sent as fen × 100).
MAX_EVENT_AMOUNT_FEN = 10_000_000_000
MAX_ID_CHARS = 64
MAX_ENTRIES_PER_RUN = 50_000_000
MAX_LINES_PER_STATEMENT = 5_000_000
MAX_ADJUSTMENTS_PER_RUN = 1_000_000
MAX_STATEMENTS_PER_RUN = 100_000
MAX_DISPUTED_LINES = 100_000
MAX_REASON_CHARS = 500
MAX_CLOSED_PERIODS = 1_200  # a century of months
MAX_TRAILING_MONTHS = 12
MAX_MONTHS_COVER = 6
MAX_THRESHOLDS = 8
MAX_APPLICATION_ITEMS = 5_000_000


def check_count(what: str, count: int, limit: int) -> None:
    """Refuse a batch above its limit with a stable reason code the operator can act on."""
    if count > limit:
        raise FailedPrecondition("LIMIT_EXCEEDED", f"{what}: {count} exceeds the limit of {limit}")
