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

from collections import defaultdict
from pathlib import Path

from services.clearing.domain.exports import csv_file_name
from services.simulation import pharmacy_figures
from services.simulation.charts import (
    column_chart,
    diverging_bars,
    esc,
    heat_legend,
    heatmap,
    mini_bar,
    num_cell,
    stacked_bar,
    top_flows,
    usage_bars,
    wan,
)
from services.simulation.figures import Figures, bp_text, months_line, pct
from services.simulation.labels import (
    BASIS_ZH,
    COHORT_ZH,
    LEVEL_ZH,
    OUTCOME_ZH,
    PERIOD_STATE_ZH,
    REASON_ZH,
    RELATION_ZH,
    STATEMENT_STATE_ZH,
    VISIT_ZH,
    coded_html,
    party_html,
    party_svg,
    party_text,
)
from services.simulation.scenario import Plan
from services.simulation.statement_export import (
    EXPORT_FOLDER,
)
from services.simulation.tally import (
    FUNDS,
    RELATIONS,
    VISITS,
    MonthEnd,
    Tally,
)
from shared.money import format_fen
from shared.reference import is_pool

REPORT_NAME = "report.html"
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
    return f"{esc(zh_text)} <small>{esc(en)}</small>"


def _card(key: str, en: str, value: str, sub: str = "", css: str = "") -> str:
    return (
        f'<div class="card"><div class="k">{_h(key, en)}</div>'
        f'<div class="v {css}">{esc(value)}</div><div class="s">{esc(sub)}</div></div>'
    )


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
        f"<tr><td>{party_html(code)}</td>{num_cell(prov)}{num_cell(nat)}{num_cell(prov + nat, 'strong')}"
        f"<td>{mini_bar(prov + nat, biggest)}</td></tr>"
        for code, prov, nat in rows
    )
    prov_sum = sum(r[1] for r in rows)
    nat_sum = sum(r[2] for r in rows)
    body += (
        f"<tr class='sum'><td>合计 <small class='code'>all pools</small></td>"
        f"{num_cell(prov_sum)}{num_cell(nat_sum)}{num_cell(prov_sum + nat_sum)}<td></td></tr>"
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
                    f"{wan(fees)} 万元",
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
            csv_link = f'<a href="{esc(EXPORT_FOLDER)}/{esc(csv_name)}">CSV</a>'
            links = f'<a href="{esc(base)}.html">HTML</a> · {csv_link}'
        adjustments = num_cell(s.adjustment_fen) if s.adjustment_count else "<td></td>"
        rows.append(
            f"<tr><td>{esc(s.period)}</td><td>{party_html(s.insured_pool)}</td>"
            f"<td>{party_html(s.treatment_pool)}</td>"
            f"<td>{coded_html(LEVEL_ZH, s.level)}</td><td class='num'>{s.line_count}</td>"
            f"{num_cell(s.net_fen)}{num_cell(s.confirmed_net_fen)}{adjustments}"
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
            f"<tr><td>{esc(p.period)}</td>"
            f"<td>{esc(p.cleared_on.isoformat() if p.cleared_on else '—')}</td>"
            f"<td>{coded_html(PERIOD_STATE_ZH, p.state)}</td><td class='num'>{p.settlements}</td>"
            f"{num_cell(p.settlements_cleared_fen)}<td class='num'>{p.statement_count}</td>"
            f"<td class='{'ok' if ok else 'bad'}'>{'PASS' if ok else 'FAIL'}</td>"
            f"<td class='num'>{p.retroactive}/{p.cross_region_encounters} "
            f"({esc(bp_text(p.retroactive_bp))})</td>{num_cell(p.adjustments_fen)}"
            f"<td class='num'>{p.late_events}</td>"
            f"<td class='num'>{esc(pct(p.advance_used_fen, p.advance_fen))}</td>"
            f"<td class='num'>{sum(p.advance_alerts.values())}</td>"
            f"<td class='num'>{len(p.caps_first)}</td></tr>"
        )
        notes += [f"<li><b>{esc(p.period)}</b>: {esc(n)}</li>" for n in period_notes(p)]
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
            f"in a later month than the person's first settlement — {esc(shown)}</li>"
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
                    f"{num_cell(row[1])}{num_cell(row[2])}</tr>"
                )
    # Any relation outside the three (none expected) is still counted, labelled 未分类.
    for (relation, visit), row in sorted(f.by_relation_visit.items()):
        if relation not in RELATIONS or visit not in VISITS:
            rows.append(
                f"<tr><td>{coded_html(RELATION_ZH, relation)}</td>"
                f"<td>{coded_html(VISIT_ZH, visit)}</td><td class='num'>{row[0]}</td>"
                f"{num_cell(row[1])}{num_cell(row[2])}</tr>"
            )
    total = [sum(r[i] for r in f.by_relation_visit.values()) for i in range(3)]
    rows.append(
        f"<tr class='sum'><td>合计</td><td></td><td class='num'>{total[0]}</td>"
        f"{num_cell(total[1])}{num_cell(total[2])}</tr>"
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
        f"合计 {esc(format_fen(cleared_total))} 元</h3>"
        f"{stacked_bar(cleared, 'cleared funds')}"
        "<p class='note'>异地就医结算中由参保地基金支付、经清算由参保地付给就医地的部分"
        "（含个人账户）；等于对账单合计。</p>"
        f"<h3>{_h('不参与清算：本地结算与现金', 'local settlements and cash, not cleared')}："
        f"合计 {esc(format_fen(not_cleared_total))} 元</h3>"
        f"{stacked_bar(not_cleared, 'not cleared')}"
        "<p class='note'>在参保地就医的基金与个人账户支付，以及所有结算中的个人现金支付。"
        f"两组合计 = 医疗费用总额 {esc(format_fen(cleared_total + not_cleared_total))} 元。</p>"
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
    items = "".join(f"<li><b>{esc(step)}</b> — {esc(text)}</li>" for step, text in month_end.steps)
    if month_end.disputes:
        decided = "".join(
            f"<li>{esc(d.period)} {esc(d.statement_id)}: "
            f"{coded_html(OUTCOME_ZH, d.outcome) if d.outcome else '未决'}，"
            f"{esc(format_fen(d.carried_fen))} 元结转至 {esc(d.target_period or '—')}"
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
    months = esc(months_line(f.months))
    title = f"{f.months[0]}–{f.months[-1]}" if several else f.month
    verdict = "PASS" if f.conservation_ok else "FAIL"
    period_zh = f"{f.months[0]}–{f.months[-1]}" if several else f.month
    page = f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>crossclear — 异地就医结算与清算模拟 {esc(title)}</title>
<style>{_CSS}</style></head>
<body>
<header><h1>异地就医直接结算与跨统筹区清算 · {esc(period_zh)}</h1>
<p><small>Cross-region settlement and clearing — {months}</small></p>
<p>广西 · 广东 · 粤港澳大湾区 · seed {f.seed} · scale {esc(f.scale)} ·
services on a simulated clock from {esc(f.run_start.isoformat())} · 人群构成、备案时点、预付金规模和政策参数为模拟值
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
跨统筹区结算 {esc(format_fen(f.settlements_cleared_fen))} 元 = 对账单 {esc(format_fen(f.statements_fen))} 元</h2>
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
