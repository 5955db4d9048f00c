"""Who may do what through the real service, reading filings page by page, and the
channel figures."""

from __future__ import annotations

import asyncpg
import grpc

from services.filing.domain import window_end
from shared.pb.crossclear.common.v1 import common_pb2
from shared.pb.crossclear.filing.v1 import filing_pb2

from .support import (
    GUANGZHOU,
    GUANGZHOU_HOSPITAL,
    NANNING,
    NANNING_HOSPITAL,
    Api,
    coverage,
    referral,
    row_counts,
    rpc_error,
    submission,
    today,
)

CHONGZUO = "451400"  # used by no other test: its figures are this test's alone


async def test_channels_file_only_through_themselves(api: Api, filing_db: asyncpg.Pool) -> None:
    person = await api.new_person(NANNING)
    before = await row_counts(filing_db)
    web = submission(person.psn_no, channel=filing_pb2.CHANNEL_WEB)
    err = await rpc_error(api.submit(web, caller="channel-app"))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    counter = submission(person.psn_no, channel=filing_pb2.CHANNEL_COUNTER)
    for caller in (GUANGZHOU, "44", GUANGZHOU_HOSPITAL):
        err = await rpc_error(api.submit(counter, caller=caller))
        assert err.code() == grpc.StatusCode.PERMISSION_DENIED, caller
    assert await row_counts(filing_db) == before

    at_agency = await api.submit(counter, caller=NANNING)
    assert at_agency.filing.channel == filing_pb2.CHANNEL_COUNTER


async def test_a_hospital_files_and_cancels_its_own_referral(api: Api) -> None:
    person = await api.new_person(NANNING)
    request = submission(
        person.psn_no,
        filing_pb2.FILING_CATEGORY_REFERRAL,
        channel=filing_pb2.CHANNEL_COUNTER,
        referral=referral(NANNING_HOSPITAL, GUANGZHOU_HOSPITAL),
    )
    filed = await api.submit(request, caller=NANNING_HOSPITAL)  # 2501
    assert filed.filing.referral.hospital_code == GUANGZHOU_HOSPITAL
    cancel = filing_pb2.CancelFilingRequest(
        channel=filing_pb2.CHANNEL_COUNTER,
        channel_request_id="referral-cancel",
        filing_id=filed.filing.filing_id,
        reason=filing_pb2.CHANGE_REASON_PERSONAL_REQUEST,
    )
    err = await rpc_error(api.call("CancelFiling", cancel, "H45010000002"))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    cancelled = await api.call("CancelFiling", cancel, NANNING_HOSPITAL)  # 2502
    assert cancelled.filing.status == filing_pb2.FILING_STATUS_CANCELLED


async def test_coverage_is_for_settlement_and_the_persons_agency(api: Api) -> None:
    person = await api.new_person(NANNING)
    request = coverage(person.psn_no)
    for caller in ("channel-app", GUANGZHOU, GUANGZHOU_HOSPITAL):
        err = await rpc_error(api.coverage(request, caller=caller))
        assert err.code() == grpc.StatusCode.PERMISSION_DENIED, caller
    for caller in ("svc-settlement", NANNING, "45"):
        assert (await api.coverage(request, caller=caller)).person.psn_no == person.psn_no


async def test_filings_are_listed_newest_first_page_by_page(api: Api) -> None:
    person = await api.new_person(NANNING)
    filed = [(await api.submit(submission(person.psn_no))).filing.filing_id for _ in range(5)]
    seen: list[str] = []
    token = ""
    for _ in range(5):
        page = await api.call(
            "ListFilings",
            filing_pb2.ListFilingsRequest(
                psn_no=person.psn_no, page=common_pb2.PageRequest(page_size=2, page_token=token)
            ),
            "channel-app",
        )
        assert len(page.filings) <= 2
        seen += [f.filing_id for f in page.filings]
        token = page.next_page_token
        if not token:
            break
    assert sorted(seen, reverse=True) == seen and sorted(seen) == sorted(filed)
    everything = await api.call(
        "ListFilings",
        filing_pb2.ListFilingsRequest(
            psn_no=person.psn_no, page=common_pb2.PageRequest(page_size=10_000)
        ),
        NANNING,
    )
    assert len(everything.filings) == 5 and not everything.next_page_token
    bad = filing_pb2.ListFilingsRequest(
        psn_no=person.psn_no, page=common_pb2.PageRequest(page_token="not-ours")
    )
    err = await rpc_error(api.call("ListFilings", bad, NANNING))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    err = await rpc_error(
        api.call("ListFilings", filing_pb2.ListFilingsRequest(psn_no=person.psn_no), GUANGZHOU)
    )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_earlier_versions_stay_readable(api: Api) -> None:
    person = await api.new_person(NANNING)
    filed = await api.submit(submission(person.psn_no, start_date=today().isoformat()))
    change = filing_pb2.ChangeFilingRequest(
        channel=filing_pb2.CHANNEL_APP,
        channel_request_id="extend",
        filing_id=filed.filing.filing_id,
        reason=filing_pb2.CHANGE_REASON_PERSONAL_REQUEST,
        end_date=window_end(today(), 9).isoformat(),
    )
    changed = await api.call("ChangeFiling", change, "channel-app")
    # A new end date applies to the whole validity: no earlier version stays in force.
    assert changed.filing.version == 2 and not changed.HasField("superseded")
    assert changed.filing.valid_until_date == change.end_date
    first = await api.call(
        "GetFiling",
        filing_pb2.GetFilingRequest(filing_id=filed.filing.filing_id, version=1),
        "channel-web",
    )
    current = await api.call(
        "GetFiling", filing_pb2.GetFilingRequest(filing_id=filed.filing.filing_id), NANNING
    )
    assert first.filing.version == 1 and current.filing == changed.filing


async def test_channel_figures_count_each_submission_once(api: Api) -> None:
    person = await api.new_person(CHONGZUO)
    for channel in (
        filing_pb2.CHANNEL_APP,
        filing_pb2.CHANNEL_APP,
        filing_pb2.CHANNEL_WEB,
        filing_pb2.CHANNEL_COUNTER,
    ):
        request = submission(person.psn_no, pool_code=GUANGZHOU, channel=channel)
        await api.submit(request)
        await api.submit(request)  # a retry is not another filing
    month = today().strftime("%Y%m")
    by_month = filing_pb2.GetChannelFiguresRequest(period=month, insured_region=CHONGZUO)
    figures = await api.call("GetChannelFigures", by_month, CHONGZUO)
    counts = {c.channel: c.filings for c in figures.channels}
    assert counts == {
        filing_pb2.CHANNEL_APP: 2,
        filing_pb2.CHANNEL_MINI_PROGRAM: 0,
        filing_pb2.CHANNEL_WEB: 1,
        filing_pb2.CHANNEL_COUNTER: 1,
    }
    assert (figures.filings_total, figures.filings_online) == (4, 3)
    assert (figures.online_share_bp, figures.online_channels_used) == (7500, 2)
    assert figures.start_date.endswith("-01")

    by_dates = filing_pb2.GetChannelFiguresRequest(
        start_date=today().isoformat(), end_date=today().isoformat(), insured_region="45"
    )
    province = await api.call("GetChannelFigures", by_dates, "45")
    assert province.filings_total >= 4
    for caller, req in ((NANNING, by_month), (CHONGZUO, by_dates), ("channel-app", by_month)):
        err = await rpc_error(api.call("GetChannelFigures", req, caller))
        assert err.code() == grpc.StatusCode.PERMISSION_DENIED, caller
    everywhere = filing_pb2.GetChannelFiguresRequest(period=month)
    assert (await api.call("GetChannelFigures", everywhere, "op-audit")).filings_total >= 4
    backwards = filing_pb2.GetChannelFiguresRequest(
        start_date="2026-11-30", end_date="2026-11-01", insured_region=CHONGZUO
    )
    err = await rpc_error(api.call("GetChannelFigures", backwards, CHONGZUO))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_access_is_decided_before_the_filing_is_looked_up(api: Api) -> None:
    """A caller who may not act on a pool's filings gets PERMISSION_DENIED whether the
    filing exists or not: the answer tells nothing about which ids exist."""
    person = await api.new_person(NANNING)
    filed = await api.submit(submission(person.psn_no))
    real = filed.filing.filing_id
    made_up = real[:-10] + ("0" * 10 if real[-10:] != "0" * 10 else "1" * 10)
    for filing_id in (real, made_up):
        change = filing_pb2.ChangeFilingRequest(
            channel=filing_pb2.CHANNEL_COUNTER,
            channel_request_id=f"probe-{filing_id[-6:]}",
            filing_id=filing_id,
            reason=filing_pb2.CHANGE_REASON_PERSONAL_REQUEST,
            destination=filed.filing.destination,
        )
        for caller in (GUANGZHOU, GUANGZHOU_HOSPITAL):
            err = await rpc_error(api.call("ChangeFiling", change, caller))
            assert err.code() == grpc.StatusCode.PERMISSION_DENIED, (caller, filing_id)
        get = filing_pb2.GetFilingRequest(filing_id=filing_id)
        err = await rpc_error(api.call("GetFiling", get, GUANGZHOU))
        assert err.code() == grpc.StatusCode.PERMISSION_DENIED, filing_id
