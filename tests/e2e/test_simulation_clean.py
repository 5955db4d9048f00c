"""``crossclear simulate --clean``: removes the simulation's database and the queues and
exchanges of its bus namespace, says what it removed, and refuses while services answer
at the simulation's targets. Runs against the real PostgreSQL and RabbitMQ, on a database
and namespace of its own (never the default ``crossclear_sim``)."""

from __future__ import annotations

import asyncio
import io
import socket
from collections.abc import AsyncIterator

import aio_pika
import asyncpg
import grpc
import pytest
import typer
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from rich.console import Console

from services.simulation.cli import clean_command
from services.simulation.stack import (
    clean,
    drop_database,
    namespace_exchanges,
    namespace_queues,
    reset_database,
    reset_namespace,
    sim_settings,
)
from shared.config import Settings
from shared.db import database_of, with_database
from shared.health import BROKER_HEALTH

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def sim(settings: Settings, unique: str) -> AsyncIterator[Settings]:
    """Simulation settings on a database and namespace of this test, with ports nobody
    listens on; whatever is left is removed at the end."""
    port = _free_port()
    s = sim_settings(
        database=f"{database_of(settings.database_url)}_clean_{unique}",
        namespace=f"{settings.bus_namespace}-clean-{unique}",
        ports={"filing": port, "settlement": port, "clearing": port},
    )
    yield s
    await drop_database(s)
    await reset_namespace(s)


async def _leave_behind(s: Settings) -> None:
    """What a run leaves: its database, and its queues and exchanges with a message."""
    await reset_database(s)
    connection = await aio_pika.connect(s.amqp_url)
    try:
        channel = await connection.channel()
        for name in namespace_exchanges(s.bus_namespace):
            await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)
        queues = namespace_queues(s.bus_namespace)
        for name in (queues[0], queues[-1]):
            await channel.declare_queue(name, durable=True)
        await channel.default_exchange.publish(aio_pika.Message(b"left over"), queues[0])
    finally:
        await connection.close()


async def _database_exists(s: Settings) -> bool:
    admin = await asyncpg.connect(with_database(s.database_url, "postgres"))
    try:
        name = database_of(s.database_url)
        return bool(await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await admin.close()


async def test_clean_removes_the_database_and_the_namespace(sim: Settings) -> None:
    await _leave_behind(sim)
    removed = await clean(sim)
    assert removed.database == database_of(sim.database_url)
    queues = namespace_queues(sim.bus_namespace)
    assert dict(removed.queues) == {queues[0]: 1, queues[-1]: 0}
    assert set(removed.exchanges) == set(namespace_exchanges(sim.bus_namespace))
    assert not await _database_exists(sim)
    again = await clean(sim)  # nothing left
    assert (again.database, again.queues, again.exchanges) == ("", (), ())


async def test_clean_command_says_what_it_removed(sim: Settings) -> None:
    await _leave_behind(sim)
    buffer = io.StringIO()
    # The command runs its own event loop: call it from a thread.
    await asyncio.to_thread(clean_command, Console(file=buffer, width=200), sim)
    text = buffer.getvalue()
    assert f"Removed the database {database_of(sim.database_url)}." in text
    assert "Removed 2 queues" in text and "(1 message left in them)" in text
    assert "Removed 4 exchanges" in text


async def test_clean_refuses_while_services_answer(sim: Settings) -> None:
    """A service answering the health check at the simulation's targets: nothing removed."""
    await _leave_behind(sim)
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    for name in ("", BROKER_HEALTH):
        await servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    server.add_insecure_port(sim.filing_target)
    await server.start()
    try:
        with pytest.raises(RuntimeError, match="Nothing was removed"):
            await clean(sim)
        buffer = io.StringIO()
        with pytest.raises(typer.Exit):
            await asyncio.to_thread(clean_command, Console(file=buffer, width=200), sim)
        assert "services are running at the simulation's targets" in buffer.getvalue()
    finally:
        await server.stop(None)
    assert await _database_exists(sim)
