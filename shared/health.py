"""Client side of the standard gRPC health service, for the CLI and the simulation.

A service's readiness ("") follows its database; the broker has its own entry
(``crossclear.broker``). A local stack is up when both are SERVING."""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from shared.config import ServiceName, Settings
from shared.grpc_client import open_channel

# Named entries the service host keeps beside "" and the API services' names.
LIVE_HEALTH = "crossclear.live"  # SERVING while the process runs: the liveness probe
DATABASE_HEALTH = "crossclear.database"
BROKER_HEALTH = "crossclear.broker"


async def check(target: str, settings: Settings, timeout_s: float = 3.0) -> str:
    """ "SERVING" when the service and its broker connection are; else what is not."""
    async with open_channel(target, settings.tls_dir, server_name="localhost") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        answers = []
        for service in ("", BROKER_HEALTH):
            try:
                reply = await stub.Check(
                    health_pb2.HealthCheckRequest(service=service), timeout=timeout_s
                )
            except grpc.aio.AioRpcError as error:
                return f"UNREACHABLE ({error.code().name})"
            answers.append(str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)))
        readiness, broker = answers
        if readiness == "SERVING" and broker != "SERVING":
            return f"SERVING, broker {broker}"
        return readiness


async def check_all(settings: Settings, timeout_s: float = 3.0) -> dict[str, str]:
    names = list(ServiceName)
    statuses = await asyncio.gather(
        *(check(settings.target_of(s), settings, timeout_s) for s in names)
    )
    return {s.value: status for s, status in zip(names, statuses, strict=True)}


async def wait_serving(settings: Settings, timeout_s: float = 60.0) -> dict[str, str]:
    """Poll until every service is SERVING or the timeout passes; return the last answers."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        statuses = await check_all(settings, 2.0)
        if (
            all(v == "SERVING" for v in statuses.values())
            or asyncio.get_running_loop().time() > deadline
        ):
            return statuses
        await asyncio.sleep(0.5)
