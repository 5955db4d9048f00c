"""The report a pooling-region officer would rather look at than read: one self-contained
HTML page (inline CSS and SVG charts drawn here, no scripts, no fonts, no network), plus
each statement exported as CSV and HTML beside it.

Statement exports: the clearing service offers no export over gRPC, so the statements
and their lines are fetched over gRPC and rendered with the clearing domain's own
``render_csv`` / ``render_html``; each rebuilt statement's digest is checked against the
digest the service computed.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING

from services.clearing.domain.events import EventKind, FundType
from services.clearing.domain.exports import render_csv, render_html
from services.clearing.domain.lines import StatementLine, fund_amounts
from services.clearing.domain.netting import MatrixCell, NetMatrix, NetPosition
from services.clearing.domain.periods import Period
from services.clearing.domain.pools import NATIONAL_SCOPE, ClearingLevel
from services.clearing.domain.statements import make_statement
from services.simulation.figures import Figures, pct
from services.simulation.scenario import COHORT_LABELS, Plan
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
from shared.reference import get_pool, is_pool, pools

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


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _pool_names() -> dict[str, str]:
    return {p.code: p.name_zh for p in pools()}


def _label(code: str) -> str:
    if is_pool(code):
        pool = get_pool(code)
        return f"{pool.name_en} {pool.name_zh}"
    return {"45": "Guangxi 广西", "44": "Guangdong 广东"}.get(code, code)


def _short(code: str) -> str:
    return get_pool(code).name_en if is_pool(code) else _label(code)


def _yuan_compact(amount_fen: int) -> str:
    yuan = amount_fen / 100
    if abs(yuan) >= 1_000_000:
        return f"{yuan / 1_000_000:.2f} M"
    if abs(yuan) >= 10_000:
        return f"{yuan / 1_000:.0f} k"
    if abs(yuan) >= 1_000:
        return f"{yuan / 1_000:.1f} k"
    return f"{yuan:.0f}"


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
    found = next((lv for lv in levels if lv.leg == leg and lv.scope == scope), None)
    if found is None:
        return NetMatrix(level, scope, (), (), ())
    return NetMatrix(
        level=level,
        scope=scope,
        parties=tuple(p[0] for p in found.positions),
        cells=tuple(MatrixCell(payer, receiver, amount) for payer, receiver, amount in found.cells),
        positions=tuple(NetPosition(party, rec, pay) for party, rec, pay, _net in found.positions),
    )


async def export_statements(run: MonthEndRun, month_end: MonthEnd, out: Path) -> list[str]:
    """CSV + HTML per statement into ``out/statements``; returns the file names written."""
    folder = out / EXPORT_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    names = _pool_names()
    written: list[str] = []
    verified = 0
    for view in sorted(month_end.statements, key=lambda v: v.statement_id):
        lines, adjustments = await run.statement_lines(view.statement_id)
        statement = make_statement(
            Period.parse(view.period),
            (view.insured_pool, view.treatment_pool),
            [_domain_line(x) for x in lines],  # type: ignore[arg-type]
            (),
        )
        if not adjustments and statement.digest() == view.digest:
            verified += 1
        (folder / f"{view.statement_id}.csv").write_text(
            render_csv(statement, names), encoding="utf-8"
        )
        page = render_html(statement, _matrix(view, month_end.net_levels), names)
        (folder / f"{view.statement_id}.html").write_text(page, encoding="utf-8")
        written.append(view.statement_id)
    month_end.steps.append(
        ("export", f"{len(written)} statements exported; {verified} digests equal to the service's")
    )
    return written


# -- SVG charts -------------------------------------------------------------------------------------


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="100%" style="max-width:{width}px" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_esc(title)}">'
        + "".join(body)
        + "</svg>"
    )


def diverging_bars(rows: Sequence[tuple[str, int]], title: str, width: int = 640) -> str:
    """Horizontal bars around a zero line: receives to the right (green), pays to the left."""
    if not rows:
        return '<p class="note">Nothing to show.</p>'
    bar_h, gap, label_w, value_w = 20, 6, 190, 80
    height = 30 + len(rows) * (bar_h + gap)
    plot_w = width - label_w - value_w * 2
    centre = label_w + value_w + plot_w / 2
    biggest = max(abs(v) for _, v in rows) or 1
    body = [
        f'<line x1="{centre}" y1="18" x2="{centre}" y2="{height - 4}" stroke="#888" stroke-width="1"/>',
        f'<text x="{centre - 6}" y="12" text-anchor="end" class="axis">← pays</text>',
        f'<text x="{centre + 6}" y="12" class="axis">receives →</text>',
    ]
    for index, (label, value) in enumerate(rows):
        y = 24 + index * (bar_h + gap)
        length = abs(value) / biggest * (plot_w / 2)
        x = centre if value >= 0 else centre - length
        colour = POSITIVE if value >= 0 else NEGATIVE
        body.append(
            f'<text x="{label_w - 6}" y="{y + bar_h - 5}" text-anchor="end" class="lbl">{_esc(label)}</text>'
        )
        body.append(
            f'<rect x="{x:.1f}" y="{y}" width="{max(length, 1):.1f}" height="{bar_h}" fill="{colour}" rx="2">'
            f"<title>{_esc(label)}: {format_fen(value)} yuan</title></rect>"
        )
        text_x = centre + length + 4 if value >= 0 else centre - length - 4
        anchor = "start" if value >= 0 else "end"
        body.append(
            f'<text x="{text_x:.1f}" y="{y + bar_h - 5}" text-anchor="{anchor}" class="val">{_yuan_compact(value)}</text>'
        )
    return _svg(width, height, body, title)


def heat_legend(width: int = 260) -> str:
    steps = 8
    body = [
        f'<rect x="{10 + i * (width - 20) / steps:.1f}" y="4" width="{(width - 20) / steps:.1f}" '
        f'height="12" fill="{_blend("#e3f2fd", "#0d47a1", (i / (steps - 1)) ** 0.5)}"/>'
        for i in range(steps)
    ]
    body.append('<text x="10" y="30" class="axis">less</text>')
    body.append(
        f'<text x="{width - 10}" y="30" text-anchor="end" class="axis">more cleared money</text>'
    )
    return _svg(width, 36, body, "colour scale")


def top_flows(flows: dict[tuple[str, str], int], limit: int = 18) -> str:
    ordered = sorted(flows.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    rows = "".join(
        f"<tr><td>{_esc(_short(a))} → {_esc(_short(b))}</td>"
        f"<td>{'cross-province' if a[:2] != b[:2] else 'in-province'}</td>{_num(v)}</tr>"
        for (a, b), v in ordered
    )
    return (
        "<table><thead><tr><th>insured → treatment pool</th><th>relation</th>"
        f"<th>cleared (yuan)</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def heatmap(flows: dict[tuple[str, str], int], title: str) -> str:
    """Rows: insured pools (pay); columns: treatment pools (receive); shade: cleared amount."""
    if not flows:
        return '<p class="note">No cross-pool settlements.</p>'
    payers = _top_parties(flows, 0)
    receivers = _top_parties(flows, 1)
    cell, label_w, top_h = 30, 170, 130
    width = label_w + cell * len(receivers) + 20
    height = top_h + cell * len(payers) + 20
    biggest = max(flows.values()) or 1
    body: list[str] = []
    for j, receiver in enumerate(receivers):
        x = label_w + j * cell + cell / 2
        body.append(
            f'<text transform="translate({x + 4:.0f},{top_h - 6}) rotate(-55)" class="lbl">{_esc(_short(receiver))}</text>'
        )
    for i, payer in enumerate(payers):
        y = top_h + i * cell
        body.append(
            f'<text x="{label_w - 6}" y="{y + cell / 2 + 4:.0f}" text-anchor="end" class="lbl">{_esc(_short(payer))}</text>'
        )
        for j, receiver in enumerate(receivers):
            amount = flows.get((payer, receiver), 0)
            x = label_w + j * cell
            if amount <= 0:
                fill = "#f4f4f4"
            else:
                # Square-root scale: the many small flows stay visible next to the big ones.
                strength = (amount / biggest) ** 0.5
                fill = _blend("#e3f2fd", "#0d47a1", strength)
            cross = payer[:2] != receiver[:2]
            stroke = (
                ' stroke="#e65100" stroke-width="1.5"' if cross and amount > 0 else ' stroke="#fff"'
            )
            body.append(
                f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" fill="{fill}"{stroke}>'
                f"<title>{_esc(_short(payer))} → {_esc(_short(receiver))}: {format_fen(amount)} yuan</title></rect>"
            )
    return _svg(width, height, body, title)


def _top_parties(flows: dict[tuple[str, str], int], side: int) -> list[str]:
    totals: dict[str, int] = defaultdict(int)
    for pair, amount in flows.items():
        totals[pair[side]] += amount
    top = sorted(totals, key=lambda p: -totals[p])[:MAX_HEATMAP_POOLS]
    return sorted(top)


def _blend(low: str, high: str, t: float) -> str:
    a = [int(low[i : i + 2], 16) for i in (1, 3, 5)]
    b = [int(high[i : i + 2], 16) for i in (1, 3, 5)]
    mixed = [round(x + (y - x) * max(0.0, min(1.0, t))) for x, y in zip(a, b, strict=True)]
    return "#" + "".join(f"{v:02x}" for v in mixed)


def stacked_bar(parts: Sequence[tuple[str, int]], title: str, width: int = 640) -> str:
    """One 100 % bar of the fund mix with a legend."""
    total = sum(max(v, 0) for _, v in parts) or 1
    height = 40 + 22 * ((len(parts) + 2) // 3)
    body: list[str] = []
    x = 10.0
    for name, value in parts:
        w = max(value, 0) / total * (width - 20)
        body.append(
            f'<rect x="{x:.1f}" y="8" width="{w:.1f}" height="26" fill="{FUND_COLOURS.get(name, "#999")}">'
            f"<title>{_esc(name)}: {format_fen(value)} yuan ({pct(value, total)})</title></rect>"
        )
        if w > 44:
            body.append(
                f'<text x="{x + w / 2:.1f}" y="26" text-anchor="middle" class="inbar">{_esc(name)}</text>'
            )
        x += w
    for index, (name, value) in enumerate(parts):
        lx = 10 + (index % 3) * ((width - 20) / 3)
        ly = 52 + (index // 3) * 22
        body.append(
            f'<rect x="{lx:.0f}" y="{ly - 10}" width="12" height="12" fill="{FUND_COLOURS.get(name, "#999")}"/>'
        )
        body.append(
            f'<text x="{lx + 18:.0f}" y="{ly}" class="lbl">{_esc(name)} {format_fen(value)} ({pct(value, total)})</text>'
        )
    return _svg(width, height, body, title)


def column_chart(
    series: Sequence[tuple[str, int]], title: str, width: int = 640, height: int = 200
) -> str:
    if not series:
        return '<p class="note">Nothing to show.</p>'
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
            f"<title>{_esc(label)}: {value}</title></rect>"
        )
        body.append(
            f'<text x="{x + step * 0.35:.1f}" y="{height - bottom + 14}" text-anchor="middle" class="axis">{_esc(label)}</text>'
        )
    return _svg(width, height, body, title)


def usage_bars(
    rows: Sequence[tuple[str, int, tuple[int, ...]]], title: str, width: int = 640
) -> str:
    """Advance-fund usage per pair, with the 70 % and 90 % alert lines."""
    if not rows:
        return '<p class="note">No advance funds.</p>'
    bar_h, gap, label_w = 16, 6, 250
    plot_w = width - label_w - 60
    height = 24 + len(rows) * (bar_h + gap)
    scale_max = max(10_000, max(bp for _, bp, _ in rows))
    body: list[str] = []
    for threshold in (7_000, 9_000, 10_000):
        x = label_w + threshold / scale_max * plot_w
        full = threshold == 10_000
        dash = "" if full else ' stroke-dasharray="3,3"'
        body.append(f'<line x1="{x:.1f}" y1="12" x2="{x:.1f}" y2="{height}" stroke="#999"{dash}/>')
        if not full:  # 100 % is the solid line; a label there would collide with 90 %
            body.append(
                f'<text x="{x:.1f}" y="10" text-anchor="middle" class="axis">alert {threshold // 100} %</text>'
            )
    for index, (label, used_bp, alerts) in enumerate(rows):
        y = 16 + index * (bar_h + gap)
        w = min(used_bp, scale_max) / scale_max * plot_w
        colour = NEGATIVE if used_bp >= 9_000 else ("#f9a825" if used_bp >= 7_000 else POSITIVE)
        body.append(
            f'<text x="{label_w - 6}" y="{y + bar_h - 4}" text-anchor="end" class="lbl">{_esc(label)}</text>'
        )
        body.append(
            f'<rect x="{label_w}" y="{y}" width="{max(w, 1):.1f}" height="{bar_h}" fill="{colour}" rx="2">'
            f"<title>{_esc(label)}: {used_bp / 100:.1f} % used; alerts at "
            f"{', '.join(f'{a // 100} %' for a in alerts) or 'none'}</title></rect>"
        )
        body.append(
            f'<text x="{label_w + w + 4:.1f}" y="{y + bar_h - 4}" class="val">{used_bp / 100:.0f} %</text>'
        )
    return _svg(width, height, body, title)


# -- the page -------------------------------------------------------------------------------------

_CSS = """
*{box-sizing:border-box}
body{font-family:"Noto Sans SC","PingFang SC","Microsoft YaHei","Helvetica Neue",Arial,sans-serif;margin:0;color:#1d2733;background:#f5f7fa}
header{background:#0d47a1;color:#fff;padding:20px 32px}
header h1{margin:0;font-size:24px}header p{margin:6px 0 0;opacity:.9;font-size:14px}
main{padding:20px 32px;max-width:1360px}
.cards{display:grid;grid-template-columns:repeat(4,1fr);gap:12px;margin-bottom:18px}
.card{background:#fff;border-radius:8px;padding:12px 14px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
.card .k{font-size:12px;color:#5b6b7c;text-transform:uppercase;letter-spacing:.03em}
.card .v{font-size:24px;font-weight:700;margin-top:4px}
.card .s{font-size:12px;color:#5b6b7c;margin-top:2px}
.ok{color:#2e7d32}.bad{color:#c62828}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(620px,1fr));gap:16px}
section{background:#fff;border-radius:8px;padding:14px 18px;box-shadow:0 1px 3px rgba(0,0,0,.08);margin-bottom:16px;overflow-x:auto}
section h2{font-size:16px;margin:0 0 8px}
p.note{color:#5b6b7c;font-size:12px;margin:4px 0}
table{border-collapse:collapse;font-size:13px;width:100%}
th,td{border-bottom:1px solid #e3e8ee;padding:4px 8px;text-align:left}
th{background:#eef2f6;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.neg{color:#c62828}
svg text{font-size:11px;fill:#1d2733}
svg text.axis{fill:#5b6b7c;font-size:10px}
svg text.val{font-size:10px;fill:#37474f}
svg text.inbar{fill:#fff;font-size:11px;font-weight:600}
a{color:#0d47a1}
""".strip()


def _card(key: str, value: str, sub: str = "", css: str = "") -> str:
    return (
        f'<div class="card"><div class="k">{_esc(key)}</div>'
        f'<div class="v {css}">{_esc(value)}</div><div class="s">{_esc(sub)}</div></div>'
    )


def _num(amount_fen: int) -> str:
    css = "num neg" if amount_fen < 0 else "num"
    return f'<td class="{css}">{_esc(format_fen(amount_fen))}</td>'


def _pool_net(month_end: MonthEnd) -> list[tuple[str, int]]:
    """Each pool's total for the month: its provincial net plus its share of its
    province's national result (allocation)."""
    net: dict[str, int] = defaultdict(int)
    for level in month_end.net_levels:
        if level.leg in ("PROVINCIAL", "ALLOCATION"):
            for party, _r, _p, value in level.positions:
                if is_pool(party):
                    net[party] += value
    return sorted(((f"{code} {_short(code)}", v) for code, v in net.items()), key=lambda kv: -kv[1])


def _cards(f: Figures, tally: Tally) -> str:
    standing = sum(v[0] for v in f.by_relation_visit.values())
    fees = sum(v[1] for v in f.by_relation_visit.values())
    cd, ct = f.cross_inpatient
    idd, it = f.in_province
    online = f"{f.channels.share_bp / 100:.1f} %" if f.channels else "n/a"
    online_sub = f"{f.channels.channels_used} online channels used" if f.channels else ""
    return (
        '<div class="cards">'
        + "".join(
            [
                _card(
                    "settlements",
                    f"{standing:,}",
                    f"{f.reversals} reversals · {f.encounters:,} encounters",
                ),
                _card(
                    "medical fees", f"{_yuan_compact(fees)} yuan", f"{f.persons:,} insured persons"
                ),
                _card(
                    "cross-province inpatient",
                    pct(cd, ct),
                    f"settled directly, {cd}/{ct} (target > 70 %)",
                ),
                _card(
                    "in-province direct rate", pct(idd, it), f"{idd}/{it} visits (GZ target 90 %)"
                ),
                _card("online filing share", online, online_sub),
                _card(
                    "one-stop settlements",
                    f"{f.one_stop:,}",
                    "basic + critical illness + assistance",
                ),
                _card(
                    "conservation",
                    "PASS" if f.conservation_ok else "FAIL",
                    f"{format_fen(f.statements_fen)} yuan on statements",
                    "ok" if f.conservation_ok else "bad",
                ),
                _card("fingerprint", f.fingerprint, "statements: pairs, counts, amounts"),
            ]
        )
        + "</div>"
    )


def _statement_table(month_end: MonthEnd) -> str:
    rows = []
    exported = set(month_end.exports)
    for s in sorted(month_end.statements, key=lambda v: -v.net_fen):
        links = ""
        if s.statement_id in exported:
            base = f"{EXPORT_FOLDER}/{s.statement_id}"
            links = f'<a href="{_esc(base)}.html">HTML</a> · <a href="{_esc(base)}.csv">CSV</a>'
        rows.append(
            f"<tr><td>{_esc(_label(s.insured_pool))}</td><td>{_esc(_label(s.treatment_pool))}</td>"
            f"<td>{_esc(s.level)}</td><td class='num'>{s.line_count}</td>{_num(s.net_fen)}"
            f"{_num(s.confirmed_net_fen)}<td>{_esc(s.state)}</td><td>{links}</td></tr>"
        )
    head = (
        "<tr><th>insured pool (pays)</th><th>treatment pool (receives)</th><th>level</th>"
        "<th>lines</th><th>net (yuan)</th><th>netted (yuan)</th><th>state</th><th>export</th></tr>"
    )
    return f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


def _settlement_table(f: Figures) -> str:
    rows = []
    for relation in RELATIONS:
        for visit, label in VISITS.items():
            row = f.by_relation_visit.get((relation, visit))
            if row:
                rows.append(
                    f"<tr><td>{_esc(relation)}</td><td>{_esc(label)}</td><td class='num'>{row[0]}</td>"
                    f"{_num(row[1])}{_num(row[2])}</tr>"
                )
    head = "<tr><th>relation</th><th>visit type</th><th>settlements</th><th>medical fees (yuan)</th><th>fund payments (yuan)</th></tr>"
    return f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


def _province_net(month_end: MonthEnd) -> list[tuple[str, int]]:
    rows: list[tuple[str, int]] = []
    for level in month_end.net_levels:
        if level.leg == "NATIONAL":
            rows.extend((_label(party), value) for party, _r, _p, value in level.positions)
    return rows


def _refusal_table(tally: Tally, plan: Plan) -> str:
    rows = [
        f"<tr><td>refused: {_esc(k)}</td><td class='num'>{v}</td></tr>"
        for k, v in sorted(tally.refusals.items())
    ]
    rows += [
        f"<tr><td>warning: {_esc(k)}</td><td class='num'>{v}</td></tr>"
        for k, v in sorted(tally.warnings.items())
    ]
    rows += [
        f"<tr><td>coverage basis: {_esc(k)}</td><td class='num'>{v}</td></tr>"
        for k, v in sorted(tally.bases.items(), key=lambda kv: -kv[1])
    ]
    cohorts: dict[str, int] = defaultdict(int)
    for p in plan.persons:
        cohorts[p.cohort] += 1
    cohort_rows = "".join(
        f"<tr><td>{_esc(COHORT_LABELS.get(k, k))}</td><td class='num'>{v}</td></tr>"
        for k, v in sorted(cohorts.items(), key=lambda kv: -kv[1])
    )
    return (
        "<table><thead><tr><th>refusals, supervision warnings, coverage bases</th><th>count</th></tr></thead>"
        f"<tbody>{''.join(rows) or '<tr><td>none</td><td></td></tr>'}</tbody></table>"
        "<p class='note'>RETROACTIVE_FILING: the simulation files on the day it runs, after "
        "the simulated treatment days, so the filing service sees those filings as made "
        "afterwards (补办).</p>"
        "<h2 style='margin-top:14px'>Who was simulated (modeled population mix)</h2>"
        f"<table><thead><tr><th>cohort</th><th>persons</th></tr></thead><tbody>{cohort_rows}</tbody></table>"
    )


def _steps(month_end: MonthEnd, regions: dict[str, dict[str, int]]) -> str:
    items = "".join(
        f"<li><b>{_esc(step)}</b> — {_esc(text)}</li>" for step, text in month_end.steps
    )
    if month_end.disputes:
        decided = "".join(
            f"<li>{_esc(outcome)}: {_esc(format_fen(amount))} yuan carried into {_esc(target)}</li>"
            for _statement, outcome, target, amount in month_end.disputes
        )
        items += (
            f"<li><b>disputed lines</b> — {_esc(month_end.disputes[0][0])}<ul>{decided}</ul></li>"
        )
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
    fund_parts = [(fund, f.funds_fen.get(fund, 0)) for fund in FUNDS if f.funds_fen.get(fund, 0)]
    days = [(f"{d.day}", n) for d, n in sorted(f.per_day.items())]
    advance_rows = [
        (f"{_short(a[0])} → {_short(a[1])}", a[4], a[5])
        for a in sorted(month_end.advance, key=lambda a: -a[4])[:25]
    ]
    periods = ", ".join(f.periods) or "—"
    verdict = "PASS" if f.conservation_ok else "FAIL"
    page = f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>crossclear — simulated month {_esc(f.month)}</title>
<style>{_CSS}</style></head>
<body>
<header><h1>Cross-region settlement and clearing — simulated month {_esc(f.month)}</h1>
<p>Guangxi · Guangdong · Greater Bay Area · seed {f.seed} · scale {_esc(f.scale)} ·
clearing period(s) {_esc(periods)} (assigned when each settlement committed) ·
population mix, advance-fund sizes and policy parameters are modeled</p></header>
<main>
{_cards(f, tally)}
<div class="grid">
<section><h2>Net position of every pool this month (yuan; provincial clearing + share of the national result)</h2>
{diverging_bars(_pool_net(month_end), "net positions per pool")}
<p class="note">Green receives, red pays. Sums to zero over all pools within each level.</p></section>
<section><h2>Provinces at national level (yuan)</h2>
{diverging_bars(_province_net(month_end), "net positions per province")}
<h2 style="margin-top:14px">Fund mix of all settlements</h2>
{stacked_bar(fund_parts, "fund mix")}
<h2 style="margin-top:14px">Settlements per day (visit or discharge day)</h2>
{column_chart(days, "settlements per day")}
<h2 style="margin-top:14px">Settlements by relation and visit type</h2>
{_settlement_table(f)}</section>
</div>
<div class="grid" id="flows">
<section><h2>Flows between pools: insured pool (rows, pays) → treatment pool (columns, receives)</h2>
{heatmap(f.flows_fen, "cross-pool flows")}
{heat_legend()}
<p class="note">Square-root colour scale; orange outline = cross-province. Hover a cell for the amount.</p></section>
<section><h2>Largest flows this month</h2>{top_flows(f.flows_fen)}</section>
</div>
<div class="grid" id="settlements">
<section><h2>Advance funds 预付金: share used this period (the 25 most used)</h2>
{usage_bars(advance_rows, "advance fund usage")}
<p class="note">Modeled sizes: two months of expected fund payments; one pair in five left at one month (not yet topped up).
Alerts go to the insured pool's region queue at 70 % and 90 %.</p></section>
<section><h2>Refusals and supervision</h2>{_refusal_table(tally, plan)}</section>
</div>
<section id="statements"><h2>Statements ({len(month_end.statements)}) — conservation {verdict}:
settlements {_esc(format_fen(f.settlements_cleared_fen))} = statements {_esc(format_fen(f.statements_fen))} yuan</h2>
{_statement_table(month_end)}</section>
<section id="run"><h2>Month-end run</h2>{_steps(month_end, regions)}</section>
</main></body></html>
"""
    out.mkdir(parents=True, exist_ok=True)
    path = out / REPORT_NAME
    path.write_text(page, encoding="utf-8")
    return path
