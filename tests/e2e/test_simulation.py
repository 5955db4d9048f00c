"""The main job end to end: the three services as processes on a simulated clock, a small
simulated month, its clearing on day 5 of the next month — then the money must add up,
the month must be cleared in its own period, ``summary.json`` must say so, and a second
run with the same seed must clear exactly the same statements. A short two-month run
checks what carries from one month to the next: the disputed lines, the advance funds.

The three-month run (``crossclear simulate --months 3 --scale small``, a few minutes) is
a manual check, described in the README.
"""

from __future__ import annotations

import io
import json
import socket
from pathlib import Path

import asyncpg
import pytest
from rich.console import Console

from services.simulation import report, summary
from services.simulation.cli import Outcome, simulate_async
from services.simulation.scenario import DEFAULT_FIRST_MONTH, Scale, next_month
from services.simulation.stack import drop_database, reset_namespace, sim_settings
from shared.config import Settings
from shared.db import database_of
from shared.vocabulary import SETTLED_FUNDS

pytestmark = pytest.mark.e2e

PERSONS = 60  # about 250 encounters: enough for every cohort, fast enough to run twice
TWO_MONTH_PERSONS = 30  # the short multi-month check


def _free_ports() -> dict[str, int]:
    sockets = []
    ports = {}
    for name in ("filing", "settlement", "clearing"):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
        ports[name] = sock.getsockname()[1]
    for sock in sockets:
        sock.close()
    return ports


# Each fund's amount as stored: a key of fund_pay_fen; the personal account's, a column.
FUND_COLUMNS = {
    **{
        fund: f"coalesce((fund_pay_fen->>'{fund}')::bigint, 0)"
        for fund in (f.value for f in SETTLED_FUNDS)
    },
    "acct": "acct_pay_fen",
}
Totals = dict[tuple[str, str, str, str], int]  # (period, insured, treatment, fund) → fen


async def _cross_schema_totals(database_url: str) -> tuple[Totals, Totals]:
    """Each statement's per-fund totals from the clearing schema, and the same sums taken
    from the settlement service's own settlements table (reversals are stored negated)."""
    conn = await asyncpg.connect(database_url)
    try:
        statements: Totals = {}
        for row in await conn.fetch(
            "SELECT period, insured_pool, treatment_pool, funds FROM clearing.statements"
        ):
            for fund in json.loads(row["funds"]):
                assert fund["late_fen"] == 0, "the simulation closes after all traffic"
                key = (row["period"], row["insured_pool"], row["treatment_pool"], fund["fund"])
                statements[key] = fund["settled_fen"] + fund["reversed_fen"]
        sums = ", ".join(f"sum({col}) AS {fund}" for fund, col in FUND_COLUMNS.items())
        settled: Totals = {}
        for row in await conn.fetch(
            f"""SELECT clearing_period, insured_pool, treatment_pool, {sums}
                FROM settlement.settlements
                WHERE insured_pool <> treatment_pool
                  AND clearing_period IN (SELECT period FROM clearing.statements)
                GROUP BY 1, 2, 3"""
        ):
            for fund in FUND_COLUMNS:
                if row[fund]:
                    key = (row["clearing_period"], row["insured_pool"], row["treatment_pool"], fund)
                    settled[key] = int(row[fund])
        return {k: v for k, v in statements.items() if v}, settled
    finally:
        await conn.close()


KindTotals = dict[tuple[str, str, str, str, str], int]  # Totals keyed by kind before fund


async def _cross_schema_kind_totals(database_url: str) -> tuple[KindTotals, KindTotals]:
    """The same comparison per institution kind: each statement's hospital and pharmacy
    parts, and the settlement schema's settlements at hospitals (H…) and pharmacies (P…)."""
    kinds = {"H": "HOSPITAL", "P": "PHARMACY"}
    conn = await asyncpg.connect(database_url)
    try:
        statements: KindTotals = {}
        for row in await conn.fetch(
            "SELECT period, insured_pool, treatment_pool, institution_totals"
            " FROM clearing.statements"
        ):
            for part in json.loads(row["institution_totals"]):
                for fund in part["funds"]:
                    amount = fund["settled_fen"] + fund["reversed_fen"]
                    if amount:
                        pair = (row["period"], row["insured_pool"], row["treatment_pool"])
                        statements[(*pair, part["kind"], fund["fund"])] = amount
        sums = ", ".join(f"sum({col}) AS {fund}" for fund, col in FUND_COLUMNS.items())
        settled: KindTotals = {}
        for row in await conn.fetch(
            f"""SELECT clearing_period, insured_pool, treatment_pool,
                       left(hospital_code, 1) AS kind, {sums}
                FROM settlement.settlements
                WHERE insured_pool <> treatment_pool
                  AND clearing_period IN (SELECT period FROM clearing.statements)
                GROUP BY 1, 2, 3, 4"""
        ):
            for fund in FUND_COLUMNS:
                if row[fund]:
                    pair = (row["clearing_period"], row["insured_pool"], row["treatment_pool"])
                    settled[(*pair, kinds[row["kind"]], fund)] = int(row[fund])
        return statements, settled
    finally:
        await conn.close()


# Per run (by database suffix): the per-kind totals of both schemas.
kind_totals: dict[str, tuple[KindTotals, KindTotals]] = {}


async def _run(
    settings: Settings, suffix: str, out: Path, *, months: int = 1, persons: int = PERSONS
) -> tuple[Outcome, str, tuple[Totals, Totals]]:
    sim = sim_settings(
        database=f"{database_of(settings.database_url)}_{suffix}",
        namespace=f"{settings.bus_namespace}-{suffix}",
        ports=_free_ports(),
    )
    buffer = io.StringIO()
    console = Console(file=buffer, width=160)
    try:
        outcome = await simulate_async(
            month=None,
            months=months,
            scale=Scale.small,
            seed=20261,
            out=out,
            console=console,
            settings=sim,
            persons=persons,
        )
        totals = await _cross_schema_totals(sim.database_url)
        kind_totals[suffix] = await _cross_schema_kind_totals(sim.database_url)
    except BaseException:
        log = out / "services.log"
        if log.exists():  # pytest shows it with the failure
            print(f"-- tail of {log}:\n{log.read_text(encoding='utf-8')[-6000:]}")
        raise
    finally:
        await drop_database(sim)
        await reset_namespace(sim)
    return outcome, buffer.getvalue(), totals


@pytest.fixture(scope="module")
def cross_schema() -> dict[str, tuple[Totals, Totals]]:
    return {}


@pytest.fixture(scope="module")
async def runs(
    settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
    cross_schema: dict[str, tuple[Totals, Totals]],
) -> list[Outcome]:
    out = tmp_path_factory.mktemp("simulation")
    first, _, cross_schema["first"] = await _run(settings, "sim1", out / "first")
    second, _, _ = await _run(settings, "sim2", out / "second")
    return [first, second]


@pytest.fixture(scope="module")
async def two_months(
    settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
    cross_schema: dict[str, tuple[Totals, Totals]],
) -> Outcome:
    out = tmp_path_factory.mktemp("simulation") / "two-months"
    outcome, _, cross_schema["two"] = await _run(
        settings, "sim3", out, months=2, persons=TWO_MONTH_PERSONS
    )
    return outcome


async def test_statements_equal_the_settlement_services_own_records(
    runs: list[Outcome], cross_schema: dict[str, tuple[Totals, Totals]]
) -> None:
    """Every statement's per-fund total, read from the clearing schema, equals the sum of
    the settlement schema's settlements and reversals for that pool pair and period."""
    statements, settled = cross_schema["first"]
    assert statements, "the month produced statements"
    assert statements == settled


async def test_pharmacy_purchases_reach_the_statements_of_their_pool_pair(
    runs: list[Outcome],
) -> None:
    """The month's pharmacy purchases (settled through 2102 by the settlement service) are
    in the clearing ledger and in each pool pair's statement as its pharmacy part, to the
    fen, fund by fund; the hospital part likewise."""
    statements, settled = kind_totals["sim1"]
    pharmacy = {k: v for k, v in statements.items() if k[3] == "PHARMACY"}
    assert pharmacy, "the simulated month cleared pharmacy purchases across pools"
    assert any(k[3] == "HOSPITAL" for k in statements)
    assert statements == settled


async def test_statements_conserve_the_settled_money(runs: list[Outcome]) -> None:
    outcome = runs[0]
    f = outcome.figures
    assert not outcome.tally.errors, dict(outcome.tally.error_samples)
    assert f.settlements_cleared_fen > 0
    assert f.statements_fen == f.settlements_cleared_fen
    assert outcome.month_end.statements


async def test_net_positions_sum_to_zero_at_every_level(runs: list[Outcome]) -> None:
    levels = runs[0].month_end.net_levels
    assert {lv.leg for lv in levels} >= {"PROVINCIAL", "NATIONAL"}
    for level in levels:
        target = level.province_net_fen if level.leg == "ALLOCATION" else 0
        assert level.net_sum_fen == target, (level.leg, level.scope)


async def test_the_period_is_cleared_to_the_end(runs: list[Outcome]) -> None:
    month_end = runs[0].month_end
    assert set(month_end.period_states.values()) == {"SETTLED"}
    assert set(month_end.regenerated_changed.values()) == {0}
    assert all(state == "PAID" for *_, state in month_end.instructions)
    assert month_end.disputes, "one region disputes a few lines"
    # Decided after review, on day 15, and carried into the next period.
    assert {d.target_period for d in month_end.disputes} == {next_month(DEFAULT_FIRST_MONTH)}


async def test_the_treatment_month_is_cleared_in_its_own_period(runs: list[Outcome]) -> None:
    """The services ran on the simulated calendar: every settlement committed on its
    treatment day, so it landed in the treatment month's period, cleared on day 5 of the
    next month; filings were made before travelling, so few are retroactive."""
    o = runs[0]
    f = o.figures
    assert f.months == f.periods == [DEFAULT_FIRST_MONTH]
    assert {s.clr_ym for s in o.tally.settlements} == {DEFAULT_FIRST_MONTH}
    assert all(s.sim_day.strftime("%Y%m") == DEFAULT_FIRST_MONTH for s in o.tally.settlements)
    assert f.outside_treatment_month == 0
    cleared_on = o.month_end.cleared_on[DEFAULT_FIRST_MONTH]
    assert (cleared_on.strftime("%Y%m"), cleared_on.day) == (next_month(DEFAULT_FIRST_MONTH), 5)
    assert f.cross_region_encounters > 0
    assert f.retroactive * 100 < 15 * f.cross_region_encounters
    assert o.tally.filings_by_timing["BEFORE_RUN"] > 0, "long-term filers filed months before"


async def test_same_seed_same_statements(runs: list[Outcome]) -> None:
    first, second = runs
    assert first.figures.fingerprint == second.figures.fingerprint
    assert first.figures.funds_fen == second.figures.funds_fen


async def test_report_is_self_contained(runs: list[Outcome], tmp_path: Path) -> None:
    o = runs[0]
    path = report.write(tmp_path, o.plan, o.tally, o.month_end, o.figures, o.regions)
    page = path.read_text(encoding="utf-8")
    assert "<svg" in page and "<script" not in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page


async def test_report_speaks_to_officers(runs: list[Outcome], tmp_path: Path) -> None:
    """Chinese labels with the codes beside them, no unset enum anywhere, the heatmap's
    amounts printed in its cells, the two fund groups and the pools' net positions over
    both levels."""
    o = runs[0]
    page = report.write(tmp_path, o.plan, o.tally, o.month_end, o.figures, o.regions).read_text(
        encoding="utf-8"
    )
    assert '南宁市 <small class="code">450100</small>' in page
    assert '广州市<tspan class="code" dx="3">440100</tspan>' in page  # in the charts
    for label in ("本地", "省内异地", "跨省异地", "统筹基金", "个人账户", "现金"):
        assert label in page, label
    assert "UNSPECIFIED" not in page and "未分类" not in page
    assert 'class="cell' in page, "the heatmap prints its amounts"
    assert "跨统筹区清算的基金" in page and "不参与清算" in page
    assert "合计净额" in page
    # The cleared funds are the statements' money; the two groups are the medical fees.
    f = o.figures
    assert sum(f.funds_cleared_fen.values()) == f.statements_fen
    assert sum(f.funds_cleared_fen.values()) + sum(f.funds_not_cleared_fen.values()) == sum(
        f.funds_fen.values()
    )
    # Each pool's net over both levels: the levels balance, so the pools sum to zero.
    rows = report.pool_net_rows(o.month_end)
    assert rows and sum(p + n for _, p, n in rows) == 0
    json_text = summary.write_json(
        tmp_path, f, o.tally, o.month_end, o.timings, o.regions
    ).read_text(encoding="utf-8")
    assert "UNSPECIFIED" not in json_text


async def test_summary_json_carries_the_printed_figures(
    runs: list[Outcome], tmp_path: Path
) -> None:
    o = runs[0]
    path = summary.write_json(tmp_path, o.figures, o.tally, o.month_end, o.timings, o.regions)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["passed"] is True
    assert data["fingerprint"] == o.figures.fingerprint
    assert data["months"] == [DEFAULT_FIRST_MONTH]
    assert data["treatment_month_is_clearing_period"] is True
    retro = data["retroactive_filing"]
    assert retro["share_bp"] < 1500 and retro["modeled_late_filing_pct"] > 0
    (period,) = data["periods"]
    assert period["period"] == period["treatment_month"] == DEFAULT_FIRST_MONTH
    assert period["state"] == "SETTLED"
    assert period["conservation"]["passed"] is True
    assert period["conservation"]["statements_fen"] == o.figures.statements_fen
    assert {lv["leg"] for lv in period["net_positions"]} >= {"PROVINCIAL", "NATIONAL"}
    assert all(lv["balanced"] for lv in period["net_positions"])
    assert sum(period["statements"]["by_state"].values()) == period["statements"]["count"] > 0
    assert period["settlements"]["by_relation_visit"]
    assert set(period["amounts_by_fund_fen"]) >= {"hifp", "cash"}
    assert sum(period["coverage_basis"].values()) == len(o.tally.outcomes) - sum(
        1 for x in o.tally.outcomes if not x.basis
    )
    assert period["advance_funds"]["pairs"] > 0
    assert period["throughput"]["settlements_per_s"] > 0
    assert period["late_events"] == 0


async def test_two_months_carry_disputes_and_resize_advance_funds(
    two_months: Outcome, cross_schema: dict[str, tuple[Totals, Totals]]
) -> None:
    o = two_months
    f = o.figures
    first, second = DEFAULT_FIRST_MONTH, next_month(DEFAULT_FIRST_MONTH)
    assert not o.tally.errors, dict(o.tally.error_samples)
    assert f.periods == f.months == [first, second]
    assert o.month_end.period_states == {first: "SETTLED", second: "SETTLED"}
    assert f.outside_treatment_month == 0
    assert f.passed
    statements, settled = cross_schema["two"]
    assert statements == settled
    # The lines disputed at the first month-end, decided in the second month, are on the
    # second period's statements as adjustments.
    carried = [d for d in o.month_end.disputes if d.period == first]
    assert carried and {d.target_period for d in carried} == {second}
    by_period = {p.period: p for p in f.by_period}
    assert by_period[second].carried_in
    assert by_period[second].adjustments_fen == sum(d.carried_fen for d in carried)
    # The second month's advance funds were sized from the first month's payments.
    resized = [r for r in o.month_end.resizes if r.for_period == second and not r.kept]
    assert resized and all(r.trailing_fen and r.trailing_fen[-1] > 0 for r in resized)


async def test_summary_prints_the_verdict(runs: list[Outcome]) -> None:
    o = runs[0]
    buffer = io.StringIO()
    summary.render(Console(file=buffer, width=160), o.figures, o.tally, o.month_end, o.timings)
    text = buffer.getvalue()
    assert "→ PASS" in text
    assert f"Statements fingerprint: {o.figures.fingerprint}" in text
