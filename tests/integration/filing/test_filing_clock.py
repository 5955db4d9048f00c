"""Filing rules against a set clock: the 6-month change lock, validity expiry and the
retroactive window move with the clock, tested without sleeping."""

from __future__ import annotations

from collections.abc import Callable

import grpc

from shared.grpc_errors import reason_of
from shared.pb.crossclear.filing.v1 import filing_pb2

from .support import GUANGZHOU, NANNING, SHENZHEN, Api, rpc_error, submission


def _move(filing_id: str, request_id: str) -> filing_pb2.ChangeFilingRequest:
    return filing_pb2.ChangeFilingRequest(
        channel=filing_pb2.CHANNEL_WEB,
        channel_request_id=request_id,
        filing_id=filing_id,
        reason=filing_pb2.CHANGE_REASON_PERSONAL_REQUEST,
        destination=filing_pb2.Destination(pool_code=SHENZHEN),
    )


async def test_the_six_month_change_lock_ends_on_the_clock(
    api: Api, set_clock: Callable[..., object]
) -> None:
    set_clock("2026-01-15 10:00:00.000")
    person = await api.new_person(NANNING)
    filed = await api.submit(
        submission(
            person.psn_no,
            filing_pb2.FILING_CATEGORY_RETIREE_RESETTLED,
            pool_code=GUANGZHOU,
            start_date="2026-01-15",
        )
    )
    assert filed.filing.change_lock_end_date == "2026-07-15"
    set_clock("2026-07-14 23:59:59.999")  # the lock's last moment
    err = await rpc_error(
        api.call("ChangeFiling", _move(filed.filing.filing_id, "m1"), "channel-web")
    )
    assert err.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert reason_of(err) == "LONG_TERM_CHANGE_LOCKED"
    set_clock("2026-07-15 00:00:00.000")
    changed = await api.call("ChangeFiling", _move(filed.filing.filing_id, "m2"), "channel-web")
    assert changed.filing.destination.pool_code == SHENZHEN
    assert changed.filing.valid_from_date == "2026-07-15"


async def test_a_temporary_filing_expires_with_the_clock(
    api: Api, set_clock: Callable[..., object]
) -> None:
    set_clock("2026-02-01 08:00:00.000")
    person = await api.new_person(NANNING)
    filed = await api.submit(
        submission(person.psn_no, start_date="2026-02-01", end_date="2026-08-01")
    )
    set_clock("2026-08-01 23:59:59.999")  # the last day it is valid
    change = _move(filed.filing.filing_id, "e1")
    change.ClearField("destination")
    change.end_date = "2026-10-01"
    extended = await api.call("ChangeFiling", change, "channel-web")
    assert extended.filing.valid_until_date == "2026-10-01"
    set_clock("2026-10-02 00:00:00.000")
    change.channel_request_id, change.end_date = "e2", "2026-12-01"
    err = await rpc_error(api.call("ChangeFiling", change, "channel-web"))
    assert reason_of(err) == "FILING_EXPIRED"


async def test_the_retroactive_window_is_counted_from_the_clock(
    api: Api, set_clock: Callable[..., object]
) -> None:
    set_clock("2026-09-30 12:00:00.000")
    person = await api.new_person(NANNING)
    # 180 days back from 2026-09-30 is 2026-04-03: the earliest start a filing may have.
    err = await rpc_error(api.submit(submission(person.psn_no, start_date="2026-04-02")))
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
    filed = await api.submit(submission(person.psn_no, start_date="2026-04-03"))
    assert filed.filing.submitted_date == "2026-09-30"
