"""``crossclear simulate``: the three services on a simulated clock, simulated months of
traffic from Guangxi, Guangzhou and Greater Bay Area hospitals day by day, each month's
clearing on day 5 of the next, a summary, ``summary.json`` and a report.
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

from services.simulation import report, statement_export, summary
from services.simulation.advances import set_advance_funds
from services.simulation.clients import ChannelTokens, Clients
from services.simulation.clockwork import Kind, SimClock, china, timeline
from services.simulation.figures import ChannelFigures, Figures, compute, months_line
from services.simulation.month_end import STEPS_PER_MONTH_END, MonthEndRun
from services.simulation.pharmacies import PLANNED, PharmacyTraffic, plan_purchases, purchase_steps
from services.simulation.region_queues import drain_region_queues
from services.simulation.scenario import (
    CONCURRENCY_OF_SCALE,
    DEFAULT_FIRST_MONTH,
    PERSONS_OF_SCALE,
    Plan,
    Scale,
    build_plan,
    check_months,
    month_of,
    next_month,
    planned_retroactive,
)
from services.simulation.stack import Removed, clean, running_stack, sim_settings
from services.simulation.statement_views import refresh_states
from services.simulation.tally import PRE_RUN, MonthEnd, Tally
from services.simulation.traffic import Traffic
from shared.config import Settings
from shared.devidp import DevIdp, idp_dir
from shared.pb.crossclear.filing.v1 import filing_pb2

OPERATOR = "op-simulator"


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
    plan: Plan,
    concurrency: int,
    scale_label: str,
    out: Path,
    console: Console,
) -> Outcome:
    """The whole job on ``plan``; the services must be reachable at ``settings``' targets,
    on simulated clocks that have not passed ``plan.run_start``."""
    started = time.perf_counter()
    tally = Tally()
    month_end = MonthEnd()
    clients = Clients.open(settings)
    try:
        clock = SimClock(clients, china(plan.run_start))
        clients.tokens = ChannelTokens(
            DevIdp.ensure(idp_dir(settings.state_dir)), settings.idp_audience, clock.now
        )
        await clock.sync()
        await clock.advance_to(plan.run_start)
        purchases = plan_purchases(plan)
        tally.counts[PLANNED] = len(purchases)
        steps = sorted([*plan.steps(), *purchase_steps(purchases)], key=lambda s: s.key)
        items = timeline(plan, steps)
        last_day = max(i.start for i in items).date()
        with Progress(
            TextColumn("{task.description:<44}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            tasks = {
                "persons": progress.add_task(
                    "pool agencies register persons", total=len(plan.persons)
                ),
                "days": progress.add_task(
                    "simulated days", total=(last_day - plan.run_start.date()).days + 1
                ),
                "encounters": progress.add_task("hospital encounters", total=plan.encounter_count),
                "month-end": progress.add_task(
                    "month-end clearing",
                    # and, after the first month, carried adjustments and resized advances
                    total=STEPS_PER_MONTH_END * len(plan.months) + 2 * (len(plan.months) - 1),
                ),
            }

            def advance(kind: str, n: int) -> None:
                progress.advance(tasks[kind], n)

            def step(name: str) -> None:
                progress.advance(tasks["month-end"], 1)
                progress.update(tasks["month-end"], description=f"month-end clearing: {name}")

            pharmacy = PharmacyTraffic(clients.channels[1], clients, plan, purchases)
            traffic = Traffic(clients, plan, tally, advance, concurrency, pharmacy=pharmacy)
            run = MonthEndRun(clients, settings, tally, step, month_end, clock)
            await set_advance_funds(clients, plan, tally)
            await traffic.register_persons()
            day = plan.run_start.date()
            for item in items:
                if item.start.date() > day:
                    progress.advance(tasks["days"], (item.start.date() - day).days)
                    day = item.start.date()
                    progress.update(tasks["days"], description=f"simulated days: {day}")
                await clock.advance_to(item.clock_target)
                if item.kind is Kind.SLOT:
                    began = time.perf_counter()
                    await traffic.run(item.steps)
                    seconds = time.perf_counter() - began
                    month = month_of(item.start.date())
                    key = month if month in plan.months else PRE_RUN
                    tally.traffic_seconds += seconds
                    by_month = tally.traffic_seconds_by_month
                    by_month[key] = by_month.get(key, 0.0) + seconds
                elif item.kind is Kind.MONTH_END:
                    await run.period(item.month)
                    following = next_month(item.month)
                    if following in plan.months:
                        await run.resize_advances(item.month, following)
                else:
                    await run.decide(item.month)
            progress.update(tasks["days"], completed=progress.tasks[tasks["days"]].total)
            progress.update(tasks["month-end"], description="month-end clearing: done")
            tally.clock_settings = clock.settings_made
            await refresh_states(clients, month_end)
            regions = await drain_region_queues(settings)
            exports = await statement_export.export_statements(run, month_end, out)
            month_end.exports = exports
        channels = await _channel_figures(clients, plan.run_start.date(), day)
        tally.rpc_count = clients.rpc_count
    finally:
        await clients.close()
    retroactive, _cross = planned_retroactive(plan)
    figures = compute(
        tally,
        month_end,
        seed=plan.seed,
        months=list(plan.months),
        scale=scale_label,
        persons=len(plan.persons),
        encounters=plan.encounter_count,
        channels=channels,
        first_day=plan.first_day,
        last_day=plan.last_day,
        run_start=plan.run_start.date(),
        planned_retroactive=retroactive,
    )
    timings = {"total": time.perf_counter() - started}
    return Outcome(plan, tally, month_end, figures, regions, timings)


async def _channel_figures(clients: Clients, first: date, last: date) -> ChannelFigures | None:
    """Filings by channel over the whole run, by submission day (the simulated calendar)."""
    try:
        reply = await clients.call(
            clients.filing.GetChannelFigures,
            filing_pb2.GetChannelFiguresRequest(
                start_date=first.isoformat(), end_date=last.isoformat()
            ),
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
    months: int = 1,
    settings: Settings | None = None,
    persons: int | None = None,
) -> Outcome:
    settings = settings or sim_settings()
    started = time.perf_counter()
    first_month = month or DEFAULT_FIRST_MONTH
    check_months(first_month, months)  # refuse a bad month before starting anything
    plan = build_plan(seed, first_month, months, persons or PERSONS_OF_SCALE[scale])
    console.print(
        f"Simulating {months_line(list(plan.months))} (seed {seed}, scale {scale.value})."
    )
    console.print(
        f"Starting the services on {settings.filing_target}, {settings.settlement_target}, "
        f"{settings.clearing_target} (database {settings.database_url.rsplit('/', 1)[-1]}, "
        f"bus namespace {settings.bus_namespace}) on a simulated clock from "
        f"{plan.run_start:%Y-%m-%d %H:%M} China time …"
    )
    async with running_stack(settings, out / "services.log", china(plan.run_start)) as stack:
        if not stack.started:
            console.print(
                "[yellow]Services already SERVING at these targets on simulated clocks: "
                "using them as they are."
            )
        console.print(f"Services SERVING after {stack.startup_seconds:.1f} s.")
        outcome = await run_simulation(
            settings,
            plan=plan,
            concurrency=CONCURRENCY_OF_SCALE[scale],
            scale_label=scale.value,
            out=out,
            console=console,
        )
        outcome.timings["startup"] = stack.startup_seconds
    outcome.timings["total"] = time.perf_counter() - started
    return outcome


def simulate(
    months: Annotated[
        int, typer.Option(help="how many treatment months, each cleared in its own period")
    ] = 1,
    month: Annotated[
        str | None,
        typer.Option(
            help=f"first treatment month YYYYMM (default {DEFAULT_FIRST_MONTH}, whatever today is)"
        ),
    ] = None,
    scale: Annotated[
        Scale,
        typer.Option(
            help="small: 300 persons (~1,500 visits a month); medium: 1,500; large: 6,000"
        ),
    ] = Scale.small,
    seed: Annotated[int, typer.Option(help="same seed, same months: same statements")] = 20261,
    out: Annotated[
        Path, typer.Option(help="folder for report.html, summary.json and statement exports")
    ] = Path("out/simulation"),
    clean_up: Annotated[
        bool,
        typer.Option(
            "--clean",
            help="remove the simulation's database and bus namespace (queues, exchanges) "
            "and exit; refused while services run at its ports. Leaves --out alone.",
        ),
    ] = False,
) -> None:
    """Simulated months: services on a simulated clock, traffic day by day, each month's
    clearing on day 5 of the next, summary, summary.json and report."""
    console = Console()
    if clean_up:
        clean_command(console)
        return
    out.mkdir(parents=True, exist_ok=True)
    try:
        outcome = asyncio.run(
            simulate_async(
                month=month, months=months, scale=scale, seed=seed, out=out, console=console
            )
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
    json_path = summary.write_json(
        out,
        outcome.figures,
        outcome.tally,
        outcome.month_end,
        outcome.timings,
        outcome.regions,
    )
    console.print(
        f"Report: {path.resolve()}  ({len(outcome.month_end.exports)} statement exports beside it)"
    )
    console.print(f"Figures for scripts: {json_path.resolve()}")
    if not outcome.figures.passed:
        raise typer.Exit(1)


def clean_command(console: Console, settings: Settings | None = None) -> Removed:
    """``simulate --clean``: remove what the simulation leaves behind, say what it was."""
    settings = settings or sim_settings()
    database = settings.database_url.rsplit("/", 1)[-1]
    try:
        removed = asyncio.run(clean(settings))
    except RuntimeError as error:
        console.print(f"[yellow]simulate --clean: {error}")
        raise typer.Exit(1) from error
    console.print(
        f"Removed the database {removed.database}."
        if removed.database
        else f"No database {database} to remove."
    )
    if removed.queues:
        messages = sum(n for _, n in removed.queues)
        regional = [name for name, _ in removed.queues if ".region." in name]
        named = [name for name, _ in removed.queues if ".region." not in name]
        if regional:
            named.append(f"{len(regional)} region queues {settings.bus_namespace}.region.*")
        console.print(
            f"Removed {len(removed.queues)} queues of bus namespace {settings.bus_namespace} "
            f"({messages:,} {'message' if messages == 1 else 'messages'} left in them): "
            + ", ".join(named)
        )
    else:
        console.print(f"No queue of bus namespace {settings.bus_namespace} to remove.")
    if removed.exchanges:
        console.print(
            f"Removed {len(removed.exchanges)} exchanges: " + ", ".join(removed.exchanges)
        )
    else:
        console.print(f"No exchange of bus namespace {settings.bus_namespace} to remove.")
    return removed


if __name__ == "__main__":
    typer.run(simulate)
