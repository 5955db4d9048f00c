"""Response writers: domain results to the national field names."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from google.protobuf.timestamp_pb2 import Timestamp

from services.settlement.chronic_drugs import DrugRecord
from services.settlement.domain.accumulations import AnnualUsage, CapUsage
from services.settlement.domain.encounter import (
    Coverage,
)
from services.settlement.domain.engine import Amounts, FundDetail, SettlementResult
from services.settlement.domain.inputs import (
    Header,
)
from services.settlement.domain.reconcile import (
    DetailOutcome,
    Record,
    Totals,
)
from services.settlement.domain.records import SettlementRecord
from services.settlement.domain.supervision import SupervisionWarning
from services.settlement.events import relation_number
from services.settlement.handlers import (
    Cancelled,
    Discharged,
    PersonYear,
    PreSettled,
    Uploaded,
)
from services.settlement.servicer.readers import ENCOUNTER_STATES, ITEM_CLASSES, fund_type_number
from services.settlement.store import EncounterRow
from shared import pb_enums
from shared.pb.crossclear.common.v1 import common_pb2
from shared.pb.crossclear.settlement.v1 import pharmacy_pb2 as ppb
from shared.pb.crossclear.settlement.v1 import settlement_pb2 as pb

# --- response writers --------------------------------------------------------------------


def benefit_check(c: Coverage) -> pb.BenefitCheck:
    return pb.BenefitCheck(
        relation=relation_number(c.relation),
        allowed=c.allowed,
        basis=pb.CoverageBasis.Value(f"COVERAGE_BASIS_{c.basis or 'UNSPECIFIED'}"),
        filing_id=c.filing_id,
        filing_category=c.filing_category,
        ratio_reduction_bp=c.ratio_reduction_bp,
        local_ratio=c.local_ratio,
        reason_code=c.reason_code,
        message=c.message,
    )


DR = TypeVar("DR", pb.DischargeResponse, pb.CancelDischargeResponse)


def discharged(response_type: type[DR], mdtrt_id: str) -> Callable[[Discharged], DR]:
    """2402 and 2405 answer alike: the encounter and the discharge date concerned."""

    def encode(done: Discharged) -> DR:
        return response_type(mdtrt_id=mdtrt_id, endtime=done.discharge_date.isoformat())

    return encode


def _timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def setldetail(details: Sequence[FundDetail]) -> list[pb.FundDetail]:
    return [
        pb.FundDetail(
            fund_pay_type=fund_type_number(d.fund_pay_type),
            inscp_scp_amt_fen=d.inscp_scp_amt_fen,
            crt_payb_lmt_amt_fen=d.crt_payb_lmt_amt_fen,
            fund_payamt_fen=d.fund_payamt_fen,
            setl_proc_info=d.setl_proc_info,
        )
        for d in details
    ]


def warnings_pb(warnings: Sequence[SupervisionWarning]) -> list[pb.Warning]:
    return [pb.Warning(code=w.code, feedetl_sn=w.line_no, message=w.message) for w in warnings]


SR = TypeVar(
    "SR",
    pb.SettleResponse,
    pb.ReverseSettlementResponse,
    ppb.CancelPurchaseResponse,
    ppb.SettlePurchaseResponse,
)


def settlement_response(response_type: type[SR], record: SettlementRecord, **more: Any) -> SR:
    """A response that carries one settlement record (setlinfo) and its funds (setldetail),
    and the fields ``more``."""
    return response_type(setlinfo=setlinfo(record), setldetail=setldetail(record.details), **more)


def setlinfo_amounts(amounts: Amounts) -> dict[str, Any]:
    """The amounts by their ``setlinfo`` fields: each fund's ``<fund>_pay_fen`` where the
    national record has one (every fund's payment is also a ``setldetail`` row)."""
    fields = pb.SettlementInfo.DESCRIPTOR.fields_by_name
    return {name: fen for name, fen in amounts.as_dict().items() if name in fields}


def _computed(c: SettlementResult | SettlementRecord) -> dict[str, Any]:
    """What the engine computed, by its ``setlinfo`` fields: of a settlement as stored or
    of a pre-settlement."""
    return {
        "insutype": pb_enums.INSUTYPE.number(c.insutype),
        "med_type": common_pb2.MedType.ValueType(int(c.med_type.value)),
        **setlinfo_amounts(c.amounts),
        "pool_prop_selfpay_bp": c.pool_prop_selfpay_bp,
        "policy_version_id": c.policy_version_id,
        "catalogue_version_id": c.catalogue_version_id,
    }


def setlinfo(r: SettlementRecord) -> pb.SettlementInfo:
    return pb.SettlementInfo(
        mdtrt_id=r.mdtrt_id,
        setl_id=r.setl_id,
        psn_no=r.psn_no,
        setl_time=_timestamp(r.setl_time),
        medins_setl_id=r.msgid,
        **_computed(r),
        balc_fen=r.balc_fen,
        insuplc_admdvs=r.insured_pool,
        mdtrtarea_admvs=r.treatment_pool,
        relation=relation_number(r.relation),
        clr_ym=r.clearing_period,
        reversed_setl_id=r.reverses_setl_id or "",
        ratio_reduction_bp=r.ratio_reduction_bp,
    )


PR = TypeVar("PR", pb.PreSettleResponse, ppb.PreSettlePurchaseResponse)


def presettled(
    response_type: type[PR], header: Header, *, opened: bool
) -> Callable[[PreSettled], PR]:
    """A pre-settlement's answer (2206/2303, 2101): its setlinfo, funds and warnings; the
    encounter's mdtrt_id only when it was ``opened`` (a purchase's is never stored)."""

    def encode(done: PreSettled) -> PR:
        return response_type(
            setlinfo=presettle_info(done, header, opened=opened),
            setldetail=setldetail(done.result.details),
            warnings=warnings_pb(done.warnings),
        )

    return encode


def presettle_info(done: PreSettled, header: Header, *, opened: bool) -> pb.SettlementInfo:
    """A pre-settlement's setlinfo: no setl_id, no clearing period (nothing committed)."""
    e = done.encounter
    return pb.SettlementInfo(
        mdtrt_id=e.mdtrt_id if opened else "",
        psn_no=e.person.psn_no,
        setl_time=_timestamp(done.computed_at),
        medins_setl_id=header.msgid,
        **_computed(done.result),
        insuplc_admdvs=e.person.insured_pool,
        mdtrtarea_admvs=e.treatment_pool,
        relation=relation_number(e.coverage.relation),
        ratio_reduction_bp=e.coverage.ratio_reduction_bp,
    )


def totals_pb(t: Totals) -> pb.Totals:
    return pb.Totals(
        medfee_sumamt_fen=t.medfee_sumamt_fen,
        fund_pay_sumamt_fen=t.fund_pay_sumamt_fen,
        acct_pay_fen=t.acct_pay_fen,
        fixmedins_setl_cnt=t.fixmedins_setl_cnt,
    )


def _pb_record(r: Record | None) -> pb.SettlementRecord | None:
    if r is None:
        return None
    return pb.SettlementRecord(
        setl_id=r.setl_id,
        mdtrt_id=r.mdtrt_id,
        psn_no=r.psn_no,
        medfee_sumamt_fen=r.medfee_sumamt_fen,
        fund_pay_sumamt_fen=r.fund_pay_sumamt_fen,
        acct_pay_fen=r.acct_pay_fen,
        refd_setl_flag=r.refd_setl_flag,
    )


def details_response(outcome: DetailOutcome) -> pb.ReconcileDetailsResponse:
    return pb.ReconcileDetailsResponse(
        stmt_rslt=(
            pb.RECONCILE_RESULT_MISMATCH if outcome.mismatch_count else pb.RECONCILE_RESULT_MATCH
        ),
        matched_count=outcome.matched_count,
        mismatch_count=outcome.mismatch_count,
        mismatches=[
            pb.DetailMismatch(
                setl_id=m.setl_id,
                stmt_rslt=pb.DetailResult.Value(f"DETAIL_RESULT_{m.result.value}"),
                ours=_pb_record(m.ours),
                theirs=_pb_record(m.theirs),
            )
            for m in outcome.mismatches
        ],
        truncated=outcome.truncated,
    )


def encounter_info(row: EncounterRow) -> pb.EncounterInfo:
    e = row.encounter
    return pb.EncounterInfo(
        mdtrt_id=e.mdtrt_id,
        psn_no=e.person.psn_no,
        insutype=pb_enums.INSUTYPE.number(e.person.insutype),
        med_type=common_pb2.MedType.ValueType(int(e.visit_type.value)),
        begntime=e.begin_date.isoformat(),
        endtime=e.discharge_date.isoformat() if e.discharge_date else "",
        state=ENCOUNTER_STATES[e.state],
        setl_id=e.setl_id or "",
        ipt_otp_no=row.visit_no,
        dise_codg=row.diag_code,
        adm_dept_codg=row.dept_code,
        line_count=e.line_count,
        medfee_sumamt_fen=row.line_amount_fen,
        trtinfo=benefit_check(e.coverage),
    )


def _cap(usage: CapUsage) -> pb.CapUsage:
    return pb.CapUsage(used_fen=usage.used_fen, cap_fen=usage.cap_fen, left_fen=usage.left_fen)


def fee_lines_uploaded(uploaded: Uploaded) -> pb.UploadFeeDetailsResponse:
    return pb.UploadFeeDetailsResponse(
        result=[
            pb.FeeDetailResult(
                feedetl_sn=split.line_no,
                det_item_fee_sumamt_fen=split.amount_fen,
                chrgitm_lv=ITEM_CLASSES[split.item_class],
                pric_uplmt_amt_fen=limit_fen or 0,
                fulamt_ownpay_amt_fen=split.fulamt_ownpay_fen,
                overlmt_amt_fen=split.overlmt_selfpay_fen,
                preselfpay_amt_fen=split.preselfpay_fen,
                inscp_scp_amt_fen=split.inscp_fen,
                selfpay_reason=split.selfpay_reason.value if split.selfpay_reason else "",
            )
            for split, limit_fen in uploaded.lines
        ],
        line_count=uploaded.totals.line_count,
        medfee_sumamt_fen=uploaded.totals.line_amount_fen,
    )


def fee_lines_cancelled(cancelled: Cancelled) -> pb.CancelFeeDetailsResponse:
    return pb.CancelFeeDetailsResponse(
        cancelled_count=cancelled.cancelled_count,
        line_count=cancelled.totals.line_count,
        medfee_sumamt_fen=cancelled.totals.line_amount_fen,
    )


def accumulations_response(year: PersonYear) -> pb.QueryAccumulationsResponse:
    """5206: the person's year as the encounter the hospital treats them by shows it."""
    person = year.encounter.person
    return pb.QueryAccumulationsResponse(
        psn_no=person.psn_no,
        insutype=pb_enums.INSUTYPE.number(person.insutype),
        cum_year=year.year,
        policy_version_id=year.policy_version_id,
        **usage_fields(year.usage),
        balc_fen=year.balance_fen,
    )


def usage_fields(u: AnnualUsage) -> dict[str, Any]:
    return {
        "outpatient_deductible": _cap(u.outpatient_deductible),
        "hifp_basic": _cap(u.hifp_basic),
        "hifp_outpatient": _cap(u.hifp_outpatient),
        "chronic": [pb.ChronicCapUsage(dise_codg=d.value, usage=_cap(c)) for d, c in u.chronic],
        "hifob": _cap(u.hifob),
        "hifmi": _cap(u.hifmi),
        "hifmi_selfpay_base_fen": u.hifmi_selfpay_base_fen,
        "maf": _cap(u.maf),
        "acct_paid_fen": u.acct_paid_fen,
    }


def drug_record(r: DrugRecord) -> pb.ChronicDrugRecord:
    return pb.ChronicDrugRecord(
        mdtrt_id=r.mdtrt_id,
        setl_id=r.setl_id,
        fixmedins_code=r.institution_code,
        fixmedins_name=r.institution_name,
        dise_codg=r.disease,
        fee_ocur_time=r.fee_date.isoformat(),
        feedetl_sn=r.line_no,
        med_list_codg=r.item_code,
        med_list_name=r.item_name,
        cnt_e4=r.quantity_e4,
        pric_fen=r.unit_price_fen,
        det_item_fee_sumamt_fen=r.amount_fen,
    )
