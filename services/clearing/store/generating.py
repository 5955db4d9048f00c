"""Writing a period's statements: rows, lines and canonical bytes (generation.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from services.clearing.domain.lines import StatementLine
from services.clearing.domain.periods import Period
from services.clearing.domain.pools import clearing_level
from services.clearing.domain.statements import FundSummary, PoolPair, StatementSummary
from services.clearing.store.rows import stored_line
from shared import clock
from shared.bus.pg import Conn


async def statement_digests(conn: Conn, period: Period) -> dict[str, str]:
    rows = await conn.fetch(
        "SELECT statement_id, digest FROM statements WHERE period = $1", str(period)
    )
    return {r["statement_id"]: r["digest"] for r in rows}


def _compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _funds_json(funds: Sequence[FundSummary]) -> str:
    return _compact_json([f.to_canonical() for f in funds])


async def delete_statements(conn: Conn, period: Period, timeout_s: float) -> None:
    """Drop an earlier generation of the period (its lines go with it)."""
    await conn.execute("DELETE FROM statements WHERE period = $1", str(period), timeout=timeout_s)


@dataclass(frozen=True)
class GeneratedStatement:
    summary: StatementSummary
    canonical: bytes
    digest: str


_INSERT_STATEMENT = """
INSERT INTO statements (statement_id, period, insured_pool, treatment_pool, level, state,
       settlement_count, reversal_count, late_count, adjustment_count, line_count, net_fen,
       funds, institution_totals, canonical, digest, generated_at)
VALUES ($1, $2, $3, $4, $5, 'GENERATED', $6, $7, $8, $9, $10, $11, $12::jsonb, $13::jsonb,
        $14, $15, $16)
"""


def _summary_values(summary: StatementSummary) -> tuple[Any, ...]:
    """The summary columns, in the order both the INSERT and the UPDATE name them."""
    return (
        summary.settlement_count,
        summary.reversal_count,
        summary.late_count,
        len(summary.adjustments),
        summary.line_count,
        summary.net_fen,
        _funds_json(summary.funds),
        _compact_json([k.to_canonical() for k in summary.institutions]),
    )


def _statement_values(summary: StatementSummary, canonical: bytes, digest: str) -> tuple[Any, ...]:
    return (
        summary.statement_id,
        str(summary.period),
        summary.insured_pool,
        summary.treatment_pool,
        summary.level.value,
        *_summary_values(summary),
        canonical,
        digest,
        clock.now(),
    )


async def insert_statements(
    conn: Conn, statements: Sequence[GeneratedStatement], timeout_s: float
) -> None:
    if statements:
        await conn.executemany(
            _INSERT_STATEMENT,
            [_statement_values(s.summary, s.canonical, s.digest) for s in statements],
            timeout=timeout_s,
        )


# A statement written in parts holds this until its lines are all in: no lines, no bytes.
_PLACEHOLDER_DIGEST = "0" * 64


async def insert_statement_placeholder(
    conn: Conn, period: Period, pair: PoolPair, timeout_s: float
) -> None:
    """The statement's row before its lines (which reference it): no lines, no bytes yet;
    complete_statement fills it in. Never visible outside the generating transaction."""
    level = clearing_level(*pair)
    assert level is not None
    empty = StatementSummary(
        period=period,
        insured_pool=pair[0],
        treatment_pool=pair[1],
        level=level,
        adjustments=(),
        funds=(),
        settlement_count=0,
        reversal_count=0,
        late_count=0,
        net_fen=0,
    )
    await conn.execute(
        _INSERT_STATEMENT, *_statement_values(empty, b"", _PLACEHOLDER_DIGEST), timeout=timeout_s
    )


_LINE_COLUMNS = [
    "statement_id",
    "line_no",
    "setl_id",
    "kind",
    "reversed_setl_id",
    "event_id",
    "hospital_code",
    "event_period",
    "late",
    "settle_time",
    "amounts",
    "total_fen",
]


async def copy_statement_lines(
    conn: Conn, lines: Iterable[tuple[str, int, StatementLine]], timeout_s: float
) -> None:
    """(statement id, line number, line) rows into statement_lines, with one COPY."""
    await conn.copy_records_to_table(
        "statement_lines",
        columns=_LINE_COLUMNS,
        records=(
            (
                statement_id,
                line_no,
                x.setl_id,
                x.kind.value,
                x.reversed_setl_id,
                x.event_id,
                x.hospital_code,
                str(x.event_period),
                x.late,
                x.settle_time,
                json.dumps({a.fund.value: a.amount_fen for a in x.amounts}),
                x.total_fen,
            )
            for statement_id, line_no, x in lines
        ),
        timeout=timeout_s,
    )


async def statement_lines_of(
    conn: Conn, statement_id: str, *, fetch_rows: int, timeout_s: float
) -> AsyncIterator[StatementLine]:
    """A statement's lines in line order, streamed from a cursor."""
    cursor = await conn.cursor(
        """SELECT setl_id, kind, reversed_setl_id, event_id, hospital_code, event_period,
                  late, settle_time, amounts
             FROM statement_lines WHERE statement_id = $1 ORDER BY line_no""",
        statement_id,
    )
    while True:
        rows = await cursor.fetch(fetch_rows, timeout=timeout_s)
        if not rows:
            return
        for row in rows:
            yield stored_line(row)


# The canonical bytes of a statement too large to hold are sent in parts and joined by
# the server. The table lives as long as the generating transaction.
_PARTS_TABLE = "pg_temp.clearing_canonical_parts"


async def begin_canonical_parts(conn: Conn) -> None:
    await conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS clearing_canonical_parts "
        "(seq integer PRIMARY KEY, part bytea NOT NULL) ON COMMIT DROP"
    )
    await conn.execute(f"TRUNCATE {_PARTS_TABLE}")


async def add_canonical_part(conn: Conn, seq: int, part: bytes, timeout_s: float) -> None:
    await conn.execute(
        f"INSERT INTO {_PARTS_TABLE} (seq, part) VALUES ($1, $2)", seq, part, timeout=timeout_s
    )


async def complete_statement(
    conn: Conn, summary: StatementSummary, digest: str, timeout_s: float
) -> tuple[int, str]:
    """The placeholder row becomes the statement: its summary, and the canonical bytes
    joined from their parts. Returns (length, sha256 hex) of the bytes as stored, for the
    caller to check against what it sent."""
    row = await conn.fetchrow(
        f"""UPDATE statements
               SET settlement_count = $2, reversal_count = $3, late_count = $4,
                   adjustment_count = $5, line_count = $6, net_fen = $7, funds = $8::jsonb,
                   institution_totals = $9::jsonb, digest = $10,
                   canonical = (SELECT coalesce(string_agg(part, ''::bytea ORDER BY seq), '')
                                  FROM {_PARTS_TABLE})
             WHERE statement_id = $1
         RETURNING length(canonical) AS size, encode(sha256(canonical), 'hex') AS stored""",
        summary.statement_id,
        *_summary_values(summary),
        digest,
        timeout=timeout_s,
    )
    assert row is not None, f"statement {summary.statement_id} has no placeholder"
    await conn.execute(f"TRUNCATE {_PARTS_TABLE}")
    return int(row["size"]), str(row["stored"])


async def set_statements_digest(conn: Conn, period: Period, digest: str) -> None:
    await conn.execute(
        "UPDATE periods SET statements_digest = $2 WHERE period = $1", str(period), digest
    )
