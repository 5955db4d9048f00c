"""What every settlement statement shares: the transaction's clock, the journal entry a
write carries, the refusal of a corrected msgid and the row-count check."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

import asyncpg

from shared import clock
from shared.clock import CHINA_TZ
from shared.errors import FailedPrecondition

MSGID_CORRECTED: Final = "MSGID_CORRECTED"
STAYS_ELSEWHERE_MAX: Final = 10


class UnexpectedRowCount(AssertionError):
    pass


@dataclass(frozen=True)
class TxnClock:
    """The committing transaction's own time: settlement time, China date and period."""

    now: datetime
    china_date: date
    clearing_period: str  # YYYYMM

    @property
    def year(self) -> int:
        return self.china_date.year

    @classmethod
    def read(cls) -> TxnClock:
        """The clock's reading for a transaction that has just locked what it changes: its
        settlement time, China date and clearing period (YYYYMM)."""
        now = clock.now()
        china = now.astimezone(CHINA_TZ)
        return cls(now, china.date(), f"{china:%Y%m}")


@dataclass(frozen=True)
class Journal:
    """The ``messages`` row a write adds for its msgid."""

    msgid: str
    hospital_code: str
    infno: str


@contextlib.contextmanager
def refusing_corrected_msgid() -> Iterator[None]:
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name != "messages_pkey":
            raise
        raise FailedPrecondition(
            MSGID_CORRECTED, "this msgid was undone by a correction (2601) and cannot be used"
        ) from None


def expect_counts(counts: asyncpg.Record | None, **expected: int) -> None:
    assert counts is not None
    for name, want in expected.items():
        if counts[name] != want:
            raise UnexpectedRowCount(f"{name}: {counts[name]} rows, expected {want}")
