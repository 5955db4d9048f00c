"""A channel's request id makes a submission idempotent: retries, concurrent duplicates
and a reused id with another body."""

from __future__ import annotations

import asyncio

import asyncpg
import grpc

from shared.pb.crossclear.filing.v1 import filing_pb2

from .support import GUANGZHOU, NANNING, SHENZHEN, Api, rpc_error, submission

CONCURRENT_SUBMISSIONS = 10


async def _filings_of(db: asyncpg.Pool, psn_no: str) -> int:
    return int(await db.fetchval("SELECT count(*) FROM filings WHERE psn_no = $1", psn_no))


async def test_a_retry_returns_the_first_response(api: Api, filing_db: asyncpg.Pool) -> None:
    person = await api.new_person(NANNING)
    request = submission(person.psn_no)
    first = await api.submit(request)
    retry = await api.submit(request)
    assert retry.SerializeToString(deterministic=True) == first.SerializeToString(
        deterministic=True
    )
    assert await _filings_of(filing_db, person.psn_no) == 1

    other = submission(person.psn_no, pool_code=SHENZHEN, request_id=request.channel_request_id)
    err = await rpc_error(api.submit(other))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    # The same id on another channel is another request.
    web = submission(
        person.psn_no, channel=filing_pb2.CHANNEL_WEB, request_id=request.channel_request_id
    )
    assert (await api.submit(web)).filing.filing_id != first.filing.filing_id
    assert await _filings_of(filing_db, person.psn_no) == 2


async def test_concurrent_duplicates_make_one_filing(api: Api, filing_db: asyncpg.Pool) -> None:
    person = await api.new_person(NANNING)
    request = submission(person.psn_no, pool_code=GUANGZHOU)
    responses = await asyncio.gather(*(api.submit(request) for _ in range(CONCURRENT_SUBMISSIONS)))
    encoded = {r.SerializeToString(deterministic=True) for r in responses}
    assert len(encoded) == 1
    assert await _filings_of(filing_db, person.psn_no) == 1
    outbox = await filing_db.fetchval(
        "SELECT count(*) FROM outbox WHERE position($1::bytea IN payload) > 0",
        person.psn_no.encode(),
    )
    assert outbox == 1


async def test_changes_and_cancellations_are_idempotent_too(api: Api) -> None:
    person = await api.new_person(NANNING)
    filed = await api.submit(submission(person.psn_no))
    change = filing_pb2.ChangeFilingRequest(
        channel=filing_pb2.CHANNEL_APP,
        channel_request_id="change-once",
        filing_id=filed.filing.filing_id,
        reason=filing_pb2.CHANGE_REASON_PERSONAL_REQUEST,
        destination=filing_pb2.Destination(pool_code=SHENZHEN),
    )
    first, again = [await api.call("ChangeFiling", change, "channel-app") for _ in range(2)]
    assert first == again and first.filing.version == 2
    cancel = filing_pb2.CancelFilingRequest(
        channel=filing_pb2.CHANNEL_APP,
        channel_request_id="cancel-once",
        filing_id=filed.filing.filing_id,
        reason=filing_pb2.CHANGE_REASON_PERSONAL_REQUEST,
    )
    first, again = [await api.call("CancelFiling", cancel, "channel-app") for _ in range(2)]
    assert first == again and first.filing.version == 3
    # A new request on a cancelled filing is refused by the rules.
    cancel.channel_request_id = "cancel-twice"
    err = await rpc_error(api.call("CancelFiling", cancel, "channel-app"))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
