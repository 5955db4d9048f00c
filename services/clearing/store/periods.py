"""Periods and the fence: period rows, their locks, states, actions and counts."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from services.clearing.domain.lifecycle import PeriodState
from services.clearing.domain.limits import MAX_CLOSED_PERIODS, check_count
from services.clearing.domain.periods import Period, assign_period
from shared import clock
from shared.bus.pg import Conn

# The consumer walks at most this many rounds to lock the periods its events land in;
# each round can only add rows that a concurrent close created, so two suffice in practice.
FENCE_ROUNDS_MAX: Final = 16


LockMode = Literal["UPDATE", "NO KEY UPDATE", "SHARE", "KEY SHARE"]


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
