"""Hospitals over HTTPS with their own identity: the gateway verifies the institution's
client certificate (the platform CA's, as for gRPC), then calls settlement as
``svc-gateway`` forwarding the verified code. The same visit settled over gRPC and over
HTTPS gives the same amounts, to the fen; without a certificate, or with a channel's,
the settlement routes answer 401 / 403 JSON."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from google.protobuf.message import Message

from shared.config import Settings
from shared.devcerts import issue
from shared.devidp import DevIdp
from shared.pb.crossclear.settlement.v1 import settlement_pb2 as pb

from ..settlement.conftest import (  # noqa: F401  (fixtures used here)
    event_queue,
    filing,
    hospital,
    msgids,
    settlement_channel,
    settlement_ready,
)
from ..settlement.support import (
    BLOOD_COUNT,
    CONSULTATION,
    GUANGZHOU_HOSPITALS,
    Filing,
    Hospital,
    fee,
)
from .conftest import gateway_settings, start_gateway
from .test_gateway_settlement import _amounts, _json, settled_both_ways

HOSPITAL = GUANGZHOU_HOSPITALS[2]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A development CA and the certificates of the gateway, a hospital and a channel."""
    out = tmp_path_factory.mktemp("certs")
    for code in ("svc-gateway", HOSPITAL, "channel-web", "450100"):
        issue(out, code)
    return out


def client_context(certs: Path, code: str | None) -> ssl.SSLContext:
    """Trusts the platform CA; presents code's certificate when given."""
    context = ssl.create_default_context(cafile=str(certs / "ca.crt"))
    if code is not None:
        context.load_cert_chain(certs / code / "tls.crt", certs / code / "tls.key")
    return context


@pytest.fixture
async def door(
    settings: Settings,
    filing_service: object,
    settlement_ready: object,  # noqa: F811
    dev_idp: DevIdp,
    event_queue: str,  # noqa: F811  (declared before the first settlement event)
    certs: Path,
) -> AsyncIterator[Callable[..., Any]]:
    port = settlement_ready.port  # type: ignore[attr-defined]
    runner, _gateway, base = await start_gateway(
        gateway_settings(
            settings,
            filing_service,
            dev_idp,
            settlement_target=f"127.0.0.1:{port}",
            gateway_https_dir=certs / "svc-gateway",
        )
    )
    assert base.startswith("https://")
    base = base.replace("127.0.0.1", "localhost")
    async with aiohttp.ClientSession() as session:

        async def post(
            path: str,
            body: Message,
            cert: str | None = HOSPITAL,
            context: ssl.SSLContext | None = None,
            **headers: str,
        ) -> Any:
            tls = context or client_context(certs, cert)
            async with session.post(
                base + path, json=_json(body), ssl=tls, headers=headers
            ) as reply:
                assert reply.content_type == "application/json"
                return reply.status, await reply.json()

        yield post
    await runner.cleanup()


async def test_hospital_certificate_registers_uploads_settles_equal_to_grpc(
    door: Callable[..., Any],
    hospital: Callable[[str], Hospital],  # noqa: F811
    filing: Filing,  # noqa: F811
) -> None:
    h = hospital(HOSPITAL)
    lines = [fee(1, CONSULTATION, "44"), fee(2, BLOOD_COUNT, "44", 30_000)]
    by_grpc, by_https, _, total_fen = await settled_both_ways(door, h, filing, lines, "OP-HTTPS-1")
    assert _amounts(by_https) == _amounts(by_grpc)
    assert _amounts(by_https)["info"]["medfee_sumamt_fen"] == total_fen > 0


async def test_settlement_routes_need_an_institution_certificate(
    door: Callable[..., Any],
) -> None:
    register = pb.RegisterRequest(psn_no="450100ABCDEF")
    # No certificate: 401, even naming a hospital in the development header.
    code, status = await door(
        "/v1/settlement/encounters", register, None, **{"X-Crossclear-Caller": HOSPITAL}
    )
    assert (code, status["code"]) == (401, 16), status
    assert "client certificate" in status["message"]
    # A verified certificate of a channel or a pool agency: 403.
    for cert in ("channel-web", "450100"):
        code, status = await door("/v1/settlement/encounters", register, cert)
        assert (code, status["code"]) == (403, 7), (cert, status)


async def test_a_certificate_of_another_ca_is_refused_at_the_handshake(
    door: Callable[..., Any], certs: Path, tmp_path: Path
) -> None:
    foreign = issue(tmp_path, HOSPITAL)  # the hospital's code, but another CA's signature
    context = client_context(certs, None)
    context.load_cert_chain(foreign / "tls.crt", foreign / "tls.key")
    with pytest.raises(aiohttp.ClientError):
        await door("/v1/settlement/encounters", pb.RegisterRequest(), context=context)
