"""Exported statements: CSV for systems and spreadsheets, self-contained HTML for people.

Both renderings are pure functions of their inputs — no clock, no locale, no external
assets — so a re-generated statement exports to the same bytes.

CSV: one table per file, so a spreadsheet opens each as one sheet and a program reads
each with a plain CSV reader — ``<statement_id>.summary.csv`` (the statement in one row),
``.funds.csv`` (totals by fund, then a TOTAL row), ``.institutions.csv`` (hospitals and
pharmacies apart: counts and net amount per fund for each kind, then a TOTAL row),
``.lines.csv`` (one row per settlement line) and ``.adjustments.csv`` (carried disputed
lines; header only if none).
Every file is UTF-8 with a byte-order mark (EF BB BF), which is what makes Excel and
other GBK-first readers on Chinese Windows decode 广州市 as UTF-8 rather than as GBK.
One header row, each column named ``中文名(field_name)``: the field name is the last
parenthesised ASCII word, ``[a-z0-9_]+`` (:func:`csv_field_name`). Every amount is two
columns side by side: ``…_yuan``, yuan with exactly two decimals and no thousands
separator, computed from the integer fen (:func:`yuan_text`), and ``…_fen``, the integer
fen itself. Rows end in CRLF (RFC 4180).

HTML shows yuan with thousands separators via format_fen. Pool names are optional: the
core knows pools by code, and a name is only decoration. Funds are shown with their
Chinese names (:data:`FUND_NAME_ZH`).
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from services.clearing.domain.events import FUND_ORDER, EventKind
from services.clearing.domain.lines import Adjustment, DisputeOutcome, StatementLine
from services.clearing.domain.netting import NetMatrix
from services.clearing.domain.pools import NATIONAL_SCOPE, ClearingLevel, province_of
from services.clearing.domain.statements import FundSummary, Statement
from shared.errors import InvalidArgument
from shared.money import FEN_PER_YUAN, format_fen
from shared.reference.institutions import InstitutionKind
from shared.vocabulary import FUND_NAME_ZH as FUND_NAME_ZH

# Spreadsheets execute a cell starting with one of these; names and notes are free text.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_NO_NAMES: Mapping[str, str] = {}

INSTITUTION_KIND_NAME_ZH: Mapping[InstitutionKind, str] = {
    InstitutionKind.HOSPITAL: "定点医疗机构",
    InstitutionKind.PHARMACY: "定点零售药店",
}
assert set(INSTITUTION_KIND_NAME_ZH) == set(InstitutionKind)
_LEVEL_NAME_ZH = {ClearingLevel.PROVINCIAL: "省内", ClearingLevel.NATIONAL: "跨省"}
_KIND_NAME_ZH = {EventKind.SETTLED: "结算", EventKind.REVERSED: "结算撤销"}
_OUTCOME_NAME_ZH = {
    DisputeOutcome.REJECTED: "争议驳回（按原结算）",
    DisputeOutcome.UPHELD: "争议成立（不予清算）",
    DisputeOutcome.AMENDED: "核减（按核定金额）",
}
assert set(_OUTCOME_NAME_ZH) == set(DisputeOutcome)
_TOTAL = "TOTAL"
_TOTAL_ZH = "合计"

# ----------------------------------------------------------------------------------- CSV

UTF8_BOM = b"\xef\xbb\xbf"
CSV_TABLES: tuple[str, ...] = ("summary", "funds", "institutions", "lines", "adjustments")
_FIELD_IN_HEADER = re.compile(r"\(([a-z0-9_]+)\)$")


@dataclass(frozen=True)
class CsvFile:
    """One table of a statement: its file name and its bytes (UTF-8 with a BOM)."""

    table: str
    name: str
    data: bytes


def csv_file_name(statement_id: str, table: str) -> str:
    """``<statement_id>.<table>.csv``, e.g. ``202501-450100-440100.lines.csv``."""
    if table not in CSV_TABLES:
        raise ValueError(f"no CSV table {table!r}: one of {', '.join(CSV_TABLES)}")
    return f"{statement_id}.{table}.csv"


def csv_field_name(header: str) -> str:
    """The field name of a bilingual header: ``统筹区(insured_pool)`` → ``insured_pool``."""
    match = _FIELD_IN_HEADER.search(header)
    if match is None:
        raise ValueError(f"not a bilingual CSV header: {header!r}")
    return match.group(1)


def yuan_text(amount_fen: int) -> str:
    """Fen as yuan with exactly two decimals, in integers: 123456 → '1234.56', -5 → '-0.05'."""
    sign = "-" if amount_fen < 0 else ""
    yuan, fen = divmod(abs(amount_fen), FEN_PER_YUAN)
    return f"{sign}{yuan}.{fen:02d}"


@dataclass(frozen=True)
class _Yuan:
    """An amount cell: written as yuan text, never taken for a formula (it may be negative)."""

    fen: int


_CsvCell = str | int | _Yuan


def render_csv_files(
    statement: Statement, pool_names: Mapping[str, str] | None = None
) -> tuple[CsvFile, ...]:
    """The statement's five tables, in :data:`CSV_TABLES` order, one CSV file each."""
    names = pool_names or _NO_NAMES
    tables = {
        "summary": _summary_table(statement, names),
        "funds": _funds_table(statement),
        "institutions": _institutions_table(statement),
        "lines": _lines_table(statement.lines),
        "adjustments": _adjustments_table(statement.adjustments),
    }
    return tuple(
        CsvFile(table, csv_file_name(statement.statement_id, table), _csv_bytes(*tables[table]))
        for table in CSV_TABLES
    )


_Column = tuple[str, str]  # (field name, Chinese label)
_Table = tuple[Sequence[_Column], Sequence[Sequence[_CsvCell]]]


def _csv_bytes(columns: Sequence[_Column], rows: Sequence[Sequence[_CsvCell]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([f"{label}({field})" for field, label in columns])
    for row in rows:
        assert len(row) == len(columns), "every row has a cell per column"
        writer.writerow([_csv_cell(cell) for cell in row])
    return UTF8_BOM + buffer.getvalue().encode("utf-8")


def _csv_cell(cell: _CsvCell) -> str | int:
    if isinstance(cell, _Yuan):
        return yuan_text(cell.fen)
    if isinstance(cell, str) and cell.startswith(_FORMULA_PREFIXES):
        return "'" + cell
    return cell


def _money_columns(field: str, label: str) -> list[_Column]:
    """An amount's two columns: yuan (two decimals) and, beside it, the exact fen."""
    return [(f"{field}_yuan", f"{label}（元）"), (f"{field}_fen", f"{label}（分）")]


def _money_cells(amount_fen: int) -> list[_CsvCell]:
    return [_Yuan(amount_fen), amount_fen]


def _fund_money_columns() -> list[_Column]:
    return [c for fund in FUND_ORDER for c in _money_columns(fund.value, FUND_NAME_ZH[fund])]


_SUMMARY_COLUMNS: list[_Column] = [
    ("statement_id", "清算单号"),
    ("period", "清算期"),
    ("level", "清算层级"),
    ("level_name", "清算层级名称"),
    ("insured_pool", "参保地统筹区（付款方）"),
    ("insured_pool_name", "参保地名称"),
    ("treatment_pool", "就医地统筹区（收款方）"),
    ("treatment_pool_name", "就医地名称"),
    ("line_count", "结算明细笔数"),
    ("adjustment_count", "调整笔数"),
    *_money_columns("net", "参保地应付净额"),
    ("sha256", "清算单摘要"),
]


def _summary_table(statement: Statement, names: Mapping[str, str]) -> _Table:
    row: list[_CsvCell] = [
        statement.statement_id,
        str(statement.period),
        statement.level.value,
        _LEVEL_NAME_ZH[statement.level],
        statement.insured_pool,
        names.get(statement.insured_pool, ""),
        statement.treatment_pool,
        names.get(statement.treatment_pool, ""),
        len(statement.lines),
        len(statement.adjustments),
        *_money_cells(statement.net_fen),
        statement.digest(),
    ]
    return _SUMMARY_COLUMNS, [row]


@dataclass(frozen=True)
class _FundFigures:
    """One row of the totals by fund: (count, amount) per movement, then the net amount."""

    code: str
    name_zh: str
    settled: tuple[int, int]
    reversed: tuple[int, int]
    adjusted: tuple[int, int]
    late: tuple[int, int]
    net_fen: int

    def pairs(self) -> tuple[tuple[int, int], ...]:
        return (self.settled, self.reversed, self.adjusted, self.late)


def _fund_figures(f: FundSummary) -> _FundFigures:
    return _FundFigures(
        f.fund.value,
        FUND_NAME_ZH[f.fund],
        (f.settled_count, f.settled_fen),
        (f.reversed_count, f.reversed_fen),
        (f.adjustment_count, f.adjustment_fen),
        (f.late_count, f.late_fen),
        f.net_fen,
    )


def _total_figures(statement: Statement) -> _FundFigures:
    """Amounts summed over funds; counts are of lines, since one line may use several funds."""
    funds = statement.funds
    lines = statement.lines
    assert sum(f.net_fen for f in funds) == statement.net_fen
    return _FundFigures(
        _TOTAL,
        _TOTAL_ZH,
        (
            sum(1 for x in lines if x.kind is EventKind.SETTLED),
            sum(f.settled_fen for f in funds),
        ),
        (
            sum(1 for x in lines if x.kind is EventKind.REVERSED),
            sum(f.reversed_fen for f in funds),
        ),
        (len(statement.adjustments), sum(f.adjustment_fen for f in funds)),
        (sum(1 for x in lines if x.late), sum(f.late_fen for f in funds)),
        statement.net_fen,
    )


_FUND_MOVEMENTS = (
    ("settled", "结算"),
    ("reversed", "结算撤销"),
    ("adjustment", "往期调整"),
    ("late", "逾期入账"),
)
_FUNDS_COLUMNS: list[_Column] = [
    ("fund", "基金"),
    ("fund_name", "基金名称"),
    *(
        column
        for field, label in _FUND_MOVEMENTS
        for column in [(f"{field}_count", f"{label}笔数"), *_money_columns(field, f"{label}金额")]
    ),
    *_money_columns("net", "净额"),
]


def _funds_table(statement: Statement) -> _Table:
    figures = [*(_fund_figures(f) for f in statement.funds), _total_figures(statement)]
    rows = [
        [
            x.code,
            x.name_zh,
            *(cell for count, fen in x.pairs() for cell in [count, *_money_cells(fen)]),
            *_money_cells(x.net_fen),
        ]
        for x in figures
    ]
    return _FUNDS_COLUMNS, rows


@dataclass(frozen=True)
class _KindFigures:
    """One row of the totals by institution kind: counts, then net amounts per fund."""

    code: str
    name_zh: str
    counts: tuple[int, int, int, int]  # settlements, reversals, late, adjustments
    fund_net_fen: tuple[int, ...]  # in FUND_ORDER
    net_fen: int


def _kind_figures(statement: Statement) -> list[_KindFigures]:
    """Hospitals, pharmacies, then the TOTAL row (the statement's own figures)."""
    summary = statement.summary()
    rows = [
        _KindFigures(
            k.kind.value,
            INSTITUTION_KIND_NAME_ZH[k.kind],
            (k.settlement_count, k.reversal_count, k.late_count, k.adjustment_count),
            tuple(f.net_fen for f in k.funds),
            k.net_fen,
        )
        for k in summary.institutions
    ]
    total_counts = (
        summary.settlement_count,
        summary.reversal_count,
        summary.late_count,
        len(summary.adjustments),
    )
    fund_net = tuple(f.net_fen for f in summary.funds)
    rows.append(_KindFigures(_TOTAL, _TOTAL_ZH, total_counts, fund_net, summary.net_fen))
    return rows


_KIND_COUNTS = (
    ("settlement_count", "结算笔数"),
    ("reversal_count", "结算撤销笔数"),
    ("late_count", "逾期入账笔数"),
    ("adjustment_count", "往期调整笔数"),
)
_INSTITUTIONS_COLUMNS: list[_Column] = [
    ("institution_kind", "机构类型"),
    ("institution_kind_name", "机构类型名称"),
    *_KIND_COUNTS,
    *_fund_money_columns(),
    *_money_columns("net", "净额"),
]


def _institutions_table(statement: Statement) -> _Table:
    rows = [
        [
            x.code,
            x.name_zh,
            *x.counts,
            *(cell for fen in x.fund_net_fen for cell in _money_cells(fen)),
            *_money_cells(x.net_fen),
        ]
        for x in _kind_figures(statement)
    ]
    return _INSTITUTIONS_COLUMNS, rows


_LINES_COLUMNS: list[_Column] = [
    ("setl_id", "结算ID"),
    ("kind", "类型"),
    ("kind_name", "类型名称"),
    ("reversed_setl_id", "被撤销结算ID"),
    ("hospital_code", "定点医药机构"),
    ("event_period", "发生期"),
    ("late", "逾期入账"),
    ("settle_time", "结算时间"),
    *_fund_money_columns(),
    *_money_columns("total", "合计"),
]


def _lines_table(lines: Sequence[StatementLine]) -> _Table:
    rows = [
        [
            line.setl_id,
            line.kind.value,
            _KIND_NAME_ZH[line.kind],
            line.reversed_setl_id or "",
            line.hospital_code,
            str(line.event_period),
            "Y" if line.late else "N",
            line.settle_time_text,
            *(cell for fund in FUND_ORDER for cell in _money_cells(line.amount_of(fund))),
            *_money_cells(line.total_fen),
        ]
        for line in lines
    ]
    return _LINES_COLUMNS, rows


_ADJUSTMENTS_COLUMNS: list[_Column] = [
    ("origin_period", "原清算期"),
    ("setl_id", "结算ID"),
    ("kind", "类型"),
    ("kind_name", "类型名称"),
    ("outcome", "处理结果"),
    ("outcome_name", "处理结果名称"),
    ("note", "说明"),
    *_fund_money_columns(),
    *_money_columns("total", "合计"),
]


def _adjustments_table(adjustments: Sequence[Adjustment]) -> _Table:
    rows = [
        [
            str(a.origin_period),
            a.line.setl_id,
            a.line.kind.value,
            _KIND_NAME_ZH[a.line.kind],
            a.outcome.value,
            _OUTCOME_NAME_ZH[a.outcome],
            a.note,
            *(cell for fund in FUND_ORDER for cell in _money_cells(a.amount_of(fund))),
            *_money_cells(a.total_fen),
        ]
        for a in adjustments
    ]
    return _ADJUSTMENTS_COLUMNS, rows


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
        "<h2>Hospitals and pharmacies 分机构类型汇总</h2>",
        _html_institutions(statement),
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
        [
            _text("Level 清算层级"),
            _text(f"{statement.level.value} {_LEVEL_NAME_ZH[statement.level]}"),
        ],
        [_text("Insured pool 参保地 (pays)"), _text(_label(statement.insured_pool, names))],
        [_text("Treatment pool 就医地 (receives)"), _text(_label(statement.treatment_pool, names))],
        [_text("Net amount owed 应付净额 (yuan)"), _money(statement.net_fen)],
        [_text("sha256"), _text(statement.digest())],
    ]
    return _table(["Field 项目", "Value 内容"], rows)


def _html_funds(statement: Statement) -> str:
    header = [
        "Fund 基金",
        "Settlements 结算笔数",
        "Settled 结算金额 (yuan)",
        "Reversals 撤销笔数",
        "Reversed 撤销金额 (yuan)",
        "Adjustments 调整笔数",
        "Adjusted 调整金额 (yuan)",
        "Late 逾期笔数",
        "Late 逾期金额 (yuan)",
        "Net 净额 (yuan)",
    ]
    figures = [*(_fund_figures(f) for f in statement.funds), _total_figures(statement)]
    rows = [_html_fund_row(x) for x in figures]
    return _table(header, rows, total=True)


def _html_fund_row(x: _FundFigures) -> list[_Cell]:
    cells = [_text(f"{x.code} {x.name_zh}")]
    for count, amount_fen in x.pairs():
        cells += [_count(count), _money(amount_fen)]
    cells.append(_money(x.net_fen))
    return cells


def _html_institutions(statement: Statement) -> str:
    header = [
        "Institutions 机构类型",
        "Settlements 结算笔数",
        "Reversals 撤销笔数",
        "Late 逾期笔数",
        "Adjustments 调整笔数",
        *_fund_headers(),
        "Net 净额 (yuan)",
    ]
    rows = [
        [
            _text(f"{x.code} {x.name_zh}"),
            *(_count(n) for n in x.counts),
            *(_money(fen) for fen in x.fund_net_fen),
            _money(x.net_fen),
        ]
        for x in _kind_figures(statement)
    ]
    return _table(header, rows, total=True)


def _fund_headers() -> list[str]:
    return [f"{fund.value} {FUND_NAME_ZH[fund]} (yuan)" for fund in FUND_ORDER]


def _html_lines(lines: Sequence[StatementLine]) -> str:
    if not lines:
        return '<p class="note">No lines. 无结算明细。</p>'
    header = [
        "Settlement 结算ID",
        "Kind 类型",
        "Reverses 被撤销结算ID",
        "Hospital 定点医药机构",
        "Period 发生期",
        "Late 逾期",
        "Settled at 结算时间",
        *_fund_headers(),
        "Total 合计 (yuan)",
    ]
    rows = []
    for line in lines:
        late: _Cell = ('<span class="flag">LATE</span>', "") if line.late else ("", "")
        rows.append(
            [
                _text(line.setl_id),
                _text(f"{line.kind.value} {_KIND_NAME_ZH[line.kind]}"),
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
        return '<p class="note">No adjustments. 无调整。</p>'
    header = [
        "From period 原清算期",
        "Settlement 结算ID",
        "Kind 类型",
        "Outcome 处理结果",
        "Note 说明",
        *_fund_headers(),
        "Total 合计 (yuan)",
    ]
    rows = [
        [
            _text(str(a.origin_period)),
            _text(a.line.setl_id),
            _text(f"{a.line.kind.value} {_KIND_NAME_ZH[a.line.kind]}"),
            _text(f"{a.outcome.value} {_OUTCOME_NAME_ZH[a.outcome]}"),
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
