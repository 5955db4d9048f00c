"""Referral acceptance (转诊): a Nanning level-3 hospital files a 2501 referral of its
patient to a named Guangzhou hospital through the filing service's gRPC API, as that
hospital; the Guangzhou hospital then admits the patient and settles the stay directly,
covered by the referral, with the referral's ratio reduction.

The amounts, by hand, from services/settlement/data/policy_gx.json (the insured pool's
policy: a Nanning employee in service), the Guangdong catalogue and the filing policy:

* lines (all class A, at their price limits): bed-day 110900001 42.00 × 20 = 840.00;
  infusion 120400001 7.00 × 20 = 140.00; blood count 250101015 24.00 × 5 = 120.00;
  total 1,100.00, all in scope;
* level-3 hospital: inpatient deductible 800.00, ratio 85 %; referral reduction 10 points
  (filing policy: REFERRAL 1,000 bp) → 75 %;
* basic fund: (1,100.00 − 800.00) × 75 % = 225.00 (it would be 255.00 without the
  referral's reduction); no cap is near, no large-amount subsidy, no assistance, no
  personal account (balance 0) → the patient pays 875.00 in cash.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta

import grpc

from shared.grpc_client import caller_metadata
from shared.pb.crossclear.filing.v1 import filing_pb2
from shared.pb.crossclear.settlement.v1 import settlement_pb2 as pb

from .support import (
    CALL_TIMEOUT_S,
    GUANGZHOU,
    GUANGZHOU_HOSPITALS,
    NANNING,
    NANNING_HOSPITALS,
    Filing,
    Hospital,
    rpc_error,
    today,
)

REFERRING = NANNING_HOSPITALS[0]  # 广西医科大学第一附属医院, level 3
RECEIVING = GUANGZHOU_HOSPITALS[0]  # 中山大学附属第一医院, level 3


def _line(line_no: int, code: str, price_fen: int, units: int) -> pb.FeeDetail:
    return pb.FeeDetail(
        feedetl_sn=line_no,
        med_list_codg=code,
        fee_ocur_time=today().isoformat(),
        cnt_e4=units * 10_000,
        pric_fen=price_fen,
        det_item_fee_sumamt_fen=price_fen * units,
    )


def _referral(
    person: filing_pb2.Person, hospital: str = REFERRING
) -> filing_pb2.SubmitFilingRequest:
    return filing_pb2.SubmitFilingRequest(
        channel=filing_pb2.CHANNEL_COUNTER,
        channel_request_id=f"2501-{secrets.token_hex(8)}",
        psn_no=person.psn_no,
        category=filing_pb2.FILING_CATEGORY_REFERRAL,
        destination=filing_pb2.Destination(pool_code=GUANGZHOU),
        start_date=(today() - timedelta(days=1)).isoformat(),
        commitment_accepted=True,
        referral=filing_pb2.ReferralDetails(
            referring_hospital_code=hospital,
            hospital_code=RECEIVING,
            diagnosis_code="C34.900",
            diagnosis_name="肺恶性肿瘤",
        ),
    )


async def test_a_nanning_referral_covers_the_guangzhou_admission_with_its_reduction(
    hospital: Callable[[str], Hospital], filing: Filing
) -> None:
    person = await filing.new_person(NANNING)

    # Another hospital cannot file a referral in the referring hospital's name.
    denied = await rpc_error(
        filing.stub.SubmitFiling(
            _referral(person),
            metadata=caller_metadata(NANNING_HOSPITALS[1]),
            timeout=CALL_TIMEOUT_S,
        )
    )
    assert denied.code() is grpc.StatusCode.PERMISSION_DENIED

    # 2501, by the referring hospital itself.
    filed = (
        await filing.stub.SubmitFiling(
            _referral(person), metadata=caller_metadata(REFERRING), timeout=CALL_TIMEOUT_S
        )
    ).filing
    assert filed.category == filing_pb2.FILING_CATEGORY_REFERRAL
    assert filed.referral.hospital_code == RECEIVING
    assert filed.ratio_reduction_bp == 1000

    # 2401 at the named Guangzhou hospital: covered by the referral.
    h = hospital(RECEIVING)
    admitted = await h.admit(person)
    check = admitted.trtinfo
    assert check.allowed, check.message
    assert (check.basis, check.filing_id, check.filing_category, check.ratio_reduction_bp) == (
        pb.COVERAGE_BASIS_FILING, filed.filing_id, "REFERRAL", 1000,
    )  # fmt: skip

    lines = [
        _line(1, "110900001", 4200, 20),  # bed-days
        _line(2, "120400001", 700, 20),  # infusions
        _line(3, "250101015", 2400, 5),  # blood counts
    ]
    uploaded = await h.upload(person, admitted.mdtrt_id, lines)
    assert uploaded.medfee_sumamt_fen == 110_000
    await h.discharge(person, admitted.mdtrt_id)
    info = (await h.settle(person, admitted.mdtrt_id, 110_000)).setlinfo
    assert info.medfee_sumamt_fen == 110_000
    assert info.inscp_scp_amt_fen == 110_000
    assert info.act_pay_dedc_fen == 80_000
    assert info.hifp_pay_fen == 22_500  # (110,000 − 80,000) × 75 %
    assert info.fund_pay_sumamt_fen == 22_500
    assert info.acct_pay_fen == 0
    assert info.psn_cash_pay_fen == 87_500
