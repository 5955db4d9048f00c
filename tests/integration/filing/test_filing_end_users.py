"""Channels act for their signed-in end user only: tokens through the real gRPC service.

A channel that knows another person's filing id can do nothing with it; a missing,
forged, expired or misdirected token is UNAUTHENTICATED; nothing is written either way.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import asyncpg
import grpc

from shared import clock
from shared.devidp import DevIdp
from shared.pb.crossclear.filing.v1 import filing_pb2

from .support import BEIHAI, NANNING, Api, row_counts, rpc_error, submission


def _cancel(filing_id: str, request_id: str, channel: int = filing_pb2.CHANNEL_WEB) -> object:
    return filing_pb2.CancelFilingRequest(
        channel=channel,  # type: ignore[arg-type]
        channel_request_id=request_id,
        filing_id=filing_id,
        reason=filing_pb2.CHANGE_REASON_PERSONAL_REQUEST,
    )


def _move(filing_id: str, request_id: str) -> filing_pb2.ChangeFilingRequest:
    return filing_pb2.ChangeFilingRequest(
        channel=filing_pb2.CHANNEL_WEB,
        channel_request_id=request_id,
        filing_id=filing_id,
        reason=filing_pb2.CHANGE_REASON_PERSONAL_REQUEST,
        destination=filing_pb2.Destination(province_code="44"),
    )


async def _acted_by(pool: asyncpg.Pool, filing_id: str) -> list[str]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT acted_by FROM filings WHERE filing_id = $1 ORDER BY version", filing_id
        )
    return [r["acted_by"] for r in rows]


async def test_a_channel_cannot_act_on_another_persons_filing(
    api: Api, filing_db: asyncpg.Pool
) -> None:
    owner, other = await api.new_person(NANNING), await api.new_person(NANNING)
    filed = await api.submit(submission(owner.psn_no, channel=filing_pb2.CHANNEL_APP))
    filing_id = filed.filing.filing_id
    intruder = api.tokens.person("channel-web", other.psn_no)
    before = await row_counts(filing_db)

    attempts = [
        ("SubmitFiling", submission(owner.psn_no, channel=filing_pb2.CHANNEL_WEB)),
        ("ChangeFiling", _move(filing_id, "intruder-change")),
        ("CancelFiling", _cancel(filing_id, "intruder-cancel")),
        ("GetFiling", filing_pb2.GetFilingRequest(filing_id=filing_id)),
        ("ListFilings", filing_pb2.ListFilingsRequest(psn_no=owner.psn_no)),
    ]
    for method, request in attempts:
        err = await rpc_error(api.call(method, request, "channel-web", token=intruder))
        assert err.code() == grpc.StatusCode.PERMISSION_DENIED, (method, err.details())
        assert "another person" in (err.details() or ""), err.details()
    assert await row_counts(filing_db) == before

    # The owner, signed in to the web site, may: the filing is theirs, not the app's.
    cancelled = await api.call("CancelFiling", _cancel(filing_id, "owner-cancel"), "channel-web")
    assert cancelled.filing.status == filing_pb2.FILING_STATUS_CANCELLED
    assert await _acted_by(filing_db, filing_id) == [
        f"person:{owner.psn_no}",
        f"person:{owner.psn_no}",
    ]


async def test_a_retry_never_answers_with_another_persons_filing(
    api: Api, filing_db: asyncpg.Pool
) -> None:
    owner, other = await api.new_person(NANNING), await api.new_person(NANNING)
    filed = await api.submit(submission(owner.psn_no, channel=filing_pb2.CHANNEL_WEB))
    change = _move(filed.filing.filing_id, "same-request-id")
    await api.call("ChangeFiling", change, "channel-web")
    # The other person resends the very same request (same id, same bytes).
    intruder = api.tokens.person("channel-web", other.psn_no)
    err = await rpc_error(api.call("ChangeFiling", change, "channel-web", token=intruder))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    # And may use the same request id for their own filing.
    own = submission(other.psn_no, channel=filing_pb2.CHANNEL_WEB, request_id="shared-id-1")
    mine = submission(owner.psn_no, channel=filing_pb2.CHANNEL_WEB, request_id="shared-id-1")
    assert (await api.submit(own)).filing.psn_no == other.psn_no
    assert (await api.submit(mine)).filing.psn_no == owner.psn_no


async def test_missing_bad_or_expired_tokens_are_unauthenticated(
    api: Api, filing_db: asyncpg.Pool, tmp_path: Path
) -> None:
    person = await api.new_person(NANNING)
    request = submission(person.psn_no, channel=filing_pb2.CHANNEL_APP)
    tokens = api.tokens
    forger = DevIdp.ensure(tmp_path / "forger")
    cases: dict[str, str] = {
        "": "authorization: Bearer",
        "not-a-jwt": "not a well-formed JWT",
        tokens.person("channel-web", person.psn_no): "not issued by this channel",
        forger.token(
            "channel-app",
            audience=tokens.audience,
            now=clock.now(),
            person=person.psn_no,
        ): "not one of the channel's",
        tokens.idp.token(
            "channel-app",
            audience="someone-else",
            now=clock.now(),
            person=person.psn_no,
        ): "audience",
    }
    before = await row_counts(filing_db)
    for token, reason in cases.items():
        err = await rpc_error(api.submit(request, token=token))
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED, (reason, err.details())
        assert reason in (err.details() or ""), (reason, err.details())
    assert await row_counts(filing_db) == before


async def test_an_expired_token_says_so(api: Api, set_clock: object) -> None:
    person = await api.new_person(NANNING)
    token = api.tokens.person("channel-app", person.psn_no, ttl=timedelta(minutes=5))
    request = submission(person.psn_no, channel=filing_pb2.CHANNEL_APP)
    set_clock(clock.now() + timedelta(hours=1))  # type: ignore[operator]
    err = await rpc_error(api.submit(request, token=token))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "expired" in (err.details() or "")


async def test_counter_staff_act_for_persons_of_their_own_pool(
    api: Api, filing_db: asyncpg.Pool
) -> None:
    person = await api.new_person(NANNING)
    request = submission(person.psn_no, channel=filing_pb2.CHANNEL_COUNTER)
    elsewhere = api.tokens.staff(BEIHAI, "clerk-9")
    err = await rpc_error(api.submit(request, token=elsewhere))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    # A person's token is no staff identity.
    as_person = api.tokens.idp.token(
        "channel-counter",
        audience=api.tokens.audience,
        now=clock.now(),
        person=person.psn_no,
    )
    err = await rpc_error(api.submit(request, token=as_person))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED

    filed = await api.submit(request, token=api.tokens.staff(NANNING, "clerk-7"))
    assert await _acted_by(filing_db, filed.filing.filing_id) == ["staff:450100:clerk-7"]
    # Agencies keep filing at their counter as themselves, without a token.
    at_agency = await api.submit(
        submission(person.psn_no, channel=filing_pb2.CHANNEL_COUNTER, pool_code="440300"),
        caller=NANNING,
    )
    assert await _acted_by(filing_db, at_agency.filing.filing_id) == [NANNING]
