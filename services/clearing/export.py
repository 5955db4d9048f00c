"""Exporting a period's statements: CSV and HTML, one pair each.

Per statement: ``<statement_id>.summary.csv``, ``.funds.csv``, ``.institutions.csv``,
``.lines.csv``, ``.adjustments.csv`` (one table each, UTF-8 with a BOM, yuan beside fen: see
``domain/exports.py``) and ``<statement_id>.html``.

Read-only, straight from the clearing schema: an export is a rendering of what is stored
(the canonical bytes), so it needs neither the service nor a broker. The HTML page shows
the statement's level matrix: after netting, the netted (confirmed) amounts; before, the
amounts as generated.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from services.clearing import store
from services.clearing.domain.exports import render_csv_files, render_html
from services.clearing.domain.lifecycle import PeriodState
from services.clearing.domain.netting import NettingResult, StatementTotal, net_period
from services.clearing.domain.periods import Period
from services.clearing.domain.pools import NATIONAL_SCOPE, ClearingLevel, province_of
from services.clearing.domain.statements import Statement
from shared.bus.pg import Pool
from shared.reference import pools, provinces

_NETTED = (PeriodState.NETTED, PeriodState.SETTLED)


@dataclass(frozen=True)
class ExportedFile:
    statement_id: str
    csv_paths: tuple[Path, ...]  # summary, funds, lines, adjustments
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
    """Write <statement_id>.<table>.csv (five tables) and .html for every statement.

    One statement is held at a time: the matrices come from the statements' stored
    summaries (the confirmed net amounts once netted), then each statement is read back
    from its canonical bytes, rendered and written before the next is read.
    """
    names = pool_names()
    written: list[ExportedFile] = []
    async with (
        pool.acquire(timeout=10) as conn,
        conn.transaction(readonly=True, isolation="repeatable_read"),
    ):
        view = await store.period_view(conn, period)
        views = await store.all_statement_views(conn, period)
        netted = view.state in _NETTED
        result = net_period(
            period,
            [
                StatementTotal(
                    period,
                    v.insured_pool,
                    v.treatment_pool,
                    v.confirmed_net_fen if netted else v.net_fen,
                )
                for v in views
            ],
        )
        await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
        for v in views:
            statement = await store.load_statement(conn, v.statement_id, timeout_s)
            # Rendering and writing are CPU and disk work: off the event loop.
            written.append(await asyncio.to_thread(_write, statement, result, out_dir, names))
    return written


def _write(
    statement: Statement, result: NettingResult, out_dir: Path, names: Mapping[str, str]
) -> ExportedFile:
    matrix = result.matrix_for(statement.level, _scope_of(statement))
    csv_paths = []
    for table in render_csv_files(statement, names):
        path = out_dir / table.name
        path.write_bytes(table.data)  # the bytes carry their BOM
        csv_paths.append(path)
    html_path = out_dir / f"{statement.statement_id}.html"
    html_path.write_text(render_html(statement, matrix, names), encoding="utf-8")
    return ExportedFile(statement.statement_id, tuple(csv_paths), html_path, statement.digest())


def _scope_of(statement: Statement) -> str:
    if statement.level is ClearingLevel.NATIONAL:
        return NATIONAL_SCOPE
    return province_of(statement.insured_pool)
