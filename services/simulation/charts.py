"""The report's inline SVG charts and the small HTML helpers they share: diverging bars, the
flow heatmap, stacked fund bars, column charts and usage bars. No scripts, no fonts."""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

from services.simulation.figures import pct
from services.simulation.labels import (
    FUND_ZH,
    RELATION_ZH,
    coded_html,
    coded_svg,
    party_html,
    party_svg,
    party_text,
    zh,
)
from shared.money import format_fen

MAX_HEATMAP_POOLS = 30
FUND_COLOURS = {
    "hifp": "#1f77b4",
    "hifob": "#17becf",
    "hifmi": "#9467bd",
    "cvlserv": "#8c564b",
    "maf": "#2ca02c",
    "acct": "#ff7f0e",
    "cash": "#d62728",
}
POSITIVE = "#2e7d32"
NEGATIVE = "#c62828"
_FEN_PER_WAN = Decimal(1_000_000)  # 1 万元 = 10,000 yuan


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def wan(amount_fen: int) -> str:
    """An amount in 万元 (10,000 yuan), rounded half up: two decimals below 100 万元, one
    below 1,000 万元, none above; "<0.01" for a non-zero amount that rounds to nothing."""
    value = Decimal(amount_fen) / _FEN_PER_WAN
    places = 2 if abs(value) < 100 else (1 if abs(value) < 1000 else 0)
    rounded = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    if rounded == 0 and amount_fen:
        return "<0.01" if amount_fen > 0 else ">-0.01"
    return f"{rounded:,}"


# -- SVG charts -------------------------------------------------------------------------------------
# Labels inside SVG are markup (``labels.party_svg``: the name, the code in a smaller tspan);
# tooltips (<title>) are plain text and carry the exact amount to the fen.


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="100%" style="max-width:{width}px" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(title)}">'
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
            f"<title>{esc(text)}：{format_fen(value)} 元</title></rect>"
        )
        text_x = centre + length + 4 if value >= 0 else centre - length - 4
        anchor = "start" if value >= 0 else "end"
        body.append(
            f'<text x="{text_x:.1f}" y="{y + bar_h - 5}" text-anchor="{anchor}" class="val">{wan(value)} 万</text>'
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
        f"{num_cell(v)}</tr>"
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
                f"<title>{esc(party_text(payer))} → {esc(party_text(receiver))}："
                f"{format_fen(amount)} 元</title></rect>"
            )
            if amount:
                css = "cell dark" if strength > 0.55 else "cell"
                body.append(
                    f'<text x="{x + (cell_w - 2) / 2:.0f}" y="{y + cell_h / 2 + 3:.0f}" '
                    f'text-anchor="middle" class="{css}">{esc(wan(amount))}</text>'
                )
    return _svg(width, height, body, title)


def _total_cell(x: float, y: float, w: int, h: int, amount: int, party: str, side: str) -> str:
    return (
        f'<rect x="{x:.0f}" y="{y:.0f}" width="{w - 2}" height="{h - 2}" fill="#eceff1" stroke="#fff">'
        f"<title>{esc(party_text(party))} 合计{side}：{format_fen(amount)} 元</title></rect>"
        f'<text x="{x + (w - 2) / 2:.0f}" y="{y + h / 2 + 3:.0f}" text-anchor="middle" '
        f'class="cell total">{esc(wan(amount))}</text>'
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
            f"<title>{esc(zh(FUND_ZH, name))} {esc(name)}：{format_fen(value)} 元"
            f"（{pct(value, total)}）</title></rect>"
        )
        if w > 64:
            body.append(
                f'<text x="{x + w / 2:.1f}" y="26" text-anchor="middle" class="inbar">'
                f"{esc(zh(FUND_ZH, name))}</text>"
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
            f"<title>{esc(label)}：{value} 笔</title></rect>"
        )
        body.append(
            f'<text x="{x + step * 0.35:.1f}" y="{height - bottom + 14}" text-anchor="middle" class="axis">{esc(label)}</text>'
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
            f"<title>{esc(text)}：已用 {used_bp / 100:.1f} %；预警 "
            f"{', '.join(f'{a // 100} %' for a in alerts) or '无'}</title></rect>"
        )
        body.append(
            f'<text x="{label_w + w + 4:.1f}" y="{y + bar_h - 4}" class="val">{used_bp / 100:.0f} %</text>'
        )
    return _svg(width, height, body, title)


# -- the page -------------------------------------------------------------------------------------


def num_cell(amount_fen: int, css: str = "") -> str:
    classes = " ".join(c for c in ("num", "neg" if amount_fen < 0 else "", css) if c)
    return f'<td class="{classes}">{esc(format_fen(amount_fen))}</td>'
