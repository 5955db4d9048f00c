"""`crossclear up` as an operator runs it: three processes, each with its own metrics
port, whose gauges show an outbox backlog building while the broker is away and draining
when it returns."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import grpc
import pytest

from shared import clock
from shared.config import ServiceName, Settings
from shared.db import database_of, with_database
from shared.devidp import DevIdp, idp_dir
from shared.grpc_client import caller_metadata
from shared.health import wait_serving
from shared.pb.crossclear.filing.v1 import filing_pb2, filing_pb2_grpc
from tests.support.polling import wait_until

from ...conftest import delete_bus_namespace
from ..filing.support import NANNING, make_person, submission
from ..foundation.proxy import CuttableProxy

ROOT = Path(__file__).resolve().parents[3]
GAUGES = (
    "crossclear_outbox_pending",
    "crossclear_outbox_oldest_pending_seconds",
    "crossclear_db_pool_connections",
    "crossclear_dependency_up",
)


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _consecutive_free(count: int) -> int:
    for _ in range(50):
        base = _free_ports(1)[0]
        if base + count >= 65535:
            continue
        try:
            held = []
            for port in range(base, base + count):
                sock = socket.socket()
                sock.bind(("127.0.0.1", port))
                held.append(sock)
            for sock in held:
                sock.close()
            return base
        except OSError:
            for sock in held:
                sock.close()
    raise AssertionError("no three consecutive free ports")


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as reply:
        return str(reply.read().decode())


def _value(text: str, name: str, **labels: str) -> float | None:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{want}}}") or (not labels and line.startswith(f"{name} ")):
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.fixture
async def stack(
    settings: Settings, database: str, tmp_path: Path
) -> AsyncIterator[tuple[Settings, int, CuttableProxy]]:
    parts = urlsplit(settings.amqp_url)
    proxy = CuttableProxy(parts.hostname or "127.0.0.1", parts.port or 5672)
    await proxy.start()
    amqp = urlunsplit(
        parts._replace(netloc=parts.netloc.rsplit("@", 1)[0] + f"@127.0.0.1:{proxy.port}")
    )
    grpc_ports = _free_ports(3)
    metrics_base = _consecutive_free(3)
    db_url = with_database(settings.database_url, f"{database_of(settings.database_url)}_up")
    ns = f"{settings.bus_namespace}-up{secrets.token_hex(2)}"
    up = settings.model_copy(
        update={
            "database_url": db_url,
            "amqp_url": amqp,
            "bus_namespace": ns,
            "filing_target": f"127.0.0.1:{grpc_ports[0]}",
            "settlement_target": f"127.0.0.1:{grpc_ports[1]}",
            "clearing_target": f"127.0.0.1:{grpc_ports[2]}",
            # `up` makes its development identity provider there.
            "state_dir": tmp_path,
        }
    )
    env = {
        **os.environ,
        "CROSSCLEAR_DATABASE_URL": db_url,
        "CROSSCLEAR_AMQP_URL": amqp,
        "CROSSCLEAR_BUS_NAMESPACE": ns,
        "CROSSCLEAR_FILING_TARGET": up.filing_target,
        "CROSSCLEAR_SETTLEMENT_TARGET": up.settlement_target,
        "CROSSCLEAR_CLEARING_TARGET": up.clearing_target,
        "CROSSCLEAR_INSECURE_DEV": "true",
        "CROSSCLEAR_METRICS_PORT": str(metrics_base),
        "CROSSCLEAR_METRICS_INTERVAL_S": "0.5",
        "CROSSCLEAR_LOG_FORMAT": "json",
        "CROSSCLEAR_STATE_DIR": str(tmp_path),
        "CROSSCLEAR_GATEWAY_LISTEN": f"127.0.0.1:{_free_ports(1)[0]}",
    }
    env.pop("CROSSCLEAR_CHANNEL_IDPS", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        "up",
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        statuses = await wait_serving(up, 90)
        assert all(v == "SERVING" for v in statuses.values()), statuses
        yield up, metrics_base, proxy
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()
        await proxy.cut()
        await delete_bus_namespace(settings.amqp_url, ns)
        admin = await asyncpg.connect(with_database(settings.database_url, "postgres"))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{database_of(db_url)}" WITH (FORCE)')
        finally:
            await admin.close()


async def test_each_process_exports_its_gauges_and_the_backlog_shows(
    stack: tuple[Settings, int, CuttableProxy],
) -> None:
    up, base, proxy = stack
    ports = {s: base + i for i, s in enumerate(ServiceName)}
    for service, port in ports.items():
        text = _scrape(port)
        for gauge in GAUGES:
            assert gauge in text, (service, gauge)
        assert f'crossclear_service="{service.value}"' in text, service
    filing_port = ports[ServiceName.FILING]

    async def broker_down() -> bool:
        return (
            _value(
                _scrape(filing_port),
                "crossclear_dependency_up",
                crossclear_service="filing",
                dependency="broker",
            )
            == 0.0
        )

    await proxy.cut()  # the broker goes away: events wait in the outbox
    await wait_until(broker_down, timeout_s=15, interval_s=0.25, what="broker reported down")
    async with grpc.aio.insecure_channel(up.filing_target) as channel:
        stub = filing_pb2_grpc.FilingServiceStub(channel)
        for _ in range(3):
            person = (
                await stub.UpsertPerson(
                    filing_pb2.UpsertPersonRequest(person=make_person(NANNING)),
                    metadata=caller_metadata(NANNING),
                    timeout=10,
                )
            ).person
            # The person signed in to the app, with a token of `up`'s identity provider.
            token = DevIdp.ensure(idp_dir(up.state_dir)).token(
                "channel-app", audience=up.idp_audience, now=clock.now(), person=person.psn_no
            )
            await stub.SubmitFiling(
                submission(person.psn_no),
                metadata=(*caller_metadata("channel-app"), ("authorization", f"Bearer {token}")),
                timeout=10,
            )

    def backlog() -> float:
        return (
            _value(_scrape(filing_port), "crossclear_outbox_pending", crossclear_service="filing")
            or 0.0
        )

    async def backlog_built() -> bool:
        return backlog() >= 3

    async def backlog_drained() -> bool:
        return backlog() == 0

    await wait_until(backlog_built, timeout_s=15, interval_s=0.25, what="backlog of 3 visible")
    age = _value(
        _scrape(filing_port),
        "crossclear_outbox_oldest_pending_seconds",
        crossclear_service="filing",
    )
    assert age is not None and age > 0
    await proxy.restore()
    await wait_until(backlog_drained, timeout_s=20, interval_s=0.25, what="backlog drained")
    assert re.search(
        r'crossclear_db_pool_connections\{crossclear_service="filing",state="max"\} 10',
        _scrape(filing_port),
    )
