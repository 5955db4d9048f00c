"""Every running service answers reflection with its API, health and reflection itself."""

from __future__ import annotations

from typing import Any

import grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

EXPECTED = {
    "filing_service": "crossclear.filing.v1.FilingService",
    "settlement_service": "crossclear.settlement.v1.SettlementService",
    "clearing_service": "crossclear.clearing.v1.ClearingService",
}


async def listed_services(port: int) -> list[str]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        async for reply in stub.ServerReflectionInfo(iter([request])):
            return sorted(s.name for s in reply.list_services_response.service)
    return []


async def describe(port: int, symbol: str) -> bool:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(file_containing_symbol=symbol)
        async for reply in stub.ServerReflectionInfo(iter([request])):
            return bool(reply.file_descriptor_response.file_descriptor_proto)
    return False


async def test_reflection_lists_and_describes_every_service(
    filing_service: Any, settlement_service: Any, clearing_service: Any
) -> None:
    hosts = {
        "filing_service": filing_service,
        "settlement_service": settlement_service,
        "clearing_service": clearing_service,
    }
    for fixture, host in hosts.items():
        names = await listed_services(host.port)
        assert EXPECTED[fixture] in names, names
        assert "grpc.health.v1.Health" in names
        assert "grpc.reflection.v1alpha.ServerReflection" in names
        assert await describe(host.port, EXPECTED[fixture]), "a client can fetch the descriptors"
