"""Disputed lines and the adjustments their decisions carry into later periods."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import asyncpg

from services.clearing.domain.canonical import adjustment_from_canonical
from services.clearing.domain.lifecycle import Party, PeriodState
from services.clearing.domain.limits import (
    MAX_ADJUSTMENTS_PER_RUN,
    MAX_CLOSED_PERIODS,
    MAX_STATEMENTS_PER_RUN,
    check_count,
)
from services.clearing.domain.lines import Adjustment, StatementLine
from services.clearing.domain.periods import Period
from services.clearing.domain.statements import PoolPair
from services.clearing.store.periods import ensure_periods, lock_period
from services.clearing.store.rows import PAGE_ROWS_MAX, stored_line
from shared import clock
from shared.bus.pg import Conn


@dataclass(frozen=True)
class AdjustmentView:
    origin_statement_id: str
    target_period: str
    adjustment: Adjustment


async def disputed_setl_ids(conn: Conn, statement_id: str) -> set[str]:
    rows = await conn.fetch(
        "SELECT DISTINCT setl_id FROM statement_lines "
        "WHERE statement_id = $1 AND disputed_by IS NOT NULL",
        statement_id,
    )
    return {r["setl_id"] for r in rows}


async def mark_lines_disputed(
    conn: Conn, statement_id: str, setl_ids: Collection[str], party: Party, reason: str
) -> int:
    """Mark every not yet disputed line of these settlement ids; return how many."""
    status = await conn.execute(
        """UPDATE statement_lines
              SET disputed_by = $3, dispute_reason = $4, disputed_at = $5
            WHERE statement_id = $1 AND setl_id = ANY($2::text[]) AND disputed_by IS NULL""",
        statement_id,
        sorted(setl_ids),
        party.value,
        reason,
        clock.now(),
    )
    return int(status.rsplit(" ", 1)[1])


async def disputed_lines_of(conn: Conn, statement_id: str) -> list[tuple[StatementLine, str]]:
    """(line, reason) of each disputed line, in line order."""
    rows = await conn.fetch(
        """SELECT line_no, setl_id, kind, reversed_setl_id, event_id, hospital_code,
                  event_period, late, settle_time, amounts, coalesce(dispute_reason, '') AS reason
             FROM statement_lines
            WHERE statement_id = $1 AND disputed_by IS NOT NULL
            ORDER BY line_no""",
        statement_id,
    )
    return [(stored_line(r), r["reason"]) for r in rows]


async def carry_target(conn: Conn, origin: Period) -> Period:
    """The earliest period after origin not generated yet, its row locked FOR SHARE.

    The lock conflicts with the generating step's FOR NO KEY UPDATE: a period either
    sees the adjustment at its (first) generation, or is already generated and is not
    chosen.
    """
    candidate = origin.next()
    for _ in range(MAX_CLOSED_PERIODS):
        await ensure_periods(conn, [candidate])
        state = await lock_period(conn, candidate, "SHARE")
        if state in (PeriodState.OPEN, PeriodState.CLOSED):
            return candidate
        candidate = candidate.next()
    raise AssertionError("no period left to carry an adjustment into")


async def adjustment_of(conn: Conn, statement_id: str, line: StatementLine) -> Any:
    """The canonical form of the decision stored on the statement's line, or None."""
    raw = await conn.fetchval(
        "SELECT canonical FROM adjustments "
        "WHERE origin_statement_id = $1 AND setl_id = $2 AND kind = $3",
        statement_id,
        line.setl_id,
        line.kind.value,
    )
    return None if raw is None else json.loads(raw)


async def decided_count(conn: Conn, statement_id: str) -> int:
    count = await conn.fetchval(
        "SELECT count(*) FROM adjustments WHERE origin_statement_id = $1", statement_id
    )
    return int(count)


async def insert_adjustment(
    conn: Conn, statement_id: str, adjustment: Adjustment, target: Period, caller: str
) -> None:
    await conn.execute(
        """INSERT INTO adjustments (origin_statement_id, setl_id, kind, origin_period,
               insured_pool, treatment_pool, target_period, outcome, canonical, total_fen,
               decided_by, decided_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12)""",
        statement_id,
        adjustment.line.setl_id,
        adjustment.line.kind.value,
        str(adjustment.origin_period),
        adjustment.insured_pool,
        adjustment.treatment_pool,
        str(target),
        adjustment.outcome.value,
        json.dumps(adjustment.to_canonical()),
        adjustment.total_fen,
        caller,
        clock.now(),
    )


def _adjustment_view(row: asyncpg.Record) -> AdjustmentView:
    return AdjustmentView(
        origin_statement_id=row["origin_statement_id"],
        target_period=row["target_period"],
        adjustment=adjustment_from_canonical(
            json.loads(row["canonical"]), row["insured_pool"], row["treatment_pool"]
        ),
    )


async def adjustment_pairs(conn: Conn, period: Period) -> list[PoolPair]:
    """The pairs with adjustments carried into the period, in code order."""
    rows = await conn.fetch(
        "SELECT insured_pool, treatment_pool FROM adjustments WHERE target_period = $1 "
        "GROUP BY insured_pool, treatment_pool LIMIT $2",
        str(period),
        MAX_STATEMENTS_PER_RUN + 1,
    )
    check_count("pairs with adjustments into the period", len(rows), MAX_STATEMENTS_PER_RUN)
    return sorted((r["insured_pool"], r["treatment_pool"]) for r in rows)


async def adjustments_of_pair(conn: Conn, period: Period, pair: PoolPair) -> list[Adjustment]:
    rows = await conn.fetch(
        """SELECT origin_statement_id, target_period, insured_pool, treatment_pool, canonical
             FROM adjustments
            WHERE target_period = $1 AND insured_pool = $2 AND treatment_pool = $3
            ORDER BY origin_statement_id, setl_id, kind LIMIT $4""",
        str(period),
        pair[0],
        pair[1],
        MAX_ADJUSTMENTS_PER_RUN + 1,
    )
    check_count("adjustments into the period", len(rows), MAX_ADJUSTMENTS_PER_RUN)
    return [_adjustment_view(r).adjustment for r in rows]


async def adjusted_fen_into(conn: Conn, period: Period) -> int:
    total = await conn.fetchval(
        "SELECT coalesce(sum(total_fen), 0)::bigint FROM adjustments WHERE target_period = $1",
        str(period),
    )
    return int(total)


async def adjustment_views(
    conn: Conn,
    *,
    target_period: Period | None = None,
    insured_pool: str = "",
    treatment_pool: str = "",
    origin_statement_id: str | None = None,
    limit: int,
) -> list[AdjustmentView]:
    """Adjustments carried into a period for a pair, or decided on a statement."""
    assert 1 <= limit <= PAGE_ROWS_MAX + 1
    rows = await conn.fetch(
        """SELECT origin_statement_id, target_period, insured_pool, treatment_pool, canonical
             FROM adjustments
            WHERE ($1::text IS NULL OR (target_period = $1 AND insured_pool = $2
                                        AND treatment_pool = $3))
              AND ($4::text IS NULL OR origin_statement_id = $4)
            ORDER BY origin_period, setl_id, kind
            LIMIT $5""",
        str(target_period) if target_period else None,
        insured_pool,
        treatment_pool,
        origin_statement_id,
        limit,
    )
    return [_adjustment_view(r) for r in rows]
