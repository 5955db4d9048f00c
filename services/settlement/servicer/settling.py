"""Settling RPCs: 2206/2303, 2207/2304, 2208/2305, 2402 and corrections (2601)."""

from __future__ import annotations

import grpc

from services.settlement.domain.inputs import (
    check_msgid,
    check_psn_no,
    read_day,
)
from services.settlement.domain.records import SettlementRecord
from services.settlement.handlers import (
    Corrected,
)
from services.settlement.handlers.commands import Correct, Discharge, PreSettle, Settle
from services.settlement.servicer.core import ServicerCore, answered, presettlement, reverse
from services.settlement.servicer.readers import OINFNO_CHARS, _check_icd10, check_total
from services.settlement.servicer.writers import (
    discharged,
    setlinfo,
    settlement_response,
)
from shared.errors import Violations
from shared.pb.crossclear.settlement.v1 import settlement_pb2 as pb
from shared.reference import InstitutionKind


class SettleRpcs(ServicerCore):
    """Settling, reversing, discharging and correcting."""

    # -- 2206/2303, 2207/2304, 2208/2305 ---------------------------------------------------

    async def PreSettle(
        self, request: pb.PreSettleRequest, context: grpc.aio.ServicerContext
    ) -> pb.PreSettleResponse:
        header = self._encounter_header(request)
        command = PreSettle(header, request.mdtrt_id, request.psn_no, request.acct_used_flag)
        return await presettlement(
            self._service.presettle, command, request, pb.PreSettleResponse, opened=True
        )

    async def Settle(
        self, request: pb.SettleRequest, context: grpc.aio.ServicerContext
    ) -> pb.SettleResponse:
        errors = Violations()
        header = self._encounter_request(request, errors)
        check_total(request.medfee_sumamt_fen, "the standing fee lines", errors)
        errors.raise_if_any()
        assert header is not None
        command = Settle(
            header,
            request.mdtrt_id,
            request.psn_no,
            request.acct_used_flag,
            request.medfee_sumamt_fen,
        )

        def encode(record: SettlementRecord) -> pb.SettleResponse:
            return settlement_response(pb.SettleResponse, record)

        return await answered(self._service.settle, command, request, encode, pb.SettleResponse)

    async def ReverseSettlement(
        self, request: pb.ReverseSettlementRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReverseSettlementResponse:
        return await reverse(
            self._service, request, pb.ReverseSettlementResponse, InstitutionKind.HOSPITAL
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
        command = Discharge(
            header, request.mdtrt_id, request.psn_no, discharge_date, request.dscg_maindiag_code
        )
        return await answered(
            self._service.discharge,
            command,
            request,
            discharged(pb.DischargeResponse, request.mdtrt_id),
            pb.DischargeResponse,
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
        command = Correct(header, request.psn_no, request.omsgid, request.oinfno)

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

        return await answered(self._service.correct, command, request, encode, pb.CorrectResponse)
