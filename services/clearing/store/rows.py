"""What every part of the clearing store shares: the page limit, who a list is for, a
statement line from its row."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Final, Protocol

import asyncpg

from services.clearing.domain.events import EventKind, FundType
from services.clearing.domain.lines import StatementLine, fund_amounts
from services.clearing.domain.periods import Period
from shared.bus.pg import Conn
from shared.records import record_from

# Rows any one list query returns.
PAGE_ROWS_MAX: Final = 1_000


class Visibility(Protocol):
    """Whose rows a list returns: every row, or those naming the pool or a pool of the
    province (a province centre's code); ``access.Viewer`` is one."""

    @property
    def everything(self) -> bool: ...

    @property
    def pool(self) -> str | None: ...

    @property
    def centre(self) -> str | None: ...


def line_of_row(
    row: asyncpg.Record, amounts: Mapping[FundType, int], event_period: Period
) -> StatementLine:
    """A statement line from a row holding its columns, with the amounts and the event
    period the caller read from that row (statement lines and ledger groups store them
    differently)."""
    return record_from(
        StatementLine,
        row,
        kind=EventKind(row["kind"]),
        event_period=event_period,
        amounts=fund_amounts(amounts),
    )


def stored_line(row: asyncpg.Record) -> StatementLine:
    """A line of statement_lines (its amounts a JSON object fund → fen)."""
    amounts = {FundType(k): int(v) for k, v in json.loads(row["amounts"]).items()}
    return line_of_row(row, amounts, Period.parse(row["event_period"]))


async def set_statement_timeout(conn: Conn, seconds: int) -> None:
    """Bound every statement of the rest of the transaction."""
    await conn.execute(f"SET LOCAL statement_timeout = '{seconds}s'")
