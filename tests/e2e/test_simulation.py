"""The main job end to end: the three services as processes, a small simulated month,
the month-end clearing — then the money must add up, and a second run with the same
seed must clear exactly the same statements.
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
from services.simulation.scenario import Scale
from services.simulation.stack import drop_database, reset_namespace, sim_settings
from shared.config import Settings
from shared.db import database_of

pytestmark = pytest.mark.e2e

PERSONS = 60  # about 250 encounters: enough for every cohort, fast enough to run twice


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


FUND_COLUMNS = {
    "hifp": "hifp_pay_fen",
    "hifob": "hifob_pay_fen",
    "hifmi": "hifmi_pay_fen",
    "cvlserv": "cvlserv_pay_fen",
    "maf": "maf_pay_fen",
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


async def _run(
    settings: Settings, suffix: str, out: Path
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
            scale=Scale.small,
            seed=20261,
            out=out,
            console=console,
            settings=sim,
            persons=PERSONS,
        )
        totals = await _cross_schema_totals(sim.database_url)
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


async def test_statements_equal_the_settlement_services_own_records(
    runs: list[Outcome], cross_schema: dict[str, tuple[Totals, Totals]]
) -> None:
    """Every statement's per-fund total, read from the clearing schema, equals the sum of
    the settlement schema's settlements and reversals for that pool pair and period."""
    statements, settled = cross_schema["first"]
    assert statements, "the month produced statements"
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
    assert month_end.regenerated_changed == 0
    assert all(state == "PAID" for *_, state in month_end.instructions)
    assert month_end.disputes, "one region disputes a few lines"


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


async def test_summary_prints_the_verdict(runs: list[Outcome]) -> None:
    o = runs[0]
    buffer = io.StringIO()
    summary.render(Console(file=buffer, width=160), o.figures, o.tally, o.month_end, o.timings)
    text = buffer.getvalue()
    assert "→ PASS" in text
    assert f"Statements fingerprint: {o.figures.fingerprint}" in text
