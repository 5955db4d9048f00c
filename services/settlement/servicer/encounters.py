"""Encounter and fee-line RPCs: 1101/2001, 2201/2401, 2204/2301, 2205/2302, 2202/2404,
2403, 2405."""

from __future__ import annotations

import grpc

from services.settlement import national_codes as codes
from services.settlement.domain.codes import VisitType
from services.settlement.domain.encounter import (
    MAX_LINES_PER_UPLOAD,
)
from services.settlement.domain.inputs import (
    check_psn_no,
    read_begin_date,
)
from services.settlement.handlers import (
    AdmissionChange,
    AdmissionChanged,
    Cancelled,
    Discharged,
    EncounterCancelled,
    Opened,
    Uploaded,
)
from services.settlement.servicer.core import Reply, ServicerCore, key_of
from services.settlement.servicer.readers import (
    ITEM_CLASSES,
    _check_icd10,
    assistance_category_number,
    check_cert,
    check_visit_no,
    document_type_of,
    read_fee_lines,
)
from services.settlement.servicer.writers import benefit_check
from shared import pb_enums
from shared.errors import Violations
from shared.identity import validate_document
from shared.pb.crossclear.settlement.v1 import settlement_pb2 as pb


class EncounterRpcs(ServicerCore):
    """Opening, changing and cancelling encounters and their fee lines."""

    # -- 1101 / 2001 ----------------------------------------------------------------------

    async def QueryPerson(
        self, request: pb.QueryPersonRequest, context: grpc.aio.ServicerContext
    ) -> pb.QueryPersonResponse:
        errors = Violations()
        header = self._header(request.header, errors, person=False)
        cert_type = codes.read_cert_type(
            request.mdtrt_cert_type, request.mdtrt_cert_type_code, errors
        )
        document_type = document_type_of(cert_type, request.mdtrt_cert_no, errors)
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
                insutype=pb_enums.INSUTYPE.number(person.insutype),
                psn_type=pb_enums.PERSON_TYPE.number(person.person_type),
                insuplc_admdvs=person.insured_pool,
                balc_fen=found.balance_fen,
            ),
            idetinfo=pb.IdentityInfo(psn_idet_type=assistance_category_number(person.maf_category)),
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
        check_visit_no(request.ipt_otp_no, "ipt_otp_no", errors)
        check_cert(
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

        reply = Reply(encode, pb.RegisterResponse)
        return reply.of(
            await self._service.open_encounter(
                key_of(header.msgid, request),
                header,
                psn_no=request.psn_no,
                insutype=insutype,
                visit_type=visit_type,
                chronic_disease=disease,
                begin_date=begin_date,
                visit_no=request.ipt_otp_no,
                diag_code=disease.value if disease else request.dise_codg,
                emergency=request.emergency,
                answer=reply,
            )
        )

    async def Admit(
        self, request: pb.AdmitRequest, context: grpc.aio.ServicerContext
    ) -> pb.AdmitResponse:
        errors = Violations()
        header = self._header(request.header, errors, person=True)
        check_psn_no(request.psn_no, "psn_no", errors)
        insutype = codes.read_insutype(request.insutype, request.insutype_code, errors)
        begin_date = read_begin_date(request.begntime, "begntime", errors, self._today())
        check_visit_no(request.ipt_no, "ipt_no", errors)
        check_cert(
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

        reply = Reply(encode, pb.AdmitResponse)
        return reply.of(
            await self._service.open_encounter(
                key_of(header.msgid, request),
                header,
                psn_no=request.psn_no,
                insutype=insutype,
                visit_type=VisitType.INPATIENT,
                chronic_disease=None,
                begin_date=begin_date,
                visit_no=request.ipt_no,
                diag_code=request.adm_diag_codg,
                emergency=request.emergency,
                answer=reply,
            )
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
        lines = read_fee_lines(request.feedetail, errors)
        errors.raise_if_any()
        assert header is not None

        def encode(uploaded: Uploaded) -> pb.UploadFeeDetailsResponse:
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
                line_count=uploaded.line_count,
                medfee_sumamt_fen=uploaded.line_amount_fen,
            )

        reply = Reply(encode, pb.UploadFeeDetailsResponse)
        return reply.of(
            await self._service.upload_fee_lines(
                key_of(header.msgid, request),
                header,
                request.mdtrt_id,
                request.psn_no,
                lines,
                reply,
            )
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

        reply = Reply(encode, pb.CancelFeeDetailsResponse)
        return reply.of(
            await self._service.cancel_fee_lines(
                key_of(header.msgid, request),
                header,
                request.mdtrt_id,
                request.psn_no,
                list(request.feedetl_sn),
                request.all_lines,
                reply,
            )
        )

    # -- 2202 / 2404 ----------------------------------------------------------------------

    async def CancelRegistration(
        self, request: pb.CancelRegistrationRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelRegistrationResponse:
        def encode(done: EncounterCancelled) -> pb.CancelRegistrationResponse:
            return pb.CancelRegistrationResponse(
                mdtrt_id=done.mdtrt_id, cancelled_count=done.cancelled_line_count
            )

        return await self._encounter_write(
            request, self._service.cancel_registration, encode, pb.CancelRegistrationResponse
        )

    async def CancelAdmission(
        self, request: pb.CancelAdmissionRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelAdmissionResponse:
        def encode(done: EncounterCancelled) -> pb.CancelAdmissionResponse:
            return pb.CancelAdmissionResponse(mdtrt_id=done.mdtrt_id)

        return await self._encounter_write(
            request, self._service.cancel_admission, encode, pb.CancelAdmissionResponse
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
            check_visit_no(request.adm_dept_codg, "adm_dept_codg", errors)
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

        reply = Reply(encode, pb.ChangeAdmissionResponse)
        return reply.of(
            await self._service.change_admission(
                key_of(header.msgid, request),
                header,
                request.mdtrt_id,
                request.psn_no,
                AdmissionChange(begin_date, request.adm_diag_codg, request.adm_dept_codg),
                reply,
            )
        )

    # -- 2405 -----------------------------------------------------------------------------

    async def CancelDischarge(
        self, request: pb.CancelDischargeRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelDischargeResponse:
        def encode(done: Discharged) -> pb.CancelDischargeResponse:
            return pb.CancelDischargeResponse(
                mdtrt_id=done.mdtrt_id, endtime=done.discharge_date.isoformat()
            )

        return await self._encounter_write(
            request, self._service.cancel_discharge, encode, pb.CancelDischargeResponse
        )
