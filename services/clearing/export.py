"""Exporting a period's statements: CSV (for systems) and HTML (for people), one pair each.

Read-only, straight from the clearing schema: an export is a rendering of what is stored
(the canonical bytes), so it needs neither the service nor a broker. The HTML page shows
the statement's level matrix: after netting, the netted (confirmed) amounts; before, the
amounts as generated.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from services.clearing import store
from services.clearing.domain.disputes import split_disputed
from services.clearing.domain.exports import render_csv, render_html
from services.clearing.domain.lifecycle import PeriodState
from services.clearing.domain.netting import NettingResult, net_period
from services.clearing.domain.periods import Period
from services.clearing.domain.pools import NATIONAL_SCOPE, ClearingLevel, province_of
from services.clearing.domain.statements import Statement
from shared.bus.pg import Pool
from shared.reference import pools, provinces

_NETTED = (PeriodState.NETTED, PeriodState.SETTLED)


@dataclass(frozen=True)
class ExportedFile:
    statement_id: str
    csv_path: Path
    html_path: Path
    digest: str


def pool_names() -> dict[str, str]:
    """Codes → Chinese names, for pools and provinces (decoration only)."""
    names = {p.code: p.name_zh for p in provinces()}
    names.update({p.code: p.name_zh for p in pools()})
    return names


async def export_period(
    pool: Pool, period: Period, out_dir: Path, timeout_s: float = 600.0
) -> list[ExportedFile]:
    """Write <statement_id>.csv and .html for every statement of the period."""
    async with pool.acquire(timeout=10) as conn, conn.transaction(readonly=True):
        view = await store.period_view(conn, period)
        statements = await store.statements_of_period(conn, period, timeout_s)
        disputed = await store.disputed_ids_by_statement(conn, period)
    if view.state in _NETTED:
        netted = [split_disputed(s, disputed.get(s.statement_id, ()))[0] for s in statements]
    else:
        netted = list(statements)
    result = net_period(period, netted)
    # Rendering and writing are CPU and disk work: off the event loop.
    return await asyncio.to_thread(_write, statements, result, out_dir)


def _write(
    statements: Sequence[Statement], result: NettingResult, out_dir: Path
) -> list[ExportedFile]:
    names = pool_names()
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for statement in statements:
        matrix = result.matrix_for(statement.level, _scope_of(statement))
        csv_path = out_dir / f"{statement.statement_id}.csv"
        html_path = out_dir / f"{statement.statement_id}.html"
        csv_path.write_text(render_csv(statement, names), encoding="utf-8")
        html_path.write_text(render_html(statement, matrix, names), encoding="utf-8")
        written.append(
            ExportedFile(statement.statement_id, csv_path, html_path, statement.digest())
        )
    return written


def _scope_of(statement: Statement) -> str:
    if statement.level is ClearingLevel.NATIONAL:
        return NATIONAL_SCOPE
    return province_of(statement.insured_pool)
