"""Fixtures of the filing tests: a client of the session's filing service and a pool on
its schema for counting rows. Every test makes its own persons (unique psn_no), so tests
share the session's database without seeing each other's filings."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import grpc
import pytest

from shared import db
from shared.config import Settings
from shared.devidp import DevIdp
from shared.pb.crossclear.filing.v1 import filing_pb2_grpc
from tests.support.polling import wait_until

from .support import Api, Tokens

BUS_CONNECT_TIMEOUT_S = 20.0


@pytest.fixture(scope="session")
async def filing_db(filing_service: object, settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    """A small pool on the filing schema (migrated by the service at start)."""
    pool = await db.create_pool(settings.database_url, "filing", min_size=1, max_size=2)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def api(filing_service: object, dev_idp: DevIdp, settings: Settings) -> AsyncIterator[Api]:
    port = filing_service.port  # type: ignore[attr-defined]
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield Api(filing_pb2_grpc.FilingServiceStub(channel), Tokens(dev_idp, settings.idp_audience))
    await channel.close()


@pytest.fixture(scope="session")
async def bus_ready(filing_service: object) -> None:
    """The service's broker connection is up: topology declared, relay running."""
    bus = filing_service.bus  # type: ignore[attr-defined]

    async def connected() -> bool:
        return bool(bus.connected)

    await wait_until(connected, timeout_s=BUS_CONNECT_TIMEOUT_S, what="broker connected")
