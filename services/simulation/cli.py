"""``crossclear simulate``: the three services, a simulated month of traffic from Guangxi,
Guangzhou and Greater Bay Area hospitals, the month-end clearing, a summary and a report.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated

import grpc
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services.simulation import report, summary
from services.simulation.clients import Clients
from services.simulation.figures import ChannelFigures, Figures, compute
from services.simulation.month_end import (
    MonthEndRun,
    drain_region_queues,
    reconcile_hospitals,
    refresh_states,
    set_advance_funds,
)
from services.simulation.scenario import (
    CONCURRENCY_OF_SCALE,
    PERSONS_OF_SCALE,
    Plan,
    Scale,
    build_plan,
    default_month,
    treatment_window,
)
from services.simulation.stack import running_stack, sim_settings
from services.simulation.tally import MonthEnd, Tally
from services.simulation.traffic import Traffic, now_in_china
from shared.config import Settings
from shared.pb.crossclear.filing.v1 import filing_pb2

OPERATOR = "op-simulator"
MONTH_END_STEPS = 12


@dataclass
class Outcome:
    plan: Plan
    tally: Tally
    month_end: MonthEnd
    figures: Figures
    regions: dict[str, dict[str, int]]
    timings: dict[str, float]


async def run_simulation(
    settings: Settings,
    *,
    month: str | None,
    persons: int,
    concurrency: int,
    seed: int,
    scale_label: str,
    out: Path,
    console: Console,
    today: date | None = None,
) -> Outcome:
    """The whole job; the services must be reachable at ``settings``' targets."""
    started = time.perf_counter()
    today = today or now_in_china().date()
    chosen_month = month or default_month(today)
    plan = build_plan(seed, chosen_month, persons, today)
    tally = Tally()
    month_end = MonthEnd()
    clients = Clients.open(settings)
    try:
        with Progress(
            TextColumn("{task.description:<34}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            tasks = {
                "persons": progress.add_task(
                    "pool agencies, persons, filings", total=len(plan.persons)
                ),
                "encounters": progress.add_task("hospital encounters", total=plan.encounter_count),
                "month-end": progress.add_task("month-end clearing", total=MONTH_END_STEPS),
            }

            def advance(kind: str, n: int) -> None:
                progress.advance(tasks[kind], n)

            def step(name: str) -> None:
                progress.advance(tasks["month-end"], 1)
                progress.update(tasks["month-end"], description=f"month-end clearing: {name}")

            traffic = Traffic(clients, plan, tally, advance, concurrency)
            await set_advance_funds(clients, plan, tally)
            await traffic.register_persons()
            await traffic.treat_all()
            await traffic.cancel_filings()
            run = MonthEndRun(clients, settings, tally, step, month_end)
            await run.run()
            progress.update(
                tasks["month-end"],
                completed=MONTH_END_STEPS,
                description="month-end clearing: done",
            )
            await refresh_states(clients, month_end)
            await reconcile_hospitals(clients, tally, month_end, today)
            regions = await drain_region_queues(settings)
            exports = await report.export_statements(run, month_end, out)
            month_end.exports = exports
        channels = await _channel_figures(clients, today)
        tally.rpc_count = clients.rpc_count
    finally:
        await clients.close()
    figures = compute(
        tally,
        month_end,
        seed=seed,
        month=chosen_month,
        scale=scale_label,
        persons=len(plan.persons),
        encounters=plan.encounter_count,
        channels=channels,
        first_day=plan.first_day,
        last_day=plan.last_day,
    )
    timings = {"total": time.perf_counter() - started}
    return Outcome(plan, tally, month_end, figures, regions, timings)


async def _channel_figures(clients: Clients, today: date) -> ChannelFigures | None:
    """Filings are submitted now (the simulation's clock is the run's), so the figures are
    those of the month the run happens in."""
    try:
        reply = await clients.call(
            clients.filing.GetChannelFigures,
            filing_pb2.GetChannelFiguresRequest(period=f"{today.year:04d}{today.month:02d}"),
            OPERATOR,
        )
    except grpc.aio.AioRpcError:
        return None
    return ChannelFigures(
        total=reply.filings_total,
        online=reply.filings_online,
        share_bp=reply.online_share_bp,
        channels_used=reply.online_channels_used,
        by_channel={
            filing_pb2.Channel.Name(c.channel).removeprefix("CHANNEL_"): c.filings
            for c in reply.channels
        },
    )


async def simulate_async(
    *,
    month: str | None,
    scale: Scale,
    seed: int,
    out: Path,
    console: Console,
    settings: Settings | None = None,
    persons: int | None = None,
) -> Outcome:
    settings = settings or sim_settings()
    started = time.perf_counter()
    today = now_in_china().date()
    treatment_window(month or default_month(today), today)  # refuse a bad month before starting
    console.print(
        f"Starting the services on {settings.filing_target}, {settings.settlement_target}, "
        f"{settings.clearing_target} (database {settings.database_url.rsplit('/', 1)[-1]}, "
        f"bus namespace {settings.bus_namespace}) …"
    )
    async with running_stack(settings, out / "services.log") as stack:
        if not stack.started:
            console.print(
                "[yellow]Services already SERVING at these targets: using them as they are."
            )
        console.print(f"Services SERVING after {stack.startup_seconds:.1f} s.")
        outcome = await run_simulation(
            settings,
            month=month,
            persons=persons or PERSONS_OF_SCALE[scale],
            concurrency=CONCURRENCY_OF_SCALE[scale],
            seed=seed,
            scale_label=scale.value,
            out=out,
            console=console,
        )
        outcome.timings["startup"] = stack.startup_seconds
    outcome.timings["total"] = time.perf_counter() - started
    return outcome


def simulate(
    month: Annotated[
        str | None,
        typer.Option(help="treatment month YYYYMM (default: the current month, Asia/Shanghai)"),
    ] = None,
    scale: Annotated[
        Scale, typer.Option(help="small: 300 persons (~1,300 visits); medium: 1,500; large: 6,000")
    ] = Scale.small,
    seed: Annotated[int, typer.Option(help="same seed, same month: same statements")] = 20261,
    out: Annotated[Path, typer.Option(help="folder for report.html and statement exports")] = Path(
        "out/simulation"
    ),
) -> None:
    """A simulated month: services, traffic, month-end clearing, summary and report."""
    console = Console()
    out.mkdir(parents=True, exist_ok=True)
    try:
        outcome = asyncio.run(
            simulate_async(month=month, scale=scale, seed=seed, out=out, console=console)
        )
    except (ValueError, RuntimeError) as error:
        console.print(f"[bold red]simulate: {error}")
        raise typer.Exit(2) from error
    summary.render(console, outcome.figures, outcome.tally, outcome.month_end, outcome.timings)
    if outcome.regions:
        issued = sum(v.get("StatementIssued", 0) for v in outcome.regions.values())
        alerts = sum(v.get("AdvanceFundAlert", 0) for v in outcome.regions.values())
        console.print(
            f"Region queues: {issued} statement messages and {alerts} advance-fund alerts "
            f"received by {len(outcome.regions)} pooling regions."
        )
    path = report.write(
        out, outcome.plan, outcome.tally, outcome.month_end, outcome.figures, outcome.regions
    )
    console.print(
        f"Report: {path.resolve()}  ({len(outcome.month_end.exports)} statement exports beside it)"
    )
    if not outcome.figures.passed:
        raise typer.Exit(1)


if __name__ == "__main__":
    typer.run(simulate)
