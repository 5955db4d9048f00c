"""The main job end to end: the three services as processes, a small simulated month,
the month-end clearing — then the money must add up, and a second run with the same
seed must clear exactly the same statements.
"""

from __future__ import annotations

import io
import socket
from pathlib import Path

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


async def _run(settings: Settings, suffix: str, out: Path) -> tuple[Outcome, str]:
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
    finally:
        await drop_database(sim)
        await reset_namespace(sim)
    return outcome, buffer.getvalue()


@pytest.fixture(scope="module")
async def runs(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> list[Outcome]:
    out = tmp_path_factory.mktemp("simulation")
    first, _ = await _run(settings, "sim1", out / "first")
    second, _ = await _run(settings, "sim2", out / "second")
    return [first, second]


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
