"""`crossclear serve settlement` with CROSSCLEAR_SETTLEMENT_WORKERS=2: two worker
processes on one gRPC port, each answering RPCs and exporting its own metrics, stopped
together and cleanly by one SIGTERM."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import asyncpg
import grpc
import pytest

from shared.config import ServiceName, Settings
from shared.db import database_of, with_database
from shared.grpc_client import caller_metadata
from shared.health import check
from shared.pb.crossclear.reference.v1 import reference_pb2, reference_pb2_grpc
from shared.workers import (
    METRICS_PORT_STRIDE,
    WorkerSettingError,
    check_supported,
    metrics_port_of_worker,
    worker_count,
    worker_env,
)
from tests.support.polling import wait_until

from ...conftest import delete_bus_namespace
from .test_up_metrics import _free_ports, _scrape, _value

ROOT = Path(__file__).resolve().parents[3]
WORKERS = 2


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(child) for child in children.read_text().split()]
    return found


def _handled(text: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith("crossclear_grpc_server_handled_total{") and "Reference" in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_worker_settings() -> None:
    base = Settings(settlement_target="127.0.0.1:50999")
    assert worker_count(ServiceName.SETTLEMENT, base) == 1
    several = base.model_copy(update={"settlement_workers": 3})
    assert worker_count(ServiceName.SETTLEMENT, several) == 3
    assert worker_count(ServiceName.FILING, several) == 1  # only settlement has workers
    assert metrics_port_of_worker(9102, None) == 9102
    assert metrics_port_of_worker(9102, 0) == 9102
    assert metrics_port_of_worker(9102, 2) == 9102 + 2 * METRICS_PORT_STRIDE
    assert metrics_port_of_worker(0, 2) == 0  # metrics off stays off
    env = worker_env(ServiceName.SETTLEMENT, several, 1, {"CROSSCLEAR_SETTLEMENT_WORKERS": "3"})
    assert env["CROSSCLEAR_SETTLEMENT_WORKERS"] == "1"
    assert env["CROSSCLEAR_WORKER_INDEX"] == "1"
    assert env["CROSSCLEAR_GRPC_LISTEN"] == "127.0.0.1:50999"
    with pytest.raises(WorkerSettingError, match="simulated clock"):
        check_supported(
            ServiceName.SETTLEMENT,
            several.model_copy(update={"simulated_clock": True, "insecure_dev": True}),
            3,
        )
    with pytest.raises(WorkerSettingError, match="port is 0"):
        check_supported(
            ServiceName.SETTLEMENT, several.model_copy(update={"grpc_listen": "0.0.0.0:0"}), 3
        )
    with pytest.raises(ValueError):
        Settings(settlement_workers=0)
    with pytest.raises(ValueError):
        Settings(settlement_workers=17)


async def test_two_workers_share_the_port_and_stop_together(
    settings: Settings, database: str
) -> None:
    grpc_port, metrics_base = _free_ports(2)
    target = f"127.0.0.1:{grpc_port}"
    db_url = with_database(settings.database_url, f"{database_of(settings.database_url)}_wk")
    ns = f"{settings.bus_namespace}-wk{secrets.token_hex(2)}"
    env = {
        **os.environ,
        "CROSSCLEAR_DATABASE_URL": db_url,
        "CROSSCLEAR_BUS_NAMESPACE": ns,
        "CROSSCLEAR_SETTLEMENT_TARGET": target,
        "CROSSCLEAR_INSECURE_DEV": "true",
        "CROSSCLEAR_METRICS_PORT": str(metrics_base),
        "CROSSCLEAR_LOG_FORMAT": "json",
        "CROSSCLEAR_LOG_LEVEL": "WARNING",
        "CROSSCLEAR_SETTLEMENT_WORKERS": str(WORKERS),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        "serve",
        "settlement",
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers: list[int] = []
    try:
        probe = settings.model_copy(update={"settlement_target": target})

        async def serving() -> bool:
            return await check(target, probe, 2.0) == "SERVING"

        await wait_until(serving, timeout_s=90, interval_s=0.5, what="workers serve")
        workers = _children(process.pid)
        assert len(workers) == WORKERS, workers
        metrics_ports = [metrics_base + METRICS_PORT_STRIDE * k for k in range(WORKERS)]
        # Every new connection is handed to one of the listening workers by the kernel:
        # within a few dozen connections both workers have served calls.
        served = [0.0] * WORKERS
        for _ in range(60):
            async with grpc.aio.insecure_channel(target) as channel:
                stub = reference_pb2_grpc.ReferenceServiceStub(channel)
                reply = await stub.QueryInstitutions(
                    reference_pb2.QueryInstitutionsRequest(),
                    metadata=caller_metadata("H45010000001"),
                    timeout=10,
                )
                assert reply is not None
            served = [_handled(_scrape(port)) for port in metrics_ports]
            if all(count > 0 for count in served):
                break
        assert all(count > 0 for count in served), served
        pool_max = _value(
            _scrape(metrics_ports[1]),
            "crossclear_db_pool_connections",
            crossclear_service="settlement",
            state="max",
        )
        assert pool_max == settings.db_pool_max  # each worker its own pool
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(process.wait(), 40)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
        finally:
            await delete_bus_namespace(settings.amqp_url, ns)
            admin = await asyncpg.connect(with_database(settings.database_url, "postgres"))
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{database_of(db_url)}" WITH (FORCE)')
            finally:
                await admin.close()
    assert code == 0
    for pid in workers:
        assert _state(pid) == "Z", pid  # gone (or a zombie awaiting its parent's reaper)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"
