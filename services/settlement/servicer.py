"""gRPC ⇄ domain: reads each request into domain values (naming every bad field at once),
calls the service layer and writes its result back as the national field names.

Nothing here touches the database or decides a rule; the only error it maps itself is an
unreachable filing service (UNAVAILABLE: the hospital retries), the rest are
``shared.errors`` that the server interceptor maps.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Final

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from services.settlement import chronic_drugs
from services.settlement import national_codes as codes
from services.settlement.domain.accumulations import AnnualUsage, CapUsage
from services.settlement.domain.bill import FeeLine
from services.settlement.domain.catalogue import ItemClass
from services.settlement.domain.codes import FundType, VisitType
from services.settlement.domain.encounter import (
    MAX_LINES_PER_UPLOAD,
    Coverage,
    EncounterState,
)
from services.settlement.domain.engine import FundDetail, SettlementResult
from services.settlement.domain.inputs import (
    ICD10_PATTERN,
    VISIT_NO_PATTERN,
    Header,
    check_id,
    check_msgid,
    check_psn_no,
    read_begin_date,
    read_day,
    read_header,
)
from services.settlement.domain.reconcile import (
    RECORDS_MAX,
    DetailOutcome,
    Record,
    Totals,
    check_range,
    check_records,
)
from services.settlement.domain.records import SettlementRecord
from services.settlement.events import RELATIONS
from services.settlement.handlers import (
    AdmissionChange,
    AdmissionChanged,
    Cancelled,
    Corrected,
    Discharged,
    EncounterCancelled,
    Idempotent,
    Opened,
    PreSettled,
    Settlement,
    Uploaded,
)
from services.settlement.store import EncounterRow
from shared.errors import InvalidArgument, Violations
from shared.identity import DocumentType, document_type_of_eighteen, validate_document
from shared.pb.crossclear.common.v1 import common_pb2
from shared.pb.crossclear.settlement.v1 import settlement_pb2 as pb
from shared.pb.crossclear.settlement.v1 import settlement_pb2_grpc

SERVICE_NAME: Final = pb.DESCRIPTOR.services_by_name["SettlementService"].full_name
OINFNO_CHARS: Final = 4
CERT_NO_CHARS_MAX: Final = 64
DEFAULT_PAGE_SIZE: Final = 100
MAX_PAGE_SIZE: Final = 1000
MAX_PAGE_TOKEN_CHARS: Final = 200

_FUND_TYPES = {
    FundType.HIFP: common_pb2.FUND_TYPE_HIFP,
    FundType.HIFOB: common_pb2.FUND_TYPE_HIFOB,
    FundType.HIFMI: common_pb2.FUND_TYPE_HIFMI,
    FundType.MAF: common_pb2.FUND_TYPE_MAF,
    FundType.ACCT: common_pb2.FUND_TYPE_ACCT,
}
_ITEM_CLASSES = {
    ItemClass.A: pb.ITEM_CLASS_A,
    ItemClass.B: pb.ITEM_CLASS_B,
    ItemClass.C: pb.ITEM_CLASS_C,
}
_MAF_CATEGORIES = {
    "DESTITUTE": common_pb2.ASSISTANCE_CATEGORY_DESTITUTE,
    "DIBAO": common_pb2.ASSISTANCE_CATEGORY_MINIMUM_LIVING,
    "LOW_INCOME_MARGINAL": common_pb2.ASSISTANCE_CATEGORY_LOW_INCOME_MARGINAL,
    "POVERTY_RETURN_MONITORED": common_pb2.ASSISTANCE_CATEGORY_POVERTY_RETURN_MONITORED,
}
_ENCOUNTER_STATES = {
    EncounterState.OPEN: pb.ENCOUNTER_STATE_OPEN,
    EncounterState.SETTLED: pb.ENCOUNTER_STATE_SETTLED,
    EncounterState.CANCELLED: pb.ENCOUNTER_STATE_CANCELLED,
}
_PERSON_TYPES = {
    "IN_SERVICE": common_pb2.PERSON_TYPE_IN_SERVICE,
    "RETIRED": common_pb2.PERSON_TYPE_RETIRED,
}


class SettlementServicer(settlement_pb2_grpc.SettlementServiceServicer):
    def __init__(self, service: Settlement) -> None:
        self._service = service

    # -- reading requests ----------------------------------------------------------------

    def _header(
        self, header: pb.RequestHeader, errors: Violations, *, person: bool
    ) -> Header | None:
        return read_header(
            header.msgid,
            header.mdtrtarea_admvs,
            header.insuplc_admdvs,
            header.opter_type,
            insured_pool_required=person,
            errors=errors,
            now=self._service.china_now(),
        )

    def _today(self) -> date:
        return self._service.china_now().date()

    # -- 1101 / 2001 ----------------------------------------------------------------------

    async def QueryPerson(
        self, request: pb.QueryPersonRequest, context: grpc.aio.ServicerContext
    ) -> pb.QueryPersonResponse:
        errors = Violations()
        header = self._header(request.header, errors, person=False)
        cert_type = codes.read_cert_type(
            request.mdtrt_cert_type, request.mdtrt_cert_type_code, errors
        )
        document_type = _document_type(cert_type, request.mdtrt_cert_no, errors)
        visit_type = codes.read_med_type(
            request.med_type,
            request.med_type_code,
            codes.ALL_VISITS,
            errors,
            default=VisitType.ORDINARY_OUTPATIENT,
        )
        errors.raise_if_any()
        assert header is not None and document_type is not None and visit_type is not None
        number = validate_document(document_type, request.mdtrt_cert_no, "mdtrt_cert_no")
        found = await self._service.query_person(
            header, document_type, number, visit_type, request.emergency
        )
        person = found.person
        return pb.QueryPersonResponse(
            baseinfo=pb.PersonBaseInfo(
                psn_no=person.psn_no,
                psn_name=person.name,
                gend=person.sex.value,
                brdy=person.birth_date.isoformat(),
                age=found.age_years,
            ),
            insuinfo=pb.InsuranceInfo(
                insutype=common_pb2.InsuranceType.ValueType(int(person.insutype.value)),
                psn_type=_PERSON_TYPES[person.person_type.value],
                insuplc_admdvs=person.insured_pool,
                balc_fen=found.balance_fen,
            ),
            idetinfo=pb.IdentityInfo(
                psn_idet_type=(
                    _MAF_CATEGORIES[person.maf_category.value]
                    if person.maf_category
                    else common_pb2.ASSISTANCE_CATEGORY_NONE
                )
            ),
            trtinfo=benefit_check(found.coverage),
        )

    # -- 2201 / 2401 ----------------------------------------------------------------------

    async def Register(
        self, request: pb.RegisterRequest, context: grpc.aio.ServicerContext
    ) -> pb.RegisterResponse:
        errors = Violations()
        header = self._header(request.header, errors, person=True)
        check_psn_no(request.psn_no, "psn_no", errors)
        insutype = codes.read_insutype(request.insutype, request.insutype_code, errors)
        visit_type = codes.read_med_type(
            request.med_type, request.med_type_code, codes.OUTPATIENT_VISITS, errors
        )
        begin_date = read_begin_date(request.begntime, "begntime", errors, self._today())
        _check_visit_no(request.ipt_otp_no, "ipt_otp_no", errors)
        _check_cert(
            request.mdtrt_cert_type, request.mdtrt_cert_type_code, request.mdtrt_cert_no, errors
        )
        disease = codes.read_disease(request.dise_codg, visit_type, errors)
        errors.raise_if_any()
        assert header and insutype and visit_type and begin_date

        def encode(opened: Opened) -> pb.RegisterResponse:
            return pb.RegisterResponse(
                mdtrt_id=opened.encounter.mdtrt_id,
                psn_no=opened.encounter.person.psn_no,
                ipt_otp_no=opened.visit_no,
                trtinfo=benefit_check(opened.encounter.coverage),
            )

        return await self._service.open_encounter(
            Idempotent(header.msgid, request),
            header,
            psn_no=request.psn_no,
            insutype=insutype,
            visit_type=visit_type,
            chronic_disease=disease,
            begin_date=begin_date,
            visit_no=request.ipt_otp_no,
            diag_code=disease.value if disease else request.dise_codg,
            emergency=request.emergency,
            encode=encode,
            decode=pb.RegisterResponse.FromString,
        )

    async def Admit(
        self, request: pb.AdmitRequest, context: grpc.aio.ServicerContext
    ) -> pb.AdmitResponse:
        errors = Violations()
        header = self._header(request.header, errors, person=True)
        check_psn_no(request.psn_no, "psn_no", errors)
        insutype = codes.read_insutype(request.insutype, request.insutype_code, errors)
        begin_date = read_begin_date(request.begntime, "begntime", errors, self._today())
        _check_visit_no(request.ipt_no, "ipt_no", errors)
        _check_cert(
            request.mdtrt_cert_type, request.mdtrt_cert_type_code, request.mdtrt_cert_no, errors
        )
        _check_icd10(request.adm_diag_codg, "adm_diag_codg", errors)
        errors.raise_if_any()
        assert header and insutype and begin_date

        def encode(opened: Opened) -> pb.AdmitResponse:
            return pb.AdmitResponse(
                mdtrt_id=opened.encounter.mdtrt_id,
                psn_no=opened.encounter.person.psn_no,
                ipt_no=opened.visit_no,
                trtinfo=benefit_check(opened.encounter.coverage),
            )

        return await self._service.open_encounter(
            Idempotent(header.msgid, request),
            header,
            psn_no=request.psn_no,
            insutype=insutype,
            visit_type=VisitType.INPATIENT,
            chronic_disease=None,
            begin_date=begin_date,
            visit_no=request.ipt_no,
            diag_code=request.adm_diag_codg,
            emergency=request.emergency,
            encode=encode,
            decode=pb.AdmitResponse.FromString,
        )

    # -- 2204/2301, 2205/2302 -------------------------------------------------------------

    async def UploadFeeDetails(
        self, request: pb.UploadFeeDetailsRequest, context: grpc.aio.ServicerContext
    ) -> pb.UploadFeeDetailsResponse:
        errors = Violations()
        header = self._encounter_request(request, errors)
        count = len(request.feedetail)
        errors.check(
            0 < count <= MAX_LINES_PER_UPLOAD,
            "feedetail",
            f"an upload carries 1 to {MAX_LINES_PER_UPLOAD} lines, got {count}",
        )
        errors.raise_if_any()  # before walking the lines: the list may be oversized
        lines = _fee_lines(request.feedetail, errors)
        errors.raise_if_any()
        assert header is not None

        def encode(uploaded: Uploaded) -> pb.UploadFeeDetailsResponse:
            return pb.UploadFeeDetailsResponse(
                result=[
                    pb.FeeDetailResult(
                        feedetl_sn=split.line_no,
                        det_item_fee_sumamt_fen=split.amount_fen,
                        chrgitm_lv=_ITEM_CLASSES[split.item_class],
                        pric_uplmt_amt_fen=limit_fen or 0,
                        fulamt_ownpay_amt_fen=split.fulamt_ownpay_fen,
                        overlmt_amt_fen=split.overlmt_selfpay_fen,
                        preselfpay_amt_fen=split.preselfpay_fen,
                        inscp_scp_amt_fen=split.inscp_fen,
                        selfpay_reason=split.selfpay_reason.value if split.selfpay_reason else "",
                    )
                    for split, limit_fen in uploaded.lines
                ],
                line_count=uploaded.line_count,
                medfee_sumamt_fen=uploaded.line_amount_fen,
            )

        return await self._service.upload_fee_lines(
            Idempotent(header.msgid, request),
            header,
            request.mdtrt_id,
            request.psn_no,
            lines,
            encode,
            pb.UploadFeeDetailsResponse.FromString,
        )

    async def CancelFeeDetails(
        self, request: pb.CancelFeeDetailsRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelFeeDetailsResponse:
        errors = Violations()
        header = self._encounter_request(request, errors)
        errors.raise_if_any()
        assert header is not None

        def encode(cancelled: Cancelled) -> pb.CancelFeeDetailsResponse:
            return pb.CancelFeeDetailsResponse(
                cancelled_count=cancelled.cancelled_count,
                line_count=cancelled.line_count,
                medfee_sumamt_fen=cancelled.line_amount_fen,
            )

        return await self._service.cancel_fee_lines(
            Idempotent(header.msgid, request),
            header,
            request.mdtrt_id,
            request.psn_no,
            list(request.feedetl_sn),
            request.all_lines,
            encode,
            pb.CancelFeeDetailsResponse.FromString,
        )

    # -- 2206/2303, 2207/2304, 2208/2305 ---------------------------------------------------

    async def PreSettle(
        self, request: pb.PreSettleRequest, context: grpc.aio.ServicerContext
    ) -> pb.PreSettleResponse:
        errors = Violations()
        header = self._encounter_request(request, errors)
        errors.raise_if_any()
        assert header is not None

        def encode(done: PreSettled) -> pb.PreSettleResponse:
            return pb.PreSettleResponse(
                setlinfo=presettle_info(done, header),
                setldetail=setldetail(done.result.details),
                warnings=[
                    pb.Warning(code=w.code, feedetl_sn=w.line_no, message=w.message)
                    for w in done.warnings
                ],
            )

        return await self._service.presettle(
            Idempotent(header.msgid, request),
            header,
            request.mdtrt_id,
            request.psn_no,
            request.acct_used_flag,
            encode,
            pb.PreSettleResponse.FromString,
        )

    async def Settle(
        self, request: pb.SettleRequest, context: grpc.aio.ServicerContext
    ) -> pb.SettleResponse:
        errors = Violations()
        header = self._encounter_request(request, errors)
        errors.check(
            request.medfee_sumamt_fen > 0,
            "medfee_sumamt_fen",
            "the total of the standing fee lines, in fen (> 0)",
        )
        errors.raise_if_any()
        assert header is not None

        def encode(record: SettlementRecord) -> pb.SettleResponse:
            return pb.SettleResponse(
                setlinfo=setlinfo(record), setldetail=setldetail(record.details)
            )

        return await self._service.settle(
            Idempotent(header.msgid, request),
            header,
            request.mdtrt_id,
            request.psn_no,
            request.acct_used_flag,
            request.medfee_sumamt_fen,
            encode,
            pb.SettleResponse.FromString,
        )

    async def ReverseSettlement(
        self, request: pb.ReverseSettlementRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReverseSettlementResponse:
        errors = Violations()
        header = self._encounter_request(request, errors)
        check_id(request.setl_id, "setl_id", errors)
        errors.raise_if_any()
        assert header is not None

        def encode(record: SettlementRecord) -> pb.ReverseSettlementResponse:
            return pb.ReverseSettlementResponse(
                setlinfo=setlinfo(record), setldetail=setldetail(record.details)
            )

        return await self._service.reverse(
            Idempotent(header.msgid, request),
            header,
            request.setl_id,
            request.mdtrt_id,
            request.psn_no,
            encode,
            pb.ReverseSettlementResponse.FromString,
        )

    # -- 2402 -----------------------------------------------------------------------------

    async def Discharge(
        self, request: pb.DischargeRequest, context: grpc.aio.ServicerContext
    ) -> pb.DischargeResponse:
        errors = Violations()
        header = self._encounter_request(request, errors)
        discharge_date = read_day(request.endtime, "endtime", errors)
        _check_icd10(request.dscg_maindiag_code, "dscg_maindiag_code", errors)
        errors.raise_if_any()
        assert header is not None and discharge_date is not None

        def encode(done: Discharged) -> pb.DischargeResponse:
            return pb.DischargeResponse(
                mdtrt_id=done.mdtrt_id, endtime=done.discharge_date.isoformat()
            )

        return await self._service.discharge(
            Idempotent(header.msgid, request),
            header,
            request.mdtrt_id,
            request.psn_no,
            discharge_date,
            request.dscg_maindiag_code,
            encode,
            pb.DischargeResponse.FromString,
        )

    # -- 2601 -----------------------------------------------------------------------------

    async def Correct(
        self, request: pb.CorrectRequest, context: grpc.aio.ServicerContext
    ) -> pb.CorrectResponse:
        errors = Violations()
        header = self._header(request.header, errors, person=False)
        if request.psn_no:
            check_psn_no(request.psn_no, "psn_no", errors)
        check_msgid(request.omsgid, "omsgid", errors, self._service.china_now())
        errors.check(
            len(request.oinfno) == OINFNO_CHARS and request.oinfno.isdigit(),
            "oinfno",
            "the original's 4-digit transaction number, e.g. 2207",
        )
        errors.raise_if_any()
        assert header is not None

        def encode(done: Corrected) -> pb.CorrectResponse:
            response = pb.CorrectResponse(
                omsgid=done.omsgid,
                oinfno=done.oinfno,
                result=(
                    pb.CORRECTION_RESULT_TOMBSTONED
                    if done.tombstoned
                    else pb.CORRECTION_RESULT_UNDONE
                ),
                mdtrt_id=done.mdtrt_id,
            )
            if done.reversal is not None:
                response.reversal.CopyFrom(setlinfo(done.reversal))
            return response

        return await self._service.correct(
            Idempotent(header.msgid, request),
            header,
            request.psn_no,
            request.omsgid,
            request.oinfno,
            encode,
            pb.CorrectResponse.FromString,
        )

    # -- 5203 -----------------------------------------------------------------------------

    async def QuerySettlement(
        self, request: pb.QuerySettlementRequest, context: grpc.aio.ServicerContext
    ) -> pb.QuerySettlementResponse:
        errors = Violations()
        header = self._header(request.header, errors, person=False)
        check_id(request.setl_id, "setl_id", errors)
        if request.mdtrt_id:
            check_id(request.mdtrt_id, "mdtrt_id", errors)
        errors.raise_if_any()
        assert header is not None
        view = await self._service.query_settlement(
            header, request.setl_id, request.mdtrt_id, request.psn_no
        )
        record = view.record
        state = (
            pb.SETTLEMENT_STATE_REVERSAL
            if record.is_reversal
            else pb.SETTLEMENT_STATE_REVERSED
            if record.reversed_by_setl_id
            else pb.SETTLEMENT_STATE_SETTLED
        )
        return pb.QuerySettlementResponse(
            setlinfo=setlinfo(record),
            setldetail=setldetail(record.details),
            state=state,
            reversed_by_setl_id=record.reversed_by_setl_id or "",
        )

    # -- 2202 / 2404 ----------------------------------------------------------------------

    async def CancelRegistration(
        self, request: pb.CancelRegistrationRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelRegistrationResponse:
        errors = Violations()
        header = self._encounter_request(request, errors)
        errors.raise_if_any()
        assert header is not None

        def encode(done: EncounterCancelled) -> pb.CancelRegistrationResponse:
            return pb.CancelRegistrationResponse(
                mdtrt_id=done.mdtrt_id, cancelled_count=done.cancelled_line_count
            )

        return await self._service.cancel_registration(
            Idempotent(header.msgid, request),
            header,
            request.mdtrt_id,
            request.psn_no,
            encode,
            pb.CancelRegistrationResponse.FromString,
        )

    async def CancelAdmission(
        self, request: pb.CancelAdmissionRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelAdmissionResponse:
        errors = Violations()
        header = self._encounter_request(request, errors)
        errors.raise_if_any()
        assert header is not None

        def encode(done: EncounterCancelled) -> pb.CancelAdmissionResponse:
            return pb.CancelAdmissionResponse(mdtrt_id=done.mdtrt_id)

        return await self._service.cancel_admission(
            Idempotent(header.msgid, request),
            header,
            request.mdtrt_id,
            request.psn_no,
            encode,
            pb.CancelAdmissionResponse.FromString,
        )

    # -- 2403 -----------------------------------------------------------------------------

    async def ChangeAdmission(
        self, request: pb.ChangeAdmissionRequest, context: grpc.aio.ServicerContext
    ) -> pb.ChangeAdmissionResponse:
        errors = Violations()
        header = self._encounter_request(request, errors)
        begin_date = None
        if request.begntime:
            begin_date = read_begin_date(request.begntime, "begntime", errors, self._today())
        _check_icd10(request.adm_diag_codg, "adm_diag_codg", errors)
        if request.adm_dept_codg:
            _check_visit_no(request.adm_dept_codg, "adm_dept_codg", errors)
        errors.check(
            bool(request.begntime or request.adm_diag_codg or request.adm_dept_codg),
            "begntime",
            "give at least one of begntime, adm_diag_codg, adm_dept_codg",
        )
        errors.raise_if_any()
        assert header is not None

        def encode(done: AdmissionChanged) -> pb.ChangeAdmissionResponse:
            return pb.ChangeAdmissionResponse(
                mdtrt_id=done.mdtrt_id,
                begntime=done.begin_date.isoformat(),
                adm_diag_codg=done.diag_code,
                adm_dept_codg=done.dept_code,
                trtinfo=benefit_check(done.coverage),
            )

        return await self._service.change_admission(
            Idempotent(header.msgid, request),
            header,
            request.mdtrt_id,
            request.psn_no,
            AdmissionChange(begin_date, request.adm_diag_codg, request.adm_dept_codg),
            encode,
            pb.ChangeAdmissionResponse.FromString,
        )

    # -- 2405 -----------------------------------------------------------------------------

    async def CancelDischarge(
        self, request: pb.CancelDischargeRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelDischargeResponse:
        errors = Violations()
        header = self._encounter_request(request, errors)
        errors.raise_if_any()
        assert header is not None

        def encode(done: Discharged) -> pb.CancelDischargeResponse:
            return pb.CancelDischargeResponse(
                mdtrt_id=done.mdtrt_id, endtime=done.discharge_date.isoformat()
            )

        return await self._service.cancel_discharge(
            Idempotent(header.msgid, request),
            header,
            request.mdtrt_id,
            request.psn_no,
            encode,
            pb.CancelDischargeResponse.FromString,
        )

    # -- 5201 / 5204 / 5206 ---------------------------------------------------------------

    async def QueryChronicDrugRecords(
        self, request: pb.QueryChronicDrugRecordsRequest, context: grpc.aio.ServicerContext
    ) -> pb.QueryChronicDrugRecordsResponse:
        errors = Violations()
        header = self._header(request.header, errors, person=True)
        return await chronic_drugs.query(self._service, header, request, errors)

    async def QueryEncounters(
        self, request: pb.QueryEncountersRequest, context: grpc.aio.ServicerContext
    ) -> pb.QueryEncountersResponse:
        errors = Violations()
        header = self._header(request.header, errors, person=True)
        check_psn_no(request.psn_no, "psn_no", errors)
        begin = read_day(request.begndate, "begndate", errors) if request.begndate else None
        end = read_day(request.enddate, "enddate", errors) if request.enddate else None
        if begin is not None and end is not None:
            errors.check(begin <= end, "enddate", "not before begndate")
        errors.raise_if_any()
        assert header is not None
        limit = _page_size(request.page)
        after = _text_key(_after(request.page))
        if after is not None:
            check_id(after, "page.page_token", errors)
            errors.raise_if_any()
        rows = await self._service.query_encounters(
            header, request.psn_no, begin, end, after, limit
        )
        return pb.QueryEncountersResponse(
            mdtrtinfo=[_encounter_info(r) for r in rows],
            next_page_token=_next_token(rows, limit, rows[-1].encounter.mdtrt_id if rows else None),
        )

    async def QueryFeeDetails(
        self, request: pb.QueryFeeDetailsRequest, context: grpc.aio.ServicerContext
    ) -> pb.QueryFeeDetailsResponse:
        errors = Violations()
        header = self._encounter_request(request, errors)
        errors.raise_if_any()
        assert header is not None
        limit = _page_size(request.page)
        after = _int_key(_after(request.page))
        page = await self._service.query_fee_lines(
            header, request.mdtrt_id, request.psn_no, after, limit
        )
        lines = page.lines
        return pb.QueryFeeDetailsResponse(
            feedetail=[
                pb.FeeDetailRecord(
                    feedetl_sn=s.line.line_no,
                    med_list_codg=s.line.item_code,
                    fee_ocur_time=s.line.fee_date.isoformat(),
                    cnt_e4=s.line.quantity_e4,
                    pric_fen=s.line.unit_price_fen,
                    det_item_fee_sumamt_fen=s.line.amount_fen,
                    upload_msgid=s.upload_msgid,
                )
                for s in lines
            ],
            next_page_token=_next_token(lines, limit, lines[-1].line.line_no if lines else None),
            line_count=page.encounter.encounter.line_count,
            medfee_sumamt_fen=page.encounter.line_amount_fen,
        )

    async def QueryAccumulations(
        self, request: pb.QueryAccumulationsRequest, context: grpc.aio.ServicerContext
    ) -> pb.QueryAccumulationsResponse:
        errors = Violations()
        header = self._header(request.header, errors, person=True)
        check_psn_no(request.psn_no, "psn_no", errors)
        errors.raise_if_any()
        assert header is not None
        year = await self._service.query_accumulations(header, request.psn_no)
        person = year.encounter.person
        return pb.QueryAccumulationsResponse(
            psn_no=person.psn_no,
            insutype=common_pb2.InsuranceType.ValueType(int(person.insutype.value)),
            cum_year=year.year,
            policy_version_id=year.policy_version_id,
            **_usage_fields(year.usage),
            balc_fen=year.balance_fen,
        )

    # -- 3201 / 3202 ----------------------------------------------------------------------

    async def ReconcileTotals(
        self, request: pb.ReconcileTotalsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReconcileTotalsResponse:
        errors = Violations()
        header = self._header(request.header, errors, person=False)
        begin, end = _read_range(request.stmt_begndate, request.stmt_enddate, errors)
        errors.raise_if_any()
        assert header is not None and begin is not None and end is not None
        t = request.totals
        theirs = Totals(
            t.medfee_sumamt_fen, t.fund_pay_sumamt_fen, t.acct_pay_fen, t.fixmedins_setl_cnt
        )
        outcome = await self._service.reconcile_totals(header, begin, end, theirs)
        return pb.ReconcileTotalsResponse(
            stmt_rslt=(
                pb.RECONCILE_RESULT_MISMATCH
                if outcome.differing_fields
                else pb.RECONCILE_RESULT_MATCH
            ),
            ours=_totals(outcome.ours),
            theirs=_totals(outcome.theirs),
            differing_fields=list(outcome.differing_fields),
        )

    async def ReconcileDetails(
        self, request: pb.ReconcileDetailsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReconcileDetailsResponse:
        errors = Violations()
        header = self._header(request.header, errors, person=False)
        begin, end = _read_range(request.stmt_begndate, request.stmt_enddate, errors)
        errors.check(
            len(request.records) <= RECORDS_MAX,
            "records",
            f"at most {RECORDS_MAX} records per request",
        )
        errors.raise_if_any()
        theirs = [_record(r) for r in request.records]
        check_records(theirs, errors)
        errors.raise_if_any()
        assert header is not None and begin is not None and end is not None
        outcome = await self._service.reconcile_details(header, begin, end, theirs)
        return _details_response(outcome)

    # -- shared by the requests about one encounter ----------------------------------------

    def _encounter_request(self, request: Any, errors: Violations) -> Header | None:
        header = self._header(request.header, errors, person=True)
        check_id(request.mdtrt_id, "mdtrt_id", errors)
        check_psn_no(request.psn_no, "psn_no", errors)
        return header


# --- request readers ---------------------------------------------------------------------


def _document_type(cert_type: int | None, number: str, errors: Violations) -> DocumentType | None:
    """The identity document behind a national medical certificate (mdtrt_cert_type)."""
    if cert_type is None:  # already reported by the reader
        return None
    if len(number) > CERT_NO_CHARS_MAX or not number.strip():
        errors.add("mdtrt_cert_no", f"1..{CERT_NO_CHARS_MAX} characters")
        return None
    if cert_type == pb.CERT_TYPE_E_VOUCHER:
        return DocumentType.E_VOUCHER
    if cert_type not in (pb.CERT_TYPE_RESIDENT_ID, pb.CERT_TYPE_SOCIAL_SECURITY_CARD):
        errors.add("mdtrt_cert_type", "01 e-voucher, 02 resident ID or 03 social-security card")
        return None
    # A social-security card's number is its holder's citizen ID number (社会保障号码).
    text = number.strip().upper()
    if text[:1] in ("H", "M"):
        return DocumentType.HK_MO_HOME_RETURN_PERMIT
    if len(text) == 18:
        return document_type_of_eighteen(text)
    return DocumentType.RESIDENT_ID


def _check_cert(value: int, code: str, number: str, errors: Violations) -> None:
    """The certificate a registration was made with: recorded by the HIS, optional here."""
    cert_type = codes.read_cert_type(value, code, errors)
    if cert_type == pb.CERT_TYPE_UNSPECIFIED and not number:
        return
    _document_type(cert_type, number, errors)


def _check_visit_no(value: str, name: str, errors: Violations) -> None:
    errors.check(
        bool(VISIT_NO_PATTERN.match(value)), name, "1..30 letters, digits, '.', '_' or '-'"
    )


def _check_icd10(value: str, name: str, errors: Violations) -> None:
    if value:
        errors.check(bool(ICD10_PATTERN.match(value)), name, "an ICD-10 code, e.g. C34.900")


def _fee_lines(details: Sequence[pb.FeeDetail], errors: Violations) -> list[FeeLine]:
    lines = []
    for index, d in enumerate(details):
        fee_date = read_day(d.fee_ocur_time, f"feedetail[{index}].fee_ocur_time", errors)
        lines.append(
            FeeLine(
                line_no=d.feedetl_sn,
                item_code=d.med_list_codg,
                fee_date=fee_date or date.min,
                quantity_e4=d.cnt_e4,
                unit_price_fen=d.pric_fen,
                amount_fen=d.det_item_fee_sumamt_fen,
            )
        )
    return lines


def _read_range(begin: str, end: str, errors: Violations) -> tuple[date | None, date | None]:
    begin_date = read_day(begin, "stmt_begndate", errors)
    end_date = read_day(end, "stmt_enddate", errors)
    check_range(begin_date, end_date, errors)
    return begin_date, end_date


def _record(r: pb.SettlementRecord) -> Record:
    return Record(
        r.setl_id,
        r.mdtrt_id,
        r.psn_no,
        r.medfee_sumamt_fen,
        r.fund_pay_sumamt_fen,
        r.acct_pay_fen,
        r.refd_setl_flag,
    )


# --- response writers --------------------------------------------------------------------


def benefit_check(c: Coverage) -> pb.BenefitCheck:
    return pb.BenefitCheck(
        relation=RELATIONS.get(c.relation, common_pb2.RELATION_UNSPECIFIED),
        allowed=c.allowed,
        basis=pb.CoverageBasis.Value(f"COVERAGE_BASIS_{c.basis or 'UNSPECIFIED'}"),
        filing_id=c.filing_id,
        filing_category=c.filing_category,
        ratio_reduction_bp=c.ratio_reduction_bp,
        local_ratio=c.local_ratio,
        reason_code=c.reason_code,
        message=c.message,
    )


def _timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def setldetail(details: Sequence[FundDetail]) -> list[pb.FundDetail]:
    return [
        pb.FundDetail(
            fund_pay_type=_FUND_TYPES[d.fund_pay_type],
            inscp_scp_amt_fen=d.inscp_scp_amt_fen,
            crt_payb_lmt_amt_fen=d.crt_payb_lmt_amt_fen,
            fund_payamt_fen=d.fund_payamt_fen,
            setl_proc_info=d.setl_proc_info,
        )
        for d in details
    ]


def setlinfo(r: SettlementRecord) -> pb.SettlementInfo:
    return pb.SettlementInfo(
        mdtrt_id=r.mdtrt_id,
        setl_id=r.setl_id,
        psn_no=r.psn_no,
        insutype=common_pb2.InsuranceType.ValueType(int(r.insutype.value)),
        med_type=common_pb2.MedType.ValueType(int(r.med_type.value)),
        setl_time=_timestamp(r.setl_time),
        medins_setl_id=r.msgid,
        **r.amounts.as_dict(),
        pool_prop_selfpay_bp=r.pool_prop_selfpay_bp,
        balc_fen=r.balc_fen,
        insuplc_admdvs=r.insured_pool,
        mdtrtarea_admvs=r.treatment_pool,
        relation=RELATIONS.get(r.relation, common_pb2.RELATION_UNSPECIFIED),
        clr_ym=r.clearing_period,
        policy_version_id=r.policy_version_id,
        catalogue_version_id=r.catalogue_version_id,
        reversed_setl_id=r.reverses_setl_id or "",
        ratio_reduction_bp=r.ratio_reduction_bp,
    )


def presettle_info(done: PreSettled, header: Header) -> pb.SettlementInfo:
    """A pre-settlement's setlinfo: no setl_id, no clearing period (nothing committed)."""
    r: SettlementResult = done.result
    e = done.encounter
    amounts = {
        name: getattr(r, name)
        for name in pb.SettlementInfo.DESCRIPTOR.fields_by_name
        if name.endswith("_fen") and hasattr(r, name)
    }
    return pb.SettlementInfo(
        mdtrt_id=e.mdtrt_id,
        psn_no=e.person.psn_no,
        insutype=common_pb2.InsuranceType.ValueType(int(r.insutype.value)),
        med_type=common_pb2.MedType.ValueType(int(r.med_type.value)),
        setl_time=_timestamp(done.computed_at),
        medins_setl_id=header.msgid,
        **amounts,
        pool_prop_selfpay_bp=r.pool_prop_selfpay_bp,
        insuplc_admdvs=e.person.insured_pool,
        mdtrtarea_admvs=e.treatment_pool,
        relation=RELATIONS.get(e.coverage.relation, common_pb2.RELATION_UNSPECIFIED),
        policy_version_id=r.policy_version_id,
        catalogue_version_id=r.catalogue_version_id,
        ratio_reduction_bp=e.coverage.ratio_reduction_bp,
    )


def _totals(t: Totals) -> pb.Totals:
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


def _details_response(outcome: DetailOutcome) -> pb.ReconcileDetailsResponse:
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


# --- queries: paging and answers ---------------------------------------------------------


def _page_size(page: common_pb2.PageRequest) -> int:
    if page.page_size < 0:
        raise InvalidArgument("page.page_size", "must not be negative")
    return min(page.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _token_of(key: Any) -> str:
    raw = json.dumps(key, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _after(page: common_pb2.PageRequest) -> Any:
    """The key a page starts after, from the opaque token of the previous page."""
    token = page.page_token
    if not token:
        return None
    if len(token) > MAX_PAGE_TOKEN_CHARS:
        raise InvalidArgument("page.page_token", "not a token this service issued")
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError):
        raise InvalidArgument("page.page_token", "not a token this service issued") from None


def _next_token(rows: Sequence[Any], limit: int, key: Any) -> str:
    return _token_of(key) if len(rows) == limit else ""


def _text_key(after: Any) -> str | None:
    if after is not None and not isinstance(after, str):
        raise InvalidArgument("page.page_token", "not a token this service issued")
    return after


def _int_key(after: Any) -> int:
    if after is None:
        return 0
    if not isinstance(after, int) or isinstance(after, bool) or after < 0:
        raise InvalidArgument("page.page_token", "not a token this service issued")
    return after


def _encounter_info(row: EncounterRow) -> pb.EncounterInfo:
    e = row.encounter
    return pb.EncounterInfo(
        mdtrt_id=e.mdtrt_id,
        psn_no=e.person.psn_no,
        insutype=common_pb2.InsuranceType.ValueType(int(e.person.insutype.value)),
        med_type=common_pb2.MedType.ValueType(int(e.visit_type.value)),
        begntime=e.begin_date.isoformat(),
        endtime=e.discharge_date.isoformat() if e.discharge_date else "",
        state=_ENCOUNTER_STATES[e.state],
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


def _usage_fields(u: AnnualUsage) -> dict[str, Any]:
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
