"""The clearing schema: every SQL statement of the service, nothing else.

Functions take a connection and run inside the caller's transaction; the caller (the
handlers, the consumer) decides where transactions begin and end. Rows are turned into
domain values or into the plain read models below, never into protobuf.

Locks on a period row (the month-end fence and the run's serialisation):
- FOR KEY SHARE: taken by ledger ingestion on the rows of the periods it reads;
- FOR UPDATE: taken by ClosePeriod; conflicts with FOR KEY SHARE, so closing waits for
  in-flight ingestion and ingestion that starts later sees the period closed;
- FOR NO KEY UPDATE: taken by the later month-end steps, which serialise with each
  other and with ClosePeriod but never with ingestion;
- FOR SHARE: taken when choosing a period to carry an adjustment into; conflicts with
  the generating step, so a decision never lands in a period being generated.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

import asyncpg

from services.clearing.domain.applications import ApplicationDifference, DifferenceKind
from services.clearing.domain.canonical import adjustment_from_canonical, statement_from_bytes
from services.clearing.domain.events import FUND_ORDER, EventKind, FundType
from services.clearing.domain.ledger import LedgerEntry
from services.clearing.domain.lifecycle import (
    InstructionState,
    Party,
    PeriodState,
    StatementState,
    StatementStatus,
)
from services.clearing.domain.limits import (
    MAX_ADJUSTMENTS_PER_RUN,
    MAX_APPLICATION_ITEMS,
    MAX_CLOSED_PERIODS,
    MAX_STATEMENTS_PER_RUN,
    check_count,
)
from services.clearing.domain.lines import Adjustment, StatementLine, fund_amounts
from services.clearing.domain.netting import InstructionLeg, NettingResult, PaymentInstruction
from services.clearing.domain.periods import Period, assign_period
from services.clearing.domain.pools import ClearingLevel, clearing_level
from services.clearing.domain.statements import (
    FundSummary,
    PoolPair,
    Statement,
    StatementSummary,
)
from shared import clock
from shared.bus.pg import Conn
from shared.errors import FailedPrecondition

# The consumer walks at most this many rounds to lock the periods its events land in;
# each round can only add rows that a concurrent close created, so two suffice in practice.
FENCE_ROUNDS_MAX: Final = 16
# Rows any one list query returns.
PAGE_ROWS_MAX: Final = 1_000

LockMode = Literal["UPDATE", "NO KEY UPDATE", "SHARE", "KEY SHARE"]


# -- read models --------------------------------------------------------------------------


@dataclass(frozen=True)
class PeriodView:
    period: str
    state: PeriodState
    closed_at: datetime | None
    generated_at: datetime | None
    delivered_at: datetime | None
    netted_at: datetime | None
    settled_at: datetime | None
    statements_digest: str
    ledger_entry_count: int
    event_count: int
    late_event_count: int
    cleared_fen: int
    statement_count: int
    statements_by_state: Mapping[str, int]
    disputed_line_count: int
    adjustment_count: int
    instruction_count: int
    paid_instruction_count: int


@dataclass(frozen=True)
class StatementView:
    statement_id: str
    period: str
    insured_pool: str
    treatment_pool: str
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

    @property
    def confirmed_net_fen(self) -> int:
        return self.net_fen - self.disputed_fen


@dataclass(frozen=True)
class LineView:
    line_no: int
    line: StatementLine
    disputed_by: Party | None
    dispute_reason: str


@dataclass(frozen=True)
class AdjustmentView:
    origin_statement_id: str
    target_period: str
    adjustment: Adjustment


@dataclass(frozen=True)
class InstructionView:
    seq: int  # the order netting issued it in: pay-ins to a hub before its pay-outs
    instruction: PaymentInstruction
    state: InstructionState
    payment_reference: str
    paid_at: datetime | None


@dataclass(frozen=True)
class NetLevelView:
    leg: InstructionLeg
    scope: str
    # (party, receivable_fen, payable_fen)
    positions: tuple[tuple[str, int, int], ...]
    # (payer, receiver, amount_fen)
    cells: tuple[tuple[str, str, int], ...]


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


@dataclass(frozen=True)
class ApplicationView:
    application_id: str
    hospital_code: str
    period: str
    state: str
    items_digest: str
    item_count: int
    application_fen: int
    ledger_item_count: int
    ledger_fen: int
    difference_count: int
    differences: tuple[ApplicationDifference, ...]


# -- periods and the fence ----------------------------------------------------------------


async def ensure_periods(conn: Conn, periods: Iterable[Period]) -> None:
    """Create missing period rows (OPEN). Sorted, so concurrent callers lock in one order."""
    names = sorted({str(p) for p in periods})
    if names:
        await conn.execute(
            "INSERT INTO periods (period, created_at) SELECT p, $2 FROM unnest($1::text[]) AS p"
            " ORDER BY p ON CONFLICT DO NOTHING",
            names,
            clock.now(),
        )


async def lock_landing_periods(conn: Conn, event_periods: Collection[Period]) -> frozenset[Period]:
    """The fence, ingestion side: lock (FOR KEY SHARE) every period row from the earliest
    event period on, including the open period each event lands in; return those that are
    closed. Until this transaction ends, none of the landing periods can be closed, and
    any period closed before the lock was taken is seen as closed."""
    assert event_periods, "a batch with events"
    earliest = str(min(event_periods))
    await ensure_periods(conn, event_periods)
    for _ in range(FENCE_ROUNDS_MAX):
        rows = await conn.fetch(
            "SELECT period, state FROM periods WHERE period >= $1 ORDER BY period FOR KEY SHARE",
            earliest,
        )
        check_count("periods from the earliest event on", len(rows), MAX_CLOSED_PERIODS)
        known = {Period.parse(r["period"]) for r in rows}
        closed = frozenset(
            Period.parse(r["period"]) for r in rows if r["state"] != PeriodState.OPEN.value
        )
        landings = {assign_period(p, closed).period for p in event_periods}
        missing = landings - known
        if not missing:
            return closed
        # A landing period without a row: create it, then lock it on the next round (a
        # close may have created it meanwhile, closed — the next round sees that).
        await ensure_periods(conn, missing)
    raise AssertionError(f"period fence not settled in {FENCE_ROUNDS_MAX} rounds")


async def lock_period(conn: Conn, period: Period, mode: LockMode) -> PeriodState | None:
    """The period's state, its row locked in mode; None when it has no row (OPEN)."""
    state = await conn.fetchval(
        f"SELECT state FROM periods WHERE period = $1 FOR {mode}", str(period)
    )
    return None if state is None else PeriodState(state)


async def set_period_state(conn: Conn, period: Period, state: PeriodState) -> None:
    column = {
        PeriodState.CLOSED: "closed_at",
        PeriodState.GENERATED: "generated_at",
        PeriodState.DELIVERED: "delivered_at",
        PeriodState.NETTED: "netted_at",
        PeriodState.SETTLED: "settled_at",
    }[state]
    status = await conn.execute(
        f"UPDATE periods SET state = $2, {column} = $3 WHERE period = $1",
        str(period),
        state.value,
        clock.now(),
    )
    assert status == "UPDATE 1", status


async def record_action(
    conn: Conn, period: Period, action: str, caller: str, *, no_op: bool, detail: str = ""
) -> None:
    await conn.execute(
        "INSERT INTO period_actions (period, action, caller, no_op, detail, acted_at) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        str(period),
        action,
        caller,
        no_op,
        detail[:500],
        clock.now(),
    )


async def period_view(conn: Conn, period: Period) -> PeriodView:
    """The period's state and counts; a period without a row reads as OPEN and empty."""
    key = str(period)
    row = await conn.fetchrow(
        """
        SELECT p.state, p.closed_at, p.generated_at, p.delivered_at, p.netted_at,
               p.settled_at, coalesce(p.statements_digest, '') AS statements_digest,
               l.entries, l.events, l.late_events, l.cleared_fen,
               (SELECT count(*) FROM statement_lines sl JOIN statements s USING (statement_id)
                 WHERE s.period = $1 AND sl.disputed_by IS NOT NULL) AS disputed_lines,
               (SELECT count(*) FROM adjustments a WHERE a.target_period = $1) AS adjustments,
               (SELECT count(*) FROM payment_instructions i WHERE i.period = $1) AS instructions,
               (SELECT count(*) FROM payment_instructions i
                 WHERE i.period = $1 AND i.state = 'PAID') AS paid
          FROM (SELECT $1::text AS period) q
          LEFT JOIN periods p USING (period)
          CROSS JOIN LATERAL (
                SELECT count(*) AS entries,
                       count(DISTINCT event_id) AS events,
                       count(DISTINCT event_id) FILTER (WHERE late) AS late_events,
                       coalesce(sum(amount_fen), 0)::bigint AS cleared_fen
                  FROM ledger WHERE ledger.period = $1) l
        """,
        key,
    )
    assert row is not None
    by_state = {
        r["state"]: r["n"]
        for r in await conn.fetch(
            "SELECT state, count(*) AS n FROM statements WHERE period = $1 "
            "GROUP BY state ORDER BY state",
            key,
        )
    }
    return PeriodView(
        period=key,
        state=PeriodState(row["state"] or PeriodState.OPEN.value),
        closed_at=row["closed_at"],
        generated_at=row["generated_at"],
        delivered_at=row["delivered_at"],
        netted_at=row["netted_at"],
        settled_at=row["settled_at"],
        statements_digest=row["statements_digest"],
        ledger_entry_count=row["entries"],
        event_count=row["events"],
        late_event_count=row["late_events"],
        cleared_fen=row["cleared_fen"],
        statement_count=sum(by_state.values()),
        statements_by_state=by_state,
        disputed_line_count=row["disputed_lines"],
        adjustment_count=row["adjustments"],
        instruction_count=row["instructions"],
        paid_instruction_count=row["paid"],
    )


# -- the ledger ---------------------------------------------------------------------------

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
    return StatementLine(
        setl_id=row["setl_id"],
        kind=kind,
        reversed_setl_id=row["reversed_setl_id"],
        event_id=row["event_id"],
        hospital_code=row["hospital_code"],
        event_period=event_period,
        late=row["late"],
        settle_time=row["settle_time"],
        amounts=fund_amounts(amounts),
    )


async def hospital_ledger_fen(
    conn: Conn, hospital_code: str, event_period: Period, timeout_s: float
) -> dict[str, int]:
    """The hospital's cleared amount per settlement id for the month settlement assigned
    (reversals under their own ids), summed in SQL: one row per settlement id."""
    rows = await conn.fetch(
        "SELECT setl_id, sum(amount_fen)::bigint AS fen FROM ledger "
        "WHERE hospital_code = $1 AND event_period = $2 GROUP BY setl_id LIMIT $3",
        hospital_code,
        str(event_period),
        MAX_APPLICATION_ITEMS + 1,
        timeout=timeout_s,
    )
    check_count("settlements of the hospital in the ledger", len(rows), MAX_APPLICATION_ITEMS)
    return {r["setl_id"]: r["fen"] for r in rows}


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


async def ledger_has_pair(conn: Conn, insured_pool: str, treatment_pool: str) -> bool:
    found = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM ledger WHERE insured_pool = $1 AND treatment_pool = $2)",
        insured_pool,
        treatment_pool,
    )
    return bool(found)


# -- advance-fund usage (ingestion side) ---------------------------------------------------

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


# -- advance funds (operator side) ---------------------------------------------------------


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
    viewer_pool: str | None,
    viewer_province: str | None,
    everything: bool,
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
        everything,
        viewer_pool,
        viewer_province,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    return [
        AdvanceView(
            insured_pool=r["insured_pool"],
            treatment_pool=r["treatment_pool"],
            advance_fen=r["advance_fen"],
            period=str(period),
            used_fen=r["used_fen"],
            alerted_bp=tuple(r["alerted_bp"]),
            updated_at=r["updated_at"],
        )
        for r in rows
    ]


# -- statements ---------------------------------------------------------------------------


async def statement_digests(conn: Conn, period: Period) -> dict[str, str]:
    rows = await conn.fetch(
        "SELECT statement_id, digest FROM statements WHERE period = $1", str(period)
    )
    return {r["statement_id"]: r["digest"] for r in rows}


def _funds_json(funds: Sequence[FundSummary]) -> str:
    return json.dumps([f.to_canonical() for f in funds], separators=(",", ":"))


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
       funds, canonical, digest, generated_at)
VALUES ($1, $2, $3, $4, $5, 'GENERATED', $6, $7, $8, $9, $10, $11, $12::jsonb, $13, $14, $15)
"""


def _statement_values(summary: StatementSummary, canonical: bytes, digest: str) -> tuple[Any, ...]:
    return (
        summary.statement_id,
        str(summary.period),
        summary.insured_pool,
        summary.treatment_pool,
        summary.level.value,
        summary.settlement_count,
        summary.reversal_count,
        summary.late_count,
        len(summary.adjustments),
        summary.line_count,
        summary.net_fen,
        _funds_json(summary.funds),
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
            yield _line_of(row)


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
                   digest = $9,
                   canonical = (SELECT coalesce(string_agg(part, ''::bytea ORDER BY seq), '')
                                  FROM {_PARTS_TABLE})
             WHERE statement_id = $1
         RETURNING length(canonical) AS size, encode(sha256(canonical), 'hex') AS stored""",
        summary.statement_id,
        summary.settlement_count,
        summary.reversal_count,
        summary.late_count,
        len(summary.adjustments),
        summary.line_count,
        summary.net_fen,
        _funds_json(summary.funds),
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


_STATEMENT_COLUMNS = """statement_id, period, insured_pool, treatment_pool, level, state,
    confirmed_by, disputed_by, settlement_count, reversal_count, late_count,
    adjustment_count, line_count, net_fen, disputed_fen, disputed_lines, funds, digest,
    generated_at, delivered_at"""


def _summary_of(raw: Mapping[str, Any]) -> FundSummary:
    return FundSummary(
        fund=FundType(raw["fund"]),
        settled_count=raw["settled_count"],
        settled_fen=raw["settled_fen"],
        reversed_count=raw["reversed_count"],
        reversed_fen=raw["reversed_fen"],
        adjustment_count=raw["adjustment_count"],
        adjustment_fen=raw["adjustment_fen"],
        late_count=raw["late_count"],
        late_fen=raw["late_fen"],
        net_fen=raw["net_fen"],
    )


def _statement_view(row: asyncpg.Record) -> StatementView:
    return StatementView(
        statement_id=row["statement_id"],
        period=row["period"],
        insured_pool=row["insured_pool"],
        treatment_pool=row["treatment_pool"],
        level=ClearingLevel(row["level"]),
        status=StatementStatus(
            state=StatementState(row["state"]),
            confirmed_by=frozenset(Party(p) for p in row["confirmed_by"]),
            disputed_by=frozenset(Party(p) for p in row["disputed_by"]),
        ),
        settlement_count=row["settlement_count"],
        reversal_count=row["reversal_count"],
        late_count=row["late_count"],
        adjustment_count=row["adjustment_count"],
        line_count=row["line_count"],
        net_fen=row["net_fen"],
        disputed_fen=row["disputed_fen"],
        disputed_lines=row["disputed_lines"],
        funds=tuple(_summary_of(f) for f in json.loads(row["funds"])),
        digest=row["digest"],
        generated_at=row["generated_at"],
        delivered_at=row["delivered_at"],
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
    viewer_pool: str | None,
    viewer_province: str | None,
    everything: bool,
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
        everything,
        viewer_pool,
        viewer_province,
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
    disputed_fen: int | None = None,
    disputed_lines: int | None = None,
) -> None:
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
        disputed_fen,
        disputed_lines,
    )


def _line_of(row: asyncpg.Record) -> StatementLine:
    amounts = {FundType(k): int(v) for k, v in json.loads(row["amounts"]).items()}
    return StatementLine(
        setl_id=row["setl_id"],
        kind=EventKind(row["kind"]),
        reversed_setl_id=row["reversed_setl_id"],
        event_id=row["event_id"],
        hospital_code=row["hospital_code"],
        event_period=Period.parse(row["event_period"]),
        late=row["late"],
        settle_time=row["settle_time"],
        amounts=fund_amounts(amounts),
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
            line=_line_of(r),
            disputed_by=Party(r["disputed_by"]) if r["disputed_by"] else None,
            dispute_reason=r["dispute_reason"],
        )
        for r in rows
    ]


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
    return [(_line_of(r), r["reason"]) for r in rows]


# -- adjustments --------------------------------------------------------------------------


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


async def adjustment_of(conn: Conn, statement_id: str, setl_id: str, kind: EventKind) -> Any:
    """The stored decision's canonical form, or None."""
    raw = await conn.fetchval(
        "SELECT canonical FROM adjustments "
        "WHERE origin_statement_id = $1 AND setl_id = $2 AND kind = $3",
        statement_id,
        setl_id,
        kind.value,
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


# -- netting and payment instructions -----------------------------------------------------


async def save_netting(conn: Conn, result: NettingResult, timeout_s: float) -> None:
    period = str(result.period)
    positions: list[tuple[str, str, str, str, int, int, int]] = []
    cells: list[tuple[str, str, str, str, str, int]] = []
    levels = [(InstructionLeg.PROVINCIAL, n.matrix) for n in result.provincial]
    levels.append((InstructionLeg.NATIONAL, result.national.matrix))
    for leg, matrix in levels:
        for p in matrix.positions:
            positions.append(
                (
                    period,
                    leg.value,
                    matrix.scope,
                    p.party,
                    p.receivable_fen,
                    p.payable_fen,
                    p.net_fen,
                )
            )
        for c in matrix.cells:
            cells.append((period, leg.value, matrix.scope, c.payer, c.receiver, c.amount_fen))
    for allocation in result.allocations:
        for p in allocation.pool_positions:
            positions.append(
                (
                    period,
                    InstructionLeg.ALLOCATION.value,
                    allocation.province,
                    p.party,
                    p.receivable_fen,
                    p.payable_fen,
                    p.net_fen,
                )
            )
    await conn.executemany(
        "INSERT INTO net_positions (period, leg, scope, party, receivable_fen, payable_fen, "
        "net_fen) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        positions,
        timeout=timeout_s,
    )
    await conn.executemany(
        "INSERT INTO net_cells (period, leg, scope, payer, receiver, amount_fen) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        cells,
        timeout=timeout_s,
    )
    await conn.executemany(
        "INSERT INTO payment_instructions (instruction_id, period, seq, leg, scope, payer, "
        "payee, amount_fen) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        [
            (i.instruction_id, period, seq, i.leg.value, i.scope, i.payer, i.payee, i.amount_fen)
            for seq, i in enumerate(result.instructions(), start=1)
        ],
        timeout=timeout_s,
    )


async def net_levels(
    conn: Conn, period: Period, leg: InstructionLeg | None, scope: str | None
) -> list[NetLevelView]:
    positions = await conn.fetch(
        """SELECT leg, scope, party, receivable_fen, payable_fen FROM net_positions
            WHERE period = $1 AND ($2::text IS NULL OR leg = $2)
              AND ($3::text IS NULL OR scope = $3)
            ORDER BY leg, scope, party""",
        str(period),
        leg.value if leg else None,
        scope,
    )
    cells = await conn.fetch(
        """SELECT leg, scope, payer, receiver, amount_fen FROM net_cells
            WHERE period = $1 AND ($2::text IS NULL OR leg = $2)
              AND ($3::text IS NULL OR scope = $3)
            ORDER BY leg, scope, payer, receiver""",
        str(period),
        leg.value if leg else None,
        scope,
    )
    keys: dict[tuple[str, str], tuple[list[tuple[str, int, int]], list[tuple[str, str, int]]]]
    keys = {}
    for r in positions:
        keys.setdefault((r["leg"], r["scope"]), ([], []))[0].append(
            (r["party"], r["receivable_fen"], r["payable_fen"])
        )
    for r in cells:
        keys.setdefault((r["leg"], r["scope"]), ([], []))[1].append(
            (r["payer"], r["receiver"], r["amount_fen"])
        )
    order = {leg: i for i, leg in enumerate(InstructionLeg)}
    return [
        NetLevelView(InstructionLeg(k[0]), k[1], tuple(v[0]), tuple(v[1]))
        for k, v in sorted(keys.items(), key=lambda kv: (order[InstructionLeg(kv[0][0])], kv[0][1]))
    ]


_INSTRUCTION_COLUMNS = """instruction_id, period, seq, leg, scope, payer, payee, amount_fen, state,
    coalesce(payment_reference, '') AS payment_reference, paid_at"""


def _instruction_view(row: asyncpg.Record) -> InstructionView:
    return InstructionView(
        seq=row["seq"],
        instruction=PaymentInstruction(
            instruction_id=row["instruction_id"],
            period=Period.parse(row["period"]),
            leg=InstructionLeg(row["leg"]),
            scope=row["scope"],
            payer=row["payer"],
            payee=row["payee"],
            amount_fen=row["amount_fen"],
        ),
        state=InstructionState(row["state"]),
        payment_reference=row["payment_reference"],
        paid_at=row["paid_at"],
    )


async def instruction_period(conn: Conn, instruction_id: str) -> Period | None:
    period = await conn.fetchval(
        "SELECT period FROM payment_instructions WHERE instruction_id = $1", instruction_id
    )
    return None if period is None else Period.parse(period)


async def lock_instruction(conn: Conn, instruction_id: str) -> InstructionView | None:
    row = await conn.fetchrow(
        f"SELECT {_INSTRUCTION_COLUMNS} FROM payment_instructions WHERE instruction_id = $1 "
        "FOR UPDATE",
        instruction_id,
    )
    return None if row is None else _instruction_view(row)


async def mark_paid(conn: Conn, instruction_id: str, reference: str, caller: str) -> None:
    status = await conn.execute(
        "UPDATE payment_instructions SET state = 'PAID', payment_reference = $2, "
        "paid_by = $3, paid_at = $4 WHERE instruction_id = $1 AND state = 'PENDING'",
        instruction_id,
        reference,
        caller,
        clock.now(),
    )
    assert status == "UPDATE 1", status


async def instruction_states(conn: Conn, period: Period) -> list[InstructionState]:
    rows = await conn.fetch(
        "SELECT state, count(*) AS n FROM payment_instructions WHERE period = $1 GROUP BY state",
        str(period),
    )
    return [InstructionState(r["state"]) for r in rows for _ in range(r["n"])]


async def instruction_views(
    conn: Conn,
    period: Period,
    *,
    party: str | None,
    state: InstructionState | None,
    visible_parties: Sequence[str] | None,
    after_seq: int,
    limit: int,
) -> list[InstructionView]:
    """In issue order. visible_parties None: every instruction; else those paying or paid
    to one of them."""
    assert 1 <= limit <= PAGE_ROWS_MAX
    rows = await conn.fetch(
        f"""SELECT {_INSTRUCTION_COLUMNS} FROM payment_instructions
             WHERE period = $1
               AND ($2::text IS NULL OR payer = $2 OR payee = $2)
               AND ($3::text IS NULL OR state = $3)
               AND ($4::text[] IS NULL OR payer = ANY($4) OR payee = ANY($4))
               AND seq > $5
             ORDER BY seq
             LIMIT $6""",
        str(period),
        party,
        state.value if state else None,
        list(visible_parties) if visible_parties is not None else None,
        after_seq,
        limit,
    )
    return [_instruction_view(r) for r in rows]


# -- clearing applications ----------------------------------------------------------------


async def active_application(conn: Conn, hospital_code: str, period: Period) -> str | None:
    """The id of the hospital's active application for the month, its row locked."""
    value = await conn.fetchval(
        "SELECT application_id FROM applications "
        "WHERE hospital_code = $1 AND period = $2 AND state = 'ACTIVE' FOR UPDATE",
        hospital_code,
        str(period),
    )
    return None if value is None else str(value)


async def insert_application(
    conn: Conn,
    *,
    hospital_code: str,
    period: Period,
    items_digest: str,
    item_count: int,
    application_fen: int,
    ledger_item_count: int,
    ledger_fen: int,
    differences: Sequence[ApplicationDifference],
    caller: str,
) -> str:
    application_id = uuid.uuid4()
    await conn.execute(
        """INSERT INTO applications (application_id, hospital_code, period, state, items_digest,
               item_count, application_fen, ledger_item_count, ledger_fen, difference_count,
               submitted_by, submitted_at)
           VALUES ($1, $2, $3, 'ACTIVE', $4, $5, $6, $7, $8, $9, $10, $11)""",
        application_id,
        hospital_code,
        str(period),
        items_digest,
        item_count,
        application_fen,
        ledger_item_count,
        ledger_fen,
        len(differences),
        caller,
        clock.now(),
    )
    if differences:
        await conn.copy_records_to_table(
            "application_differences",
            columns=["application_id", "setl_id", "kind", "application_fen", "ledger_fen"],
            records=[
                (application_id, d.setl_id, d.kind.value, d.application_fen, d.ledger_fen)
                for d in differences
            ],
        )
    return str(application_id)


async def application_view(
    conn: Conn,
    application_id: str,
    *,
    differences_max: int,
    lock: bool = False,
    hospital_code: str | None = None,
) -> ApplicationView | None:
    """The application, or None; with hospital_code, None unless it is that hospital's
    (whose row alone is then read and locked)."""
    suffix = " FOR UPDATE" if lock else ""
    row = await conn.fetchrow(
        "SELECT * FROM applications WHERE application_id = $1 "
        f"AND ($2::text IS NULL OR hospital_code = $2){suffix}",
        uuid.UUID(application_id),
        hospital_code,
    )
    if row is None:
        return None
    differences = await conn.fetch(
        "SELECT setl_id, kind, application_fen, ledger_fen FROM application_differences "
        "WHERE application_id = $1 ORDER BY setl_id LIMIT $2",
        uuid.UUID(application_id),
        differences_max,
    )
    return ApplicationView(
        application_id=str(row["application_id"]),
        hospital_code=row["hospital_code"],
        period=row["period"],
        state=row["state"],
        items_digest=row["items_digest"],
        item_count=row["item_count"],
        application_fen=row["application_fen"],
        ledger_item_count=row["ledger_item_count"],
        ledger_fen=row["ledger_fen"],
        difference_count=row["difference_count"],
        differences=tuple(
            ApplicationDifference(
                setl_id=d["setl_id"],
                kind=DifferenceKind(d["kind"]),
                application_fen=d["application_fen"],
                ledger_fen=d["ledger_fen"],
            )
            for d in differences
        ),
    )


async def cancel_application(conn: Conn, application_id: str, reason: str) -> None:
    status = await conn.execute(
        "UPDATE applications SET state = 'CANCELLED', cancelled_at = $3, cancel_reason = $2 "
        "WHERE application_id = $1 AND state = 'ACTIVE'",
        uuid.UUID(application_id),
        reason,
        clock.now(),
    )
    assert status == "UPDATE 1", status
