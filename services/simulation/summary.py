"""The summary printed at the end of a run (rich tables), and the same figures as
``summary.json`` beside the report, so a script can check a run without parsing a table.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from services.simulation import pharmacy_figures
from services.simulation.figures import Figures, PeriodFigures, bp_text, months_line, pct
from services.simulation.labels import FUND_ZH, zh
from services.simulation.scenario import FILING_TIMING, modeled_late_filing_pct
from services.simulation.tally import FUNDS, RELATIONS, VISITS, MonthEnd, Tally, yuan
from shared.reference import get_pool, is_pool

SUMMARY_NAME = "summary.json"
SUMMARY_SCHEMA = "crossclear.simulation.summary/1"
MAX_STATEMENT_ROWS = 40
MAX_ADVANCE_ROWS = 25
_RELATION_LABEL = {
    "LOCAL": "local (same pool)",
    "IN_PROVINCE": "in-province 省内异地",
    "CROSS_PROVINCE": "cross-province 跨省异地",
}
# The funds' row labels; a fund without one is labelled by its code and Chinese name.
_FUND_LABEL = {
    "hifp": "hifp basic pool fund 统筹基金",
    "hifob": "hifob employee large-amount 职工大额",
    "hifmi": "hifmi resident critical illness 居民大病",
    "cvlserv": "cvlserv civil-servant subsidy",
    "maf": "maf medical assistance 医疗救助",
    "acct": "acct personal account 个人账户",
    "cash": "cash paid by patients 个人现金",
}
# Rows shown even when nothing was paid: the funds every benefit policy pays from, the
# personal account and cash. Any other fund is shown when it paid something.
_FUNDS_ALWAYS_SHOWN = frozenset({"hifp", "hifob", "hifmi", "maf", "acct", "cash"})
_BASIS_LABEL = {
    "LOCAL": "LOCAL: treated in the insured pool",
    "EXEMPT_BQF": "EXEMPT_BQF: 北钦防, no filing, local ratios",
    "EXEMPT_GD_IN_PROVINCE": "EXEMPT_GD_IN_PROVINCE: Guangdong in-province, no filing",
    "FILING": "FILING: a filing submitted by the treatment day",
    "RETROACTIVE_FILING": "RETROACTIVE_FILING: filed after the treatment began (补办)",
    "EMERGENCY": "EMERGENCY: counts as filed",
    "REFUSED": "refused, paid in full",
}
_TIMING_LABEL = {
    "BEFORE_RUN": "long-term, filed months before the first month",
    "BEFORE_FIRST_VISIT": "long-term, filed days before the first visit (newly moved)",
    "BEFORE_TRAVEL": "temporary, filed 1–14 days before travelling",
    "DURING_STAY": "补办 at the counter during an inpatient stay",
    "AFTER_REFUSAL": "补办 at the counter after a refusal",
}


def party_label(code: str) -> str:
    if is_pool(code):
        pool = get_pool(code)
        return f"{code} {pool.name_en}"
    if code.startswith("CENTRE-"):
        return f"{code} (provincial centre)"
    return {"45": "45 Guangxi", "44": "44 Guangdong", "NATIONAL": "national centre"}.get(code, code)


def _table(title: str, *columns: str, right: tuple[int, ...] = ()) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold", header_style="cyan")
    for index, column in enumerate(columns):
        table.add_column(column, justify="right" if index in right else "left")
    return table


def _ok(flag: bool) -> str:
    return "PASS" if flag else "FAIL"


def render(
    console: Console, f: Figures, tally: Tally, month_end: MonthEnd, timings: dict[str, float]
) -> None:
    console.rule(f"[bold]crossclear simulation — seed {f.seed}, scale {f.scale}")
    console.print(f"[bold]{months_line(f.months)}[/bold].")
    console.print(
        f"{f.persons} insured persons, {f.encounters} planned encounters treated on "
        f"{f.first_day:%Y-%m-%d} … {f.last_day:%Y-%m-%d}. The services ran on a simulated "
        f"clock from {f.run_start:%Y-%m-%d} (filings made before the first month), set day "
        "by day as the traffic ran, so each settlement committed — and was placed in its "
        "clearing period — on its treatment day. Policy figures, the population mix and "
        "when people file are modeled."
    )
    _months(console, f)
    _month_notes(console, f)
    _settlements(console, f)
    pharmacy_figures.render(console, tally)
    _funds(console, f)
    _plan_figures(console, f, tally)
    _refusals(console, f, tally)
    _statements(console, month_end)
    _positions(console, f, month_end)
    _advance(console, month_end)
    _run(console, f, tally, month_end, timings)
    _errors(console, tally)
    _verdict(console, f)


def _months(console: Console, f: Figures) -> None:
    table = _table(
        "Months: each treatment month cleared in its own period",
        "",
        *(p.period for p in f.by_period),
        right=tuple(range(1, len(f.by_period) + 1)),
    )
    rows: list[tuple[str, list[str]]] = [
        ("cleared on", [f"{p.cleared_on:%Y-%m-%d}" if p.cleared_on else "—" for p in f.by_period]),
        ("period state", [p.state for p in f.by_period]),
        ("settlements (standing)", [str(p.settlements) for p in f.by_period]),
        ("cleared between pools (yuan)", [yuan(p.settlements_cleared_fen) for p in f.by_period]),
        ("statements", [str(p.statement_count) for p in f.by_period]),
        (
            "conservation",
            [_ok(p.conservation_ok and p.adjustments_ok) for p in f.by_period],
        ),
        (
            "retroactive filing / cross-region",
            [f"{p.retroactive}/{p.cross_region_encounters}" for p in f.by_period],
        ),
        (
            "adjustments carried in (yuan)",
            [f"{yuan(p.adjustments_fen)} ({len(p.carried_in)})" for p in f.by_period],
        ),
        ("late events", [str(p.late_events) for p in f.by_period]),
        ("advance funds (yuan)", [yuan(p.advance_fen) for p in f.by_period]),
        ("advance used", [pct(p.advance_used_fen, p.advance_fen) for p in f.by_period]),
        ("advance alerts", [str(sum(p.advance_alerts.values())) for p in f.by_period]),
        ("annual caps first reached", [str(len(p.caps_first)) for p in f.by_period]),
    ]
    for label, cells in rows:
        table.add_row(label, *cells)
    console.print(table)


def _month_notes(console: Console, f: Figures) -> None:
    for p in f.by_period:
        for line in period_notes(p):
            console.print(f"  {p.period}: {line}")
    later = f.caps_first_in_later_month
    if later:
        shown = ", ".join(f"{c.psn_no} ({c.cap}, {c.period})" for c in later[:6])
        more = f" and {len(later) - 6} more" if len(later) > 6 else ""
        console.print(
            f"  Annual accumulations carry across months: {len(later)} caps first reached in "
            f"a later month than the person's first settlement: {shown}{more}."
        )


def period_notes(p: PeriodFigures) -> list[str]:
    """Disputes, carried adjustments, advance resizing and late events, in words."""
    notes = []
    if p.disputes:
        d0 = p.disputes[0]
        decided = [d for d in p.disputes if d.outcome]
        text = (
            f"{len(p.disputes)} lines of {d0.statement_id} disputed on {d0.raised_on} "
            f"({yuan(sum(d.disputed_fen for d in p.disputes))} yuan), left out of the netting"
        )
        if decided:
            outcomes = ", ".join(f"{d.outcome} {yuan(d.carried_fen)}" for d in decided)
            text += (
                f"; decided on {decided[0].decided_on} ({outcomes}) and carried into "
                f"{', '.join(sorted({d.target_period for d in decided}))}"
            )
        notes.append(text)
    if p.carried_in:
        origins = ", ".join(sorted({c.origin_period for c in p.carried_in}))
        outcomes = ", ".join(f"{c.outcome} {yuan(c.total_fen)}" for c in p.carried_in)
        notes.append(
            f"its statements carry {len(p.carried_in)} adjustments from {origins}'s dispute "
            f"({outcomes}; total {yuan(p.adjustments_fen)} yuan)"
        )
    if p.resized_pairs or p.resized_kept:
        notes.append(
            f"advance funds {p.advance_sizing}: {p.resized_pairs} pairs resized, "
            f"{p.resized_kept} kept (no payments); total {yuan(p.resized_before_fen)} → "
            f"{yuan(p.resized_after_fen)} yuan"
        )
    notes.append(
        f"{p.late_events} late events (settled before a cut-off, arrived after it: placed "
        f"in the next open period, flagged); {p.outside_treatment_month} settlements of "
        "another treatment month"
    )
    return notes


def _settlements(console: Console, f: Figures) -> None:
    table = _table(
        "Settlements by relation and visit type (all months; standing, after reversals)",
        "relation",
        "visit type",
        "settlements",
        "medical fees (yuan)",
        "fund payments (yuan)",
        right=(2, 3, 4),
    )
    for relation in RELATIONS:
        for visit, label in VISITS.items():
            row = f.by_relation_visit.get((relation, visit))
            if row:
                table.add_row(
                    _RELATION_LABEL[relation], label, str(row[0]), yuan(row[1]), yuan(row[2])
                )
    total = [sum(r[i] for r in f.by_relation_visit.values()) for i in range(3)]
    table.add_row(
        "[bold]all", "", f"[bold]{total[0]}", f"[bold]{yuan(total[1])}", f"[bold]{yuan(total[2])}"
    )
    console.print(table)


def _fund_label(fund: str) -> str:
    return _FUND_LABEL.get(fund) or f"{fund} {zh(FUND_ZH, fund)}"


def _funds(console: Console, f: Figures) -> None:
    table = _table(
        "Amounts by fund (settlements less reversals)",
        "fund",
        *(f"{p.period} (yuan)" for p in f.by_period),
        "all (yuan)",
        "share",
        right=tuple(range(1, len(f.by_period) + 3)),
    )
    total = sum(f.funds_fen.values())
    for fund in FUNDS:
        amount = f.funds_fen.get(fund, 0)
        if amount or fund in _FUNDS_ALWAYS_SHOWN:
            table.add_row(
                _fund_label(fund),
                *(yuan(p.funds_fen.get(fund, 0)) for p in f.by_period),
                yuan(amount),
                pct(amount, total),
            )
    table.add_row(
        "[bold]total medical fees",
        *(yuan(sum(p.funds_fen.values())) for p in f.by_period),
        f"[bold]{yuan(total)}",
        "100.00 %",
    )
    console.print(table)


def _plan_figures(console: Console, f: Figures, tally: Tally) -> None:
    table = _table(
        "Direct-settlement figures the plans track", "figure", "value", "target / note", right=(1,)
    )
    cd, ct = f.cross_inpatient
    table.add_row(
        "cross-province inpatient direct-settlement rate",
        f"{pct(cd, ct)} ({cd}/{ct})",
        "> 70 % (both plans); denominator includes refused and paid-in-full",
    )
    idd, it = f.in_province
    table.add_row(
        "in-province direct-settlement rate, all visits",
        f"{pct(idd, it)} ({idd}/{it})",
        "Guangzhou: 80 % → 90 %",
    )
    iid, iit = f.in_province_inpatient
    table.add_row(
        "in-province direct-settlement rate, inpatient", f"{pct(iid, iit)} ({iid}/{iit})", ""
    )
    if f.channels is not None:
        ch = f.channels
        table.add_row(
            "online filing share (GetChannelFigures, whole run)",
            f"{ch.share_bp // 100}.{ch.share_bp % 100:02d} % ({ch.online}/{ch.total})",
            f"online channels used: {ch.channels_used} (target ≥ 3)",
        )
    table.add_row(
        "three-in-one one-stop settlements (maf with hifp)",
        str(f.one_stop),
        "基本医保+大病保险+医疗救助",
    )
    table.add_row(
        "paid in full after a refusal",
        str(f.paid_in_full),
        f"{yuan(tally.paid_in_full_fen)} yuan claimed at home",
    )
    console.print(table)
    filings = _table("Filings (备案)", "event", "count", right=(1,))
    for channel, count in sorted(tally.filings_by_channel.items()):
        filings.add_row(f"submitted through {channel}", str(count))
    for timing, label in _TIMING_LABEL.items():
        filings.add_row(label, str(tally.filings_by_timing.get(timing, 0)))
    for key in (
        "filings submitted",
        "filings starting before their submission day",
        "filed after a refusal (补办)",
        "filings changed",
        "filings cancelled",
    ):
        filings.add_row(key, str(tally.counts.get(key, 0)))
    for key, count in sorted(tally.counts.items()):
        if key.startswith("filing changes"):
            filings.add_row(key, str(count))
    console.print(filings)


def _refusals(console: Console, f: Figures, tally: Tally) -> None:
    table = _table("Refusals and supervision", "code", "count", right=(1,))
    for reason, count in sorted(tally.refusals.items()):
        table.add_row(f"refused: {reason}", str(count))
    for code, count in sorted(tally.warnings.items()):
        table.add_row(f"warning: {code}", str(count))
    if not tally.refusals and not tally.warnings:
        table.add_row("none", "0")
    console.print(table)
    bases = _table(
        "Coverage basis of each encounter's settlement "
        f"(retroactive: {f.retroactive} of {f.cross_region_encounters} cross-region encounters, "
        f"{bp_text(f.retroactive_bp)}; modeled: {modeled_late_filing_pct()} % of filings made late)",
        "basis",
        *(p.period for p in f.by_period),
        "all",
        right=tuple(range(1, len(f.by_period) + 2)),
    )
    for basis, count in sorted(f.bases.items(), key=lambda kv: -kv[1]):
        bases.add_row(
            _BASIS_LABEL.get(basis, basis),
            *(str(p.bases.get(basis, 0)) for p in f.by_period),
            str(count),
        )
    console.print(bases)


def _statements(console: Console, month_end: MonthEnd) -> None:
    states = Counter(s.state for s in month_end.statements)
    table = _table(
        f"Statements ({len(month_end.statements)}; "
        + ", ".join(f"{k} {v}" for k, v in sorted(states.items()))
        + ")",
        "period",
        "insured pool (pays)",
        "treatment pool (receives)",
        "level",
        "lines",
        "net (yuan)",
        "netted (yuan)",
        "adjustments (yuan)",
        "state",
        right=(4, 5, 6, 7),
    )
    ordered = sorted(month_end.statements, key=lambda s: (s.period, -s.net_fen, s.statement_id))
    shown = ordered[:MAX_STATEMENT_ROWS]
    # Always show the statements carrying adjustments.
    shown += [s for s in ordered[MAX_STATEMENT_ROWS:] if s.adjustment_count]
    for s in shown:
        table.add_row(
            s.period,
            party_label(s.insured_pool),
            party_label(s.treatment_pool),
            s.level,
            str(s.line_count),
            yuan(s.net_fen),
            yuan(s.confirmed_net_fen),
            yuan(s.adjustment_fen) if s.adjustment_count else "",
            s.state,
        )
    rest = [s for s in ordered if s not in shown]
    if rest:
        table.add_row(
            "",
            f"… {len(rest)} more",
            "",
            "",
            str(sum(s.line_count for s in rest)),
            yuan(sum(s.net_fen for s in rest)),
            "",
            "",
            "",
        )
    console.print(table)


def _positions(console: Console, f: Figures, month_end: MonthEnd) -> None:
    order = {"PROVINCIAL": 0, "NATIONAL": 1, "ALLOCATION": 2}
    levels = sorted({(lv.leg, lv.scope, lv.hub) for lv in month_end.net_levels})
    levels.sort(key=lambda k: (order.get(k[0], 9), k[1]))
    periods = [p.period for p in f.by_period if p.net_levels]
    for leg, scope, hub in levels:
        by_period = {
            lv.period: lv for lv in month_end.net_levels if lv.leg == leg and lv.scope == scope
        }
        sums = ", ".join(
            f"{period} {'✓' if lv.balanced else '✗ NOT BALANCED'}"
            for period, lv in sorted(by_period.items())
        )
        what = "sums to the province's national position" if leg == "ALLOCATION" else "sums to 0"
        table = _table(
            f"Net positions — {leg} {party_label(scope)} (hub {hub}); {what}: {sums}",
            "party",
            *(f"net {period} (yuan, + receives)" for period in periods),
            right=tuple(range(1, len(periods) + 1)),
        )
        parties = sorted({p[0] for lv in by_period.values() for p in lv.positions})
        for party in parties:
            cells = []
            for period in periods:
                lv = by_period.get(period)
                net = next((p[3] for p in lv.positions if p[0] == party), None) if lv else None
                cells.append(yuan(net) if net is not None else "")
            table.add_row(party_label(party), *cells)
        console.print(table)
    for p in f.by_period:
        console.print(
            f"Payment instructions {p.period}: {p.instructions}, paid {p.paid}; "
            f"period state {p.state}"
        )


def _advance(console: Console, month_end: MonthEnd) -> None:
    if not month_end.advance:
        return
    last = max(a.period for a in month_end.advance)
    rows = [a for a in month_end.advance if a.period == last]
    alerted = [a for a in rows if a.alerts]
    table = _table(
        f"Advance funds 预付金 in {last} ({len(alerted)} of {len(rows)} pairs alerted)",
        "insured → treatment",
        "advance (yuan)",
        "used (yuan)",
        "used",
        "alerts",
        right=(1, 2, 3),
    )
    ordered = sorted(rows, key=lambda a: (-a.used_bp, a.insured_pool, a.treatment_pool))
    for a in ordered[:MAX_ADVANCE_ROWS]:
        table.add_row(
            f"{party_label(a.insured_pool)} → {party_label(a.treatment_pool)}",
            yuan(a.advance_fen),
            yuan(a.used_fen),
            bp_text(a.used_bp),
            ", ".join(f"{t // 100} %" for t in a.alerts),
        )
    console.print(table)


def _run(
    console: Console, f: Figures, tally: Tally, month_end: MonthEnd, timings: dict[str, float]
) -> None:
    table = _table("The run", "what", "value", right=(1,))
    table.add_row("service start-up", f"{timings.get('startup', 0):.1f} s")
    table.add_row("traffic (filings and hospitals, all days)", f"{tally.traffic_seconds:.1f} s")
    for p in f.by_period:
        table.add_row(
            f"  {p.period}: settlements per second, Settle p50 / p99",
            f"{p.settlements_per_s:.1f}/s, {p.settle_p50_ms:.0f} / {p.settle_p99_ms:.0f} ms",
        )
    table.add_row("clock settings (every service)", str(tally.clock_settings))
    table.add_row("gRPC calls", str(tally.rpc_count))
    table.add_row(
        "month-end runs",
        f"{month_end.seconds:.1f} s (ledger catch-up {month_end.ingest_seconds:.1f} s)",
    )
    table.add_row(
        "statements regenerated on the same cut-off: changed",
        str(sum(month_end.regenerated_changed.values())),
    )
    table.add_row(
        "hospital clearing applications (3203) matched",
        f"{month_end.applications['matched']}/{sum(month_end.applications.values())}",
    )
    table.add_row(
        "hospital totals reconciled (3201) matching",
        f"{month_end.reconciliations['MATCH']}/{sum(month_end.reconciliations.values())}",
    )
    for key in (
        "msgids resent",
        "msgids resent: same response",
        "reversals (2208/2305)",
        "corrections (2601) undoing a settlement",
        "corrections (2601) of a request that never arrived",
        "late originals refused (MSGID_CORRECTED)",
    ):
        table.add_row(key, str(tally.counts.get(key, 0)))
    table.add_row("total", f"{timings.get('total', 0):.1f} s")
    console.print(table)


def _errors(console: Console, tally: Tally) -> None:
    if not tally.errors:
        return
    table = _table("Unexpected errors", "call", "count", "first message", right=(1,))
    for key, count in tally.errors.most_common(20):
        table.add_row(key, str(count), tally.error_samples.get(key, ""))
    console.print(table)


def _verdict(console: Console, f: Figures) -> None:
    for p in f.by_period:
        console.print(
            f"Conservation {p.period}: cross-pool settlements less reversals "
            f"{yuan(p.settlements_cleared_fen)} = statements {yuan(p.statements_fen)} yuan; "
            f"adjustments carried in {yuan(p.adjustments_fen)} = decided for it "
            f"{yuan(p.decided_for_period_fen)} yuan → {_ok(p.conservation_ok and p.adjustments_ok)}"
        )
    verdict = "[bold green]PASS" if f.conservation_ok else "[bold red]FAIL"
    console.print(
        f"Conservation: cross-pool settlements less reversals {yuan(f.settlements_cleared_fen)} yuan "
        f"= statements {yuan(f.statements_fen)} yuan → {verdict}"
    )
    zero = "[bold green]PASS" if f.zero_sum_ok else "[bold red]FAIL"
    console.print(f"Net positions sum to zero at every level: {zero}")
    console.print(f"Statements fingerprint: [bold]{f.fingerprint}[/bold]")


# -- summary.json -------------------------------------------------------------------------------


def _relation_visit(rows: dict[tuple[str, str], list[int]]) -> list[dict[str, Any]]:
    return [
        {
            "relation": relation,
            "visit": visit,
            "visit_label": VISITS[visit],
            "settlements": rows[(relation, visit)][0],
            "medical_fees_fen": rows[(relation, visit)][1],
            "fund_payments_fen": rows[(relation, visit)][2],
        }
        for relation in RELATIONS
        for visit in VISITS
        if (relation, visit) in rows
    ]


def _period_json(p: PeriodFigures) -> dict[str, Any]:
    return {
        "period": p.period,
        "treatment_month": p.period,
        "cleared_on": p.cleared_on.isoformat() if p.cleared_on else None,
        "state": p.state,
        "settlements": {
            "standing": p.settlements,
            "reversals": p.reversals,
            "of_another_treatment_month": p.outside_treatment_month,
            "by_relation_visit": _relation_visit(p.by_relation_visit),
        },
        "amounts_by_fund_fen": p.funds_fen,
        "amounts_by_fund_split_fen": {
            "cleared": p.funds_cleared_fen,
            "not_cleared": p.funds_not_cleared_fen,
        },
        "coverage_basis": dict(sorted(p.bases.items())),
        "retroactive_filing": {
            "encounters": p.retroactive,
            "cross_region_encounters": p.cross_region_encounters,
            "share_bp": p.retroactive_bp,
        },
        "conservation": {
            "passed": p.conservation_ok and p.adjustments_ok,
            "settlements_cleared_fen": p.settlements_cleared_fen,
            "statements_fen": p.statements_fen,
            "adjustments_carried_in_fen": p.adjustments_fen,
            "adjustments_decided_for_period_fen": p.decided_for_period_fen,
        },
        "net_positions": [
            {
                "leg": lv.leg,
                "scope": lv.scope,
                "hub": lv.hub,
                "sum_fen": lv.net_sum_fen,
                "province_net_fen": lv.province_net_fen,
                "balanced": lv.balanced,
                "positions": [
                    {"party": party, "receivable_fen": r, "payable_fen": pay, "net_fen": net}
                    for party, r, pay, net in lv.positions
                ],
            }
            for lv in p.net_levels
        ],
        "zero_sum": p.zero_sum_ok,
        "statements": {
            "count": p.statement_count,
            "by_state": dict(sorted(p.statement_states.items())),
            "late_lines": p.late_lines,
        },
        "late_events": p.late_events,
        "payment_instructions": {"count": p.instructions, "paid": p.paid},
        "disputes": [
            {
                "statement_id": d.statement_id,
                "setl_id": d.setl_id,
                "disputed_fen": d.disputed_fen,
                "raised_on": d.raised_on.isoformat(),
                "outcome": d.outcome or None,
                "decided_on": d.decided_on.isoformat() if d.decided_on else None,
                "carried_into": d.target_period or None,
                "carried_fen": d.carried_fen,
            }
            for d in p.disputes
        ],
        "adjustments_carried_in": [
            {
                "statement_id": c.statement_id,
                "origin_period": c.origin_period,
                "setl_id": c.setl_id,
                "outcome": c.outcome,
                "total_fen": c.total_fen,
            }
            for c in p.carried_in
        ],
        "advance_funds": {
            "sizing": p.advance_sizing,
            "pairs": p.advance_pairs,
            "advance_fen": p.advance_fen,
            "used_fen": p.advance_used_fen,
            "max_used_bp": p.advance_max_used_bp,
            "alerts_by_threshold_bp": {str(k): v for k, v in p.advance_alerts.items()},
            "resized_before_period": {
                "pairs_resized": p.resized_pairs,
                "pairs_kept": p.resized_kept,
                "before_fen": p.resized_before_fen,
                "after_fen": p.resized_after_fen,
            },
        },
        "annual_caps": {
            "persons_cut_by_cap": p.caps_hit,
            "first_reached": [
                {"psn_no": c.psn_no, "cohort": c.cohort, "cap": c.cap} for c in p.caps_first
            ],
        },
        "throughput": {
            "traffic_seconds": round(p.traffic_seconds, 2),
            "settlements_per_s": round(p.settlements_per_s, 1),
            "settle_p50_ms": round(p.settle_p50_ms, 1),
            "settle_p99_ms": round(p.settle_p99_ms, 1),
            "month_end_seconds": round(p.month_end_seconds, 2),
        },
    }


def summary_dict(
    f: Figures,
    tally: Tally,
    month_end: MonthEnd,
    timings: dict[str, float],
    regions: dict[str, dict[str, int]],
) -> dict[str, Any]:
    ch = f.channels
    return {
        "schema": SUMMARY_SCHEMA,
        "seed": f.seed,
        "scale": f.scale,
        "persons": f.persons,
        "encounters": f.encounters,
        "months": f.months,
        "months_line": months_line(f.months),
        "run_start": f.run_start.isoformat(),
        "first_treatment_day": f.first_day.isoformat(),
        "last_treatment_day": f.last_day.isoformat(),
        "passed": f.passed,
        "fingerprint": f.fingerprint,
        "conservation": {
            "passed": f.conservation_ok,
            "settlements_cleared_fen": f.settlements_cleared_fen,
            "statements_fen": f.statements_fen,
        },
        "zero_sum": f.zero_sum_ok,
        "treatment_month_is_clearing_period": f.outside_treatment_month == 0
        and f.periods == f.months,
        "settlements_of_another_treatment_month": f.outside_treatment_month,
        "settlements_by_relation_visit": _relation_visit(f.by_relation_visit),
        "pharmacy_purchases": pharmacy_figures.purchase_figures(tally),
        "amounts_by_fund_fen": f.funds_fen,
        # cleared: cross-pool settlements' funds the clearing counts (statements); not
        # cleared: settlements in the insured pool, and cash everywhere
        "amounts_by_fund_split_fen": {
            "cleared": f.funds_cleared_fen,
            "not_cleared": f.funds_not_cleared_fen,
        },
        "coverage_basis": dict(sorted(f.bases.items())),
        "retroactive_filing": {
            "encounters": f.retroactive,
            "cross_region_encounters": f.cross_region_encounters,
            "share_bp": f.retroactive_bp,
            "planned_encounters": f.planned_retroactive,
            "modeled_late_filing_pct": modeled_late_filing_pct(),
            "modeled_filing_timing": asdict(FILING_TIMING),
            "filings_by_timing": dict(sorted(tally.filings_by_timing.items())),
        },
        "annual_caps_first_reached_in_later_month": [
            {
                "psn_no": c.psn_no,
                "cohort": c.cohort,
                "cap": c.cap,
                "period": c.period,
                "first_settlement_period": c.first_period,
            }
            for c in f.caps_first_in_later_month
        ],
        "direct_settlement": {
            "cross_province_inpatient": list(f.cross_inpatient),
            "in_province": list(f.in_province),
            "in_province_inpatient": list(f.in_province_inpatient),
            "one_stop": f.one_stop,
            "paid_in_full": f.paid_in_full,
        },
        "filings": {
            "by_channel": dict(sorted(tally.filings_by_channel.items())),
            "online_share_bp": ch.share_bp if ch else None,
            "counts": {
                k: v for k, v in sorted(tally.counts.items()) if k.startswith(("filing", "filed"))
            },
        },
        "refusals": dict(sorted(tally.refusals.items())),
        "warnings": dict(sorted(tally.warnings.items())),
        "periods": [_period_json(p) for p in f.by_period],
        "region_queues": regions,
        "errors": dict(tally.errors),
        "throughput": {
            "traffic_seconds": round(tally.traffic_seconds, 2),
            "settlements_per_s": round(f.settlements_per_s, 1),
            "settle_p50_ms": round(f.settle_p50_ms, 1),
            "settle_p99_ms": round(f.settle_p99_ms, 1),
            "rpc_count": tally.rpc_count,
            "clock_settings": tally.clock_settings,
        },
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
    }


def write_json(
    out: Path,
    f: Figures,
    tally: Tally,
    month_end: MonthEnd,
    timings: dict[str, float],
    regions: dict[str, dict[str, int]],
) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / SUMMARY_NAME
    data = summary_dict(f, tally, month_end, timings, regions)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path
