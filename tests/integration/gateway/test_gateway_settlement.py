"""Hospital settlement over HTTP (development): register, upload and settle through the
gateway give the same amounts, to the fen, as the same visit over gRPC."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from google.protobuf import json_format
from google.protobuf.message import Message

from shared.config import Settings
from shared.devidp import DevIdp
from shared.pb.crossclear.common.v1 import common_pb2
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
    COLONOSCOPY,
    CONSULTATION,
    GUANGZHOU_HOSPITALS,
    NANNING,
    Filing,
    Hospital,
    fee,
    today,
)
from .conftest import gateway_settings, start_gateway

HOSPITAL = GUANGZHOU_HOSPITALS[1]


def _json(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


@pytest.fixture
async def door(
    settings: Settings,
    filing_service: object,
    settlement_ready: object,  # noqa: F811
    dev_idp: DevIdp,
    event_queue: str,  # noqa: F811  (declared before the first settlement event)
) -> AsyncIterator[Callable[..., Any]]:
    port = settlement_ready.port  # type: ignore[attr-defined]
    runner, _gateway, base = await start_gateway(
        gateway_settings(settings, filing_service, dev_idp, settlement_target=f"127.0.0.1:{port}")
    )
    async with aiohttp.ClientSession() as session:

        async def post(path: str, body: Message, caller: str | None = HOSPITAL) -> Any:
            headers = {"x-crossclear-caller": caller} if caller else {}
            async with session.post(base + path, json=_json(body), headers=headers) as reply:
                return reply.status, await reply.json()

        yield post
    await runner.cleanup()


def _amounts(message: Message) -> dict[str, Any]:
    """Every *_fen figure of a settlement reply, with the fund lines."""
    info = _json(message)["setlinfo"]
    funds = [
        (d["fund_pay_type"], d.get("fund_payamt_fen", "0")) for d in _json(message)["setldetail"]
    ]
    return {
        "info": {k: int(v) for k, v in info.items() if k.endswith("_fen")},
        "funds": sorted(funds),
    }


async def settled_both_ways(
    door: Callable[..., Any],
    h: Hospital,
    filing: Filing,  # noqa: F811
    lines: list[pb.FeeDetail],
    visit_no: str,
) -> tuple[pb.SettleResponse, pb.SettleResponse, dict[str, Any], int]:
    """Two filed persons with the same bill, one registered, uploaded and settled over gRPC
    and the other through the door (each call answered 200): both settle replies, the
    door's registration reply and the bill's total."""
    over_grpc, over_door = [await filing.new_person(NANNING, acct_balance_fen=50_000) for _ in "ab"]
    for person in (over_grpc, over_door):
        await filing.file(person, province_code="44")

    mdtrt_id, total_fen = await h.outpatient_visit(over_grpc, lines)
    by_grpc = await h.settle(over_grpc, mdtrt_id, total_fen)

    register = pb.RegisterRequest(
        header=h.header(over_door.insured_pool),
        psn_no=over_door.psn_no,
        insutype=over_door.insutype,
        med_type=common_pb2.MED_TYPE_ORDINARY_OUTPATIENT,
        begntime=today().isoformat(),
        ipt_otp_no=visit_no,
    )
    code, registered = await door("/v1/settlement/encounters", register)
    assert code == 200, registered
    door_mdtrt = registered["mdtrt_id"]

    upload = pb.UploadFeeDetailsRequest(
        header=h.header(over_door.insured_pool),
        mdtrt_id=door_mdtrt,
        psn_no=over_door.psn_no,
        feedetail=lines,
    )
    code, uploaded = await door(
        f"/v1/settlement/encounters/{door_mdtrt}:upload-fee-details", upload
    )
    assert code == 200, uploaded
    assert uploaded["medfee_sumamt_fen"] == str(total_fen)  # int64 as a string

    settle = h.settle_request(over_door, door_mdtrt, total_fen)
    code, settled = await door(f"/v1/settlement/encounters/{door_mdtrt}:settle", settle)
    assert code == 200, settled
    by_door = json_format.ParseDict(settled, pb.SettleResponse())
    return by_grpc, by_door, registered, total_fen


async def test_register_upload_settle_over_http_equal_grpc_to_the_fen(
    door: Callable[..., Any],
    hospital: Callable[[str], Hospital],  # noqa: F811
    filing: Filing,  # noqa: F811
) -> None:
    h = hospital(HOSPITAL)
    lines = [
        fee(1, CONSULTATION, "44"),
        fee(2, BLOOD_COUNT, "44", 20_000),
        fee(3, COLONOSCOPY, "44"),
    ]
    by_grpc, by_http, registered, _ = await settled_both_ways(door, h, filing, lines, "OP-HTTP-1")
    assert registered["trtinfo"]["allowed"] is True
    assert _amounts(by_http) == _amounts(by_grpc)
    assert _amounts(by_http)["info"]["medfee_sumamt_fen"] == 1800 + 4800 + 42000


async def test_settlement_over_http_needs_a_hospital(door: Callable[..., Any]) -> None:
    register = pb.RegisterRequest(psn_no="450100ABCDEF")
    for caller in (None, "channel-web", "450100"):
        code, status = await door("/v1/settlement/encounters", register, caller)
        assert code == 401, (caller, status)
        assert status["code"] == 16
