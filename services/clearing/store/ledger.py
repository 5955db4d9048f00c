"""The ledger: entries recorded from settlement events, and what is read from it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg

from services.clearing.domain.events import FUND_ORDER, EventKind
from services.clearing.domain.ledger import LedgerEntry
from services.clearing.domain.lines import StatementLine
from services.clearing.domain.periods import Period
from services.clearing.domain.statements import PoolPair
from services.clearing.store.rows import line_of_row
from shared import clock
from shared.bus.pg import Conn
from shared.errors import FailedPrecondition

_INSERT_LEDGER = """
INSERT INTO ledger (period, event_period, late, event_id, setl_id, kind, reversed_setl_id,
                    insured_pool, treatment_pool, level, hospital_code, fund, amount_fen,
                    settle_time, recorded_at)
SELECT *, $15::timestamptz
  FROM unnest($1::text[], $2::text[], $3::boolean[], $4::text[], $5::text[],
              $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
              $12::text[], $13::bigint[], $14::timestamptz[])
ON CONFLICT DO NOTHING
RETURNING event_id, fund
"""


async def insert_ledger(conn: Conn, entries: Sequence[LedgerEntry]) -> set[tuple[str, str]]:
    """One INSERT for all entries; returns the (event_id, fund) pairs actually inserted
    (an entry already recorded, under this or another event id, is skipped)."""
    if not entries:
        return set()
    columns: list[list[Any]] = [[] for _ in range(14)]
    for e in entries:
        values = (
            str(e.period),
            str(e.event_period),
            e.late,
            e.event_id,
            e.setl_id,
            e.kind.value,
            e.reversed_setl_id,
            e.insured_pool,
            e.treatment_pool,
            e.level.value,
            e.hospital_code,
            e.fund.value,
            e.amount_fen,
            e.settle_time,
        )
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    rows = await conn.fetch(_INSERT_LEDGER, *columns, clock.now())
    return {(r["event_id"], r["fund"]) for r in rows}


# One statement line per row: the ledger entries of one (pair, settlement id, kind), which
# are one event's entries (one per cleared fund), in canonical line order within each
# pair. The flags say whether the group really is one event whose entries agree; the
# amounts come one column per fund (at most one entry per fund and event, by the ledger's
# uniqueness; the entry count tells a duplicate apart).
_FUND_COLUMNS = ",\n       ".join(
    f"min(amount_fen) FILTER (WHERE fund = '{fund.value}') AS {fund.value}" for fund in FUND_ORDER
)
_PERIOD_LINES = f"""
SELECT insured_pool, treatment_pool, setl_id, kind,
       min(event_id) AS event_id,
       min(reversed_setl_id) AS reversed_setl_id,
       min(hospital_code) AS hospital_code,
       min(event_period) AS event_period,
       bool_or(late) AS late,
       min(settle_time) AS settle_time,
       count(*) AS entries,
       {_FUND_COLUMNS},
       min(event_id) = max(event_id) AS one_event,
       (min(hospital_code) = max(hospital_code) AND min(event_period) = max(event_period)
        AND bool_or(late) = bool_and(late) AND min(settle_time) = max(settle_time)
        AND min(reversed_setl_id) IS NOT DISTINCT FROM max(reversed_setl_id)) AS consistent
  FROM ledger
 WHERE period = $1
 GROUP BY insured_pool, treatment_pool, setl_id, kind
 ORDER BY insured_pool COLLATE "C", treatment_pool COLLATE "C",
          min(settle_time), setl_id COLLATE "C", kind COLLATE "C"
"""


async def period_lines(
    conn: Conn, period: Period, *, fetch_rows: int, timeout_s: float
) -> AsyncIterator[tuple[PoolPair, StatementLine]]:
    """Every statement line of the period, pair by pair (pairs in code order), each pair's
    lines in canonical order (StatementLine.sort_key: code-point order of ids, as Python
    compares them). Streamed from a cursor, fetch_rows at a time: memory stays bounded
    whatever the period holds. Runs inside the caller's transaction."""
    cursor = await conn.cursor(_PERIOD_LINES, str(period))
    periods: dict[str, Period] = {}
    while True:
        rows = await cursor.fetch(fetch_rows, timeout=timeout_s)
        if not rows:
            return
        for row in rows:
            yield (row["insured_pool"], row["treatment_pool"]), _line_of_group(row, periods)


def _line_of_group(row: asyncpg.Record, periods: dict[str, Period]) -> StatementLine:
    kind = EventKind(row["kind"])
    if not row["one_event"]:
        raise FailedPrecondition(
            "DUPLICATE_LINE",
            f"{kind.value} {row['setl_id']} appears twice for "
            f"{row['insured_pool']}→{row['treatment_pool']}",
        )
    if not row["consistent"]:
        raise FailedPrecondition(
            "INCONSISTENT_ENTRIES", f"entries of event {row['event_id']} disagree on the event"
        )
    amounts = {fund: row[fund.value] for fund in FUND_ORDER if row[fund.value] is not None}
    if len(amounts) != row["entries"]:
        raise FailedPrecondition(
            "DUPLICATE_ENTRY", f"event {row['event_id']} has two entries for one fund"
        )
    text = row["event_period"]
    event_period = periods.get(text)
    if event_period is None:
        event_period = periods.setdefault(text, Period.parse(text))
    return line_of_row(row, amounts, event_period)


async def monthly_cleared_fen(
    conn: Conn, insured_pool: str, treatment_pool: str, periods: Sequence[Period]
) -> list[int]:
    """The pair's cleared amount in each period given, in that order (0 when none)."""
    rows = await conn.fetch(
        "SELECT period, sum(amount_fen)::bigint AS fen FROM ledger "
        "WHERE insured_pool = $1 AND treatment_pool = $2 AND period = ANY($3::text[]) "
        "GROUP BY period",
        insured_pool,
        treatment_pool,
        [str(p) for p in periods],
    )
    by_period = {r["period"]: r["fen"] for r in rows}
    return [by_period.get(str(p), 0) for p in periods]
