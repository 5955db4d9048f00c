"""Advance funds: their usage as events are recorded, and operators' changes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from services.clearing.domain.periods import Period
from services.clearing.store.rows import PAGE_ROWS_MAX, Visibility
from shared import clock
from shared.bus.pg import Conn
from shared.records import record_from


@dataclass(frozen=True)
class AdvanceView:
    insured_pool: str
    treatment_pool: str
    advance_fen: int
    period: str
    used_fen: int
    alerted_bp: tuple[int, ...]
    updated_at: datetime


@dataclass(frozen=True)
class UsageChange:
    insured_pool: str
    treatment_pool: str
    period: str
    used_before_fen: int
    used_after_fen: int
    alerted_bp: tuple[int, ...]
    advance_fen: int | None


_UPSERT_USAGE = """
INSERT INTO advance_usage AS u (insured_pool, treatment_pool, period, used_fen)
SELECT i, t, p, d FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS x(i, t, p, d)
 ORDER BY i, t, p
ON CONFLICT (insured_pool, treatment_pool, period)
DO UPDATE SET used_fen = u.used_fen + EXCLUDED.used_fen
RETURNING u.insured_pool, u.treatment_pool, u.period, u.used_fen, u.alerted_bp,
          (SELECT a.advance_fen FROM advance_funds a
            WHERE a.insured_pool = u.insured_pool AND a.treatment_pool = u.treatment_pool)
          AS advance_fen
"""


async def add_usage(
    conn: Conn, deltas_fen: Mapping[tuple[str, str, str], int]
) -> list[UsageChange]:
    """Add each (insured, treatment, period)'s delta to its usage; return before/after."""
    keys = sorted(deltas_fen)
    if not keys:
        return []
    rows = await conn.fetch(
        _UPSERT_USAGE,
        [k[0] for k in keys],
        [k[1] for k in keys],
        [k[2] for k in keys],
        [deltas_fen[k] for k in keys],
    )
    changes = []
    for r in rows:
        key = (r["insured_pool"], r["treatment_pool"], r["period"])
        changes.append(
            UsageChange(
                insured_pool=key[0],
                treatment_pool=key[1],
                period=key[2],
                used_before_fen=r["used_fen"] - deltas_fen[key],
                used_after_fen=r["used_fen"],
                alerted_bp=tuple(r["alerted_bp"]),
                advance_fen=r["advance_fen"],
            )
        )
    return changes


async def mark_alerted(
    conn: Conn, insured_pool: str, treatment_pool: str, period: str, thresholds_bp: Sequence[int]
) -> None:
    await conn.execute(
        "UPDATE advance_usage SET alerted_bp = ("
        "  SELECT array_agg(DISTINCT t ORDER BY t) FROM unnest(alerted_bp || $4::integer[]) t)"
        " WHERE insured_pool = $1 AND treatment_pool = $2 AND period = $3",
        insured_pool,
        treatment_pool,
        period,
        list(thresholds_bp),
    )


async def lock_advance(conn: Conn, insured_pool: str, treatment_pool: str) -> int | None:
    value = await conn.fetchval(
        "SELECT advance_fen FROM advance_funds WHERE insured_pool = $1 AND treatment_pool = $2 "
        "FOR UPDATE",
        insured_pool,
        treatment_pool,
    )
    return None if value is None else int(value)


async def write_advance(
    conn: Conn,
    insured_pool: str,
    treatment_pool: str,
    *,
    advance_fen: int,
    change_fen: int,
    kind: Literal["SET", "SIZED", "TOP_UP"],
    caller: str,
    note: str,
    top_up_id: str | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO advance_funds (insured_pool, treatment_pool, advance_fen, updated_at) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (insured_pool, treatment_pool) "
        "DO UPDATE SET advance_fen = EXCLUDED.advance_fen, updated_at = EXCLUDED.updated_at",
        insured_pool,
        treatment_pool,
        advance_fen,
        clock.now(),
    )
    await conn.execute(
        "INSERT INTO advance_fund_changes (insured_pool, treatment_pool, kind, change_fen, "
        "advance_fen, top_up_id, note, changed_by, changed_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        insured_pool,
        treatment_pool,
        kind,
        change_fen,
        advance_fen,
        top_up_id,
        note,
        caller,
        clock.now(),
    )


async def top_up_seen(conn: Conn, top_up_id: str) -> tuple[str, str, int] | None:
    """(insured pool, treatment pool, amount) of an already recorded top-up."""
    row = await conn.fetchrow(
        "SELECT insured_pool, treatment_pool, change_fen FROM advance_fund_changes "
        "WHERE top_up_id = $1",
        top_up_id,
    )
    return None if row is None else (row["insured_pool"], row["treatment_pool"], row["change_fen"])


async def advance_views(
    conn: Conn,
    period: Period,
    *,
    insured_pool: str | None,
    treatment_pool: str | None,
    viewer: Visibility,
    after: tuple[str, str] | None,
    limit: int,
) -> list[AdvanceView]:
    assert 1 <= limit <= PAGE_ROWS_MAX
    rows = await conn.fetch(
        """
        SELECT a.insured_pool, a.treatment_pool, a.advance_fen, a.updated_at,
               coalesce(u.used_fen, 0) AS used_fen, coalesce(u.alerted_bp, '{}') AS alerted_bp
          FROM advance_funds a
          LEFT JOIN advance_usage u
            ON u.insured_pool = a.insured_pool AND u.treatment_pool = a.treatment_pool
           AND u.period = $1
         WHERE ($2::text IS NULL OR a.insured_pool = $2)
           AND ($3::text IS NULL OR a.treatment_pool = $3)
           AND ($4 OR a.insured_pool = $5 OR a.treatment_pool = $5
                OR left(a.insured_pool, 2) = $6 OR left(a.treatment_pool, 2) = $6)
           AND ($7::text IS NULL OR (a.insured_pool, a.treatment_pool) > ($7, $8))
         ORDER BY a.insured_pool, a.treatment_pool
         LIMIT $9
        """,
        str(period),
        insured_pool,
        treatment_pool,
        viewer.everything,
        viewer.pool,
        viewer.centre,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    return [
        record_from(AdvanceView, r, period=str(period), alerted_bp=tuple(r["alerted_bp"]))
        for r in rows
    ]
