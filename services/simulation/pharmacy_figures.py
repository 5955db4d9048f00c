"""Pharmacy purchases in the summary, summary.json and the report: counted and summed
apart from the hospital encounters (standing purchases, after cancels), by kind and by
city of the pharmacy, with the purchases refused (the patient paid in full)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from services.simulation.labels import VISIT_ZH, coded_html, party_html
from services.simulation.pharmacies import CANCELLED, PLANNED, REFUSED, SETTLED
from services.simulation.tally import FUNDS, PAYING_FUNDS, VISITS, SettlementRecord, Tally, yuan


def is_pharmacy(record: SettlementRecord) -> bool:
    return record.hospital.startswith("P")


def purchase_figures(tally: Tally) -> dict[str, Any]:
    """Standing pharmacy purchases (after cancels): counts and amounts, by kind and city."""
    rows = [s for s in tally.settlements if is_pharmacy(s)]
    by_kind: dict[str, dict[str, int]] = {}
    by_pool: dict[str, dict[str, int]] = {}
    totals = {"purchases": 0, "medfee_fen": 0, **{f"{f}_fen": 0 for f in FUNDS}}
    for s in rows:
        sign = -1 if s.reversal else 1
        for bucket in (
            totals,
            by_kind.setdefault(s.visit, dict.fromkeys(totals, 0)),
            by_pool.setdefault(s.treatment_pool, dict.fromkeys(totals, 0)),
        ):
            bucket["purchases"] += sign
            bucket["medfee_fen"] += s.medfee_fen
            for fund in FUNDS:
                bucket[f"{fund}_fen"] += s.amounts[fund]
    fund_fen = sum(totals[f"{f}_fen"] for f in PAYING_FUNDS)
    return {
        "totals": totals,
        "purchases": totals["purchases"],
        "medfee_fen": totals["medfee_fen"],
        "fund_fen": fund_fen,
        "acct_fen": totals["acct_fen"],
        "cash_fen": totals["cash_fen"],
        "amounts_by_fund_fen": {f: totals[f"{f}_fen"] for f in FUNDS},
        "by_kind": dict(sorted(by_kind.items())),
        "by_treatment_pool": dict(sorted(by_pool.items())),
        "planned": tally.counts[PLANNED],
        "settled": tally.counts[SETTLED],
        "cancelled": tally.counts[CANCELLED],
        "refused": {
            k[len(REFUSED) + 2 : -1]: v
            for k, v in sorted(tally.counts.items())
            if k.startswith(REFUSED)
        },
    }


def render(console: Console, tally: Tally) -> None:
    f = purchase_figures(tally)
    table = Table(
        title="Pharmacy purchases (定点药店购药), apart from the hospital encounters (standing)",
        title_justify="left",
        title_style="bold",
        header_style="cyan",
    )
    for index, column in enumerate(
        ("kind", "purchases", "medical fees (yuan)", "funds", "personal account", "cash")
    ):
        table.add_column(column, justify="right" if index else "left")
    for kind, row in f["by_kind"].items():
        table.add_row(VISITS.get(kind, kind), *_cells(row))
    table.add_row("[bold]all", *_cells(f["totals"]))
    console.print(table)
    refused = ", ".join(f"{k} {v}" for k, v in f["refused"].items()) or "none"
    console.print(
        f"{f['planned']} purchases planned at {len(f['by_treatment_pool'])} cities' pharmacies: "
        f"{f['settled']} settled, {f['cancelled']} cancelled the same day (2103); "
        f"refused (paid in full): {refused}."
    )


def _cells(row: dict[str, int]) -> list[str]:
    funds = sum(row[f"{f}_fen"] for f in PAYING_FUNDS)
    return [
        str(row["purchases"]),
        yuan(row["medfee_fen"]),
        yuan(funds),
        yuan(row["acct_fen"]),
        yuan(row["cash_fen"]),
    ]


def html(tally: Tally) -> str:
    """The report's table: by city of the pharmacy and kind."""
    f = purchase_figures(tally)
    rows = []
    for kind, row in f["by_kind"].items():
        rows.append(f"<tr><td>{coded_html(VISIT_ZH, kind)}</td>{_html_cells(row)}</tr>")
    for pool, row in f["by_treatment_pool"].items():
        rows.append(f"<tr><td>{party_html(pool)}</td>{_html_cells(row)}</tr>")
    rows.append(f"<tr class='sum'><td>合计</td>{_html_cells(f['totals'])}</tr>")
    head = (
        "<tr><th>类型 / 药店所在地</th><th>购药笔数</th><th>医疗费用（元）</th>"
        "<th>基金支付（元）</th><th>个人账户（元）</th><th>现金（元）</th></tr>"
    )
    return f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


def _html_cells(row: dict[str, int]) -> str:
    return "".join(f"<td class='num'>{cell}</td>" for cell in _cells(row))
