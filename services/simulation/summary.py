"""The summary printed at the end of a simulated month (rich tables)."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.table import Table

from services.simulation.figures import Figures, pct
from services.simulation.tally import FUNDS, RELATIONS, VISITS, MonthEnd, Tally, yuan
from shared.reference import get_pool, is_pool

MAX_STATEMENT_ROWS = 40
MAX_ADVANCE_ROWS = 25
_RELATION_LABEL = {
    "LOCAL": "local (same pool)",
    "IN_PROVINCE": "in-province 省内异地",
    "CROSS_PROVINCE": "cross-province 跨省异地",
}
_FUND_LABEL = {
    "hifp": "hifp basic pool fund 统筹基金",
    "hifob": "hifob employee large-amount 职工大额",
    "hifmi": "hifmi resident critical illness 居民大病",
    "cvlserv": "cvlserv civil-servant subsidy",
    "hifes": "hifes enterprise supplementary",
    "maf": "maf medical assistance 医疗救助",
    "oth": "oth other funds",
    "acct": "acct personal account 个人账户",
    "cash": "cash paid by patients 个人现金",
}


_BASIS_LABEL = {
    "LOCAL": "LOCAL: treated in the insured pool",
    "EXEMPT_BQF": "EXEMPT_BQF: 北钦防, no filing, local ratios",
    "EXEMPT_GD_IN_PROVINCE": "EXEMPT_GD_IN_PROVINCE: Guangdong in-province, no filing",
    "FILING": "FILING: a filing valid on the day",
    "RETROACTIVE_FILING": "RETROACTIVE_FILING: a filing submitted after the day (补办)*",
    "EMERGENCY": "EMERGENCY: counts as filed",
    "UNSPECIFIED": "not covered yet (no filing)",
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


def render(
    console: Console, f: Figures, tally: Tally, month_end: MonthEnd, timings: dict[str, float]
) -> None:
    console.rule(f"[bold]crossclear simulated month {f.month} — seed {f.seed}, scale {f.scale}")
    console.print(
        f"{f.persons} insured persons, {f.encounters} planned encounters, treated on "
        f"{f.first_day:%Y-%m-%d} … {f.last_day:%Y-%m-%d} (treatment month {f.month}; never today or later). "
        f"Clearing periods are assigned by the settlement service when a settlement commits, "
        f"so this month's traffic landed in period(s) {', '.join(f.periods) or '—'}, "
        "which the month-end run closed. Policy figures and the population mix are modeled."
    )
    _settlements(console, f)
    _funds(console, f)
    _plan_figures(console, f, tally)
    _refusals(console, tally)
    _statements(console, month_end)
    _positions(console, month_end)
    _advance(console, month_end)
    _run(console, f, tally, month_end, timings)
    _errors(console, tally)
    _verdict(console, f)


def _settlements(console: Console, f: Figures) -> None:
    table = _table(
        "Settlements by relation and visit type (standing, after reversals)",
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


def _funds(console: Console, f: Figures) -> None:
    table = _table(
        "Amounts by fund (settlements less reversals)",
        "fund",
        "amount (yuan)",
        "share",
        right=(1, 2),
    )
    total = sum(f.funds_fen.values())
    for fund in FUNDS:
        amount = f.funds_fen.get(fund, 0)
        if amount or fund in ("hifp", "hifob", "hifmi", "maf", "acct", "cash"):
            table.add_row(_FUND_LABEL[fund], yuan(amount), pct(amount, total))
    table.add_row("[bold]total medical fees", f"[bold]{yuan(total)}", "100.00 %")
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
            "online filing share (GetChannelFigures)",
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
    for key in (
        "filings submitted",
        "filings starting before their submission day",
        "filed after a refusal (补办)",
        "filings changed",
        "filings cancelled",
    ):
        filings.add_row(key, str(tally.counts.get(key, 0)))
    for key, count in sorted(tally.counts.items()):
        if key.startswith("filing changes refused"):
            filings.add_row(key, str(count))
    console.print(filings)


def _refusals(console: Console, tally: Tally) -> None:
    table = _table("Refusals and supervision", "code", "count", right=(1,))
    for reason, count in sorted(tally.refusals.items()):
        table.add_row(f"refused: {reason}", str(count))
    for code, count in sorted(tally.warnings.items()):
        table.add_row(f"warning: {code}", str(count))
    if not tally.refusals and not tally.warnings:
        table.add_row("none", "0")
    console.print(table)
    bases = _table(
        "Coverage basis at registration or admission (2201/2401)", "basis", "encounters", right=(1,)
    )
    for basis, count in sorted(tally.bases.items(), key=lambda kv: -kv[1]):
        bases.add_row(_BASIS_LABEL.get(basis, basis), str(count))
    console.print(bases)
    console.print(
        "  * The simulation's filings are submitted on the day it runs, after the simulated "
        "treatment days, so the filing service rightly sees them as filed afterwards."
    )


def _statements(console: Console, month_end: MonthEnd) -> None:
    states = Counter(s.state for s in month_end.statements)
    table = _table(
        f"Statements ({len(month_end.statements)}; "
        + ", ".join(f"{k} {v}" for k, v in sorted(states.items()))
        + ")",
        "insured pool (pays)",
        "treatment pool (receives)",
        "level",
        "lines",
        "net (yuan)",
        "netted (yuan)",
        "state",
        right=(3, 4, 5),
    )
    ordered = sorted(month_end.statements, key=lambda s: -s.net_fen)
    for s in ordered[:MAX_STATEMENT_ROWS]:
        table.add_row(
            party_label(s.insured_pool),
            party_label(s.treatment_pool),
            s.level,
            str(s.line_count),
            yuan(s.net_fen),
            yuan(s.confirmed_net_fen),
            s.state,
        )
    if len(ordered) > MAX_STATEMENT_ROWS:
        rest = ordered[MAX_STATEMENT_ROWS:]
        table.add_row(
            f"… {len(rest)} more",
            "",
            "",
            str(sum(s.line_count for s in rest)),
            yuan(sum(s.net_fen for s in rest)),
            "",
            "",
        )
    console.print(table)
    for statement_id, outcome, target, amount in month_end.disputes:
        console.print(
            f"  dispute on {statement_id}: {outcome}, {yuan(amount)} yuan carried into {target}"
        )


def _positions(console: Console, month_end: MonthEnd) -> None:
    order = {"PROVINCIAL": 0, "NATIONAL": 1, "ALLOCATION": 2}
    for level in sorted(month_end.net_levels, key=lambda lv: (order.get(lv.leg, 9), lv.scope)):
        scope = party_label(level.scope)
        table = _table(
            f"Net positions — {level.leg} {scope} (hub {level.hub}); "
            f"sum {yuan(level.net_sum_fen)}"
            + (
                f" = province's national position {yuan(level.province_net_fen)}"
                if level.leg == "ALLOCATION"
                else ""
            )
            + (" ✓" if level.balanced else " ✗ NOT BALANCED"),
            "party",
            "receivable (yuan)",
            "payable (yuan)",
            "net (yuan, + receives)",
            right=(1, 2, 3),
        )
        for party, receivable, payable, net in level.positions:
            table.add_row(party_label(party), yuan(receivable), yuan(payable), yuan(net))
        console.print(table)
    paid = sum(1 for i in month_end.instructions if i[5] == "PAID")
    console.print(
        f"Payment instructions: {len(month_end.instructions)}, paid {paid}; period state: "
        + ", ".join(f"{p} {s}" for p, s in month_end.period_states.items())
    )


def _advance(console: Console, month_end: MonthEnd) -> None:
    if not month_end.advance:
        return
    alerted = [a for a in month_end.advance if a[5]]
    table = _table(
        f"Advance funds 预付金 (modeled sizes; {len(alerted)} of {len(month_end.advance)} pairs alerted)",
        "insured → treatment",
        "advance (yuan)",
        "used (yuan)",
        "used",
        "alerts",
        right=(1, 2, 3),
    )
    ordered = sorted(month_end.advance, key=lambda a: (-a[4], a[0], a[1]))
    for insured, treatment, advance, used, used_bp, alerts in ordered[:MAX_ADVANCE_ROWS]:
        table.add_row(
            f"{party_label(insured)} → {party_label(treatment)}",
            yuan(advance),
            yuan(used),
            f"{used_bp // 100}.{used_bp % 100:02d} %",
            ", ".join(f"{t // 100} %" for t in alerts),
        )
    console.print(table)


def _run(
    console: Console, f: Figures, tally: Tally, month_end: MonthEnd, timings: dict[str, float]
) -> None:
    table = _table("The run", "what", "value", right=(1,))
    table.add_row("service start-up", f"{timings.get('startup', 0):.1f} s")
    table.add_row("traffic (persons, filings, hospitals)", f"{tally.traffic_seconds:.1f} s")
    table.add_row("settlements per second", f"{f.settlements_per_s:.1f}")
    table.add_row(
        "Settle latency p50 / p99", f"{f.settle_p50_ms:.0f} ms / {f.settle_p99_ms:.0f} ms"
    )
    table.add_row("gRPC calls", str(tally.rpc_count))
    table.add_row(
        "month-end run",
        f"{month_end.seconds:.1f} s (ledger catch-up {month_end.ingest_seconds:.1f} s)",
    )
    table.add_row(
        "statements regenerated on the same cut-off: changed", str(month_end.regenerated_changed)
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
    verdict = "[bold green]PASS" if f.conservation_ok else "[bold red]FAIL"
    console.print(
        f"Conservation: cross-pool settlements less reversals {yuan(f.settlements_cleared_fen)} yuan "
        f"= statements {yuan(f.statements_fen)} yuan → {verdict}"
    )
    zero = "[bold green]PASS" if f.zero_sum_ok else "[bold red]FAIL"
    console.print(f"Net positions sum to zero at every level: {zero}")
    console.print(f"Statements fingerprint: [bold]{f.fingerprint}[/bold]")
