"""Test harness: every run gets its own PostgreSQL database and its own RabbitMQ namespace.

Tests talk to the real servers on this machine (never mocks); isolation comes from a
fresh database (dropped at the end) and a unique prefix on every exchange and queue.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from shared.config import Settings
from shared.db import database_of, ensure_database, with_database

RUN_ID = secrets.token_hex(4)
BASE_DB_URL = os.environ.get("CROSSCLEAR_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/crossclear")
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
        await admin.execute(f'DROP DATABASE IF EXISTS "{database_of(settings.database_url)}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
def unique() -> Iterator[str]:
    yield secrets.token_hex(3)
