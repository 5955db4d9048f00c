"""What every settlement statement shares: the transaction's clock, the journal entry a
write carries, the refusal of a corrected msgid and the row-count check."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

import asyncpg

from services.settlement.domain.records import RecordTimes
from shared import clock
from shared.bus.pg import Conn
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

    def record_times(self) -> RecordTimes:
        """The times of a settlement record this transaction writes."""
        return RecordTimes(
            setl_time=self.now, setl_date=self.china_date, clearing_period=self.clearing_period
        )

    @classmethod
    def read(cls) -> TxnClock:
        """The clock's reading for a transaction that has just locked what it changes: its
        settlement time, China date and clearing period (YYYYMM)."""
        now = clock.now()
        china = now.astimezone(CHINA_TZ)
        return cls(now, china.date(), f"{china:%Y%m}")


@dataclass(frozen=True)
class Journal:
    """What a write journals on its msgid's ``messages`` row (claimed by its unit of work)."""

    msgid: str
    hospital_code: str
    infno: str

    def stamped(self) -> tuple[str, str, str, datetime]:
        """The entry's msgid, hospital and transaction number, and the time of the write:
        the order in which the write statements take them."""
        return (self.msgid, self.hospital_code, self.infno, clock.now())


def journalled(
    msgid: str,
    hospital_code: str,
    infno: str,
    mdtrt_id: str,
    at: str,
    *,
    setl_id: str = "NULL",
    response: str | None = None,
) -> str:
    """The journal CTE of a write (``j AS (…)``): the msgid's row, claimed by this request,
    marked DONE with what the write did, and with ``response`` stored unless it is None
    (the statement's parameters, e.g. ``"$4"``)."""
    stored = "" if response is None else f", response = {response}"
    only_once = "" if response is None else " AND response IS NULL"
    return f"""j AS (
    UPDATE messages SET state = 'DONE', hospital_code = {hospital_code}, infno = {infno},
           mdtrt_id = {mdtrt_id}, setl_id = {setl_id}, received_at = {at}{stored}
     WHERE msgid = {msgid} AND state = 'CLAIMED'{only_once}
    RETURNING 1
)"""


def journalled_done(
    msgid: str,
    hospital_code: str,
    infno: str,
    mdtrt_id: str,
    at: str,
    *,
    fingerprint: str,
    response: str,
    setl_id: str = "NULL",
) -> str:
    """The journal CTE of a gated write (``j AS (…)``, no transaction open): the msgid's
    row inserted DONE with what the write did, its fingerprint and its answer. A msgid
    taken meanwhile (a resend, a correction's tombstone) violates the row's key and aborts
    the statement; one in flight makes it wait, holding nothing yet, when the CTE comes
    first in the statement's select list (:data:`GATED`)."""
    return f"""j AS (
    INSERT INTO messages (msgid, hospital_code, infno, mdtrt_id, setl_id, state, fingerprint,
                          response, received_at)
    VALUES ({msgid}, {hospital_code}, {infno}, {mdtrt_id}, {setl_id}, 'DONE', {fingerprint},
            {response}, {at})
    RETURNING 1
)"""


# The head of a gated write's select list: the journal row first, then the gate ``g`` (the
# rows locked only if they are the versions read), whose count rows_as_read (migration
# 0012) turns into an abort of the whole statement unless it is one. A select list is
# evaluated in its order, so the msgid is taken before any row is locked, the order of
# every writer.
GATED = "(SELECT count(*) FROM j) AS j, rows_as_read((SELECT count(*) FROM g)) AS g"


# What aborts a gated write whole: the msgid taken (its key), a row changed since the read
# (rows_as_read), a deadlock lost. The request then takes the locked path.
_GATE_REFUSED = (
    asyncpg.UniqueViolationError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
)


async def gated_fetchrow(conn: Conn, sql: str, *args: object) -> asyncpg.Record | None:
    """Run a gated write (no transaction open: the statement is its own); None if the
    statement aborted whole (:data:`_GATE_REFUSED`), its counts row otherwise. The
    statement has committed when this returns a row: a count checked after it can report
    a bug, not undo it."""
    assert not conn.is_in_transaction(), "the statement is its own transaction"
    try:
        row = await conn.fetchrow(sql, *args)
    except _GATE_REFUSED:
        return None
    assert row is not None, "a gated write returns its counts"
    return row


def msgid_corrected() -> FailedPrecondition:
    """The refusal of a msgid a correction undid or tombstoned (its journal row says so)."""
    return FailedPrecondition(
        MSGID_CORRECTED, "this msgid was undone by a correction (2601) and cannot be used"
    )


def expect_counts(counts: asyncpg.Record | None, **expected: int) -> None:
    assert counts is not None
    for name, want in expected.items():
        if counts[name] != want:
            raise UnexpectedRowCount(f"{name}: {counts[name]} rows, expected {want}")
