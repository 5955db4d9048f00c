"""Client side of the standard gRPC health service, for the CLI and the simulation."""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from shared.config import ServiceName, Settings
from shared.grpc_client import open_channel


async def check(target: str, settings: Settings, timeout_s: float = 3.0) -> str:
    async with open_channel(target, settings.tls_dir, server_name="localhost") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout_s)
        except grpc.aio.AioRpcError as error:
            return f"UNREACHABLE ({error.code().name})"
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


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
