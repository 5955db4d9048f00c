"""The ``crossclear`` command: run services, migrate, declare the broker topology, operate.

Each service's composition root is ``services.<name>.main.build``; this module only
wires commands to them.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer

from shared.config import ServiceName, Settings, get_settings
from shared.logging import configure_logging

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="crossclear: cross-region settlement and clearing",
)

_UP_STOP_TIMEOUT_S = 20.0


def _build_fn(service: ServiceName):  # type: ignore[no-untyped-def]
    return importlib.import_module(f"services.{service.value}.main").build


def _run_served(settings: Settings, main: Coroutine[Any, Any, None]) -> None:
    """Run a serving process's main coroutine on the configured event loop."""
    if settings.event_loop == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main)
    else:
        asyncio.run(main)


@app.command()
def serve(service: ServiceName) -> None:
    """Run one service (its migrations first) until SIGTERM/Ctrl-C; with
    CROSSCLEAR_SETTLEMENT_WORKERS=N, settlement runs as N processes on one port."""
    from shared.grpc_server import serve_forever
    from shared.workers import WorkerSettingError, supervise, worker_count, worker_index

    settings = get_settings()
    try:
        workers = worker_count(service, settings)
        if workers > 1 and worker_index() is None:
            raise typer.Exit(supervise(service, settings, workers))
    except WorkerSettingError as exc:
        typer.echo(f"{service.value}: {exc}", err=True)
        raise typer.Exit(2) from None
    configure_logging(settings.log_level, settings.log_format, service=service.value)
    _run_served(settings, serve_forever(service, settings, _build_fn(service)))


@app.command()
def gateway() -> None:
    """Run the channels' HTTP/JSON gateway (CROSSCLEAR_GATEWAY_LISTEN) until SIGTERM."""
    from services.gateway.main import serve_forever

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format, service="gateway")
    _run_served(settings, serve_forever(settings))


@app.command()
def up() -> None:
    """Run the three services and the channels' HTTP gateway as separate processes;
    Ctrl-C stops them cleanly. CROSSCLEAR_SETTLEMENT_WORKERS=N runs settlement as N workers
    on its one port.

    In development mode without CROSSCLEAR_CHANNEL_IDPS, the channels' end users are those
    of the development identity provider under the state dir (``crossclear idp``)."""
    extra = _dev_idp_env()
    procs: dict[str, subprocess.Popen[bytes]] = {
        s.value: subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", s.value],
            env={**_env_of(s, i), **extra},
        )
        for i, s in enumerate(ServiceName)
    }
    procs["gateway"] = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "gateway"],
        env={**_env_of(None, len(procs)), **extra},
    )
    stopping = False

    def stop_all(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop_all)
    signal.signal(signal.SIGTERM, stop_all)
    try:
        while not stopping:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    typer.echo(
                        f"{name} exited with code {proc.returncode}; stopping the others",
                        err=True,
                    )
                    stopping = True
            time.sleep(0.5)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + _UP_STOP_TIMEOUT_S
        for proc in procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
    codes = [p.returncode for p in procs.values()]
    raise typer.Exit(0 if all(c in (0, -signal.SIGTERM) for c in codes) else 1)


def _dev_idp_env() -> dict[str, str]:
    settings = get_settings()
    if not settings.insecure_dev or settings.tls_dir or "CROSSCLEAR_CHANNEL_IDPS" in os.environ:
        return {}
    from shared.devidp import DevIdp, idp_dir

    idp = DevIdp.ensure(idp_dir(settings.state_dir))
    typer.echo(f"channels' end users: development identity provider in {idp.folder}", err=True)
    return {"CROSSCLEAR_CHANNEL_IDPS": idp.channel_idps_env()}


_PER_PROCESS_PORTS = ("CROSSCLEAR_METRICS_PORT", "CROSSCLEAR_HEALTH_PORT")


def _env_of(service: ServiceName | None, index: int) -> dict[str, str]:
    """The environment of one of ``up``'s processes: a port setting given once becomes the
    first of three consecutive ports (filing, settlement, clearing), so the processes do
    not collide on it; each listens on its own target's port."""
    env = os.environ.copy()
    for name in _PER_PROCESS_PORTS:
        base = env.get(name, "")
        if base.isdigit() and int(base) > 0:
            env[name] = str(int(base) + index)
    if env.pop("CROSSCLEAR_GRPC_LISTEN", None):
        typer.echo(
            f"{service or 'gateway'}: CROSSCLEAR_GRPC_LISTEN ignored under `up`: each service "
            "listens on its own target's port",
            err=True,
        )
    return env


@app.command()
def migrate(
    service: Annotated[list[ServiceName] | None, typer.Option("--service", "-s")] = None,
) -> None:
    """Apply pending migrations (all services by default); safe to run concurrently."""
    from shared.db import migrate_service

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)

    async def run() -> None:
        for s in service or list(ServiceName):
            applied = await migrate_service(settings.database_url, s.value)
            typer.echo(f"{s.value}: {len(applied)} migration(s) applied")

    asyncio.run(run())


@app.command()
def topology() -> None:
    """Declare exchanges and queues (durable topic exchanges, quorum queues, dead letters)."""
    from shared.broker import declare_all

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(declare_all(settings))
    typer.echo(f"topology declared in namespace {settings.bus_namespace}")


@app.command()
def certs(
    codes: Annotated[
        list[str] | None, typer.Argument(help="extra caller codes, e.g. hospital codes")
    ] = None,
    out: Annotated[Path, typer.Option(help="output folder")] = Path("certs"),
) -> None:
    """Create a development CA and certificates (one folder per caller code)."""
    from shared.auth import parse_caller
    from shared.devcerts import issue

    names = [f"svc-{s.value}" for s in ServiceName] + ["svc-simulator", *(codes or [])]
    for code in names:
        parse_caller(code)  # refuse codes no server would accept
        folder = issue(out, code)
        typer.echo(f"{code}: {folder}")


@app.command()
def health(timeout_s: float = 3.0) -> None:
    """Ask each service's standard health endpoint; exit 1 unless all are SERVING."""
    from shared.health import check_all

    results = asyncio.run(check_all(get_settings(), timeout_s))
    for name, status in results.items():
        typer.echo(f"{name:<11} {status}")
    raise typer.Exit(0 if all(v == "SERVING" for v in results.values()) else 1)


@app.command()
def probe(target: str, timeout_s: float = 3.0) -> None:
    """Health of one service at host:port (container health checks); exit 1 unless SERVING."""
    from shared.health import check

    status = asyncio.run(check(target, get_settings(), timeout_s))
    typer.echo(status)
    raise typer.Exit(0 if status == "SERVING" else 1)


regions = typer.Typer(no_args_is_help=True, add_completion=False)
app.add_typer(regions, name="regions", help="Pooling regions' own broker identities")


@regions.command("grant")
def regions_grant(
    codes: Annotated[list[str], typer.Argument(help="pool or province codes, e.g. 450100 44")],
    vhost: str = "/",
) -> None:
    """Create (or reset) each region's broker user: read its own queue, nothing else.
    Prints the user, its queue and a new password (hand it over once, out of band)."""
    from shared.config import get_settings
    from shared.region_access import BrokerCommandFailed, grant

    namespace = get_settings().bus_namespace
    for code in codes:
        try:
            access, password = asyncio.run(grant(namespace, code, vhost=vhost))
        except (BrokerCommandFailed, ValueError) as exc:
            typer.echo(f"{code}: {exc}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"{code}\tuser={access.user}\tqueue={access.queue}\tpassword={password}")


@regions.command("revoke")
def regions_revoke(codes: Annotated[list[str], typer.Argument()]) -> None:
    """Delete each region's broker user."""
    from shared.config import get_settings
    from shared.region_access import BrokerCommandFailed, revoke

    for code in codes:
        try:
            asyncio.run(revoke(get_settings().bus_namespace, code))
        except BrokerCommandFailed as exc:
            typer.echo(f"{code}: {exc}", err=True)
            raise typer.Exit(1) from None


def _add_optional(module: str, name: str, help_text: str) -> None:
    try:
        sub = importlib.import_module(module).app
    except ModuleNotFoundError as exc:
        if exc.name is None or not module.startswith(exc.name):
            raise  # a real import error inside an existing module
        return
    app.add_typer(sub, name=name, help=help_text)


_add_optional("services.idp_cli", "idp", "Development identity provider of the channels")
_add_optional(
    "services.settlement.cli",
    "settlement",
    "Settlement operator commands (policy, catalogue, institutions)",
)
_add_optional("services.clearing.cli", "clearing", "Clearing operator commands (month-end run)")


def _add_simulate() -> None:
    try:
        from services.simulation.cli import simulate as simulate_command
    except ModuleNotFoundError as exc:
        if exc.name is None or not "services.simulation.cli".startswith(exc.name):
            raise
        return
    app.command(
        "simulate",
        help="Simulated months of traffic on a simulated clock, each cleared at its month-end",
    )(simulate_command)


_add_simulate()

if __name__ == "__main__":
    app()
