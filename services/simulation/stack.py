"""The simulation's own deployment: a fresh database, a clean bus namespace, the three
services as processes on their own ports, stopped at the end.

Two runs with the same seed must start from the same state, so the database is dropped
and created again and every queue and exchange of the namespace is deleted before the
services start. The services run on a simulated clock (development mode only), starting
at the run's first simulated instant; the simulation then moves it forward day by day.

Services already SERVING at the simulation's targets are used as they are (nothing is
reset under them) only if they run a simulated clock that has not passed the run's start
(``ClockControl/Get`` answers, with an earlier time): otherwise the run is refused, since
replaying the simulated days on the wall clock would settle them in the wrong periods.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import aio_pika
import asyncpg
import grpc

from services.simulation.clockwork import read_clock
from shared.broker import region_codes
from shared.bus import names
from shared.config import ServiceName, Settings
from shared.db import database_of, with_database
from shared.devidp import DevIdp, idp_dir
from shared.health import check_all, wait_serving

SIM_DATABASE = "crossclear_sim"
SIM_NAMESPACE = "crossclear-sim"
SIM_PORTS = {"filing": 50061, "settlement": 50062, "clearing": 50063}
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 25.0
CONNECT_TIMEOUT_S = 10.0
_DEFAULT_DB_URL = "postgresql://postgres@127.0.0.1:5432/crossclear"
_DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


def sim_settings(
    database: str = SIM_DATABASE,
    namespace: str = SIM_NAMESPACE,
    ports: dict[str, int] | None = None,
) -> Settings:
    """Settings of the simulation's deployment, built on the environment's servers."""
    base_db = os.environ.get("CROSSCLEAR_DATABASE_URL", _DEFAULT_DB_URL)
    amqp = os.environ.get("CROSSCLEAR_AMQP_URL", _DEFAULT_AMQP_URL)
    port = ports or SIM_PORTS
    return Settings(
        database_url=with_database(base_db, database),
        amqp_url=amqp,
        bus_namespace=namespace,
        filing_target=f"127.0.0.1:{port['filing']}",
        settlement_target=f"127.0.0.1:{port['settlement']}",
        clearing_target=f"127.0.0.1:{port['clearing']}",
        insecure_dev=True,
        metrics_port=0,
        log_format="json",
        log_level="WARNING",
    )


def service_env(settings: Settings, clock_start: datetime | None = None) -> dict[str, str]:
    """The environment of the service processes; with ``clock_start`` (timezone-aware) they
    run on a simulated clock starting there."""
    env = os.environ.copy()
    env.update(
        {
            "CROSSCLEAR_DATABASE_URL": settings.database_url,
            "CROSSCLEAR_AMQP_URL": settings.amqp_url,
            "CROSSCLEAR_BUS_NAMESPACE": settings.bus_namespace,
            "CROSSCLEAR_FILING_TARGET": settings.filing_target,
            "CROSSCLEAR_SETTLEMENT_TARGET": settings.settlement_target,
            "CROSSCLEAR_CLEARING_TARGET": settings.clearing_target,
            "CROSSCLEAR_INSECURE_DEV": "true",
            "CROSSCLEAR_METRICS_PORT": "0",
            "CROSSCLEAR_HEALTH_PORT": "0",
            # `up` starts the channels' gateway too; the simulation calls the services
            # directly, so it takes any free port rather than collide with one in use.
            "CROSSCLEAR_GATEWAY_LISTEN": "127.0.0.1:0",
            "CROSSCLEAR_LOG_FORMAT": "json",
            "CROSSCLEAR_LOG_LEVEL": settings.log_level,
            # The channels' end users: the development identity provider's.
            "CROSSCLEAR_CHANNEL_IDPS": DevIdp.ensure(
                idp_dir(settings.state_dir)
            ).channel_idps_env(),
        }
    )
    for key in (
        "CROSSCLEAR_GRPC_LISTEN",
        "CROSSCLEAR_TLS_DIR",
        "CROSSCLEAR_SIMULATED_CLOCK",
        "CROSSCLEAR_CLOCK_START",
    ):
        env.pop(key, None)
    if clock_start is not None:
        if clock_start.tzinfo is None:
            raise ValueError("the clock start must carry its time zone")
        env["CROSSCLEAR_SIMULATED_CLOCK"] = "true"
        env["CROSSCLEAR_CLOCK_START"] = clock_start.isoformat()
    return env


async def _admin(settings: Settings) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(
            with_database(settings.database_url, "postgres"), timeout=CONNECT_TIMEOUT_S
        )
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        raise RuntimeError(
            f"PostgreSQL at {_redacted(settings.database_url)} does not answer ({type(error).__name__}); "
            "start it (scripts/setup.sh) or set CROSSCLEAR_DATABASE_URL"
        ) from error


async def reset_database(settings: Settings) -> None:
    name = database_of(settings.database_url)
    admin = await _admin(settings)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def drop_database(settings: Settings) -> None:
    name = database_of(settings.database_url)
    admin = await _admin(settings)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def namespace_queues(namespace: str) -> list[str]:
    return [
        names.settlement_events_queue(namespace),
        names.dead_letter_queue(namespace),
        *(names.region_queue(namespace, code) for code in region_codes()),
    ]


def namespace_exchanges(namespace: str) -> list[str]:
    return [
        *(names.exchange_name(namespace, kind) for kind in names.EXCHANGE_KINDS),
        names.dead_letter_exchange(namespace),
    ]


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}:{parts.port or ''}{parts.path}"


async def _connect_bus(settings: Settings) -> aio_pika.abc.AbstractConnection:
    try:
        return await aio_pika.connect(settings.amqp_url, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, aio_pika.exceptions.AMQPError) as error:
        raise RuntimeError(
            f"RabbitMQ at {_redacted(settings.amqp_url)} does not answer ({type(error).__name__}); "
            "start it (scripts/setup.sh) or set CROSSCLEAR_AMQP_URL"
        ) from error


async def reset_namespace(settings: Settings) -> None:
    """Delete every queue and exchange of the namespace (messages of an earlier run)."""
    connection = await _connect_bus(settings)
    try:
        channel = await connection.channel()
        for queue in namespace_queues(settings.bus_namespace):
            try:
                await channel.queue_delete(queue)
            except aio_pika.exceptions.ChannelClosed:
                channel = await connection.channel()  # the broker closes it on an error
        for exchange in namespace_exchanges(settings.bus_namespace):
            try:
                await channel.exchange_delete(exchange)
            except aio_pika.exceptions.ChannelClosed:
                channel = await connection.channel()
    finally:
        await connection.close()


# -- crossclear simulate --clean ----------------------------------------------------------------


@dataclass(frozen=True)
class Removed:
    """What ``clean`` removed: nothing of it existed when a field is empty."""

    database: str  # "" when there was no such database
    queues: tuple[tuple[str, int], ...]  # (queue, messages it still held)
    exchanges: tuple[str, ...]


async def running_services(settings: Settings) -> dict[str, str]:
    """The services answering the health check at ``settings``' targets, with their status;
    empty when none answers."""
    statuses = await check_all(settings, 1.0)
    return {k: v for k, v in statuses.items() if not v.startswith("UNREACHABLE")}


async def _remove_database(settings: Settings) -> str:
    name = database_of(settings.database_url)
    admin = await _admin(settings)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            return ""
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return name
    finally:
        await admin.close()


async def _remove_namespace(settings: Settings) -> tuple[list[tuple[str, int]], list[str]]:
    """Every queue and exchange the topology declares under the namespace, those that
    exist: each is looked up first (a passive declare, which closes the channel when the
    name is unknown), then deleted."""
    connection = await _connect_bus(settings)
    queues: list[tuple[str, int]] = []
    exchanges: list[str] = []
    try:
        for name in namespace_queues(settings.bus_namespace):
            channel = await connection.channel()
            try:
                declared = await channel.declare_queue(name, passive=True)
            except aio_pika.exceptions.ChannelClosed:
                continue  # no such queue
            messages = declared.declaration_result.message_count or 0
            await channel.queue_delete(name)
            queues.append((name, messages))
            await channel.close()
        for name in namespace_exchanges(settings.bus_namespace):
            channel = await connection.channel()
            try:
                await channel.declare_exchange(name, passive=True)
            except aio_pika.exceptions.ChannelClosed:
                continue  # no such exchange
            await channel.exchange_delete(name)
            exchanges.append(name)
            await channel.close()
    finally:
        await connection.close()
    return queues, exchanges


async def clean(settings: Settings) -> Removed:
    """Remove the simulation's database and its bus namespace's queues and exchanges.

    RuntimeError, and nothing removed, when services answer at ``settings``' targets: a
    run may be in progress there, or someone's services use that database."""
    running = await running_services(settings)
    if running:
        where = ", ".join(
            f"{service} at {settings.target_of(ServiceName(service))} ({status})"
            for service, status in sorted(running.items())
        )
        raise RuntimeError(
            f"services are running at the simulation's targets: {where}. A simulation may "
            "be in progress; stop it (or those services) first. Nothing was removed."
        )
    database = await _remove_database(settings)
    queues, exchanges = await _remove_namespace(settings)
    return Removed(database, tuple(queues), tuple(exchanges))


@dataclass
class Stack:
    settings: Settings
    started: bool  # False when the services were already serving
    processes: subprocess.Popen[bytes] | None
    startup_seconds: float


async def _already_serving(settings: Settings) -> bool:
    statuses = await check_all(settings, 1.0)
    return all(v == "SERVING" for v in statuses.values())


async def check_simulated_clocks(settings: Settings, clock_start: datetime) -> None:
    """RuntimeError unless every service at ``settings``' targets runs a simulated clock
    that still reads no later than ``clock_start``."""
    for service in ServiceName:
        target = settings.target_of(service)
        try:
            reading = await read_clock(target)
        except grpc.aio.AioRpcError as error:
            raise RuntimeError(
                f"the {service} service SERVING at {target} did not answer "
                f"ClockControl/Get ({error.code().name}): {error.details()}"
            ) from error
        if reading is None:
            raise RuntimeError(
                f"the {service} service already SERVING at {target} runs on the system clock "
                "(no ClockControl): the simulation replays past days and needs simulated "
                "clocks. Stop those services, or start them with CROSSCLEAR_INSECURE_DEV=true "
                f"CROSSCLEAR_SIMULATED_CLOCK=true CROSSCLEAR_CLOCK_START={clock_start.isoformat()}"
            )
        if reading > clock_start:
            raise RuntimeError(
                f"the {service} service already SERVING at {target} runs a simulated clock "
                f"reading {reading.isoformat()}, later than this run's start "
                f"{clock_start.isoformat()}; a clock never goes back: restart the services"
            )


@contextlib.asynccontextmanager
async def running_stack(
    settings: Settings, log_path: Path, clock_start: datetime
) -> AsyncIterator[Stack]:
    """The three services at ``settings``' targets for the duration of the block, on
    simulated clocks starting at ``clock_start`` (timezone-aware)."""
    loop = asyncio.get_running_loop()
    started_at = loop.time()
    if await _already_serving(settings):
        await check_simulated_clocks(settings, clock_start)
        yield Stack(settings, False, None, 0.0)
        return
    await reset_database(settings)
    await reset_namespace(settings)
    process = await asyncio.to_thread(spawn, settings, log_path, clock_start)
    try:
        statuses = await wait_serving(settings, START_TIMEOUT_S)
        if not all(v == "SERVING" for v in statuses.values()):
            raise RuntimeError(f"services did not become SERVING: {statuses} (log: {log_path})")
        if process.poll() is not None:
            raise RuntimeError(f"the services exited (code {process.returncode}; log: {log_path})")
        yield Stack(settings, True, process, loop.time() - started_at)
    finally:
        await stop(process)


def spawn(
    settings: Settings, log_path: Path, clock_start: datetime | None = None
) -> subprocess.Popen[bytes]:
    """``crossclear up`` in its own process group, its output appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "services.cli", "up"],
            env=service_env(settings, clock_start),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


async def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to ``crossclear up`` (it stops its three children), bounded wait, then kill."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        await asyncio.to_thread(process.wait, STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await asyncio.to_thread(process.wait, 5)
