"""The encounter flows end to end: outpatient and inpatient, pre-settlement warnings,
reversal, discharge, queries and reconciliation."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
import grpc

from shared.pb.crossclear.common.v1 import common_pb2
from shared.pb.crossclear.filing.v1 import filing_pb2
from shared.pb.crossclear.settlement.v1 import settlement_pb2 as pb

from .support import (
    BLOOD_COUNT,
    COLONOSCOPY,
    CONSULTATION,
    GUANGZHOU_HOSPITALS,
    INFUSION,
    NANNING,
    NANNING_HOSPITALS,
    Filing,
    Hospital,
    fee,
    reason,
    rpc_error,
    today,
)


async def test_outpatient_visit_settles_and_reverses_to_the_fen(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    person = await filing.new_person(NANNING, acct_balance_fen=50_000)
    await filing.file(person, province_code="44")
    h = hospital(GUANGZHOU_HOSPITALS[0])
    registered = await h.register(person)
    assert registered.trtinfo.allowed
    assert registered.trtinfo.basis == pb.COVERAGE_BASIS_FILING
    uploaded = await h.upload(
        person,
        registered.mdtrt_id,
        [fee(1, CONSULTATION, "44"), fee(2, BLOOD_COUNT, "44", 20_000), fee(3, COLONOSCOPY, "44")],
    )
    assert uploaded.line_count == 3
    total_fen = uploaded.medfee_sumamt_fen
    assert total_fen == 1800 + 4800 + 42000

    pre = await h.presettle(person, registered.mdtrt_id)
    assert pre.setlinfo.setl_id == ""
    request = h.settle_request(person, registered.mdtrt_id, total_fen, acct=True)
    settled = await h.call("Settle", request)
    info = settled.setlinfo
    assert info.medfee_sumamt_fen == total_fen
    assert info.hifp_pay_fen == pre.setlinfo.hifp_pay_fen
    assert info.act_pay_dedc_fen == 10_000  # Guangxi employees: 100 yuan a year, outpatient
    assert info.hifp_pay_fen == (total_fen - 10_000) * 60 // 100
    assert info.fund_pay_sumamt_fen + info.psn_part_amt_fen == total_fen
    assert info.acct_pay_fen == min(50_000, info.psn_part_amt_fen)
    assert info.balc_fen == 50_000 - info.acct_pay_fen
    assert info.policy_version_id == "GX-2026.01"
    assert info.catalogue_version_id == "GD-CAT-2026.01"
    assert info.clr_ym == today().strftime("%Y%m")
    assert [d.fund_pay_type for d in settled.setldetail] == [
        common_pb2.FUND_TYPE_HIFP,
        common_pb2.FUND_TYPE_ACCT,
    ]

    reversed_ = await h.reverse(person, info)
    rev = reversed_.setlinfo
    assert rev.reversed_setl_id == info.setl_id
    assert rev.medfee_sumamt_fen == -total_fen and rev.hifp_pay_fen == -info.hifp_pay_fen
    assert rev.balc_fen == 50_000
    async with settlement_db.acquire() as conn:
        acc = await conn.fetchrow("SELECT * FROM accumulations WHERE psn_no = $1", person.psn_no)
    assert acc["hifp_outpatient_paid_fen"] == 0
    assert acc["outpatient_deductible_used_fen"] == 0
    assert acc["fund_paid_fen"] == "{}"  # the personal account's counter back to nothing
    assert acc["standing_settlements"] == 0

    # Reopened: the encounter settles again, with the deductible again.
    again = await h.settle(person, registered.mdtrt_id, total_fen)
    assert again.setlinfo.act_pay_dedc_fen == 10_000
    queried = await h.call(
        "QuerySettlement",
        pb.QuerySettlementRequest(header=h.header(), setl_id=info.setl_id),
    )
    assert queried.state == pb.SETTLEMENT_STATE_REVERSED
    assert queried.reversed_by_setl_id == rev.setl_id


async def test_inpatient_stay_with_supervision_warnings_and_discharge(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    person = await filing.new_person(NANNING)
    await filing.file(
        person, category=filing_pb2.FILING_CATEGORY_RETIREE_RESETTLED, province_code="44"
    )
    elsewhere = hospital(NANNING_HOSPITALS[0])
    await elsewhere.admit(person)  # an open stay at home
    h = hospital(GUANGZHOU_HOSPITALS[1])
    admitted = await h.admit(person)
    lines = [fee(1, INFUSION, "44"), fee(2, INFUSION, "44")]  # same item, date, qty: duplicate
    uploaded = await h.upload(person, admitted.mdtrt_id, lines)
    pre = await h.presettle(person, admitted.mdtrt_id)
    codes = sorted(w.code for w in pre.warnings)
    assert codes == ["ADMITTED_ELSEWHERE", "DUPLICATE_FEE_LINE"]
    async with settlement_db.acquire() as conn:
        stored = await conn.fetch(
            "SELECT code, line_no, hospital_code FROM supervision_warnings WHERE mdtrt_id = $1",
            admitted.mdtrt_id,
        )
    assert sorted(r["code"] for r in stored) == codes
    assert {r["hospital_code"] for r in stored} == {h.code}

    settled = await h.settle(person, admitted.mdtrt_id, uploaded.medfee_sumamt_fen)
    assert settled.setlinfo.med_type == common_pb2.MED_TYPE_INPATIENT
    # Guangxi employee at a level-3 hospital: the 800-yuan deductible swallows this bill.
    assert settled.setlinfo.act_pay_dedc_fen == uploaded.medfee_sumamt_fen
    assert settled.setlinfo.hifp_pay_fen == 0
    await h.discharge(person, admitted.mdtrt_id)
    error = await rpc_error(h.discharge(person, admitted.mdtrt_id))
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert reason(error) == "ALREADY_DISCHARGED"


async def test_reconciliation_finds_the_missing_and_the_different(
    hospital: Callable[[str], Hospital], filing: Filing
) -> None:
    person = await filing.new_person(NANNING)
    h = hospital(NANNING_HOSPITALS[1])
    settled = []
    for _ in range(3):
        mdtrt_id, total_fen = await h.outpatient_visit(person, [fee(1, COLONOSCOPY, "45")])
        settled.append((await h.settle(person, mdtrt_id, total_fen)).setlinfo)
    reversal = (await h.reverse(person, settled[0])).setlinfo
    ours = [*settled, reversal]

    day = today().isoformat()
    totals = await h.call(
        "ReconcileTotals",
        pb.ReconcileTotalsRequest(header=h.header(), stmt_begndate=day, stmt_enddate=day),
    )
    assert totals.ours.fixmedins_setl_cnt >= 2  # other tests of this hospital may add more

    def record(info: pb.SettlementInfo) -> pb.SettlementRecord:
        return pb.SettlementRecord(
            setl_id=info.setl_id,
            mdtrt_id=info.mdtrt_id,
            psn_no=info.psn_no,
            medfee_sumamt_fen=info.medfee_sumamt_fen,
            fund_pay_sumamt_fen=info.fund_pay_sumamt_fen,
            acct_pay_fen=info.acct_pay_fen,
            refd_setl_flag=bool(info.reversed_setl_id),
        )

    theirs = [record(i) for i in ours]
    theirs[1].medfee_sumamt_fen += 1  # one fen off
    del theirs[2]  # one they lost
    theirs.append(pb.SettlementRecord(setl_id="S20990101UNKNOWN", medfee_sumamt_fen=100))
    details = await h.call(
        "ReconcileDetails",
        pb.ReconcileDetailsRequest(
            header=h.header(), stmt_begndate=day, stmt_enddate=day, records=theirs
        ),
    )
    results = {m.setl_id: m.stmt_rslt for m in details.mismatches}
    assert results[settled[1].setl_id] == pb.DETAIL_RESULT_AMOUNT_DIFFERS
    assert results[settled[2].setl_id] == pb.DETAIL_RESULT_MISSING_THEIRS
    assert results["S20990101UNKNOWN"] == pb.DETAIL_RESULT_MISSING_OURS
    assert settled[0].setl_id not in results and reversal.setl_id not in results


async def test_query_person_by_certificate_gives_person_balance_and_benefit_check(
    hospital: Callable[[str], Hospital], filing: Filing
) -> None:
    person = await filing.new_person(NANNING, acct_balance_fen=123_456)
    h = hospital(GUANGZHOU_HOSPITALS[0])
    id_number = person.documents[0].number
    for cert_type in (pb.CERT_TYPE_RESIDENT_ID, pb.CERT_TYPE_SOCIAL_SECURITY_CARD):
        found = await h.call(
            "QueryPerson",
            pb.QueryPersonRequest(
                header=h.header(),
                mdtrt_cert_type=cert_type,
                mdtrt_cert_no=id_number,
                med_type=common_pb2.MED_TYPE_INPATIENT,
            ),
        )
        assert found.baseinfo.psn_no == person.psn_no
        assert found.insuinfo.insuplc_admdvs == NANNING
        assert found.insuinfo.balc_fen == 123_456
        assert not found.trtinfo.allowed and found.trtinfo.reason_code == "FILING_REQUIRED"
        assert found.trtinfo.relation == common_pb2.RELATION_CROSS_PROVINCE
    emergency = await h.call(
        "QueryPerson",
        pb.QueryPersonRequest(
            header=h.header(),
            mdtrt_cert_type=pb.CERT_TYPE_RESIDENT_ID,
            mdtrt_cert_no=id_number,
            med_type=common_pb2.MED_TYPE_INPATIENT,
            emergency=True,
        ),
    )
    assert emergency.trtinfo.allowed and emergency.trtinfo.basis == pb.COVERAGE_BASIS_EMERGENCY
    unknown = await rpc_error(
        h.call(
            "QueryPerson",
            pb.QueryPersonRequest(
                header=h.header(), mdtrt_cert_type=pb.CERT_TYPE_E_VOUCHER, mdtrt_cert_no="x" * 32
            ),
        )
    )
    assert unknown.code() is grpc.StatusCode.NOT_FOUND


async def test_chronic_outpatient_and_cancelled_lines(
    hospital: Callable[[str], Hospital], filing: Filing
) -> None:
    person = await filing.new_person(NANNING)
    h = hospital(NANNING_HOSPITALS[0])
    registered = await h.register(
        person, med_type=common_pb2.MED_TYPE_CHRONIC_OUTPATIENT, dise_codg="M01600"
    )
    lines = [fee(1, CONSULTATION, "45"), fee(2, BLOOD_COUNT, "45"), fee(3, COLONOSCOPY, "45")]
    await h.upload(person, registered.mdtrt_id, lines)
    cancelled = await h.call(
        "CancelFeeDetails",
        pb.CancelFeeDetailsRequest(
            header=h.header(NANNING),
            mdtrt_id=registered.mdtrt_id,
            psn_no=person.psn_no,
            feedetl_sn=[3],
        ),
    )
    assert cancelled.cancelled_count == 1 and cancelled.line_count == 2
    assert cancelled.medfee_sumamt_fen == 1500 + 2000
    settled = (await h.settle(person, registered.mdtrt_id, cancelled.medfee_sumamt_fen)).setlinfo
    # Guangxi employees, chronic/special outpatient: no deductible, 80 %.
    assert settled.med_type == common_pb2.MED_TYPE_CHRONIC_OUTPATIENT
    assert settled.act_pay_dedc_fen == 0
    assert settled.hifp_pay_fen == 3500 * 80 // 100
    missing = await rpc_error(
        h.call(
            "CancelFeeDetails",
            pb.CancelFeeDetailsRequest(
                header=h.header(NANNING),
                mdtrt_id=registered.mdtrt_id,
                psn_no=person.psn_no,
                all_lines=True,
            ),
        )
    )
    assert reason(missing) == "ENCOUNTER_ALREADY_SETTLED"
