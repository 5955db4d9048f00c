"""Each statement of a month end exported beside the report, as CSV and HTML: the clearing
service offers no export over gRPC, so the statements and their lines are fetched over gRPC
and rendered with the clearing domain's own ``render_csv_files`` / ``render_html``; each
rebuilt statement's digest is checked against the digest the service computed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING

from services.clearing.domain.events import EventKind, FundType
from services.clearing.domain.exports import render_csv_files, render_html
from services.clearing.domain.lines import (
    Adjustment,
    DisputeOutcome,
    StatementLine,
    fund_amounts,
)
from services.clearing.domain.netting import NetMatrix, NetPosition
from services.clearing.domain.periods import Period
from services.clearing.domain.pools import NATIONAL_SCOPE, ClearingLevel
from services.clearing.domain.statements import make_statement
from services.simulation.statement_views import fund_name
from services.simulation.tally import (
    MonthEnd,
    NetLevelView,
    StatementView,
)
from shared.pb.crossclear.clearing.v1 import clearing_pb2
from shared.reference import pools

if TYPE_CHECKING:
    from services.simulation.month_end import MonthEndRun

EXPORT_FOLDER = "statements"
_CLEARED_FUND_NAMES = {f.value for f in FundType}


def _pool_names() -> dict[str, str]:
    return {p.code: p.name_zh for p in pools()}


# -- statement exports -------------------------------------------------------------------------


def _domain_line(line: clearing_pb2.StatementLine) -> StatementLine:
    amounts = {
        FundType(fund_name(a.fund_type)): a.amount_fen
        for a in line.amounts
        if fund_name(a.fund_type) in _CLEARED_FUND_NAMES
    }
    return StatementLine(
        setl_id=line.setl_id,
        kind=EventKind.SETTLED
        if line.kind == clearing_pb2.LINE_KIND_SETTLED
        else EventKind.REVERSED,
        reversed_setl_id=line.reversed_setl_id or None,
        event_id=line.event_id,
        hospital_code=line.hospital_code,
        event_period=Period.parse(line.event_period),
        late=line.late,
        settle_time=line.settle_time.ToDatetime(tzinfo=UTC),
        amounts=fund_amounts(amounts),
    )


def _matrix(view: StatementView, levels: Sequence[NetLevelView]) -> NetMatrix:
    level = ClearingLevel(view.level)
    scope = NATIONAL_SCOPE if level is ClearingLevel.NATIONAL else view.insured_pool[:2]
    leg = "NATIONAL" if level is ClearingLevel.NATIONAL else "PROVINCIAL"
    found = next(
        (
            lv
            for lv in levels
            if lv.leg == leg and lv.scope == scope and lv.period in ("", view.period)
        ),
        None,
    )
    if found is None:
        return NetMatrix(level, scope, (), (), ())
    return NetMatrix(
        level=level,
        scope=scope,
        parties=tuple(p[0] for p in found.positions),
        cells=tuple(sorted(found.cells)),
        positions=tuple(NetPosition(party, rec, pay) for party, rec, pay, _net in found.positions),
    )


async def _domain_adjustments(
    run: MonthEndRun,
    view: StatementView,
    adjustments: Sequence[clearing_pb2.Adjustment],
    origin_lines: dict[str, list[clearing_pb2.StatementLine]],
) -> list[Adjustment] | None:
    """The statement's carried adjustments as the clearing domain holds them, each with the
    disputed line from its origin statement; None if one cannot be rebuilt."""
    out = []
    for a in adjustments:
        if a.origin_statement_id not in origin_lines:
            origin_lines[a.origin_statement_id], _ = await run.statement_lines(
                a.origin_statement_id
            )
        line = next(
            (
                x
                for x in origin_lines[a.origin_statement_id]
                if x.setl_id == a.setl_id and x.kind == a.kind
            ),
            None,
        )
        if line is None:
            return None
        amounts = {
            FundType(fund_name(x.fund_type)): x.amount_fen
            for x in a.amounts
            if fund_name(x.fund_type) in _CLEARED_FUND_NAMES
        }
        outcome = clearing_pb2.DisputeOutcome.Name(a.outcome).removeprefix("DISPUTE_OUTCOME_")
        out.append(
            Adjustment(
                origin_period=Period.parse(a.origin_period),
                insured_pool=view.insured_pool,
                treatment_pool=view.treatment_pool,
                line=_domain_line(line),
                outcome=DisputeOutcome(outcome),
                amounts=fund_amounts(amounts),
                note=a.note,
            )
        )
    return out


async def export_statements(run: MonthEndRun, month_end: MonthEnd, out: Path) -> list[str]:
    """CSV + HTML per statement into ``out/statements``; returns the file names written."""
    folder = out / EXPORT_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    names = _pool_names()
    written: list[str] = []
    verified = 0
    origin_lines: dict[str, list[clearing_pb2.StatementLine]] = {}
    for view in sorted(month_end.statements, key=lambda v: v.statement_id):
        lines, adjustments = await run.statement_lines(view.statement_id)
        carried = await _domain_adjustments(run, view, adjustments, origin_lines)
        statement = make_statement(
            Period.parse(view.period),
            (view.insured_pool, view.treatment_pool),
            [_domain_line(x) for x in lines],
            carried or (),
        )
        if carried is not None and statement.digest() == view.digest:
            verified += 1
        for table in render_csv_files(statement, names):
            (folder / table.name).write_bytes(table.data)
        page = render_html(statement, _matrix(view, month_end.net_levels), names)
        (folder / f"{view.statement_id}.html").write_text(page, encoding="utf-8")
        written.append(view.statement_id)
    month_end.steps.append(
        ("export", f"{len(written)} statements exported; {verified} digests equal to the service's")
    )
    return written
