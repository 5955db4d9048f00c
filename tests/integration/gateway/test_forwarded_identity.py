"""The forwarded institution is honoured from the gateway's service identity only.

Over real mutual TLS (development certificates): the gateway's certificate forwarding a
hospital is served as that hospital; any other caller sending the forwarding metadata
is refused (PERMISSION_DENIED), as is the gateway forwarding anything but a hospital or
pharmacy; the gateway on its own is itself, with no rights. In development mode the same rule
applies to the caller named by the development header.
"""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from shared.auth import FORWARDED_CALLER_HEADER, GATEWAY_CODE
from shared.config import ServiceName, Settings
from shared.devcerts import issue
from shared.grpc_client import caller_metadata, open_channel
from shared.grpc_server import running
from shared.pb.crossclear.settlement.v1 import settlement_pb2 as pb
from shared.pb.crossclear.settlement.v1 import settlement_pb2_grpc

from ..foundation.test_service_host import TEST_SERVICE, host_settings, probe_build
from ..settlement.conftest import event_queue, settlement_ready  # noqa: F401

HOSPITAL = "H44010000001"
OTHER_HOSPITAL = "H45010000001"


async def _whoami(port: int, certs: Path, code: str, forwarded: str | None) -> str:
    metadata = ((FORWARDED_CALLER_HEADER, forwarded),) if forwarded else None
    async with open_channel(f"127.0.0.1:{port}", certs / code, server_name="localhost") as ch:
        reply = await ch.unary_unary(f"/{TEST_SERVICE}/Whoami")(b"", metadata=metadata, timeout=5)
        return bytes(reply).decode()


async def test_only_the_gateway_identity_forwards_over_mutual_tls(
    settings: Settings, database: str, tmp_path: Path
) -> None:
    for code in ("svc-filing", GATEWAY_CODE, HOSPITAL, OTHER_HOSPITAL, "svc-settlement"):
        issue(tmp_path, code)
    tls = host_settings(settings, tls_dir=tmp_path / "svc-filing", insecure_dev=False)
    async with running(ServiceName.FILING, tls, probe_build) as h:
        assert await _whoami(h.port, tmp_path, GATEWAY_CODE, HOSPITAL) == HOSPITAL
        assert await _whoami(h.port, tmp_path, GATEWAY_CODE, "P44010000002") == "P44010000002"
        assert await _whoami(h.port, tmp_path, GATEWAY_CODE, None) == GATEWAY_CODE
        assert await _whoami(h.port, tmp_path, HOSPITAL, None) == HOSPITAL
        refused = [
            (OTHER_HOSPITAL, HOSPITAL),  # a hospital posing as another
            ("svc-settlement", HOSPITAL),  # even a trusted service may not forward
            (GATEWAY_CODE, "channel-web"),  # the gateway forwards institutions only
            (GATEWAY_CODE, "svc-clearing"),
            (GATEWAY_CODE, "NHSA"),
            (GATEWAY_CODE, "not a code"),
        ]
        for code, forwarded in refused:
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await _whoami(h.port, tmp_path, code, forwarded)
            assert raised.value.code() is grpc.StatusCode.PERMISSION_DENIED, (code, forwarded)


async def test_a_hospital_forwarding_another_gains_nothing_at_settlement(
    settlement_ready: object,  # noqa: F811
    event_queue: str,  # noqa: F811
) -> None:
    port = settlement_ready.port  # type: ignore[attr-defined]
    request = pb.RegisterRequest(psn_no="440100ABCDEF")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = settlement_pb2_grpc.SettlementServiceStub(channel)
        posing = (*caller_metadata(OTHER_HOSPITAL), (FORWARDED_CALLER_HEADER, HOSPITAL))
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.Register(request, metadata=posing, timeout=5)
        assert raised.value.code() is grpc.StatusCode.PERMISSION_DENIED
        assert FORWARDED_CALLER_HEADER in (raised.value.details() or "")
