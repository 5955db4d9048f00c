"""The report a pooling-region officer would rather look at than read: one self-contained
HTML page (inline CSS and SVG charts drawn here, no scripts, no fonts, no network), plus
each statement exported as CSV and HTML beside it (and ``summary.json``, written by
``summary.write_json``).

Labels are Chinese with the code in small type (``labels``); the flow heatmap prints each
cell's amount in 万元 (exact to the fen in the tooltip); the fund mix is two groups, the
funds cleared between pools and what is not cleared (settlements in the insured pool,
cash); every pool's net position is shown over both clearing levels. The page depends only
on the run's figures, so one seed gives one page.

Statement exports: the clearing service offers no export over gRPC, so the statements
and their lines are fetched over gRPC and rendered with the clearing domain's own
``render_csv_files`` / ``render_html``; each rebuilt statement's digest is checked against the
digest the service computed.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from services.clearing.domain.events import EventKind, FundType
from services.clearing.domain.exports import csv_file_name, render_csv_files, render_html
from services.clearing.domain.lines import (
    Adjustment,
    DisputeOutcome,
    StatementLine,
    fund_amounts,
)
from services.clearing.domain.netting import MatrixCell, NetMatrix, NetPosition
from services.clearing.domain.periods import Period
from services.clearing.domain.pools import NATIONAL_SCOPE, ClearingLevel
from services.clearing.domain.statements import make_statement
from services.simulation import pharmacy_figures
from services.simulation.figures import Figures, bp_text, months_line, pct
from services.simulation.labels import (
    BASIS_ZH,
    COHORT_ZH,
    FUND_ZH,
    LEVEL_ZH,
    OUTCOME_ZH,
    PERIOD_STATE_ZH,
    REASON_ZH,
    RELATION_ZH,
    STATEMENT_STATE_ZH,
    VISIT_ZH,
    coded_html,
    coded_svg,
    party_html,
    party_svg,
    party_text,
    zh,
)
from services.simulation.scenario import Plan
from services.simulation.tally import (
    FUNDS,
    RELATIONS,
    VISITS,
    MonthEnd,
    NetLevelView,
    StatementView,
    Tally,
)
from shared.money import format_fen
from shared.pb.crossclear.clearing.v1 import clearing_pb2
from shared.reference import is_pool, pools

if TYPE_CHECKING:
    from services.simulation.month_end import MonthEndRun

REPORT_NAME = "report.html"
EXPORT_FOLDER = "statements"
MAX_HEATMAP_POOLS = 30
FUND_COLOURS = {
    "hifp": "#1f77b4",
    "hifob": "#17becf",
    "hifmi": "#9467bd",
    "cvlserv": "#8c564b",
    "hifes": "#bcbd22",
    "maf": "#2ca02c",
    "oth": "#7f7f7f",
    "acct": "#ff7f0e",
    "cash": "#d62728",
}
POSITIVE = "#2e7d32"
NEGATIVE = "#c62828"
_CLEARED_FUND_NAMES = {f.value for f in FundType}
_FEN_PER_WAN = Decimal(1_000_000)  # 1 万元 = 10,000 yuan


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _pool_names() -> dict[str, str]:
    return {p.code: p.name_zh for p in pools()}


def _wan(amount_fen: int) -> str:
    """An amount in 万元 (10,000 yuan), rounded half up: two decimals below 100 万元, one
    below 1,000 万元, none above; "<0.01" for a non-zero amount that rounds to nothing."""
    value = Decimal(amount_fen) / _FEN_PER_WAN
    places = 2 if abs(value) < 100 else (1 if abs(value) < 1000 else 0)
    rounded = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    if rounded == 0 and amount_fen:
        return "<0.01" if amount_fen > 0 else ">-0.01"
    return f"{rounded:,}"


# -- statement exports -------------------------------------------------------------------------


def _domain_line(line: clearing_pb2.StatementLine) -> StatementLine:
    from services.simulation.month_end import fund_name

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
        cells=tuple(MatrixCell(payer, receiver, amount) for payer, receiver, amount in found.cells),
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
    from services.simulation.month_end import fund_name

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


# -- SVG charts -------------------------------------------------------------------------------------
# Labels inside SVG are markup (``labels.party_svg``: the name, the code in a smaller tspan);
# tooltips (<title>) are plain text and carry the exact amount to the fen.


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="100%" style="max-width:{width}px" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_esc(title)}">'
        + "".join(body)
        + "</svg>"
    )


def diverging_bars(rows: Sequence[tuple[str, str, int]], title: str, width: int = 640) -> str:
    """Horizontal bars around a zero line: receives to the right (green), pays to the left.
    ``rows``: (label as SVG markup, label as text, amount in fen)."""
    if not rows:
        return '<p class="note">无数据 <small class="code">nothing to show</small></p>'
    bar_h, gap, label_w, value_w = 20, 6, 170, 70
    height = 30 + len(rows) * (bar_h + gap)
    plot_w = width - label_w - value_w * 2
    centre = label_w + value_w + plot_w / 2
    biggest = max(abs(v) for *_, v in rows) or 1
    body = [
        f'<line x1="{centre}" y1="18" x2="{centre}" y2="{height - 4}" stroke="#888" stroke-width="1"/>',
        f'<text x="{centre - 6}" y="12" text-anchor="end" class="axis">← 付出 pays</text>',
        f'<text x="{centre + 6}" y="12" class="axis">收入 receives →</text>',
    ]
    for index, (label, text, value) in enumerate(rows):
        y = 24 + index * (bar_h + gap)
        length = abs(value) / biggest * (plot_w / 2)
        x = centre if value >= 0 else centre - length
        colour = POSITIVE if value >= 0 else NEGATIVE
        body.append(
            f'<text x="{label_w - 6}" y="{y + bar_h - 5}" text-anchor="end" class="lbl">{label}</text>'
        )
        body.append(
            f'<rect x="{x:.1f}" y="{y}" width="{max(length, 1):.1f}" height="{bar_h}" fill="{colour}" rx="2">'
            f"<title>{_esc(text)}：{format_fen(value)} 元</title></rect>"
        )
        text_x = centre + length + 4 if value >= 0 else centre - length - 4
        anchor = "start" if value >= 0 else "end"
        body.append(
            f'<text x="{text_x:.1f}" y="{y + bar_h - 5}" text-anchor="{anchor}" class="val">{_wan(value)} 万</text>'
        )
    return _svg(width, height, body, title)


def mini_bar(value: int, biggest: int, width: int = 200) -> str:
    """A one-row diverging bar for a table cell (receives right, pays left)."""
    half = width / 2
    length = abs(value) / (biggest or 1) * (half - 2)
    x = half if value >= 0 else half - length
    colour = POSITIVE if value >= 0 else NEGATIVE
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="14" '
        f'viewBox="0 0 {width} 14" aria-hidden="true">'
        f'<line x1="{half}" y1="0" x2="{half}" y2="14" stroke="#999"/>'
        f'<rect x="{x:.1f}" y="2" width="{max(length, 1):.1f}" height="10" fill="{colour}" rx="1"/>'
        "</svg>"
    )


def heat_legend(width: int = 260) -> str:
    steps = 8
    body = [
        f'<rect x="{10 + i * (width - 20) / steps:.1f}" y="4" width="{(width - 20) / steps:.1f}" '
        f'height="12" fill="{_blend("#e3f2fd", "#0d47a1", (i / (steps - 1)) ** 0.5)}"/>'
        for i in range(steps)
    ]
    body.append('<text x="10" y="30" class="axis">少 less</text>')
    body.append(
        f'<text x="{width - 10}" y="30" text-anchor="end" class="axis">多 more cleared money</text>'
    )
    return _svg(width, 36, body, "colour scale")


def top_flows(flows: dict[tuple[str, str], int], limit: int = 18) -> str:
    ordered = sorted(flows.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    rows = "".join(
        f"<tr><td>{party_html(a)} → {party_html(b)}</td>"
        f"<td>{coded_html(RELATION_ZH, 'CROSS_PROVINCE' if a[:2] != b[:2] else 'IN_PROVINCE')}</td>"
        f"{_num(v)}</tr>"
        for (a, b), v in ordered
    )
    return (
        "<table><thead><tr><th>参保地 → 就医地</th><th>异地类型</th>"
        f"<th>清算金额（元）</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def heatmap(flows: dict[tuple[str, str], int], title: str) -> str:
    """Rows: insured pools (pay); columns: treatment pools (receive); shade: cleared amount.
    Each cell prints its amount in 万元, the exact figure in its tooltip; the last column
    and row are each pool's total paid and received."""
    if not flows:
        return '<p class="note">没有跨统筹区结算 <small class="code">no cross-pool settlements</small></p>'
    payers = _top_parties(flows, 0)
    receivers = _top_parties(flows, 1)
    paid: dict[str, int] = defaultdict(int)
    received: dict[str, int] = defaultdict(int)
    for (payer, receiver), amount in flows.items():
        paid[payer] += amount
        received[receiver] += amount
    cell_w, cell_h, label_w, top_h = 52, 26, 150, 112
    total_x = label_w + cell_w * len(receivers) + 6
    total_y = top_h + cell_h * len(payers) + 4
    width = total_x + cell_w + 16
    height = total_y + cell_h + 6
    biggest = max(flows.values()) or 1
    body: list[str] = [
        f'<text x="{label_w - 6}" y="{top_h - 6}" text-anchor="end" class="axis">单位：万元</text>'
    ]
    for j, receiver in enumerate(receivers):
        x = label_w + j * cell_w + cell_w / 2
        body.append(
            f'<text transform="translate({x + 2:.0f},{top_h - 6}) rotate(-50)" class="lbl">{party_svg(receiver)}</text>'
        )
        body.append(
            _total_cell(x - cell_w / 2, total_y, cell_w, cell_h, received[receiver], receiver, "收")
        )
    body.append(
        f'<text transform="translate({total_x + cell_w / 2 + 2:.0f},{top_h - 6}) rotate(-50)" class="lbl total">合计（付）</text>'
    )
    body.append(
        f'<text x="{label_w - 6}" y="{total_y + cell_h / 2 + 4:.0f}" text-anchor="end" class="lbl total">合计（收）</text>'
    )
    for i, payer in enumerate(payers):
        y = top_h + i * cell_h
        body.append(
            f'<text x="{label_w - 6}" y="{y + cell_h / 2 + 4:.0f}" text-anchor="end" class="lbl">{party_svg(payer)}</text>'
        )
        body.append(_total_cell(total_x, y, cell_w, cell_h, paid[payer], payer, "付"))
        for j, receiver in enumerate(receivers):
            amount = flows.get((payer, receiver), 0)
            x = label_w + j * cell_w
            # Square-root scale: the many small flows stay visible next to the big ones.
            strength = (amount / biggest) ** 0.5 if amount > 0 else 0.0
            fill = _blend("#e3f2fd", "#0d47a1", strength) if amount > 0 else "#f4f4f4"
            cross = payer[:2] != receiver[:2]
            stroke = (
                ' stroke="#e65100" stroke-width="1.5"' if cross and amount > 0 else ' stroke="#fff"'
            )
            body.append(
                f'<rect x="{x}" y="{y}" width="{cell_w - 2}" height="{cell_h - 2}" fill="{fill}"{stroke}>'
                f"<title>{_esc(party_text(payer))} → {_esc(party_text(receiver))}："
                f"{format_fen(amount)} 元</title></rect>"
            )
            if amount:
                css = "cell dark" if strength > 0.55 else "cell"
                body.append(
                    f'<text x="{x + (cell_w - 2) / 2:.0f}" y="{y + cell_h / 2 + 3:.0f}" '
                    f'text-anchor="middle" class="{css}">{_esc(_wan(amount))}</text>'
                )
    return _svg(width, height, body, title)


def _total_cell(x: float, y: float, w: int, h: int, amount: int, party: str, side: str) -> str:
    return (
        f'<rect x="{x:.0f}" y="{y:.0f}" width="{w - 2}" height="{h - 2}" fill="#eceff1" stroke="#fff">'
        f"<title>{_esc(party_text(party))} 合计{side}：{format_fen(amount)} 元</title></rect>"
        f'<text x="{x + (w - 2) / 2:.0f}" y="{y + h / 2 + 3:.0f}" text-anchor="middle" '
        f'class="cell total">{_esc(_wan(amount))}</text>'
    )


def _top_parties(flows: dict[tuple[str, str], int], side: int) -> list[str]:
    totals: dict[str, int] = defaultdict(int)
    for pair, amount in flows.items():
        totals[pair[side]] += amount
    top = sorted(totals, key=lambda p: (-totals[p], p))[:MAX_HEATMAP_POOLS]
    return sorted(top)


def _blend(low: str, high: str, t: float) -> str:
    a = [int(low[i : i + 2], 16) for i in (1, 3, 5)]
    b = [int(high[i : i + 2], 16) for i in (1, 3, 5)]
    mixed = [round(x + (y - x) * max(0.0, min(1.0, t))) for x, y in zip(a, b, strict=True)]
    return "#" + "".join(f"{v:02x}" for v in mixed)


def stacked_bar(parts: Sequence[tuple[str, int]], title: str, width: int = 640) -> str:
    """One 100 % bar of funds with a legend: each fund's Chinese name, code, amount, share."""
    parts = [(name, value) for name, value in parts if value]
    if not parts:
        return '<p class="note">无金额 <small class="code">nothing to show</small></p>'
    total = sum(max(v, 0) for _, v in parts) or 1
    columns = 2
    height = 44 + 22 * ((len(parts) + columns - 1) // columns)
    body: list[str] = []
    x = 10.0
    for name, value in parts:
        w = max(value, 0) / total * (width - 20)
        body.append(
            f'<rect x="{x:.1f}" y="8" width="{w:.1f}" height="26" fill="{FUND_COLOURS.get(name, "#999")}">'
            f"<title>{_esc(zh(FUND_ZH, name))} {_esc(name)}：{format_fen(value)} 元"
            f"（{pct(value, total)}）</title></rect>"
        )
        if w > 64:
            body.append(
                f'<text x="{x + w / 2:.1f}" y="26" text-anchor="middle" class="inbar">'
                f"{_esc(zh(FUND_ZH, name))}</text>"
            )
        x += w
    for index, (name, value) in enumerate(parts):
        lx = 10 + (index % columns) * ((width - 20) / columns)
        ly = 56 + (index // columns) * 22
        body.append(
            f'<rect x="{lx:.0f}" y="{ly - 10}" width="12" height="12" fill="{FUND_COLOURS.get(name, "#999")}"/>'
        )
        body.append(
            f'<text x="{lx + 18:.0f}" y="{ly}" class="lbl">{coded_svg(FUND_ZH, name)}  '
            f"{format_fen(value)} 元（{pct(value, total)}）</text>"
        )
    return _svg(width, height, body, title)


def column_chart(
    series: Sequence[tuple[str, int]], title: str, width: int = 640, height: int = 200
) -> str:
    if not series:
        return '<p class="note">无数据 <small class="code">nothing to show</small></p>'
    left, bottom, top = 40, 30, 14
    plot_h = height - bottom - top
    step = (width - left - 10) / len(series)
    biggest = max(v for _, v in series) or 1
    body = [
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 6}" y2="{height - bottom}" stroke="#888"/>'
    ]
    for tick in (0.5, 1.0):
        y = height - bottom - plot_h * tick
        body.append(f'<line x1="{left}" y1="{y:.0f}" x2="{width - 6}" y2="{y:.0f}" stroke="#eee"/>')
        body.append(
            f'<text x="{left - 4}" y="{y + 4:.0f}" text-anchor="end" class="axis">{round(biggest * tick)}</text>'
        )
    for index, (label, value) in enumerate(series):
        h = value / biggest * plot_h
        x = left + index * step + step * 0.15
        body.append(
            f'<rect x="{x:.1f}" y="{height - bottom - h:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}" fill="#1f77b4">'
            f"<title>{_esc(label)}：{value} 笔</title></rect>"
        )
        body.append(
            f'<text x="{x + step * 0.35:.1f}" y="{height - bottom + 14}" text-anchor="middle" class="axis">{_esc(label)}</text>'
        )
    return _svg(width, height, body, title)


def usage_bars(
    rows: Sequence[tuple[str, str, int, tuple[int, ...]]], title: str, width: int = 640
) -> str:
    """Advance-fund usage per pair, with the 70 % and 90 % alert lines. ``rows``: (label as
    SVG markup, label as text, used bp, alert thresholds)."""
    if not rows:
        return '<p class="note">无预付金 <small class="code">no advance funds</small></p>'
    bar_h, gap, label_w = 16, 6, 250
    plot_w = width - label_w - 60
    height = 24 + len(rows) * (bar_h + gap)
    scale_max = max(10_000, max(bp for *_, bp, _ in rows))
    body: list[str] = []
    for threshold in (7_000, 9_000, 10_000):
        x = label_w + threshold / scale_max * plot_w
        full = threshold == 10_000
        dash = "" if full else ' stroke-dasharray="3,3"'
        body.append(f'<line x1="{x:.1f}" y1="12" x2="{x:.1f}" y2="{height}" stroke="#999"{dash}/>')
        if not full:  # 100 % is the solid line; a label there would collide with 90 %
            body.append(
                f'<text x="{x:.1f}" y="10" text-anchor="middle" class="axis">{threshold // 100} %</text>'
            )
    for index, (label, text, used_bp, alerts) in enumerate(rows):
        y = 16 + index * (bar_h + gap)
        w = min(used_bp, scale_max) / scale_max * plot_w
        colour = NEGATIVE if used_bp >= 9_000 else ("#f9a825" if used_bp >= 7_000 else POSITIVE)
        body.append(
            f'<text x="{label_w - 6}" y="{y + bar_h - 4}" text-anchor="end" class="lbl">{label}</text>'
        )
        body.append(
            f'<rect x="{label_w}" y="{y}" width="{max(w, 1):.1f}" height="{bar_h}" fill="{colour}" rx="2">'
            f"<title>{_esc(text)}：已用 {used_bp / 100:.1f} %；预警 "
            f"{', '.join(f'{a // 100} %' for a in alerts) or '无'}</title></rect>"
        )
        body.append(
            f'<text x="{label_w + w + 4:.1f}" y="{y + bar_h - 4}" class="val">{used_bp / 100:.0f} %</text>'
        )
    return _svg(width, height, body, title)


# -- the page -------------------------------------------------------------------------------------

_CSS = """
*{box-sizing:border-box}
body{font-family:"Noto Sans CJK SC","Noto Sans SC","PingFang SC","Microsoft YaHei","Helvetica Neue",Arial,sans-serif;margin:0;color:#1d2733;background:#f5f7fa}
header{background:#0d47a1;color:#fff;padding:20px 32px}
header h1{margin:0;font-size:24px}header p{margin:6px 0 0;opacity:.9;font-size:14px}
header small{opacity:.85}
main{padding:20px 32px;max-width:1360px}
.cards{display:grid;grid-template-columns:repeat(4,1fr);gap:12px;margin-bottom:18px}
.card{background:#fff;border-radius:8px;padding:12px 14px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
.card .k{font-size:13px;color:#5b6b7c}
.card .v{font-size:24px;font-weight:700;margin-top:4px}
.card .s{font-size:12px;color:#5b6b7c;margin-top:2px}
.ok{color:#2e7d32}.bad{color:#c62828}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(620px,1fr));gap:16px}
section{background:#fff;border-radius:8px;padding:14px 18px;box-shadow:0 1px 3px rgba(0,0,0,.08);margin-bottom:16px;overflow-x:auto}
section h2{font-size:16px;margin:0 0 8px}
h2 small,h3 small{font-weight:400;color:#5b6b7c;font-size:12px}
section h3{font-size:14px;margin:12px 0 6px}
small.code{font-size:10px;color:#78909c;font-weight:400;font-family:Menlo,Consolas,monospace}
p.note,ul.note{color:#5b6b7c;font-size:12px;margin:4px 0}
div.chart{margin:4px 0}
.total{font-weight:700}
table{border-collapse:collapse;font-size:13px;width:100%}
th,td{border-bottom:1px solid #e3e8ee;padding:4px 8px;text-align:left}
th{background:#eef2f6;font-weight:600}
tr.sum td{border-top:2px solid #90a4ae;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.neg{color:#c62828}
td.strong{font-weight:700}
svg text{font-size:11px;fill:#1d2733}
svg text.axis{fill:#5b6b7c;font-size:10px}
svg text.val{font-size:10px;fill:#37474f}
svg text.cell{font-size:10px;fill:#0d2a4d;font-variant-numeric:tabular-nums}
svg text.cell.dark{fill:#fff}
svg text.total{font-weight:700}
svg text.inbar{fill:#fff;font-size:11px;font-weight:600}
svg tspan.code{font-size:8px;fill:#78909c}
a{color:#0d47a1}
""".strip()


def _h(zh_text: str, en: str) -> str:
    """A heading's text: Chinese, the English in small type."""
    return f"{_esc(zh_text)} <small>{_esc(en)}</small>"


def _card(key: str, en: str, value: str, sub: str = "", css: str = "") -> str:
    return (
        f'<div class="card"><div class="k">{_h(key, en)}</div>'
        f'<div class="v {css}">{_esc(value)}</div><div class="s">{_esc(sub)}</div></div>'
    )


def _num(amount_fen: int, css: str = "") -> str:
    classes = " ".join(c for c in ("num", "neg" if amount_fen < 0 else "", css) if c)
    return f'<td class="{classes}">{_esc(format_fen(amount_fen))}</td>'


def pool_net_rows(month_end: MonthEnd) -> list[tuple[str, int, int]]:
    """(pool, provincial net, national net) per pool, summed over the periods: the
    provincial clearing's position, and the pool's share of its province's national
    position (the ALLOCATION leg). Positive receives. Ordered by their sum, largest first."""
    provincial: dict[str, int] = defaultdict(int)
    national: dict[str, int] = defaultdict(int)
    for level in month_end.net_levels:
        target = {"PROVINCIAL": provincial, "ALLOCATION": national}.get(level.leg)
        if target is None:
            continue
        for party, _r, _p, value in level.positions:
            if is_pool(party):
                target[party] += value
    codes = set(provincial) | set(national)
    rows = [(code, provincial.get(code, 0), national.get(code, 0)) for code in codes]
    return sorted(rows, key=lambda r: (-(r[1] + r[2]), r[0]))


def _pool_net_table(month_end: MonthEnd) -> str:
    rows = pool_net_rows(month_end)
    if not rows:
        return '<p class="note">无清算净额 <small class="code">no net positions</small></p>'
    biggest = max(abs(p + n) for _, p, n in rows)
    body = "".join(
        f"<tr><td>{party_html(code)}</td>{_num(prov)}{_num(nat)}{_num(prov + nat, 'strong')}"
        f"<td>{mini_bar(prov + nat, biggest)}</td></tr>"
        for code, prov, nat in rows
    )
    prov_sum = sum(r[1] for r in rows)
    nat_sum = sum(r[2] for r in rows)
    body += (
        f"<tr class='sum'><td>合计 <small class='code'>all pools</small></td>"
        f"{_num(prov_sum)}{_num(nat_sum)}{_num(prov_sum + nat_sum)}<td></td></tr>"
    )
    head = (
        "<tr><th>统筹区 <small class='code'>pool</small></th>"
        "<th>省内清算净额（元）<br><small class='code'>PROVINCIAL</small></th>"
        "<th>跨省清算净额（元）<br><small class='code'>NATIONAL, allocated</small></th>"
        "<th>合计净额（元）<br><small class='code'>both levels</small></th>"
        "<th>← 付出 · 收入 →</th></tr>"
    )
    return f"<table><thead>{head}</thead><tbody>{body}</tbody></table>"


def _cards(f: Figures, tally: Tally) -> str:
    standing = sum(v[0] for v in f.by_relation_visit.values())
    fees = sum(v[1] for v in f.by_relation_visit.values())
    cd, ct = f.cross_inpatient
    idd, it = f.in_province
    online = f"{f.channels.share_bp / 100:.1f} %" if f.channels else "n/a"
    online_sub = f"使用了 {f.channels.channels_used} 个线上渠道" if f.channels else ""
    return (
        '<div class="cards">'
        + "".join(
            [
                _card(
                    "结算笔数",
                    "settlements",
                    f"{standing:,}",
                    f"撤销 {f.reversals} 笔 · 就诊 {f.encounters:,} 人次",
                ),
                _card(
                    "医疗费用总额",
                    "medical fees",
                    f"{_wan(fees)} 万元",
                    f"参保人 {f.persons:,} 人",
                ),
                _card(
                    "跨省住院直接结算率",
                    "cross-province inpatient",
                    pct(cd, ct),
                    f"{cd}/{ct}（目标 > 70 %）",
                ),
                _card(
                    "省内异地直接结算率",
                    "in-province direct rate",
                    pct(idd, it),
                    f"{idd}/{it} 人次（广州目标 90 %）",
                ),
                _card("线上备案占比", "online filing share", online, online_sub),
                _card(
                    "一站式结算",
                    "one-stop settlements",
                    f"{f.one_stop:,}",
                    "基本医保 + 大病保险 + 医疗救助",
                ),
                _card(
                    "清算守恒",
                    "conservation",
                    "PASS" if f.conservation_ok else "FAIL",
                    f"对账单合计 {format_fen(f.statements_fen)} 元",
                    "ok" if f.conservation_ok else "bad",
                ),
                _card("对账单指纹", "fingerprint", f.fingerprint, "统筹区对、笔数、金额"),
            ]
        )
        + "</div>"
    )


def _statement_table(month_end: MonthEnd) -> str:
    rows = []
    exported = set(month_end.exports)
    for s in sorted(month_end.statements, key=lambda v: (v.period, -v.net_fen, v.statement_id)):
        links = ""
        if s.statement_id in exported:
            base = f"{EXPORT_FOLDER}/{s.statement_id}"
            csv_name = csv_file_name(s.statement_id, "lines")
            csv_link = f'<a href="{_esc(EXPORT_FOLDER)}/{_esc(csv_name)}">CSV</a>'
            links = f'<a href="{_esc(base)}.html">HTML</a> · {csv_link}'
        adjustments = _num(s.adjustment_fen) if s.adjustment_count else "<td></td>"
        rows.append(
            f"<tr><td>{_esc(s.period)}</td><td>{party_html(s.insured_pool)}</td>"
            f"<td>{party_html(s.treatment_pool)}</td>"
            f"<td>{coded_html(LEVEL_ZH, s.level)}</td><td class='num'>{s.line_count}</td>"
            f"{_num(s.net_fen)}{_num(s.confirmed_net_fen)}{adjustments}"
            f"<td>{coded_html(STATEMENT_STATE_ZH, s.state)}</td><td>{links}</td></tr>"
        )
    head = (
        "<tr><th>清算期</th><th>参保地（付款方）</th><th>就医地（收款方）</th>"
        "<th>清算层级</th><th>明细笔数</th><th>净额（元）</th><th>轧差金额（元）</th>"
        "<th>结转调整（元）</th><th>状态</th><th>导出</th></tr>"
    )
    return f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


def _months_table(f: Figures) -> str:
    from services.simulation.summary import period_notes

    rows = []
    notes = []
    for p in f.by_period:
        ok = p.conservation_ok and p.adjustments_ok
        rows.append(
            f"<tr><td>{_esc(p.period)}</td>"
            f"<td>{_esc(p.cleared_on.isoformat() if p.cleared_on else '—')}</td>"
            f"<td>{coded_html(PERIOD_STATE_ZH, p.state)}</td><td class='num'>{p.settlements}</td>"
            f"{_num(p.settlements_cleared_fen)}<td class='num'>{p.statement_count}</td>"
            f"<td class='{'ok' if ok else 'bad'}'>{'PASS' if ok else 'FAIL'}</td>"
            f"<td class='num'>{p.retroactive}/{p.cross_region_encounters} "
            f"({_esc(bp_text(p.retroactive_bp))})</td>{_num(p.adjustments_fen)}"
            f"<td class='num'>{p.late_events}</td>"
            f"<td class='num'>{_esc(pct(p.advance_used_fen, p.advance_fen))}</td>"
            f"<td class='num'>{sum(p.advance_alerts.values())}</td>"
            f"<td class='num'>{len(p.caps_first)}</td></tr>"
        )
        notes += [f"<li><b>{_esc(p.period)}</b>: {_esc(n)}</li>" for n in period_notes(p)]
    head = (
        "<tr><th>清算期</th><th>清算日</th><th>状态</th><th>结算笔数</th>"
        "<th>跨统筹区清算（元）</th><th>对账单</th><th>守恒</th>"
        "<th>补办备案</th><th>结转调整（元）</th><th>迟到事件</th>"
        "<th>预付金使用</th><th>预警</th><th>首次达到年度封顶</th></tr>"
    )
    later = f.caps_first_in_later_month
    if later:
        shown = ", ".join(f"{c.psn_no} ({c.cap}, {c.period})" for c in later[:8])
        notes.append(
            f"<li>Annual accumulations carry across months: {len(later)} caps first reached "
            f"in a later month than the person's first settlement — {_esc(shown)}</li>"
        )
    return (
        f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"
        f"<ul class='note'>{''.join(notes)}</ul>"
    )


def _settlement_table(f: Figures) -> str:
    rows = []
    for relation in RELATIONS:
        for visit in VISITS:
            row = f.by_relation_visit.get((relation, visit))
            if row:
                rows.append(
                    f"<tr><td>{coded_html(RELATION_ZH, relation)}</td>"
                    f"<td>{coded_html(VISIT_ZH, visit)}</td><td class='num'>{row[0]}</td>"
                    f"{_num(row[1])}{_num(row[2])}</tr>"
                )
    # Any relation outside the three (none expected) is still counted, labelled 未分类.
    for (relation, visit), row in sorted(f.by_relation_visit.items()):
        if relation not in RELATIONS or visit not in VISITS:
            rows.append(
                f"<tr><td>{coded_html(RELATION_ZH, relation)}</td>"
                f"<td>{coded_html(VISIT_ZH, visit)}</td><td class='num'>{row[0]}</td>"
                f"{_num(row[1])}{_num(row[2])}</tr>"
            )
    total = [sum(r[i] for r in f.by_relation_visit.values()) for i in range(3)]
    rows.append(
        f"<tr class='sum'><td>合计</td><td></td><td class='num'>{total[0]}</td>"
        f"{_num(total[1])}{_num(total[2])}</tr>"
    )
    head = (
        "<tr><th>异地类型</th><th>就诊类型</th><th>结算笔数</th><th>医疗费用（元）</th>"
        "<th>基金支付（元）<br><small class='code'>excl. personal account</small></th></tr>"
    )
    return f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


def _fund_mix(f: Figures) -> str:
    """Two groups, each with its own total: the funds cleared between pools, and what stays
    with the pool where the person is insured or with the patient (not cleared)."""
    cleared = [(fund, f.funds_cleared_fen.get(fund, 0)) for fund in FUNDS]
    not_cleared = [(fund, f.funds_not_cleared_fen.get(fund, 0)) for fund in FUNDS]
    cleared_total = sum(v for _, v in cleared)
    not_cleared_total = sum(v for _, v in not_cleared)
    return (
        f"<h3>{_h('跨统筹区清算的基金', 'cleared between pools')}："
        f"合计 {_esc(format_fen(cleared_total))} 元</h3>"
        f"{stacked_bar(cleared, 'cleared funds')}"
        "<p class='note'>异地就医结算中由参保地基金支付、经清算由参保地付给就医地的部分"
        "（含个人账户）；等于对账单合计。</p>"
        f"<h3>{_h('不参与清算：本地结算与现金', 'local settlements and cash, not cleared')}："
        f"合计 {_esc(format_fen(not_cleared_total))} 元</h3>"
        f"{stacked_bar(not_cleared, 'not cleared')}"
        "<p class='note'>在参保地就医的基金与个人账户支付，以及所有结算中的个人现金支付。"
        f"两组合计 = 医疗费用总额 {_esc(format_fen(cleared_total + not_cleared_total))} 元。</p>"
    )


def _province_net(month_end: MonthEnd) -> list[tuple[str, str, int]]:
    net: dict[str, int] = defaultdict(int)
    for level in month_end.net_levels:
        if level.leg == "NATIONAL":
            for party, _r, _p, value in level.positions:
                net[party] += value
    return [
        (party_svg(code), party_text(code), value)
        for code, value in sorted(net.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def _refusal_table(tally: Tally, plan: Plan, bases: dict[str, int]) -> str:
    rows = [
        f"<tr><td>拒绝直接结算：{coded_html(REASON_ZH, k)}</td><td class='num'>{v}</td></tr>"
        for k, v in sorted(tally.refusals.items())
    ]
    rows += [
        f"<tr><td>监管提示：{coded_html(REASON_ZH, k)}</td><td class='num'>{v}</td></tr>"
        for k, v in sorted(tally.warnings.items())
    ]
    rows += [
        f"<tr><td>结算依据：{coded_html(BASIS_ZH, k)}</td><td class='num'>{v}</td></tr>"
        for k, v in sorted(bases.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    cohorts: dict[str, int] = defaultdict(int)
    for p in plan.persons:
        cohorts[p.cohort] += 1
    cohort_rows = "".join(
        f"<tr><td>{coded_html(COHORT_ZH, k)}</td><td class='num'>{v}</td></tr>"
        for k, v in sorted(cohorts.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    return (
        "<table><thead><tr><th>拒付、监管提示、结算依据</th><th>次数</th></tr></thead>"
        f"<tbody>{''.join(rows) or '<tr><td>无</td><td></td></tr>'}</tbody></table>"
        f"<h3>{_h('模拟人群', 'who was simulated, modeled population mix')}</h3>"
        f"<table><thead><tr><th>人群</th><th>人数</th></tr></thead><tbody>{cohort_rows}</tbody></table>"
    )


def _steps(month_end: MonthEnd, regions: dict[str, dict[str, int]]) -> str:
    items = "".join(
        f"<li><b>{_esc(step)}</b> — {_esc(text)}</li>" for step, text in month_end.steps
    )
    if month_end.disputes:
        decided = "".join(
            f"<li>{_esc(d.period)} {_esc(d.statement_id)}: "
            f"{coded_html(OUTCOME_ZH, d.outcome) if d.outcome else '未决'}，"
            f"{_esc(format_fen(d.carried_fen))} 元结转至 {_esc(d.target_period or '—')}"
            "</li>"
            for d in month_end.disputes
        )
        items += f"<li><b>争议明细 disputed lines</b><ul>{decided}</ul></li>"
    issued = sum(v.get("StatementIssued", 0) for v in regions.values())
    alerts = sum(v.get("AdvanceFundAlert", 0) for v in regions.values())
    items += (
        f"<li><b>region queues</b> — {issued} statement messages and {alerts} advance-fund alerts "
        f"received by {len(regions)} pooling regions</li>"
    )
    return f"<ol>{items}</ol>"


def write(
    out: Path,
    plan: Plan,
    tally: Tally,
    month_end: MonthEnd,
    f: Figures,
    regions: dict[str, dict[str, int]],
) -> Path:
    several = len(f.months) > 1
    days = [
        (f"{d.month}/{d.day}" if several and d.day == 1 else f"{d.day}", n)
        for d, n in sorted(f.per_day.items())
    ]
    last = max((a.period for a in month_end.advance), default="")
    advance_rows = [
        (
            f"{party_svg(a.insured_pool)} → {party_svg(a.treatment_pool)}",
            f"{party_text(a.insured_pool)} → {party_text(a.treatment_pool)}",
            a.used_bp,
            a.alerts,
        )
        for a in sorted(
            (a for a in month_end.advance if a.period == last),
            key=lambda a: (-a.used_bp, a.insured_pool, a.treatment_pool),
        )[:25]
    ]
    months = _esc(months_line(f.months))
    title = f"{f.months[0]}–{f.months[-1]}" if several else f.month
    verdict = "PASS" if f.conservation_ok else "FAIL"
    period_zh = f"{f.months[0]}–{f.months[-1]}" if several else f.month
    page = f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>crossclear — 异地就医结算与清算模拟 {_esc(title)}</title>
<style>{_CSS}</style></head>
<body>
<header><h1>异地就医直接结算与跨统筹区清算 · {_esc(period_zh)}</h1>
<p><small>Cross-region settlement and clearing — {months}</small></p>
<p>广西 · 广东 · 粤港澳大湾区 · seed {f.seed} · scale {_esc(f.scale)} ·
services on a simulated clock from {_esc(f.run_start.isoformat())} · 人群构成、备案时点、预付金规模和政策参数为模拟值
<small>(population mix, filing timing, advance-fund sizes and policy parameters are modeled)</small></p></header>
<main>
{_cards(f, tally)}
<section id="months"><h2>{_h("清算期", "months, each cleared in its own period")}</h2>
{_months_table(f)}</section>
<section id="net"><h2>{_h("各统筹区清算净额：省内与跨省合计", "net position of every pool over both levels, summed over the periods")}</h2>
{_pool_net_table(month_end)}
<p class="note">正数为收入（就医地收款），负数为付出（参保地付款）。省内清算按省轧差，各省合计为零；跨省清算先在省际轧差，
再由省级清算中心分摊到各统筹区。合计净额 = 省内 + 跨省，全部统筹区合计为零。</p></section>
<div class="grid">
<section><h2>{_h("各省跨省清算净额", "provinces at national level")}</h2>
{diverging_bars(_province_net(month_end), "net positions per province")}
<h2 style="margin-top:14px">{_h("基金构成", "fund mix")}</h2>
{_fund_mix(f)}</section>
<section><h2>{_h("每日结算笔数", "settlements per day, the day each committed")}</h2>
{column_chart(days, "settlements per day")}
<h2 style="margin-top:14px">{_h("按异地类型和就诊类型的结算", "settlements by relation and visit type")}</h2>
{_settlement_table(f)}</section>
</div>
<section id="pharmacies"><h2>{_h("定点药店购药（与医院就诊分列）", "pharmacy purchases, apart from hospital encounters")}</h2>{pharmacy_figures.html(tally)}</section>
<section id="flows"><h2>{_h("统筹区间清算流向：参保地（行，付款）→ 就医地（列，收款）", "flows between pools")}</h2>
<div class="chart">{heatmap(f.flows_fen, "cross-pool flows")}</div>
<div class="chart">{heat_legend()}</div>
<p class="note">单元格内为清算金额，单位万元（四舍五入；“&lt;0.01”表示不足 100 元），悬停可见精确到分的金额。颜色按平方根比例；橙色边框 = 跨省。</p></section>
<div class="grid">
<section><h2>{_h("最大清算流向", "largest flows over the run")}</h2>{top_flows(f.flows_fen)}</section>
<section><h2>{_h("拒付与监管", "refusals and supervision")}</h2>{_refusal_table(tally, plan, f.bases)}</section>
</div>
<section id="advance"><h2>{_h(f"预付金使用率（{last}，使用率最高的 25 对）", "advance funds: share used")}</h2>
{usage_bars(advance_rows, "advance fund usage")}
<p class="note">First month: modeled sizes, two months of the plan's expected fund payments (one pair in five at one month).
After each month-end: sized again from the payments actually cleared (SizeFromHistory).
Alerts go to the insured pool's region queue at 70 % and 90 % (dashed lines; 预警线).</p></section>
<section id="statements"><h2>{_h(f"对账单（{len(month_end.statements)}）· 守恒 {verdict}", "statements")}：
跨统筹区结算 {_esc(format_fen(f.settlements_cleared_fen))} 元 = 对账单 {_esc(format_fen(f.statements_fen))} 元</h2>
{_statement_table(month_end)}</section>
<section id="run"><h2>{_h("月末清算过程", "month-end runs")}</h2>{_steps(month_end, regions)}</section>
<p class="note">Labels are in Chinese with their codes in small type; if the Chinese shows as
boxes, the viewer lacks a CJK font (on Debian: <code>apt-get install fonts-noto-cjk</code>).
Amounts in tables are 元 (yuan) to the fen; charts round to 万元 (10,000 yuan), the exact figure is in each tooltip.</p>
</main></body></html>
"""
    out.mkdir(parents=True, exist_ok=True)
    path = out / REPORT_NAME
    path.write_text(page, encoding="utf-8")
    return path
