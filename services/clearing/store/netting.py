"""Netting results and the payment instructions they issue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.clearing.domain.lifecycle import InstructionState
from services.clearing.domain.netting import InstructionLeg, NettingResult, PaymentInstruction
from services.clearing.domain.periods import Period
from services.clearing.store.rows import PAGE_ROWS_MAX
from shared import clock
from shared.bus.pg import Conn
from shared.records import record_from


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
        for payer, receiver, amount_fen in matrix.cells:
            cells.append((period, leg.value, matrix.scope, payer, receiver, amount_fen))
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
    instruction = record_from(
        PaymentInstruction,
        row,
        period=Period.parse(row["period"]),
        leg=InstructionLeg(row["leg"]),
    )
    return record_from(
        InstructionView, row, instruction=instruction, state=InstructionState(row["state"])
    )


async def instruction_period(conn: Conn, instruction_id: str) -> Period | None:
    period = await conn.fetchval(
        "SELECT period FROM payment_instructions WHERE instruction_id = $1", instruction_id
    )
    return None if period is None else Period.parse(period)


async def instruction_view(
    conn: Conn, instruction_id: str, *, lock: bool
) -> InstructionView | None:
    """The instruction (its row locked if asked), or None."""
    suffix = " FOR UPDATE" if lock else ""
    row = await conn.fetchrow(
        f"SELECT {_INSTRUCTION_COLUMNS} FROM payment_instructions WHERE instruction_id = $1{suffix}",
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
