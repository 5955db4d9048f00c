"""Exported statements: CSV for systems, self-contained HTML for people.

Both renderings are pure functions of their inputs — no clock, no locale, no external
assets — so a re-generated statement exports to the same text. CSV keeps integer fen
(exact, and no thousands separators to quote); HTML shows yuan via format_fen.
Pool names are optional: the core knows pools by code, and a name is only decoration.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Mapping, Sequence

from services.clearing.domain.events import FUND_ORDER, EventKind
from services.clearing.domain.lines import Adjustment, StatementLine
from services.clearing.domain.netting import NetMatrix
from services.clearing.domain.pools import NATIONAL_SCOPE, ClearingLevel, province_of
from services.clearing.domain.statements import FundSummary, Statement
from shared.errors import InvalidArgument
from shared.money import format_fen

# Spreadsheets execute a cell starting with one of these; names and notes are free text.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_NO_NAMES: Mapping[str, str] = {}
_FUND_COLUMNS = [f"{fund.value}_fen" for fund in FUND_ORDER]


def render_csv(statement: Statement, pool_names: Mapping[str, str] | None = None) -> str:
    """Sections separated by a blank row: header, totals by fund, lines, adjustments."""
    names = pool_names or _NO_NAMES
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    rows: list[Sequence[str | int]] = [
        *_csv_header(statement, names),
        [],
        *_csv_funds(statement),
        [],
        *_csv_lines(statement.lines),
        [],
        *_csv_adjustments(statement.adjustments),
    ]
    writer.writerows([[_csv_cell(cell) for cell in row] for row in rows])
    return buffer.getvalue()


def _csv_cell(cell: str | int) -> str | int:
    if isinstance(cell, str) and cell.startswith(_FORMULA_PREFIXES):
        return "'" + cell
    return cell


def _csv_header(statement: Statement, names: Mapping[str, str]) -> list[Sequence[str | int]]:
    return [
        [
            "statement_id",
            "period",
            "level",
            "insured_pool",
            "insured_pool_name",
            "treatment_pool",
            "treatment_pool_name",
            "net_fen",
            "sha256",
        ],
        [
            statement.statement_id,
            str(statement.period),
            statement.level.value,
            statement.insured_pool,
            names.get(statement.insured_pool, ""),
            statement.treatment_pool,
            names.get(statement.treatment_pool, ""),
            statement.net_fen,
            statement.digest(),
        ],
    ]


_FUND_HEADER = [
    "fund",
    "settled_count",
    "settled_fen",
    "reversed_count",
    "reversed_fen",
    "adjustment_count",
    "adjustment_fen",
    "late_count",
    "late_fen",
    "net_fen",
]


def _fund_row(f: FundSummary) -> list[str | int]:
    return [
        f.fund.value,
        f.settled_count,
        f.settled_fen,
        f.reversed_count,
        f.reversed_fen,
        f.adjustment_count,
        f.adjustment_fen,
        f.late_count,
        f.late_fen,
        f.net_fen,
    ]


def _total_row(statement: Statement) -> list[str | int]:
    """Amounts summed over funds; counts are of lines, since one line may use several funds."""
    funds = statement.funds
    lines = statement.lines
    row: list[str | int] = [
        "TOTAL",
        sum(1 for x in lines if x.kind is EventKind.SETTLED),
        sum(f.settled_fen for f in funds),
        sum(1 for x in lines if x.kind is EventKind.REVERSED),
        sum(f.reversed_fen for f in funds),
        len(statement.adjustments),
        sum(f.adjustment_fen for f in funds),
        sum(1 for x in lines if x.late),
        sum(f.late_fen for f in funds),
        statement.net_fen,
    ]
    assert sum(f.net_fen for f in funds) == statement.net_fen
    return row


def _csv_funds(statement: Statement) -> list[Sequence[str | int]]:
    return [_FUND_HEADER, *(_fund_row(f) for f in statement.funds), _total_row(statement)]


_LINE_HEADER = [
    "setl_id",
    "kind",
    "reversed_setl_id",
    "hospital_code",
    "event_period",
    "late",
    "settle_time",
    *_FUND_COLUMNS,
    "total_fen",
]


def _line_row(line: StatementLine) -> list[str | int]:
    return [
        line.setl_id,
        line.kind.value,
        line.reversed_setl_id or "",
        line.hospital_code,
        str(line.event_period),
        "Y" if line.late else "N",
        line.settle_time_text,
        *(line.amount_of(fund) for fund in FUND_ORDER),
        line.total_fen,
    ]


def _csv_lines(lines: Sequence[StatementLine]) -> list[Sequence[str | int]]:
    return [_LINE_HEADER, *(_line_row(x) for x in lines)]


_ADJUSTMENT_HEADER = [
    "origin_period",
    "setl_id",
    "kind",
    "outcome",
    "note",
    *_FUND_COLUMNS,
    "total_fen",
]


def _adjustment_row(a: Adjustment) -> list[str | int]:
    return [
        str(a.origin_period),
        a.line.setl_id,
        a.line.kind.value,
        a.outcome.value,
        a.note,
        *(a.amount_of(fund) for fund in FUND_ORDER),
        a.total_fen,
    ]


def _csv_adjustments(adjustments: Sequence[Adjustment]) -> list[Sequence[str | int]]:
    return [_ADJUSTMENT_HEADER, *(_adjustment_row(a) for a in adjustments)]


# ---------------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:"Noto Sans SC","PingFang SC","Microsoft YaHei",sans-serif;margin:2em;color:#222}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}
th,td{border:1px solid #bbb;padding:.25em .6em}
th{background:#eef2f6;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.neg{color:#a40000}
tr.total td{font-weight:bold;background:#f6f6f6}
.flag{color:#8a5a00;font-weight:bold}
p.note{color:#555;font-size:.9em}
""".strip()

_Cell = tuple[str, str]  # (escaped html, css class)


def render_html(
    statement: Statement, net_matrix: NetMatrix, pool_names: Mapping[str, str] | None = None
) -> str:
    """A self-contained page: header, totals by fund, lines, adjustments, the level's matrix."""
    _check_matrix_scope(statement, net_matrix)
    names = pool_names or _NO_NAMES
    title = f"Clearing statement 清算单 {statement.statement_id}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN">',
        '<head><meta charset="utf-8">',
        f"<title>{_esc(title)}</title>",
        f"<style>{_CSS}</style></head>",
        "<body>",
        f"<h1>{_esc(title)}</h1>",
        _html_meta(statement, names),
        "<h2>Totals by fund 分基金汇总</h2>",
        _html_funds(statement),
        "<h2>Lines 结算明细</h2>",
        _html_lines(statement.lines),
        "<h2>Adjustments 调整（往期争议处理结果）</h2>",
        _html_adjustments(statement.adjustments),
        f"<h2>Net positions 净额 — {_esc(_scope_label(net_matrix, names))}</h2>",
        _html_matrix(net_matrix, names),
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def _check_matrix_scope(statement: Statement, matrix: NetMatrix) -> None:
    if statement.level is ClearingLevel.NATIONAL:
        expected = NATIONAL_SCOPE
    else:
        expected = province_of(statement.insured_pool)
    if (matrix.level, matrix.scope) != (statement.level, expected):
        raise InvalidArgument(
            "net_matrix", f"needs the {statement.level.value} matrix of scope {expected}"
        )


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _label(code: str, names: Mapping[str, str]) -> str:
    name = names.get(code)
    return f"{code} {name}" if name else code


def _scope_label(matrix: NetMatrix, names: Mapping[str, str]) -> str:
    if matrix.level is ClearingLevel.NATIONAL:
        return "national level 跨省"
    return f"provincial level 省内, province {_label(matrix.scope, names)}"


def _text(text: str) -> _Cell:
    return (_esc(text), "")


def _count(n: int) -> _Cell:
    return (str(n), "num")


def _money(amount_fen: int) -> _Cell:
    return (_esc(format_fen(amount_fen)), "num neg" if amount_fen < 0 else "num")


def _table(header: Sequence[str], rows: Sequence[Sequence[_Cell]], total: bool = False) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = []
    for index, row in enumerate(rows):
        is_total = total and index == len(rows) - 1
        cells = "".join(
            f'<td class="{css}">{text}</td>' if css else f"<td>{text}</td>" for text, css in row
        )
        body.append(f'<tr class="total">{cells}</tr>' if is_total else f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _html_meta(statement: Statement, names: Mapping[str, str]) -> str:
    rows = [
        [_text("Period 清算期"), _text(str(statement.period))],
        [_text("Level 清算层级"), _text(statement.level.value)],
        [_text("Insured pool 参保地 (pays)"), _text(_label(statement.insured_pool, names))],
        [_text("Treatment pool 就医地 (receives)"), _text(_label(statement.treatment_pool, names))],
        [_text("Net amount owed 应付净额 (yuan)"), _money(statement.net_fen)],
        [_text("sha256"), _text(statement.digest())],
    ]
    return _table(["Field", "Value"], rows)


def _html_funds(statement: Statement) -> str:
    header = [
        "Fund",
        "Settlements",
        "Settled (yuan)",
        "Reversals",
        "Reversed (yuan)",
        "Adjustments",
        "Adjusted (yuan)",
        "Late",
        "Late (yuan)",
        "Net (yuan)",
    ]
    rows = [_html_fund_row(_fund_row(f)) for f in statement.funds]
    rows.append(_html_fund_row(_total_row(statement)))
    return _table(header, rows, total=True)


def _html_fund_row(values: Sequence[str | int]) -> list[_Cell]:
    label, *figures = values
    cells = [_text(str(label))]
    for index, value in enumerate(figures):
        # Figures alternate count, amount, …; the last is the net amount.
        is_amount = index % 2 == 1 or index == len(figures) - 1
        cells.append(_money(int(value)) if is_amount else _count(int(value)))
    return cells


def _html_lines(lines: Sequence[StatementLine]) -> str:
    if not lines:
        return '<p class="note">No lines.</p>'
    header = ["Settlement", "Kind", "Reverses", "Hospital", "Period", "Late", "Settled at"]
    header += [f"{fund.value} (yuan)" for fund in FUND_ORDER] + ["Total (yuan)"]
    rows = []
    for line in lines:
        late: _Cell = ('<span class="flag">LATE</span>', "") if line.late else ("", "")
        rows.append(
            [
                _text(line.setl_id),
                _text(line.kind.value),
                _text(line.reversed_setl_id or ""),
                _text(line.hospital_code),
                _text(str(line.event_period)),
                late,
                _text(line.settle_time_text),
                *(_money(line.amount_of(fund)) for fund in FUND_ORDER),
                _money(line.total_fen),
            ]
        )
    return _table(header, rows)


def _html_adjustments(adjustments: Sequence[Adjustment]) -> str:
    if not adjustments:
        return '<p class="note">No adjustments.</p>'
    header = ["From period", "Settlement", "Kind", "Outcome", "Note"]
    header += [f"{fund.value} (yuan)" for fund in FUND_ORDER] + ["Total (yuan)"]
    rows = [
        [
            _text(str(a.origin_period)),
            _text(a.line.setl_id),
            _text(a.line.kind.value),
            _text(a.outcome.value),
            _text(a.note),
            *(_money(a.amount_of(fund)) for fund in FUND_ORDER),
            _money(a.total_fen),
        ]
        for a in adjustments
    ]
    return _table(header, rows)


def _html_matrix(matrix: NetMatrix, names: Mapping[str, str]) -> str:
    """Rows pay, columns receive; then each party's totals and net (positive = receives)."""
    if not matrix.parties:
        return '<p class="note">No confirmed statements at this level.</p>'
    header = ["Payer ＼ Receiver", *(_label(p, names) for p in matrix.parties), "Pays (yuan)"]
    rows: list[list[_Cell]] = []
    for payer in matrix.parties:
        cells = [_money(matrix.amount_fen(payer, receiver)) for receiver in matrix.parties]
        payable_fen = matrix.position_of(payer).payable_fen
        rows.append([_text(_label(payer, names)), *cells, _money(payable_fen)])
    receivable = [_money(p.receivable_fen) for p in matrix.positions]
    rows.append([_text("Receives (yuan)"), *receivable, _text("")])
    grid = _table(header, rows, total=True)
    net_rows = [[_text(_label(p.party, names)), _money(p.net_fen)] for p in matrix.positions]
    positions = _table(["Party", "Net position (yuan, + receives / − pays)"], net_rows)
    return grid + "\n" + positions
