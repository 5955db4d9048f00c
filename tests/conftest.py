"""Test harness: every run gets its own PostgreSQL database and its own RabbitMQ namespace.

Tests talk to the real servers on this machine (never mocks); isolation comes from a
fresh database (dropped at the end) and a unique prefix on every exchange and queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator

import asyncpg
import pytest

from shared.config import Settings
from shared.db import database_of, ensure_database, with_database

RUN_ID = secrets.token_hex(4)
BASE_DB_URL = os.environ.get(
    "CROSSCLEAR_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/crossclear"
)
BASE_AMQP_URL = os.environ.get("CROSSCLEAR_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # One event loop for the whole session, so session-scoped pools and connections
    # can be shared by every async test.
    for item in items:
        if isinstance(item, pytest.Function) and asyncio.iscoroutinefunction(item.obj):
            item.add_marker(pytest.mark.asyncio(loop_scope="session"), append=False)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings(
        database_url=with_database(BASE_DB_URL, f"crossclear_test_{RUN_ID}"),
        amqp_url=BASE_AMQP_URL,
        bus_namespace=f"cctest-{RUN_ID}",
        insecure_dev=True,
        log_format="json",
    )


@pytest.fixture(scope="session")
async def database(settings: Settings) -> AsyncIterator[str]:
    """The run's own database, created empty and dropped after the session."""
    await ensure_database(settings.database_url)
    yield settings.database_url
    admin = await asyncpg.connect(with_database(settings.database_url, "postgres"))
    try:
        await admin.execute(
            f'DROP DATABASE IF EXISTS "{database_of(settings.database_url)}" WITH (FORCE)'
        )
    finally:
        await admin.close()


@pytest.fixture(scope="session", autouse=True)
async def _delete_bus_namespace(settings: Settings) -> AsyncIterator[None]:
    """Delete the run's queues and exchanges at the end: quorum queues are durable and a
    broker collecting thousands of abandoned ones slows to a halt."""
    yield
    await delete_bus_namespace(settings.amqp_url, settings.bus_namespace)


async def delete_bus_namespace(amqp_url: str, ns: str) -> None:
    """Delete every queue and exchange the topology declares under namespace ``ns``."""
    from services.simulation.stack import namespace_exchanges, namespace_queues
    from shared.bus import Bus

    try:
        bus = await Bus.connect(amqp_url, connect_attempts=1, connect_timeout_s=5)
    except Exception:
        return  # no broker, nothing was declared
    try:
        queues, exchanges = namespace_queues(ns), namespace_exchanges(ns)
        for name in queues:
            channel = await bus.open_channel(prefetch_count=1)
            with contextlib.suppress(Exception):
                await channel.queue_delete(name, timeout=10)
            with contextlib.suppress(Exception):
                await channel.close()
        channel = await bus.open_channel(prefetch_count=1)
        for name in exchanges:
            with contextlib.suppress(Exception):
                await channel.exchange_delete(name, timeout=10)
        with contextlib.suppress(Exception):
            await channel.close()
    finally:
        await bus.close()


@pytest.fixture
def unique() -> Iterator[str]:
    yield secrets.token_hex(3)


def service_settings(settings: Settings, **changes: object) -> Settings:
    """Settings for an in-process service host: an ephemeral port, no metrics server."""
    return settings.model_copy(update={"grpc_listen": "127.0.0.1:0", "metrics_port": 0, **changes})


@pytest.fixture(scope="session")
def dev_idp(tmp_path_factory: pytest.TempPathFactory) -> object:
    """The development identity provider of the session's channels (its own key)."""
    from shared.devidp import DevIdp

    return DevIdp.ensure(tmp_path_factory.mktemp("idp"))


@pytest.fixture(scope="session")
async def filing_service(
    settings: Settings, database: str, dev_idp: object
) -> AsyncIterator[object]:
    """The filing service, running in this process for the whole session, trusting the
    session's development identity provider for every channel."""
    from services.filing.main import build
    from shared.config import ServiceName
    from shared.grpc_server import running

    idps = dev_idp.channel_idps()  # type: ignore[attr-defined]
    async with running(
        ServiceName.FILING, service_settings(settings, channel_idps=idps), build
    ) as host:
        yield host


@pytest.fixture(scope="session")
async def settlement_service(
    settings: Settings, database: str, filing_service: object
) -> AsyncIterator[object]:
    """The settlement service, calling the session's filing service."""
    from services.settlement.main import build
    from shared.config import ServiceName
    from shared.grpc_server import running

    filing_target = f"127.0.0.1:{filing_service.port}"  # type: ignore[attr-defined]
    async with running(
        ServiceName.SETTLEMENT, service_settings(settings, filing_target=filing_target), build
    ) as host:
        yield host


@pytest.fixture(scope="session")
async def clearing_service(settings: Settings, database: str) -> AsyncIterator[object]:
    """The clearing service and its consumer, running for the whole session."""
    from services.clearing.main import build
    from shared.config import ServiceName
    from shared.grpc_server import running

    async with running(ServiceName.CLEARING, service_settings(settings), build) as host:
        yield host


@pytest.fixture
def set_clock() -> Iterator[Callable[..., object]]:
    """Run the in-process services on a frozen simulated clock for one test: call the
    fixture's value with an aware datetime (or a ``YYYY-MM-DD HH:MM:SS.fff`` China time) to
    set it; the clock never goes backwards; the system clock is restored afterwards."""
    from datetime import datetime

    from shared import clock

    simulated: clock.SimulatedClock | None = None

    def set_to(instant: datetime | str) -> datetime:
        nonlocal simulated
        if isinstance(instant, str):
            instant = datetime.fromisoformat(instant).replace(tzinfo=clock.CHINA_TZ)
        if simulated is None:
            simulated = clock.SimulatedClock(instant, frozen=True)
            clock.install(simulated)
            return instant
        return simulated.set(instant)

    try:
        yield set_to
    finally:
        clock.install(clock.SYSTEM)
