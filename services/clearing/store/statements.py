"""Statements as generated and as they move: summaries, lines, status."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.clearing.domain.canonical import statement_from_bytes
from services.clearing.domain.events import FundType
from services.clearing.domain.lifecycle import Party, StatementState, StatementStatus
from services.clearing.domain.limits import MAX_STATEMENTS_PER_RUN, check_count
from services.clearing.domain.lines import DisputedLine, StatementLine
from services.clearing.domain.periods import Period
from services.clearing.domain.pools import ClearingLevel
from services.clearing.domain.statements import (
    FundSummary,
    InstitutionSummary,
    OfPair,
    Statement,
)
from services.clearing.store.rows import PAGE_ROWS_MAX, Visibility, stored_line
from shared import clock
from shared.bus.pg import Conn
from shared.records import record_from
from shared.reference.institutions import InstitutionKind


@dataclass(frozen=True)
class StatementView(OfPair):
    level: ClearingLevel
    status: StatementStatus
    settlement_count: int
    reversal_count: int
    late_count: int
    adjustment_count: int
    line_count: int
    net_fen: int
    disputed_fen: int
    disputed_lines: int
    funds: tuple[FundSummary, ...]
    digest: str
    generated_at: datetime
    delivered_at: datetime | None
    # Per institution kind, hospitals first; empty for a statement generated before
    # migration 0003 until it is generated again.
    institutions: tuple[InstitutionSummary, ...]

    @property
    def confirmed_net_fen(self) -> int:
        return self.net_fen - self.disputed_fen


@dataclass(frozen=True)
class LineView:
    line_no: int
    line: StatementLine
    disputed_by: Party | None
    dispute_reason: str


_STATEMENT_COLUMNS = """statement_id, period, insured_pool, treatment_pool, level, state,
    confirmed_by, disputed_by, settlement_count, reversal_count, late_count,
    adjustment_count, line_count, net_fen, disputed_fen, disputed_lines, funds, digest,
    generated_at, delivered_at, institution_totals"""


def _summary_of(raw: Mapping[str, Any]) -> FundSummary:
    return record_from(FundSummary, raw, fund=FundType(raw["fund"]))


def _institution_of(raw: Mapping[str, Any]) -> InstitutionSummary:
    return record_from(
        InstitutionSummary,
        raw,
        kind=InstitutionKind(raw["kind"]),
        funds=tuple(_summary_of(f) for f in raw["funds"]),
    )


def _statement_view(row: asyncpg.Record) -> StatementView:
    return record_from(
        StatementView,
        row,
        period=Period.parse(row["period"]),
        level=ClearingLevel(row["level"]),
        status=StatementStatus(
            state=StatementState(row["state"]),
            confirmed_by=frozenset(Party(p) for p in row["confirmed_by"]),
            disputed_by=frozenset(Party(p) for p in row["disputed_by"]),
        ),
        funds=tuple(_summary_of(f) for f in json.loads(row["funds"])),
        institutions=tuple(_institution_of(k) for k in json.loads(row["institution_totals"])),
    )


async def statement_view(conn: Conn, statement_id: str, *, lock: bool) -> StatementView | None:
    suffix = " FOR UPDATE" if lock else ""
    row = await conn.fetchrow(
        f"SELECT {_STATEMENT_COLUMNS} FROM statements WHERE statement_id = $1{suffix}",
        statement_id,
    )
    return None if row is None else _statement_view(row)


async def statement_views(
    conn: Conn,
    period: Period,
    *,
    pool: str | None,
    state: StatementState | None,
    viewer: Visibility,
    after: str | None,
    limit: int,
) -> list[StatementView]:
    assert 1 <= limit <= PAGE_ROWS_MAX
    rows = await conn.fetch(
        f"""SELECT {_STATEMENT_COLUMNS} FROM statements
             WHERE period = $1
               AND ($2::text IS NULL OR insured_pool = $2 OR treatment_pool = $2)
               AND ($3::text IS NULL OR state = $3)
               AND ($4 OR insured_pool = $5 OR treatment_pool = $5
                    OR left(insured_pool, 2) = $6 OR left(treatment_pool, 2) = $6)
               AND ($7::text IS NULL OR statement_id > $7)
             ORDER BY statement_id
             LIMIT $8""",
        str(period),
        pool,
        state.value if state else None,
        viewer.everything,
        viewer.pool,
        viewer.centre,
        after,
        limit,
    )
    return [_statement_view(r) for r in rows]


async def all_statement_views(conn: Conn, period: Period) -> list[StatementView]:
    rows = await conn.fetch(
        f"SELECT {_STATEMENT_COLUMNS} FROM statements WHERE period = $1 "
        "ORDER BY statement_id LIMIT $2",
        str(period),
        MAX_STATEMENTS_PER_RUN + 1,
    )
    check_count("statements of the period", len(rows), MAX_STATEMENTS_PER_RUN)
    return [_statement_view(r) for r in rows]


async def statement_states(conn: Conn, period: Period) -> list[StatementState]:
    rows = await conn.fetch(
        "SELECT state, count(*) AS n FROM statements WHERE period = $1 GROUP BY state",
        str(period),
    )
    return [StatementState(r["state"]) for r in rows for _ in range(r["n"])]


async def mark_delivered(conn: Conn, period: Period, timeout_s: float) -> list[StatementView]:
    """GENERATED statements of the period become DELIVERED; returns them."""
    rows = await conn.fetch(
        f"""UPDATE statements SET state = 'DELIVERED', delivered_at = $2
             WHERE period = $1 AND state = 'GENERATED'
         RETURNING {_STATEMENT_COLUMNS}""",
        str(period),
        clock.now(),
        timeout=timeout_s,
    )
    return sorted((_statement_view(r) for r in rows), key=lambda v: v.statement_id)


async def load_statement(conn: Conn, statement_id: str, timeout_s: float) -> Statement:
    """The statement as generated, rebuilt from its canonical bytes."""
    canonical = await conn.fetchval(
        "SELECT canonical FROM statements WHERE statement_id = $1", statement_id, timeout=timeout_s
    )
    assert canonical is not None, f"statement {statement_id} vanished under its lock"
    return statement_from_bytes(bytes(canonical))


async def canonical_of(conn: Conn, statement_id: str) -> bytes:
    canonical = await conn.fetchval(
        "SELECT canonical FROM statements WHERE statement_id = $1", statement_id
    )
    assert canonical is not None, f"statement {statement_id} not found"
    return bytes(canonical)


async def canonical_size(conn: Conn, statement_id: str) -> int:
    size = await conn.fetchval(
        "SELECT length(canonical) FROM statements WHERE statement_id = $1", statement_id
    )
    return int(size or 0)


async def statements_failing_checks(conn: Conn, period: Period, timeout_s: float) -> list[str]:
    """Ids (at most 10) of the period's statements whose stored bytes no longer hash to
    their digest, or whose disputed figures disagree with their disputed lines."""
    rows = await conn.fetch(
        """SELECT s.statement_id
             FROM statements s
             LEFT JOIN LATERAL (
                   SELECT count(*) AS n, coalesce(sum(l.total_fen), 0)::bigint AS fen
                     FROM statement_lines l
                    WHERE l.statement_id = s.statement_id AND l.disputed_by IS NOT NULL) d
               ON true
            WHERE s.period = $1
              AND (encode(sha256(s.canonical), 'hex') <> s.digest
                   OR d.n <> s.disputed_lines OR d.fen <> s.disputed_fen)
            ORDER BY s.statement_id
            LIMIT 10""",
        str(period),
        timeout=timeout_s,
    )
    return [r["statement_id"] for r in rows]


async def set_statement_status(
    conn: Conn,
    statement_id: str,
    status: StatementStatus,
    *,
    disputed: Sequence[DisputedLine] | None = None,
) -> None:
    """The statement's state and parties; with ``disputed``, the lines its disputes have
    taken out of it, kept as their count and total."""
    await conn.execute(
        """UPDATE statements
              SET state = $2, confirmed_by = $3::text[], disputed_by = $4::text[],
                  disputed_fen = coalesce($5, disputed_fen),
                  disputed_lines = coalesce($6, disputed_lines)
            WHERE statement_id = $1""",
        statement_id,
        status.state.value,
        sorted(p.value for p in status.confirmed_by),
        sorted(p.value for p in status.disputed_by),
        None if disputed is None else sum(d.line.total_fen for d in disputed),
        None if disputed is None else len(disputed),
    )


async def line_views(
    conn: Conn, statement_id: str, *, after_line_no: int, limit: int
) -> list[LineView]:
    assert 1 <= limit <= PAGE_ROWS_MAX
    rows = await conn.fetch(
        """SELECT line_no, setl_id, kind, reversed_setl_id, event_id, hospital_code,
                  event_period, late, settle_time, amounts, disputed_by,
                  coalesce(dispute_reason, '') AS dispute_reason
             FROM statement_lines
            WHERE statement_id = $1 AND line_no > $2
            ORDER BY line_no
            LIMIT $3""",
        statement_id,
        after_line_no,
        limit,
    )
    return [
        LineView(
            line_no=r["line_no"],
            line=stored_line(r),
            disputed_by=Party(r["disputed_by"]) if r["disputed_by"] else None,
            dispute_reason=r["dispute_reason"],
        )
        for r in rows
    ]
