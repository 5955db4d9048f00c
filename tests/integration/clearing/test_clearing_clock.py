"""The month-end cut-off follows the clock: a period cannot be closed before it starts,
and the first millisecond of a month opens it — tested by setting the clock."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest

from shared.grpc_errors import reason_of
from shared.pb.crossclear.clearing.v1 import clearing_pb2 as pb

from .conftest import Client

PERIOD = "203106"  # used by no other test


async def test_a_period_opens_at_midnight_china_time(
    operator: Client, set_clock: Callable[..., object]
) -> None:
    set_clock("2031-05-31 23:59:59.999")
    with pytest.raises(grpc.aio.AioRpcError) as early:
        await operator.ClosePeriod(pb.ClosePeriodRequest(period=PERIOD))
    assert early.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert reason_of(early.value) == "PERIOD_NOT_STARTED"
    set_clock("2031-06-01 00:00:00.000")
    closed = await operator.ClosePeriod(pb.ClosePeriodRequest(period=PERIOD))
    assert closed.period.state == pb.PERIOD_STATE_CLOSED
