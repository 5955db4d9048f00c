"""5201 encounters of a person, 5204 fee details of an encounter, 5206 a person's annual
accumulations: paged and bounded, the hospital's own only, the headroom to each cap."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import asyncpg
import grpc

from shared.pb.crossclear.common.v1 import common_pb2
from shared.pb.crossclear.filing.v1 import filing_pb2
from shared.pb.crossclear.settlement.v1 import settlement_pb2 as pb

from .support import (
    BLOOD_COUNT,
    COLONOSCOPY,
    CONSULTATION,
    ECHOCARDIOGRAM,
    GUANGZHOU_HOSPITALS,
    INFUSION,
    NANNING,
    Filing,
    Hospital,
    fee,
    fields,
    rpc_error,
    today,
)


def _page(size: int, token: str = "") -> common_pb2.PageRequest:
    return common_pb2.PageRequest(page_size=size, page_token=token)


async def _encounters(
    h: Hospital, person: filing_pb2.Person, page: common_pb2.PageRequest, **more: Any
) -> pb.QueryEncountersResponse:
    return await h.call(
        "QueryEncounters",
        pb.QueryEncountersRequest(
            header=h.header(person.insured_pool), psn_no=person.psn_no, page=page, **more
        ),
    )


async def _fee_details(
    h: Hospital, person: filing_pb2.Person, mdtrt_id: str, page: common_pb2.PageRequest
) -> pb.QueryFeeDetailsResponse:
    return await h.call(
        "QueryFeeDetails",
        pb.QueryFeeDetailsRequest(
            header=h.header(person.insured_pool), mdtrt_id=mdtrt_id, psn_no=person.psn_no, page=page
        ),
    )


async def _accumulations(h: Hospital, person: filing_pb2.Person) -> pb.QueryAccumulationsResponse:
    return await h.call(
        "QueryAccumulations",
        pb.QueryAccumulationsRequest(header=h.header(person.insured_pool), psn_no=person.psn_no),
    )


async def test_encounters_of_a_person_are_paged_and_the_hospitals_own(
    hospital: Callable[[str], Hospital], filing: Filing
) -> None:
    person = await filing.new_person(NANNING)
    await filing.file(person, province_code="44", start=today() - timedelta(days=5))
    h = hospital(GUANGZHOU_HOSPITALS[0])
    other = hospital(GUANGZHOU_HOSPITALS[1])
    first = await h.register(person, begin=today() - timedelta(days=3))
    second = await h.admit(person, begin=today() - timedelta(days=2))
    third = await h.register(person)
    await h.call(
        "CancelRegistration",
        pb.CancelRegistrationRequest(
            header=h.header(person.insured_pool), mdtrt_id=third.mdtrt_id, psn_no=person.psn_no
        ),
    )
    elsewhere = await other.register(person)
    uploaded = await h.upload(person, first.mdtrt_id, [fee(1, CONSULTATION, "44")])
    await h.settle(person, first.mdtrt_id, uploaded.medfee_sumamt_fen)

    page1 = await _encounters(h, person, _page(2))
    assert len(page1.mdtrtinfo) == 2 and page1.next_page_token
    page2 = await _encounters(h, person, _page(2, page1.next_page_token))
    assert len(page2.mdtrtinfo) == 1 and page2.next_page_token == ""
    listed = {e.mdtrt_id: e for e in [*page1.mdtrtinfo, *page2.mdtrtinfo]}
    assert set(listed) == {first.mdtrt_id, second.mdtrt_id, third.mdtrt_id}
    assert listed[first.mdtrt_id].state == pb.ENCOUNTER_STATE_SETTLED
    assert listed[first.mdtrt_id].setl_id
    assert listed[first.mdtrt_id].medfee_sumamt_fen == uploaded.medfee_sumamt_fen
    assert listed[second.mdtrt_id].state == pb.ENCOUNTER_STATE_OPEN
    assert listed[second.mdtrt_id].med_type == common_pb2.MED_TYPE_INPATIENT
    assert listed[third.mdtrt_id].state == pb.ENCOUNTER_STATE_CANCELLED
    # A date range: the first days from two days ago.
    recent = await _encounters(
        h, person, _page(0), begndate=(today() - timedelta(days=2)).isoformat()
    )
    assert {e.mdtrt_id for e in recent.mdtrtinfo} == {second.mdtrt_id, third.mdtrt_id}
    # The other hospital sees its own only.
    theirs = await _encounters(other, person, _page(0))
    assert [e.mdtrt_id for e in theirs.mdtrtinfo] == [elsewhere.mdtrt_id]

    error = await rpc_error(_encounters(h, person, _page(2, "not-a-token")))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert fields(error) == ["page.page_token"]
    error = await rpc_error(_encounters(h, person, _page(-1)))
    assert fields(error) == ["page.page_size"]


async def test_fee_details_are_paged_and_only_for_the_hospitals_encounter(
    hospital: Callable[[str], Hospital], filing: Filing
) -> None:
    person = await filing.new_person(NANNING)
    await filing.file(person, province_code="44")
    h = hospital(GUANGZHOU_HOSPITALS[2])
    registered = await h.register(person)
    mdtrt_id = registered.mdtrt_id
    codes = [CONSULTATION, BLOOD_COUNT, INFUSION, ECHOCARDIOGRAM, COLONOSCOPY]
    await h.upload(person, mdtrt_id, [fee(n, code, "44") for n, code in enumerate(codes, 1)])
    cancelled = await h.call(
        "CancelFeeDetails",
        pb.CancelFeeDetailsRequest(
            header=h.header(person.insured_pool), mdtrt_id=mdtrt_id, psn_no=person.psn_no,
            feedetl_sn=[2],
        ),
    )  # fmt: skip

    page1 = await _fee_details(h, person, mdtrt_id, _page(3))
    assert [d.feedetl_sn for d in page1.feedetail] == [1, 3, 4]
    page2 = await _fee_details(h, person, mdtrt_id, _page(3, page1.next_page_token))
    assert [d.feedetl_sn for d in page2.feedetail] == [5] and not page2.next_page_token
    assert page1.line_count == 4 == cancelled.line_count
    assert page1.medfee_sumamt_fen == cancelled.medfee_sumamt_fen
    assert sum(d.det_item_fee_sumamt_fen for d in [*page1.feedetail, *page2.feedetail]) == (
        cancelled.medfee_sumamt_fen
    )
    assert page1.feedetail[0].med_list_codg == CONSULTATION

    other = hospital(GUANGZHOU_HOSPITALS[0])
    error = await rpc_error(_fee_details(other, person, mdtrt_id, _page(0)))
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    error = await rpc_error(_fee_details(h, person, "M20260101NOSUCHENCOUNTER", _page(0)))
    assert error.code() is grpc.StatusCode.NOT_FOUND


_COUNTERS = {
    "outpatient_deductible": "outpatient_deductible_used_fen",
    "hifp_basic": "hifp_basic_paid_fen",
    "hifp_outpatient": "hifp_outpatient_paid_fen",
    "hifob": "hifob_paid_fen",
    "hifmi": "hifmi_paid_fen",
    "maf": "maf_paid_fen",
}


async def _deltas(db: asyncpg.Pool, setl_ids: list[str]) -> Counter[str]:
    import json

    async with db.acquire() as conn:
        rows = await conn.fetch("SELECT delta FROM settlements WHERE setl_id = ANY($1)", setl_ids)
    assert len(rows) == len(setl_ids)
    total: Counter[str] = Counter()
    for r in rows:
        delta = json.loads(r["delta"])
        total.update({k: v for k, v in delta.items() if isinstance(v, int)})
    return total


def _check(year: pb.QueryAccumulationsResponse, expected: Counter[str]) -> None:
    for field, counter in _COUNTERS.items():
        usage = getattr(year, field)
        assert usage.used_fen == expected[counter], field
        assert usage.left_fen == max(0, usage.cap_fen - usage.used_fen), field
        assert usage.cap_fen > 0, field
    assert year.acct_paid_fen == expected["acct_paid_fen"]
    assert year.hifmi_selfpay_base_fen == expected["hifmi_selfpay_base_fen"]


async def test_accumulations_are_the_sum_of_the_settlements_and_a_reversal_restores_them(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    person = await filing.new_person(NANNING, acct_balance_fen=30_000)
    await filing.file(person, province_code="44")
    h = hospital(GUANGZHOU_HOSPITALS[1])
    settled = []
    for lines in (
        [fee(1, CONSULTATION, "44"), fee(2, COLONOSCOPY, "44")],
        [fee(1, ECHOCARDIOGRAM, "44"), fee(2, BLOOD_COUNT, "44", 30_000)],
        [fee(1, COLONOSCOPY, "44"), fee(2, INFUSION, "44")],
    ):
        mdtrt_id, total_fen = await h.outpatient_visit(person, lines)
        request = h.settle_request(person, mdtrt_id, total_fen, acct=True)
        settled.append((await h.call("Settle", request)).setlinfo)

    year = await _accumulations(h, person)
    expected = await _deltas(settlement_db, [s.setl_id for s in settled])
    _check(year, expected)
    # The same figures as the settlements returned, and the Guangxi policy's caps.
    assert year.outpatient_deductible.used_fen == sum(s.act_pay_dedc_fen for s in settled)
    assert year.outpatient_deductible.used_fen == 10_000  # 100 yuan a year, used up
    assert year.outpatient_deductible.left_fen == 0
    assert year.hifp_outpatient.used_fen == sum(s.hifp_pay_fen for s in settled) > 0
    assert year.acct_paid_fen == sum(s.acct_pay_fen for s in settled) > 0
    assert year.balc_fen == 30_000 - year.acct_paid_fen == settled[-1].balc_fen
    assert year.psn_no == person.psn_no and year.cum_year == today().year
    assert year.policy_version_id == settled[-1].policy_version_id
    assert year.chronic and all(c.usage.used_fen == 0 for c in year.chronic)

    await h.reverse(person, settled[0])
    restored = await _accumulations(h, person)
    _check(restored, await _deltas(settlement_db, [s.setl_id for s in settled[1:]]))
    assert restored.hifp_outpatient.used_fen == sum(s.hifp_pay_fen for s in settled[1:])
    assert restored.acct_paid_fen == sum(s.acct_pay_fen for s in settled[1:])


async def test_accumulations_only_for_a_person_the_hospital_is_treating(
    hospital: Callable[[str], Hospital], filing: Filing
) -> None:
    person = await filing.new_person(NANNING)
    await filing.file(person, province_code="44")
    h = hospital(GUANGZHOU_HOSPITALS[0])
    stranger = hospital(GUANGZHOU_HOSPITALS[2])
    error = await rpc_error(_accumulations(h, person))
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    registered = await h.register(person)
    assert (await _accumulations(h, person)).psn_no == person.psn_no  # open: treating
    error = await rpc_error(_accumulations(stranger, person))
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    await h.call(
        "CancelRegistration",
        pb.CancelRegistrationRequest(
            header=h.header(person.insured_pool), mdtrt_id=registered.mdtrt_id,
            psn_no=person.psn_no,
        ),
    )  # fmt: skip
    error = await rpc_error(_accumulations(h, person))  # a cancelled visit is no treatment
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_a_settled_encounter_counts_as_treating_for_thirty_days(
    hospital: Callable[[str], Hospital], filing: Filing, set_clock: Callable[..., object]
) -> None:
    set_clock("2026-06-10 10:00:00.000")
    person = await filing.new_person(NANNING)
    await filing.file(person, province_code="44")
    h = hospital(GUANGZHOU_HOSPITALS[2])
    mdtrt_id, total_fen = await h.outpatient_visit(person, [fee(1, CONSULTATION, "44")])
    await h.settle(person, mdtrt_id, total_fen)
    set_clock("2026-07-10 23:59:59.000")  # 30 days after the settlement date
    assert (await _accumulations(h, person)).cum_year == 2026
    set_clock("2026-07-11 00:00:00.000")
    error = await rpc_error(_accumulations(h, person))
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
