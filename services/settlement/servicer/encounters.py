"""Encounter and fee-line RPCs: 1101/2001, 2201/2401, 2204/2301, 2205/2302, 2202/2404,
2403, 2405."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import grpc
from google.protobuf.message import Message

from services.settlement import national_codes as codes
from services.settlement.domain.codes import VisitType
from services.settlement.domain.inputs import (
    check_psn_no,
    read_begin_date,
)
from services.settlement.handlers import (
    AdmissionChanged,
    EncounterCancelled,
    Opened,
)
from services.settlement.handlers.commands import (
    CancelFeeLines,
    ChangeAdmission,
    OpenEncounter,
    QueryPerson,
    UploadFeeLines,
)
from services.settlement.servicer.core import M, ServicerCore, answered
from services.settlement.servicer.readers import (
    _check_icd10,
    assistance_category_number,
    check_cert,
    check_line_count,
    check_visit_no,
    document_type_of,
    read_fee_lines,
)
from services.settlement.servicer.writers import (
    benefit_check,
    discharged,
    fee_lines_cancelled,
    fee_lines_uploaded,
)
from shared import pb_enums
from shared.auth import caller
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
        query = QueryPerson(header, document_type, number, visit_type, request.emergency)
        found = await self._service.query_person(query, caller())
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
        visit_type: VisitType | None = None

        def read_visit_type(errors: Violations) -> VisitType | None:
            nonlocal visit_type
            visit_type = codes.read_med_type(
                request.med_type, request.med_type_code, codes.OUTPATIENT_VISITS, errors
            )
            return visit_type

        opening = self._opening(request, read_visit_type, request.ipt_otp_no, "ipt_otp_no", errors)
        disease = codes.read_disease(request.dise_codg, visit_type, errors)
        errors.raise_if_any()
        assert opening is not None
        command = replace(
            opening,
            chronic_disease=disease,
            diag_code=disease.value if disease else request.dise_codg,
        )
        return await self._open(request, command, pb.RegisterResponse, "ipt_otp_no")

    async def Admit(
        self, request: pb.AdmitRequest, context: grpc.aio.ServicerContext
    ) -> pb.AdmitResponse:
        errors = Violations()
        opening = self._opening(
            request, lambda _: VisitType.INPATIENT, request.ipt_no, "ipt_no", errors
        )
        _check_icd10(request.adm_diag_codg, "adm_diag_codg", errors)
        errors.raise_if_any()
        assert opening is not None
        command = replace(opening, diag_code=request.adm_diag_codg)
        return await self._open(request, command, pb.AdmitResponse, "ipt_no")

    def _opening(
        self,
        request: pb.RegisterRequest | pb.AdmitRequest,
        read_visit_type: Callable[[Violations], VisitType | None],
        visit_no: str,
        visit_no_field: str,
        errors: Violations,
    ) -> OpenEncounter | None:
        """What a registration and an admission both carry (None when a field is bad:
        each is in ``errors``); the caller adds the disease and diagnosis."""
        header = self._header(request.header, errors, person=True)
        check_psn_no(request.psn_no, "psn_no", errors)
        insutype = codes.read_insutype(request.insutype, request.insutype_code, errors)
        visit_type = read_visit_type(errors)
        begin_date = read_begin_date(request.begntime, "begntime", errors, self._today())
        check_visit_no(visit_no, visit_no_field, errors)
        check_cert(
            request.mdtrt_cert_type, request.mdtrt_cert_type_code, request.mdtrt_cert_no, errors
        )
        if header is None or insutype is None or visit_type is None or begin_date is None:
            return None
        return OpenEncounter(
            header,
            psn_no=request.psn_no,
            insutype=insutype,
            visit_type=visit_type,
            chronic_disease=None,
            begin_date=begin_date,
            visit_no=visit_no,
            diag_code="",
            emergency=request.emergency,
        )

    async def _open(
        self, request: Message, command: OpenEncounter, response_type: type[M], visit_no_field: str
    ) -> M:
        def encode(opened: Opened) -> M:
            return response_type(
                mdtrt_id=opened.encounter.mdtrt_id,
                psn_no=opened.encounter.person.psn_no,
                trtinfo=benefit_check(opened.encounter.coverage),
                **{visit_no_field: command.visit_no},
            )

        return await answered(self._service.open_encounter, command, request, encode, response_type)

    # -- 2204/2301, 2205/2302 -------------------------------------------------------------

    async def UploadFeeDetails(
        self, request: pb.UploadFeeDetailsRequest, context: grpc.aio.ServicerContext
    ) -> pb.UploadFeeDetailsResponse:
        errors = Violations()
        header = self._encounter_request(request, errors)
        check_line_count(len(request.feedetail), "feedetail", errors, carrier="an upload")
        errors.raise_if_any()  # before walking the lines: the list may be oversized
        lines = read_fee_lines(request.feedetail, errors)
        errors.raise_if_any()
        assert header is not None
        command = UploadFeeLines(header, request.mdtrt_id, request.psn_no, tuple(lines))

        return await answered(
            self._service.upload_fee_lines,
            command,
            request,
            fee_lines_uploaded,
            pb.UploadFeeDetailsResponse,
        )

    async def CancelFeeDetails(
        self, request: pb.CancelFeeDetailsRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelFeeDetailsResponse:
        header = self._encounter_header(request)
        command = CancelFeeLines(
            header,
            request.mdtrt_id,
            request.psn_no,
            tuple(request.feedetl_sn),
            request.all_lines,
        )

        return await answered(
            self._service.cancel_fee_lines,
            command,
            request,
            fee_lines_cancelled,
            pb.CancelFeeDetailsResponse,
        )

    # -- 2202 / 2404 ----------------------------------------------------------------------

    async def CancelRegistration(
        self, request: pb.CancelRegistrationRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelRegistrationResponse:
        def encode(done: EncounterCancelled) -> pb.CancelRegistrationResponse:
            return pb.CancelRegistrationResponse(
                mdtrt_id=request.mdtrt_id, cancelled_count=done.cancelled_line_count
            )

        return await self._encounter_write(
            request, self._service.cancel_registration, encode, pb.CancelRegistrationResponse
        )

    async def CancelAdmission(
        self, request: pb.CancelAdmissionRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelAdmissionResponse:
        def encode(done: EncounterCancelled) -> pb.CancelAdmissionResponse:
            return pb.CancelAdmissionResponse(mdtrt_id=request.mdtrt_id)

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
        command = ChangeAdmission(
            header=header,
            mdtrt_id=request.mdtrt_id,
            psn_no=request.psn_no,
            begin_date=begin_date,
            diag_code=request.adm_diag_codg,
            dept_code=request.adm_dept_codg,
        )

        def encode(done: AdmissionChanged) -> pb.ChangeAdmissionResponse:
            return pb.ChangeAdmissionResponse(
                mdtrt_id=request.mdtrt_id,
                begntime=done.begin_date.isoformat(),
                adm_diag_codg=done.diag_code,
                adm_dept_codg=done.dept_code,
                trtinfo=benefit_check(done.coverage),
            )

        return await answered(
            self._service.change_admission, command, request, encode, pb.ChangeAdmissionResponse
        )

    # -- 2405 -----------------------------------------------------------------------------

    async def CancelDischarge(
        self, request: pb.CancelDischargeRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelDischargeResponse:
        return await self._encounter_write(
            request,
            self._service.cancel_discharge,
            discharged(pb.CancelDischargeResponse, request.mdtrt_id),
            pb.CancelDischargeResponse,
        )
