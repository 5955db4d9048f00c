"""Calendar arithmetic for validity windows (whole months, inclusive ends); date fields."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from shared.errors import Violations
from shared.vocabulary import read_national_date

MAX_MONTHS = 1200  # a century: anything longer is a bad policy value, not a window


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later, clamped to the month's end (31 Jan + 1 → 28/29 Feb)."""
    if not -MAX_MONTHS <= months <= MAX_MONTHS:
        raise ValueError(f"months out of range: {months}")
    month_index = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(month_index, 12)
    last_day = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(day.day, last_day))


def window_fits(start: date, months: int) -> bool:
    """True if ``add_months(start, months)`` is a date (not past the year 9999).

    A start date from a request is checked against its own limits separately; this keeps
    the checks that derive from it from failing on a start near the end of the calendar.
    """
    month_index = start.year * 12 + (start.month - 1) + months
    return month_index < (date.max.year + 1) * 12


def window_end(start: date, months: int) -> date:
    """Last day (inclusive) of a window of ``months`` months starting on ``start``.

    15 Jan + 6 months ends on 14 Jul, so the window holds exactly six months of days.
    """
    return add_months(start, months) - timedelta(days=1)


def last_day_covered(valid_until: date | None, cancelled_on: date | None) -> date | None:
    """The last day a filing or a certification covers: its validity end (None: until
    cancelled), cut short by a cancellation, which covers up to the day before it."""
    if cancelled_on is None:
        return valid_until
    last_day = cancelled_on - timedelta(days=1)
    return last_day if valid_until is None else min(valid_until, last_day)


def parse_iso_date(v: Violations, field: str, text: str, *, required: bool) -> date | None:
    """A date field as a date; None when empty or bad (a violation added if so).

    Formats are the platform's (``shared.vocabulary.parse_national_date``): "YYYY-MM-DD",
    "YYYY-MM-DD HH:MM:SS" or ISO 8601 with "T", its China-time day used. "20261122" and
    the like are refused.
    """
    if not text:
        v.check(not required, field, "is required (YYYY-MM-DD)")
        return None
    return read_national_date(text, field, v)
