"""Designated-pharmacy purchases (2101/2102/2103) through the real gRPC service.

A Nanning employee with a long-term filing to Guangzhou buys drugs at a Guangzhou
pharmacy. Guangxi's policy does not admit pharmacies to outpatient pooling (modeled), so
the personal account pays what it can and cash the rest; the split is computed here by
hand from the Guangdong catalogue. The purchase shows in 5203 and 3201/3202, its event is
in the outbox; 2103 and a 2601 of the 2102 undo it exactly; a resent msgid replays; a
refused request writes nothing; other pharmacies and hospitals are kept out; chronic
drugs at a dual-channel pharmacy follow the chronic rules for a certified disease only.

The clearing consumer does not run in these fixtures: the test follows the purchase up
to its SettlementEvent in the outbox.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import asyncpg
import grpc
import pytest

from services.settlement.domain.bill import line_amount_fen
from services.settlement.domain.codes import ChronicDisease
from shared.grpc_client import caller_metadata
from shared.pb.crossclear.common.v1 import common_pb2
from shared.pb.crossclear.events.v1 import events_pb2
from shared.pb.crossclear.filing.v1 import filing_pb2
from shared.pb.crossclear.settlement.v1 import pharmacy_pb2 as ppb
from shared.pb.crossclear.settlement.v1 import pharmacy_pb2_grpc, settlement_pb2_grpc
from shared.pb.crossclear.settlement.v1 import settlement_pb2 as pb

from .support import (
    CALL_TIMEOUT_S,
    GUANGZHOU,
    GUANGZHOU_HOSPITALS,
    NANNING,
    Filing,
    Hospital,
    Msgids,
    fields,
    reason,
    replayed,
    row_counts,
    rpc_error,
    today,
)

PHARMACY = "P44010000001"  # Guangzhou, dual channel (双通道)
OTHER_PHARMACY = "P44010000002"  # Guangzhou, not dual channel
# Guangdong catalogue (modeled): code → (unit price in fen, class).
AMLODIPINE = "X02001"  # class A, 6 fen a tablet
IRBESARTAN = "X02003"  # class B, 15 fen a tablet (advance self-pay 5 %)
HYDROCHLOROTHIAZIDE = "X02010"  # class A, 3 fen a tablet
CALCIUM_D3 = "X12016"  # class C, 60 fen a tablet (fully self-paid)
PRICE_FEN = {AMLODIPINE: 6, IRBESARTAN: 15, HYDROCHLOROTHIAZIDE: 3, CALCIUM_D3: 60}
ACCOUNT_FEN = 2_000  # the employee's personal-account balance this year


def drug(line_no: int, code: str, quantity_e4: int) -> pb.FeeDetail:
    price = PRICE_FEN[code]
    return pb.FeeDetail(
        feedetl_sn=line_no,
        med_list_codg=code,
        fee_ocur_time=today().isoformat(),
        cnt_e4=quantity_e4,
        pric_fen=price,
        det_item_fee_sumamt_fen=line_amount_fen(price, quantity_e4),
    )


# The acceptance purchase and its split, by hand:
#   amlodipine      28 × 0.06          =  1.68  class A: in scope          1.68
#   irbesartan      40 × 0.15          =  6.00  class B: 5 % = 0.30 self, 5.70 in scope
#   hydrochlorothiazide 14.5 × 0.03    =  0.435 → 0.44 (half-up)  class A: 0.44 in scope
#   calcium D3      30 × 0.60          = 18.00  class C: fully self-paid 18.00
#   total 26.12 = fully self-paid 18.00 + advance self-pay 0.30 + in scope 7.82
#   Guangxi does not pool pharmacy purchases: funds 0.00; personal part 26.12,
#   personal account min(26.12, 20.00) = 20.00, cash 6.12, balance after 0.00.
BASKET = (
    drug(1, AMLODIPINE, 28 * 10_000),
    drug(2, IRBESARTAN, 40 * 10_000),
    drug(3, HYDROCHLOROTHIAZIDE, 145_000),
    drug(4, CALCIUM_D3, 30 * 10_000),
)
SPLIT = {
    "medfee_sumamt_fen": 2612,
    "fulamt_ownpay_amt_fen": 1800,
    "preselfpay_amt_fen": 30,
    "inscp_scp_amt_fen": 782,
    "hifp_pay_fen": 0,
    "fund_pay_sumamt_fen": 0,
    "psn_part_amt_fen": 2612,
    "acct_pay_fen": 2000,
    "psn_cash_pay_fen": 612,
    "balc_fen": 0,
}


class Pharmacy:
    """One pharmacy's system calling the settlement service (both of its gRPC services)."""

    def __init__(self, code: str, channel: grpc.aio.Channel, msgids: Msgids) -> None:
        self.code = code
        self.stub = pharmacy_pb2_grpc.PharmacySettlementServiceStub(channel)
        self.shared = settlement_pb2_grpc.SettlementServiceStub(channel)
        self.msgids = msgids

    def header(self, insured_pool: str = "", msgid: str | None = None) -> pb.RequestHeader:
        return pb.RequestHeader(
            msgid=msgid or self.msgids(self.code),
            mdtrtarea_admvs=self.code[1:7],
            insuplc_admdvs=insured_pool,
            opter_type=pb.OPERATOR_TYPE_CLERK,
        )

    async def call(self, method: str, request: Any, caller: str | None = None) -> Any:
        """A PharmacySettlementService RPC, or else a SettlementService one."""
        stub = self.stub if hasattr(self.stub, method) else self.shared
        return await getattr(stub, method)(
            request, metadata=caller_metadata(caller or self.code), timeout=CALL_TIMEOUT_S
        )

    def purchase(
        self,
        person: filing_pb2.Person,
        lines: tuple[pb.FeeDetail, ...] = BASKET,
        *,
        disease: str = "",
        acct: bool = True,
    ) -> ppb.Purchase:
        return ppb.Purchase(
            psn_no=person.psn_no,
            insutype=person.insutype,
            med_type=(
                common_pb2.MED_TYPE_CHRONIC_OUTPATIENT
                if disease
                else common_pb2.MED_TYPE_PHARMACY_PURCHASE
            ),
            dise_codg=disease,
            acct_used_flag=acct,
            feedetail=lines,
        )

    def settle_request(
        self, person: filing_pb2.Person, msgid: str | None = None, **kw: Any
    ) -> ppb.SettlePurchaseRequest:
        purchase = self.purchase(person, **kw)
        return ppb.SettlePurchaseRequest(
            header=self.header(person.insured_pool, msgid),
            purchase=purchase,
            medfee_sumamt_fen=sum(line.det_item_fee_sumamt_fen for line in purchase.feedetail),
        )

    async def settle(self, person: filing_pb2.Person, **kw: Any) -> ppb.SettlePurchaseResponse:
        return await self.call("SettlePurchase", self.settle_request(person, **kw))

    def cancel_request(
        self, person: filing_pb2.Person, info: pb.SettlementInfo
    ) -> ppb.CancelPurchaseRequest:
        return ppb.CancelPurchaseRequest(
            header=self.header(person.insured_pool),
            setl_id=info.setl_id,
            mdtrt_id=info.mdtrt_id,
            psn_no=person.psn_no,
        )

    async def query(self, setl_id: str) -> pb.QuerySettlementResponse:
        return await self.call(
            "QuerySettlement", pb.QuerySettlementRequest(header=self.header(), setl_id=setl_id)
        )

    async def balance(self, person: filing_pb2.Person) -> int:
        """1101: the personal-account balance left, as the pharmacy sees it."""
        found = await self.call(
            "QueryPerson",
            pb.QueryPersonRequest(
                header=self.header(),
                mdtrt_cert_type=pb.CERT_TYPE_RESIDENT_ID,
                mdtrt_cert_no=person.documents[0].number,
            ),
        )
        return int(found.insuinfo.balc_fen)

    async def totals(self) -> pb.Totals:
        day = today().isoformat()
        response = await self.call(
            "ReconcileTotals",
            pb.ReconcileTotalsRequest(header=self.header(), stmt_begndate=day, stmt_enddate=day),
        )
        return response.ours


@pytest.fixture
def pharmacy(settlement_channel: grpc.aio.Channel, msgids: Msgids) -> Callable[[str], Pharmacy]:
    return lambda code: Pharmacy(code, settlement_channel, msgids)


async def _filed_employee(filing: Filing) -> filing_pb2.Person:
    person = await filing.new_person(NANNING, acct_balance_fen=ACCOUNT_FEN)
    await filing.file(person, pool_code=GUANGZHOU, start=today() - timedelta(days=30))
    return person


def _amounts(info: pb.SettlementInfo) -> dict[str, int]:
    return {name: getattr(info, name) for name in SPLIT}


async def _acc(db: asyncpg.Pool, psn_no: str) -> tuple[int, int]:
    """The person's personal account paid this year, and their standing settlements."""
    async with db.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT coalesce(sum((fund_paid_fen->>'acct')::bigint), 0) AS acct,"
            " coalesce(sum(standing_settlements), 0) AS standing"
            " FROM accumulations WHERE psn_no = $1",
            psn_no,
        )
    assert row is not None
    return int(row["acct"]), int(row["standing"])


async def _events_of(db: asyncpg.Pool, setl_id: str) -> list[events_pb2.SettlementEvent]:
    async with db.acquire() as conn:
        rows = await conn.fetch("SELECT payload FROM outbox")
    events = [events_pb2.SettlementEvent.FromString(r["payload"]) for r in rows]
    return [e for e in events if setl_id in (e.setl_id, e.reversed_setl_id)]


# --- the acceptance purchase ---------------------------------------------------------


async def test_pharmacy_purchase_split_query_reconcile_event_and_cancel(
    pharmacy: Callable[[str], Pharmacy], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    person = await _filed_employee(filing)
    p = pharmacy(PHARMACY)
    totals_before = await p.totals()
    assert await p.balance(person) == ACCOUNT_FEN

    pre = await p.call(
        "PreSettlePurchase",
        ppb.PreSettlePurchaseRequest(
            header=p.header(person.insured_pool), purchase=p.purchase(person)
        ),
    )
    assert _amounts(pre.setlinfo) == SPLIT and pre.setlinfo.setl_id == ""
    assert await _acc(settlement_db, person.psn_no) == (0, 0)  # 2101 settles nothing

    settled = await p.settle(person)
    info = settled.setlinfo
    assert _amounts(info) == SPLIT
    assert info.med_type == common_pb2.MED_TYPE_PHARMACY_PURCHASE
    assert info.relation == common_pb2.RELATION_CROSS_PROVINCE
    assert (info.insuplc_admdvs, info.mdtrtarea_admvs) == (NANNING, GUANGZHOU)
    assert info.policy_version_id.startswith("GX-") and info.catalogue_version_id.startswith("GD-")
    funds = {d.fund_pay_type: d.fund_payamt_fen for d in settled.setldetail}
    assert funds == {common_pb2.FUND_TYPE_HIFP: 0, common_pb2.FUND_TYPE_ACCT: 2000}
    assert await _acc(settlement_db, person.psn_no) == (2000, 1)
    assert await p.balance(person) == 0

    # 5203 and 3201: the pharmacy's own figures count the purchase.
    queried = await p.query(info.setl_id)
    assert queried.state == pb.SETTLEMENT_STATE_SETTLED and _amounts(queried.setlinfo) == SPLIT
    totals = await p.totals()
    assert totals.fixmedins_setl_cnt == totals_before.fixmedins_setl_cnt + 1
    assert totals.medfee_sumamt_fen == totals_before.medfee_sumamt_fen + 2612
    assert totals.acct_pay_fen == totals_before.acct_pay_fen + 2000
    assert totals.fund_pay_sumamt_fen == totals_before.fund_pay_sumamt_fen

    # The event the clearing consumes: the pharmacy's code in hospital_code.
    (event,) = await _events_of(settlement_db, info.setl_id)
    assert event.kind == events_pb2.SETTLEMENT_EVENT_KIND_SETTLED
    assert (event.hospital_code, event.insured_pool, event.treatment_pool) == (
        PHARMACY,
        NANNING,
        GUANGZHOU,
    )
    assert event.med_type == common_pb2.MED_TYPE_PHARMACY_PURCHASE
    assert (event.amounts.medfee_sumamt_fen, event.amounts.acct_fen, event.amounts.cash_fen) == (
        2612,
        2000,
        612,
    )

    # 2103 undoes it: account and accumulations restored, the purchase cancelled.
    cancelled = await p.call("CancelPurchase", p.cancel_request(person, info))
    assert cancelled.setlinfo.reversed_setl_id == info.setl_id
    assert cancelled.setlinfo.medfee_sumamt_fen == -2612
    assert cancelled.setlinfo.acct_pay_fen == -2000
    assert await _acc(settlement_db, person.psn_no) == (0, 0)
    assert await p.balance(person) == ACCOUNT_FEN
    assert (await p.query(info.setl_id)).state == pb.SETTLEMENT_STATE_REVERSED
    assert len(await _events_of(settlement_db, info.setl_id)) == 2
    after = await p.totals()
    assert (after.fixmedins_setl_cnt, after.medfee_sumamt_fen, after.acct_pay_fen) == (
        totals_before.fixmedins_setl_cnt,
        totals_before.medfee_sumamt_fen,
        totals_before.acct_pay_fen,
    )
    async with settlement_db.acquire() as conn:
        state = await conn.fetchval(
            "SELECT state FROM encounters WHERE mdtrt_id = $1", info.mdtrt_id
        )
    assert state == "CANCELLED"

    again = await rpc_error(p.call("CancelPurchase", p.cancel_request(person, info)))
    assert again.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert reason(again) == "SETTLEMENT_ALREADY_REVERSED"


async def test_pharmacy_correction_of_a_settlement_undoes_it(
    pharmacy: Callable[[str], Pharmacy], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    person = await _filed_employee(filing)
    p = pharmacy(PHARMACY)
    request = p.settle_request(person)
    info = (await p.call("SettlePurchase", request)).setlinfo
    assert await _acc(settlement_db, person.psn_no) == (2000, 1)

    corrected = await p.call(
        "Correct",
        pb.CorrectRequest(
            header=p.header(person.insured_pool),
            psn_no=person.psn_no,
            omsgid=request.header.msgid,
            oinfno="2102",
        ),
    )
    assert corrected.result == pb.CORRECTION_RESULT_UNDONE
    assert corrected.reversal.reversed_setl_id == info.setl_id
    assert await _acc(settlement_db, person.psn_no) == (0, 0)
    assert await p.balance(person) == ACCOUNT_FEN
    # The original resent is refused, not replayed.
    late = await rpc_error(p.call("SettlePurchase", request))
    assert reason(late) == "MSGID_CORRECTED"


async def test_pharmacy_resent_msgid_replays_and_refusals_write_nothing(
    pharmacy: Callable[[str], Pharmacy], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    person = await _filed_employee(filing)
    p = pharmacy(PHARMACY)
    request = p.settle_request(person)
    first = await p.call("SettlePurchase", request)
    again = await replayed(settlement_db, p.call("SettlePurchase", request))
    assert again == first
    other_body = ppb.SettlePurchaseRequest()
    other_body.CopyFrom(request)
    other_body.purchase.acct_used_flag = False
    clash = await rpc_error(p.call("SettlePurchase", other_body))
    assert clash.code() is grpc.StatusCode.ALREADY_EXISTS

    # Preconditions that fail write nothing: no filing; a wrong total; an unknown drug.
    stranger = await filing.new_person(NANNING, acct_balance_fen=ACCOUNT_FEN)
    before = await row_counts(settlement_db)
    unfiled = await rpc_error(p.settle(stranger))
    assert unfiled.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert reason(unfiled) == "FILING_REQUIRED"
    wrong_total = p.settle_request(person)
    wrong_total.medfee_sumamt_fen += 1
    bad = await rpc_error(p.call("SettlePurchase", wrong_total))
    assert bad.code() is grpc.StatusCode.INVALID_ARGUMENT
    unknown = p.settle_request(person)
    unknown.purchase.feedetail[0].med_list_codg = "X99999"
    bad = await rpc_error(p.call("SettlePurchase", unknown))
    assert bad.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert any(f.startswith("purchase.feedetail[0].med_list_codg") for f in fields(bad))
    assert await row_counts(settlement_db) == before


async def test_pharmacy_purchase_is_the_pharmacys_alone(
    pharmacy: Callable[[str], Pharmacy],
    hospital: Callable[[str], Hospital],
    filing: Filing,
    settlement_db: asyncpg.Pool,
) -> None:
    person = await _filed_employee(filing)
    p, other = pharmacy(PHARMACY), pharmacy(OTHER_PHARMACY)
    info = (await p.settle(person)).setlinfo
    before = await row_counts(settlement_db)

    seen = await rpc_error(other.query(info.setl_id))
    assert seen.code() is grpc.StatusCode.PERMISSION_DENIED
    cancel = await rpc_error(other.call("CancelPurchase", other.cancel_request(person, info)))
    assert cancel.code() is grpc.StatusCode.PERMISSION_DENIED
    # A pharmacy may not send another's msgid.
    forged = p.settle_request(person, msgid=other.msgids(OTHER_PHARMACY))
    assert (await rpc_error(p.call("SettlePurchase", forged))).code() is (
        grpc.StatusCode.PERMISSION_DENIED
    )

    # Hospitals cannot use the pharmacy RPCs, nor pharmacies the hospital ones.
    h = hospital(GUANGZHOU_HOSPITALS[0])
    as_hospital = p.settle_request(person, msgid=h.msgids(h.code))
    refused = await rpc_error(p.call("SettlePurchase", as_hospital, caller=h.code))
    assert refused.code() is grpc.StatusCode.PERMISSION_DENIED
    refused = await rpc_error(p.call("SettlePurchase", p.settle_request(person), caller=h.code))
    assert refused.code() is grpc.StatusCode.PERMISSION_DENIED
    register = pb.RegisterRequest(
        header=p.header(person.insured_pool),
        psn_no=person.psn_no,
        insutype=person.insutype,
        med_type=common_pb2.MED_TYPE_ORDINARY_OUTPATIENT,
        begntime=today().isoformat(),
        ipt_otp_no="OP-PHARMACY",
    )
    refused = await rpc_error(p.call("Register", register))
    assert refused.code() is grpc.StatusCode.PERMISSION_DENIED
    # The hospital cannot see the pharmacy's settlement either.
    refused = await rpc_error(
        h.call(
            "QuerySettlement", pb.QuerySettlementRequest(header=h.header(), setl_id=info.setl_id)
        )
    )
    assert refused.code() is grpc.StatusCode.PERMISSION_DENIED
    assert await row_counts(settlement_db) == before


# --- chronic/special-disease drugs (双通道) --------------------------------------------


async def _certified(filing: Filing, disease: ChronicDisease) -> filing_pb2.Person:
    person = await _filed_employee(filing)
    await filing.stub.CertifyChronicDisease(
        filing_pb2.CertifyChronicDiseaseRequest(
            channel_request_id=f"cert-{secrets.token_hex(8)}",
            psn_no=person.psn_no,
            disease_code=disease.value,
            valid_from_date=(today() - timedelta(days=90)).isoformat(),
        ),
        metadata=caller_metadata(NANNING),
        timeout=CALL_TIMEOUT_S,
    )
    return person


CHRONIC_BASKET = (drug(1, AMLODIPINE, 28 * 10_000), drug(2, IRBESARTAN, 40 * 10_000))


async def test_pharmacy_chronic_drugs_need_certification_and_the_dual_channel(
    pharmacy: Callable[[str], Pharmacy], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    person = await _certified(filing, ChronicDisease.HYPERTENSION)
    p = pharmacy(PHARMACY)
    settled = await p.settle(
        person, lines=CHRONIC_BASKET, disease=ChronicDisease.HYPERTENSION.value, acct=False
    )
    info = settled.setlinfo
    # By hand: in scope 1.68 + (6.00 − 5 % 0.30) = 7.38; Guangxi employee chronic rules:
    # no deductible, 80 % → 5.904 → 5.90 from the basic fund; the person pays 1.78 in cash
    # (total 7.68 − 5.90).
    assert info.med_type == common_pb2.MED_TYPE_CHRONIC_OUTPATIENT
    assert (info.medfee_sumamt_fen, info.inscp_scp_amt_fen, info.act_pay_dedc_fen) == (768, 738, 0)
    assert (info.hifp_pay_fen, info.pool_prop_selfpay_bp) == (590, 8000)
    assert (info.psn_cash_pay_fen, info.acct_pay_fen) == (178, 0)

    before = await row_counts(settlement_db)
    uncertified = await rpc_error(
        p.settle(person, lines=CHRONIC_BASKET, disease=ChronicDisease.DIABETES.value)
    )
    assert uncertified.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert reason(uncertified) == "CHRONIC_DISEASE_NOT_CERTIFIED"
    elsewhere = await rpc_error(
        pharmacy(OTHER_PHARMACY).settle(
            person, lines=CHRONIC_BASKET, disease=ChronicDisease.HYPERTENSION.value
        )
    )
    assert reason(elsewhere) == "PHARMACY_NOT_DUAL_CHANNEL"
    assert await row_counts(settlement_db) == before


async def test_pharmacy_resend_after_midnight_gets_the_answer_its_msgid_was_given(
    set_clock: Callable[..., object],
    pharmacy: Callable[[str], Pharmacy],
    filing: Filing,
    settlement_db: asyncpg.Pool,
) -> None:
    """A purchase is dated by the day it is settled: a resend of its msgid after midnight
    is answered from the journal, not judged again as a purchase of the next day (whose
    drug lines, dated the day before, it would refuse)."""
    day = today()
    set_clock(f"{day} 23:59:50.000")
    person = await _filed_employee(filing)
    p = pharmacy(PHARMACY)
    presettle = ppb.PreSettlePurchaseRequest(
        header=p.header(person.insured_pool), purchase=p.purchase(person)
    )
    request = p.settle_request(person)
    priced = await p.call("PreSettlePurchase", presettle)
    first = await p.call("SettlePurchase", request)
    set_clock(f"{day + timedelta(days=1)} 00:00:10.000")
    before = await row_counts(settlement_db)
    assert await p.call("PreSettlePurchase", presettle) == priced
    assert await p.call("SettlePurchase", request) == first
    assert await row_counts(settlement_db) == before
