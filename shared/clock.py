"""The one clock every service reads "now" from.

Time is an input: settlement times, the clearing period a settlement is placed in, filing
submission and effective dates, the 6-month change lock, retroactive windows, advance-fund
alerts, month-end cut-off and the purge of old outbox and inbox rows all come from
``clock().now()``, never from the wall clock directly (a test greps the tree) and never
from PostgreSQL's ``now()`` (times are passed to SQL as parameters).

In production the process clock is the system clock. For simulation and tests a
``SimulatedClock`` can be installed: it starts where it is set, then flows with real time
(or stays frozen), and it never goes backwards. Across processes the simulation drives
it through a development-only control RPC (``shared.clock_control``) that the host
refuses to serve under mutual TLS or outside development mode.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta
from typing import Final, Protocol
from zoneinfo import ZoneInfo

# China has one time zone and no daylight saving: Asia/Shanghai, UTC+8.
CHINA_TZ: Final = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware (UTC)."""
        ...


class SystemClock:
    """The wall clock: the only place in the tree that reads it."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ClockWentBackwards(ValueError):
    pass


class SimulatedClock:
    """A clock set from outside. Between two settings it flows with real (monotonic) time,
    unless frozen; a setting earlier than the clock's current instant is refused."""

    def __init__(self, start: datetime | None = None, *, frozen: bool = False) -> None:
        self._lock = threading.Lock()
        self._base = _utc(start) if start is not None else SYSTEM.now()
        self._since = time.monotonic()
        self._frozen = frozen

    def now(self) -> datetime:
        with self._lock:
            if self._frozen:
                return self._base
            return self._base + timedelta(seconds=time.monotonic() - self._since)

    def set(self, instant: datetime, *, frozen: bool | None = None) -> datetime:
        """Move the clock to ``instant`` (not before its current reading); return it."""
        instant = _utc(instant)
        with self._lock:
            current = (
                self._base
                if self._frozen
                else self._base + timedelta(seconds=time.monotonic() - self._since)
            )
            if instant < current:
                raise ClockWentBackwards(
                    f"the clock never goes backwards: it reads {current.isoformat()}, "
                    f"asked for {instant.isoformat()}"
                )
            self._base = instant
            self._since = time.monotonic()
            if frozen is not None:
                self._frozen = frozen
            return instant

    def advance(self, delta: timedelta) -> datetime:
        assert delta >= timedelta(0), "the clock never goes backwards"
        return self.set(self.now() + delta)


def _utc(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError("a clock instant must carry its time zone")
    return instant.astimezone(UTC)


SYSTEM: Final = SystemClock()
_current: Clock = SYSTEM


def clock() -> Clock:
    """The process's clock (the system clock unless a simulated one was installed)."""
    return _current


def install(new: Clock) -> Clock:
    """Make ``new`` the process's clock; return the previous one (for tests to restore)."""
    global _current
    previous, _current = _current, new
    return previous


def now() -> datetime:
    return _current.now()


def china_now() -> datetime:
    return _current.now().astimezone(CHINA_TZ)


def china_today() -> date:
    return china_now().date()
