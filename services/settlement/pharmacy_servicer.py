"""gRPC ⇄ domain for the designated-pharmacy purchases (2101/2102/2103): reads each
request into domain values (naming every bad field at once), calls
:class:`~services.settlement.pharmacy.PharmacySettlement` and writes its result back.
Registered on the settlement server alongside the hospital servicer."""

from __future__ import annotations

from typing import Final

import grpc

from services.settlement import national_codes as codes
from services.settlement.domain.codes import VisitType
from services.settlement.domain.inputs import Header, check_psn_no
from services.settlement.domain.pharmacy import read_purchase_type
from services.settlement.handlers.commands import PreSettlePurchase, Purchase, SettlePurchase
from services.settlement.pharmacy import (
    PharmacySettlement,
    PurchaseSettled,
    in_purchase,
)
from services.settlement.servicer.core import answered, header_of, presettlement, reverse
from services.settlement.servicer.readers import (
    check_cert,
    check_line_count,
    check_total,
    read_fee_lines,
)
from services.settlement.servicer.writers import (
    settlement_response,
    warnings_pb,
)
from shared.errors import InvalidArgument, Violations
from shared.pb.crossclear.settlement.v1 import pharmacy_pb2 as pb
from shared.pb.crossclear.settlement.v1 import pharmacy_pb2_grpc
from shared.reference import InstitutionKind

SERVICE_NAME: Final = pb.DESCRIPTOR.services_by_name["PharmacySettlementService"].full_name
_PURCHASE_MED_TYPES: Final = frozenset({VisitType.PHARMACY_PURCHASE, VisitType.CHRONIC_OUTPATIENT})


class PharmacySettlementServicer(pharmacy_pb2_grpc.PharmacySettlementServiceServicer):
    def __init__(self, service: PharmacySettlement) -> None:
        self._service = service

    def _read(
        self, request: pb.PreSettlePurchaseRequest | pb.SettlePurchaseRequest
    ) -> tuple[Header, Purchase]:
        errors = Violations()
        header = header_of(request.header, errors, person=True, now=self._service.china_now())
        p = request.purchase
        check_psn_no(p.psn_no, "purchase.psn_no", errors)
        insutype = codes.read_insutype(p.insutype, p.insutype_code, errors)
        visit_type = codes.read_med_type(p.med_type, p.med_type_code, _PURCHASE_MED_TYPES, errors)
        disease = read_purchase_type(visit_type, p.dise_codg, errors)
        check_cert(p.mdtrt_cert_type, p.mdtrt_cert_type_code, p.mdtrt_cert_no, errors)
        check_line_count(
            len(p.feedetail), "purchase.feedetail", errors, carrier="a purchase", lines="drug lines"
        )
        errors.raise_if_any()  # before walking the lines: the list may be oversized
        line_errors = Violations()
        lines = read_fee_lines(p.feedetail, line_errors)
        if line_errors.items:
            raise in_purchase(InvalidArgument.of(line_errors.items))
        assert header is not None and insutype is not None and visit_type is not None
        purchase = Purchase(p.psn_no, insutype, visit_type, disease, p.acct_used_flag, tuple(lines))
        return header, purchase

    # -- 2101 -----------------------------------------------------------------------------

    async def PreSettlePurchase(
        self, request: pb.PreSettlePurchaseRequest, context: grpc.aio.ServicerContext
    ) -> pb.PreSettlePurchaseResponse:
        header, purchase = self._read(request)
        return await presettlement(
            self._service.presettle_purchase,
            PreSettlePurchase(header, purchase),
            request,
            pb.PreSettlePurchaseResponse,
            opened=False,
        )

    # -- 2102 -----------------------------------------------------------------------------

    async def SettlePurchase(
        self, request: pb.SettlePurchaseRequest, context: grpc.aio.ServicerContext
    ) -> pb.SettlePurchaseResponse:
        errors = Violations()
        check_total(request.medfee_sumamt_fen, "the drug lines", errors)
        errors.raise_if_any()
        header, purchase = self._read(request)

        def encode(done: PurchaseSettled) -> pb.SettlePurchaseResponse:
            return settlement_response(
                pb.SettlePurchaseResponse, done.record, warnings=warnings_pb(done.warnings)
            )

        return await answered(
            self._service.settle_purchase,
            SettlePurchase(header, purchase, request.medfee_sumamt_fen),
            request,
            encode,
            pb.SettlePurchaseResponse,
        )

    # -- 2103 -----------------------------------------------------------------------------

    async def CancelPurchase(
        self, request: pb.CancelPurchaseRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelPurchaseResponse:
        return await reverse(
            self._service, request, pb.CancelPurchaseResponse, InstitutionKind.PHARMACY
        )
