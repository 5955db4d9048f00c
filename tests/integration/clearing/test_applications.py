"""Hospitals' monthly clearing applications (3203 / 3204), matched against the ledger."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
import grpc
import pytest

from shared.bus import Bus
from shared.grpc_errors import reason_of
from shared.pb.crossclear.clearing.v1 import clearing_pb2 as pb

from .conftest import Client
from .support import publish, reversal, settlement, wait_ingested

PERIOD = "200902"
HOSPITAL = "H44010000002"
NANNING, SHENZHEN, GUANGZHOU = "450100", "440300", "440100"


async def test_an_application_one_settlement_off_reports_exactly_that_settlement(
    as_caller: Callable[[str], Client],
    publisher: Bus,
    namespace: str,
    db: asyncpg.Pool,
    unique: str,
) -> None:
    events = [
        settlement(
            f"H{unique}{i}",
            NANNING if i % 2 else SHENZHEN,
            GUANGZHOU,
            PERIOD,
            hifp=9_000 + i,
            acct=50,
        )
        for i in range(6)
    ]
    for e in events:
        e.hospital = HOSPITAL
    undone = reversal(events[0], setl_id=f"H{unique}0R")
    undone.hospital = HOSPITAL
    other_hospital = settlement(f"H{unique}X", NANNING, GUANGZHOU, PERIOD, hifp=1_000)
    await publish(publisher, namespace, [*events, undone, other_hospital])
    await wait_ingested(db, [*events, undone, other_hospital])

    items = [pb.ApplicationItem(setl_id=e.setl_id, fund_amount_fen=e.cleared_fen) for e in events]
    items.append(pb.ApplicationItem(setl_id=undone.setl_id, fund_amount_fen=-undone.cleared_fen))
    items[3] = pb.ApplicationItem(
        setl_id=events[3].setl_id, fund_amount_fen=events[3].cleared_fen + 100
    )
    hospital = as_caller(HOSPITAL)
    request = pb.SubmitClearingApplicationRequest(
        hospital_code=HOSPITAL, period=PERIOD, items=items
    )

    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await as_caller("H44010000003").SubmitClearingApplication(request)
    assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED

    reply = await hospital.SubmitClearingApplication(request)
    assert not reply.matched and reply.difference_count == 1
    (difference,) = reply.differences
    assert difference.setl_id == events[3].setl_id
    assert difference.kind == pb.DIFFERENCE_KIND_AMOUNT_MISMATCH
    assert (difference.application_fen, difference.ledger_fen) == (
        events[3].cleared_fen + 100,
        events[3].cleared_fen,
    )
    assert reply.ledger_item_count == len(events) + 1

    # The same application again returns the first result; a different one must wait
    # for the first to be cancelled (3204).
    again = await hospital.SubmitClearingApplication(request)
    assert again.no_op and again.application_id == reply.application_id
    corrected = list(items)
    corrected[3] = pb.ApplicationItem(
        setl_id=events[3].setl_id, fund_amount_fen=events[3].cleared_fen
    )
    fixed = pb.SubmitClearingApplicationRequest(
        hospital_code=HOSPITAL, period=PERIOD, items=corrected
    )
    with pytest.raises(grpc.aio.AioRpcError) as active:
        await hospital.SubmitClearingApplication(fixed)
    assert reason_of(active.value) == "APPLICATION_ACTIVE"
    cancelled = await hospital.CancelClearingApplication(
        pb.CancelClearingApplicationRequest(application_id=reply.application_id, reason="typo")
    )
    assert cancelled.state == pb.APPLICATION_STATE_CANCELLED
    matched = await hospital.SubmitClearingApplication(fixed)
    assert matched.matched and matched.difference_count == 0 and not matched.differences

    # Leaving one settlement out is reported too, and only that one.
    missing = pb.SubmitClearingApplicationRequest(
        hospital_code=HOSPITAL, period=PERIOD, items=corrected[:2] + corrected[3:]
    )
    await hospital.CancelClearingApplication(
        pb.CancelClearingApplicationRequest(application_id=matched.application_id)
    )
    reply = await hospital.SubmitClearingApplication(missing)
    assert [(d.setl_id, d.kind) for d in reply.differences] == [
        (events[2].setl_id, pb.DIFFERENCE_KIND_MISSING_IN_APPLICATION)
    ]
    assert not reply.differences[0].HasField("application_fen")
