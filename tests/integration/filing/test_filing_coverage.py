"""Coverage through the real service: the six categories, validity, the long-term lock,
emergency and retroactive filing, filing-exempt zones, and a GBA resident."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest

from services.filing.domain import add_months, window_end
from shared.grpc_errors import reason_of
from shared.identity import DocumentType
from shared.pb.crossclear.common.v1 import common_pb2
from shared.pb.crossclear.filing.v1 import filing_pb2

from .support import (
    BEIHAI,
    GUANGZHOU,
    NANNING,
    QINZHOU,
    SHENZHEN,
    ZHUHAI,
    Api,
    coverage,
    days_ago,
    document,
    home_return_permit,
    make_person,
    referral,
    residence_permit,
    rpc_error,
    submission,
    today,
)

CATEGORY_REDUCTION_BP = {
    filing_pb2.FILING_CATEGORY_RETIREE_RESETTLED: 0,
    filing_pb2.FILING_CATEGORY_LONG_TERM_RESIDENT: 0,
    filing_pb2.FILING_CATEGORY_STATIONED_WORKER: 0,
    filing_pb2.FILING_CATEGORY_REFERRAL: 1000,
    filing_pb2.FILING_CATEGORY_EMERGENCY: 1000,
    filing_pb2.FILING_CATEGORY_OTHER_TEMPORARY: 2000,
}


@pytest.mark.parametrize(
    "category", list(CATEGORY_REDUCTION_BP), ids=filing_pb2.FilingCategory.Name
)
async def test_each_category_can_be_filed_and_covers_treatment(
    api: Api, category: filing_pb2.FilingCategory.ValueType
) -> None:
    person = await api.new_person(NANNING)
    details = referral() if category == filing_pb2.FILING_CATEGORY_REFERRAL else None
    submitted = await api.submit(submission(person.psn_no, category, referral=details))

    filing = submitted.filing
    assert filing.category == category
    assert filing.status == filing_pb2.FILING_STATUS_ACTIVE
    assert (filing.version, filing.psn_no, filing.insured_pool) == (1, person.psn_no, NANNING)
    assert filing.destination.pool_code == GUANGZHOU
    assert filing.channel == filing_pb2.CHANNEL_APP
    assert filing.ratio_reduction_bp == CATEGORY_REDUCTION_BP[category]
    answer = await api.coverage(coverage(person.psn_no))
    assert answer.allowed and answer.basis == filing_pb2.COVERAGE_BASIS_FILING
    assert (answer.filing_id, answer.category) == (filing.filing_id, category)
    assert answer.ratio_reduction_bp == CATEGORY_REDUCTION_BP[category]
    assert answer.relation == common_pb2.RELATION_CROSS_PROVINCE
    assert answer.person.psn_no == person.psn_no and answer.person == person


async def test_validity_long_term_and_temporary(api: Api) -> None:
    person = await api.new_person(NANNING)
    start = today()
    long_term = await api.submit(
        submission(person.psn_no, filing_pb2.FILING_CATEGORY_STATIONED_WORKER, province_code="44")
    )
    assert long_term.filing.long_term and long_term.filing.valid_until_date == ""
    assert long_term.filing.change_lock_end_date == add_months(start, 6).isoformat()
    open_ended = await api.submit(submission(person.psn_no))
    six_months = window_end(start, 6).isoformat()
    assert open_ended.filing.valid_until_date == six_months
    assert not open_ended.validity_extended
    short = await api.submit(
        submission(person.psn_no, end_date=(start + timedelta(days=30)).isoformat())
    )
    assert short.filing.valid_until_date == six_months and short.validity_extended
    ten_months = window_end(start, 10).isoformat()
    longer = await api.submit(submission(person.psn_no, end_date=ten_months))
    assert longer.filing.valid_until_date == ten_months and not longer.validity_extended


async def test_long_term_filing_is_locked_for_six_months(api: Api) -> None:
    person = await api.new_person(NANNING)
    started = days_ago(30)
    filed = await api.submit(
        submission(
            person.psn_no,
            filing_pb2.FILING_CATEGORY_RETIREE_RESETTLED,
            pool_code=GUANGZHOU,
            start_date=started,
        )
    )
    filing_id = filed.filing.filing_id
    move = filing_pb2.ChangeFilingRequest(
        channel=filing_pb2.CHANNEL_WEB,
        channel_request_id="move-1",
        filing_id=filing_id,
        reason=filing_pb2.CHANGE_REASON_PERSONAL_REQUEST,
        destination=filing_pb2.Destination(pool_code=SHENZHEN),
    )
    err = await rpc_error(api.call("ChangeFiling", move, "channel-web"))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason_of(err) == "LONG_TERM_CHANGE_LOCKED"
    cancel = filing_pb2.CancelFilingRequest(
        channel=filing_pb2.CHANNEL_WEB,
        channel_request_id="cancel-1",
        filing_id=filing_id,
        reason=filing_pb2.CHANGE_REASON_PERSONAL_REQUEST,
    )
    err = await rpc_error(api.call("CancelFiling", cancel, "channel-web"))
    assert reason_of(err) == "LONG_TERM_CHANGE_LOCKED"

    move.channel_request_id = "move-2"
    move.reason = filing_pb2.CHANGE_REASON_RESETTLEMENT_PLACE_CHANGED
    changed = await api.call("ChangeFiling", move, "channel-web")
    assert changed.filing.version == 2 and changed.filing.destination.pool_code == SHENZHEN
    assert changed.filing.valid_from_date == today().isoformat()
    assert changed.superseded.status == filing_pb2.FILING_STATUS_SUPERSEDED
    assert changed.superseded.valid_until_date == days_ago(1)
    # Treatment before the move is judged against the place then on file.
    before = await api.coverage(coverage(person.psn_no, GUANGZHOU, treatment_date=days_ago(10)))
    assert before.allowed and before.filing_id == filing_id
    after = await api.coverage(coverage(person.psn_no, GUANGZHOU))
    assert not after.allowed and after.reason_code == "FILING_NOT_VALID_ON_DATE"
    moved = await api.coverage(coverage(person.psn_no, SHENZHEN))
    assert moved.allowed and moved.basis == filing_pb2.COVERAGE_BASIS_FILING
    # The lock restarts from the move; ending the insurance still allows cancelling.
    cancel.channel_request_id = "cancel-2"
    cancel.reason = filing_pb2.CHANGE_REASON_INSURANCE_ENDED
    cancelled = await api.call("CancelFiling", cancel, "channel-web")
    assert cancelled.filing.status == filing_pb2.FILING_STATUS_CANCELLED
    assert cancelled.filing.cancelled_date == today().isoformat()
    gone = await api.coverage(coverage(person.psn_no, SHENZHEN))
    assert not gone.allowed and gone.reason_code == "FILING_CANCELLED"


async def test_emergency_counts_as_filed_but_not_for_chronic_care(api: Api) -> None:
    person = await api.new_person(NANNING)
    emergency = await api.coverage(coverage(person.psn_no, emergency=True))
    assert emergency.allowed and emergency.basis == filing_pb2.COVERAGE_BASIS_EMERGENCY
    assert emergency.category == filing_pb2.FILING_CATEGORY_EMERGENCY
    assert emergency.ratio_reduction_bp == 1000 and emergency.filing_id == ""
    chronic = await api.coverage(
        coverage(person.psn_no, emergency=True, med_type=common_pb2.MED_TYPE_CHRONIC_OUTPATIENT)
    )
    assert not chronic.allowed and chronic.reason_code == "FILING_REQUIRED"


async def test_nanning_person_in_guangzhou_needs_a_filing_which_may_be_retroactive(
    api: Api,
) -> None:
    person = await api.new_person(NANNING)
    admitted = days_ago(10)
    refused = await api.coverage(coverage(person.psn_no, GUANGZHOU, treatment_date=admitted))
    assert not refused.allowed
    assert refused.reason_code == "FILING_REQUIRED"
    assert refused.basis == filing_pb2.COVERAGE_BASIS_UNSPECIFIED
    assert refused.relation == common_pb2.RELATION_CROSS_PROVINCE

    filed = await api.submit(submission(person.psn_no, start_date=admitted))
    assert filed.retroactive
    allowed = await api.coverage(coverage(person.psn_no, GUANGZHOU, treatment_date=admitted))
    assert allowed.allowed and allowed.basis == filing_pb2.COVERAGE_BASIS_RETROACTIVE_FILING
    assert allowed.filing_id == filed.filing.filing_id and allowed.ratio_reduction_bp == 2000
    today_visit = await api.coverage(coverage(person.psn_no, GUANGZHOU))
    assert today_visit.allowed and today_visit.basis == filing_pb2.COVERAGE_BASIS_FILING


async def test_filing_exempt_zones(api: Api) -> None:
    beihai = await api.new_person(BEIHAI)
    bqf = await api.coverage(coverage(beihai.psn_no, QINZHOU))
    assert bqf.allowed and bqf.basis == filing_pb2.COVERAGE_BASIS_EXEMPT_BQF
    assert bqf.local_ratio and bqf.relation == common_pb2.RELATION_IN_PROVINCE
    outside = await api.coverage(coverage(beihai.psn_no, NANNING))
    assert not outside.allowed and outside.reason_code == "FILING_REQUIRED"
    at_home = await api.coverage(coverage(beihai.psn_no, BEIHAI))
    assert at_home.basis == filing_pb2.COVERAGE_BASIS_LOCAL and at_home.local_ratio

    guangzhou = await api.new_person(GUANGZHOU, insutype=common_pb2.INSURANCE_TYPE_RESIDENT_BASIC)
    gd = await api.coverage(coverage(guangzhou.psn_no, SHENZHEN))
    assert gd.allowed and gd.basis == filing_pb2.COVERAGE_BASIS_EXEMPT_GD_IN_PROVINCE
    assert gd.ratio_reduction_bp == 0 and not gd.local_ratio


async def test_macau_resident_insured_in_zhuhai_files_for_nanning(api: Api) -> None:
    permit = residence_permit(DocumentType.MO_RESIDENCE_PERMIT)
    created = await api.upsert(_macau_person(permit), caller=ZHUHAI)
    person = created.person
    assert created.created and person.insured_pool == ZHUHAI
    assert person.sex != filing_pb2.SEX_UNSPECIFIED
    assert person.birth_date == f"{permit[6:10]}-{permit[10:12]}-{permit[12:14]}"
    filed = await api.submit(
        submission(
            person.psn_no,
            filing_pb2.FILING_CATEGORY_LONG_TERM_RESIDENT,
            pool_code=NANNING,
            channel=filing_pb2.CHANNEL_MINI_PROGRAM,
        )
    )
    answer = await api.coverage(coverage(person.psn_no, NANNING))
    assert answer.allowed and answer.filing_id == filed.filing.filing_id
    assert answer.relation == common_pb2.RELATION_CROSS_PROVINCE and answer.ratio_reduction_bp == 0


def _macau_person(permit: str) -> filing_pb2.Person:
    return make_person(
        ZHUHAI,
        documents=[
            document(common_pb2.DOCUMENT_TYPE_MO_RESIDENCE_PERMIT, permit),
            document(common_pb2.DOCUMENT_TYPE_HK_MO_HOME_RETURN_PERMIT, home_return_permit("M")),
        ],
    )
