"""Calendar arithmetic for validity windows, in whole months, inclusive end dates."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

MAX_MONTHS = 1200  # a century: anything longer is a bad policy value, not a window


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later, clamped to the month's end (31 Jan + 1 → 28/29 Feb)."""
    if not -MAX_MONTHS <= months <= MAX_MONTHS:
        raise ValueError(f"months out of range: {months}")
    month_index = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(month_index, 12)
    last_day = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(day.day, last_day))


def window_end(start: date, months: int) -> date:
    """Last day (inclusive) of a window of ``months`` months starting on ``start``.

    15 Jan + 6 months ends on 14 Jul, so the window holds exactly six months of days.
    """
    return add_months(start, months) - timedelta(days=1)
