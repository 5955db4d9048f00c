"""Settlement through a broker outage: hospitals keep settling, readiness stays SERVING
(the outbox buffers the events in the database), and the backlog drains within seconds
of the broker's return."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.settlement.main import build
from shared.config import ServiceName, Settings
from shared.db import database_of, with_database
from shared.grpc_server import BROKER_HEALTH, ServiceHost, running
from shared.pb.crossclear.common.v1 import common_pb2
from shared.pb.crossclear.settlement.v1 import settlement_pb2 as pb
from shared.pb.crossclear.settlement.v1 import settlement_pb2_grpc
from tests.support.polling import wait_until

from ...conftest import service_settings
from ..foundation.proxy import CuttableProxy
from .support import (
    CONSULTATION,
    NANNING,
    NANNING_HOSPITALS,
    Filing,
    Hospital,
    Msgids,
    fee,
    rpc_error,
    today,
)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.fixture
async def broker_proxy(settings: Settings) -> AsyncIterator[CuttableProxy]:
    parts = urlsplit(settings.amqp_url)
    proxy = CuttableProxy(parts.hostname or "127.0.0.1", parts.port or 5672)
    await proxy.start()
    yield proxy
    await proxy.cut()


@pytest.fixture
async def own_database(settings: Settings, database: str) -> AsyncIterator[str]:
    """A database of this test's own: no other relay publishes its outbox."""
    url = with_database(settings.database_url, f"{database_of(settings.database_url)}_brokercut")
    yield url
    admin = await asyncpg.connect(with_database(url, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database_of(url)}" WITH (FORCE)')
    finally:
        await admin.close()


async def _health(port: int, service: str = "") -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=2
        )
        return int(reply.status)


async def test_settlement_keeps_settling_through_a_broker_outage(
    settings: Settings,
    filing: Filing,
    filing_service: object,
    broker_proxy: CuttableProxy,
    own_database: str,
    msgids: Msgids,
) -> None:
    parts = urlsplit(settings.amqp_url)
    amqp = urlunsplit(
        parts._replace(netloc=parts.netloc.rsplit("@", 1)[0] + f"@127.0.0.1:{broker_proxy.port}")
    )
    changed = service_settings(
        settings,
        database_url=own_database,
        amqp_url=amqp,
        filing_target=f"127.0.0.1:{filing_service.port}",  # type: ignore[attr-defined]
    )
    async with running(ServiceName.SETTLEMENT, changed, build) as host:
        port = host.port

        async def broker_up() -> bool:
            return await _health(port, BROKER_HEALTH) == SERVING

        await wait_until(broker_up, timeout_s=30, what="broker up")
        await broker_proxy.cut()

        async def broker_down() -> bool:
            return await _health(port, BROKER_HEALTH) == NOT_SERVING

        await wait_until(broker_down, timeout_s=15, what="broker down")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            h = Hospital(
                NANNING_HOSPITALS[0], settlement_pb2_grpc.SettlementServiceStub(channel), msgids
            )
            for _ in range(3):
                person = await filing.new_person(NANNING)
                mdtrt_id, total = await h.outpatient_visit(person, [fee(1, CONSULTATION, "45")])
                settled = await h.settle(person, mdtrt_id, total)
                assert settled.setlinfo.setl_id
            assert await _health(port) == SERVING  # readiness: the database, not the broker
            assert await _health(port, BROKER_HEALTH) == NOT_SERVING
        assert await _pending(host) > 0, "the events wait in the outbox during the outage"
        await broker_proxy.restore()

        async def drained() -> bool:
            return await _pending(host) == 0

        await wait_until(drained, timeout_s=5, what="outbox drained")


async def _pending(host: ServiceHost) -> int:
    assert host.pool is not None
    return int(await host.pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"))


@pytest.fixture
async def filing_proxy(filing_service: object) -> AsyncIterator[CuttableProxy]:
    proxy = CuttableProxy("127.0.0.1", filing_service.port)  # type: ignore[attr-defined]
    await proxy.start()
    yield proxy
    await proxy.cut()


async def test_a_registration_resent_while_filing_is_down_gets_its_stored_answer(
    settings: Settings,
    filing: Filing,
    filing_proxy: CuttableProxy,
    own_database: str,
    msgids: Msgids,
) -> None:
    """A hospital that lost Register's answer resends it; the filing service, asked again
    before the transaction, is unreachable by then. The msgid was answered: the resend
    gets that answer, and only a new msgid gets UNAVAILABLE."""
    changed = service_settings(
        settings, database_url=own_database, filing_target=f"127.0.0.1:{filing_proxy.port}"
    )
    async with (
        running(ServiceName.SETTLEMENT, changed, build) as host,
        grpc.aio.insecure_channel(f"127.0.0.1:{host.port}") as channel,
    ):
        h = Hospital(
            NANNING_HOSPITALS[0], settlement_pb2_grpc.SettlementServiceStub(channel), msgids
        )
        person = await filing.new_person(NANNING)
        request = pb.RegisterRequest(
            header=h.header(person.insured_pool),
            psn_no=person.psn_no,
            insutype=person.insutype,
            med_type=common_pb2.MED_TYPE_ORDINARY_OUTPATIENT,
            begntime=today().isoformat(),
            ipt_otp_no="OP-RESEND-1",
        )
        first = await h.call("Register", request)
        await filing_proxy.cut()
        assert await h.call("Register", request) == first
        new = pb.RegisterRequest()
        new.CopyFrom(request)
        new.header.msgid = msgids(h.code)
        refused = await rpc_error(h.call("Register", new))
        assert refused.code() is grpc.StatusCode.UNAVAILABLE
