"""Clearing periods (YYYYMM) and the cut-off fence that places every event in exactly one.

The settlement service stamps each event with the period of its settle time. Clearing
keeps that period while it is open; once the period is closed the event is late and
lands in the earliest open period after it. Deciding this in the same transaction that
records the event is what makes the fence exact: there is no "close delay" window.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from services.clearing.domain.limits import MAX_CLOSED_PERIODS, check_count
from shared.clock import CHINA_TZ
from shared.errors import InvalidArgument

SHANGHAI = CHINA_TZ  # one definition of China time, in shared.clock
MIN_YEAR = 2000
MAX_YEAR = 2999
MONTHS_PER_YEAR = 12
PERIOD_CHARS = 6


@dataclass(frozen=True, order=True)
class Period:
    """A calendar month in China Standard Time; orders chronologically."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not MIN_YEAR <= self.year <= MAX_YEAR:
            raise InvalidArgument("period", f"year {self.year} outside {MIN_YEAR}..{MAX_YEAR}")
        if not 1 <= self.month <= MONTHS_PER_YEAR:
            raise InvalidArgument("period", f"month {self.month} outside 1..12")

    @classmethod
    def parse(cls, text: str, field_name: str = "period") -> Period:
        """'202501' → Period(2025, 1); anything but six ASCII digits is refused."""
        if len(text) != PERIOD_CHARS or not (text.isascii() and text.isdigit()):
            raise InvalidArgument(field_name, f"expected YYYYMM, got {text!r}")
        try:
            return cls(int(text[:4]), int(text[4:]))
        except InvalidArgument as exc:
            raise InvalidArgument(field_name, exc.violations[0].description) from exc

    @classmethod
    def from_datetime(cls, moment: datetime, field_name: str = "settle_time") -> Period:
        """The period a moment falls in, on the Shanghai calendar whatever its own zone."""
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise InvalidArgument(field_name, "must carry a time zone")
        local = moment.astimezone(SHANGHAI)
        return cls(local.year, local.month)

    def next(self) -> Period:
        if self.month == MONTHS_PER_YEAR:
            return Period(self.year + 1, 1)
        return Period(self.year, self.month + 1)

    def previous(self) -> Period:
        if self.month == 1:
            return Period(self.year - 1, MONTHS_PER_YEAR)
        return Period(self.year, self.month - 1)

    def __str__(self) -> str:
        return f"{self.year:04d}{self.month:02d}"


@dataclass(frozen=True)
class PeriodAssignment:
    """Where an arriving event lands; late when that is not its own period."""

    period: Period
    late: bool


def assign_period(event_period: Period, closed_periods: Collection[Period]) -> PeriodAssignment:
    """The event's own period if still open, else the earliest open period after it.

    Every period not in closed_periods is open, so a landing period always exists and the
    walk is bounded by the number of closed periods.
    """
    check_count("closed periods", len(closed_periods), MAX_CLOSED_PERIODS)
    landing = event_period
    for _ in range(len(closed_periods) + 1):
        if landing not in closed_periods:
            return PeriodAssignment(landing, late=landing != event_period)
        landing = landing.next()
    raise AssertionError("unreachable: more closed periods walked than exist")
