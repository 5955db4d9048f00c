"""What every settlement RPC shares: the service it calls and the header it reads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any, TypeVar

from google.protobuf.message import Message

from services.settlement.domain.inputs import (
    Header,
    check_id,
    check_psn_no,
    read_header,
)
from services.settlement.handlers import Idempotent, Settlement
from services.settlement.servicer.writers import SR, settlement_response
from shared.errors import Violations
from shared.pb.crossclear.settlement.v1 import settlement_pb2 as pb
from shared.pb.crossclear.settlement.v1 import settlement_pb2_grpc
from shared.reference import InstitutionKind

R = TypeVar("R")
M = TypeVar("M", bound=Message)
# A write on one encounter that takes nothing but the encounter's own fields:
# (key, header, mdtrt_id, psn_no, encode, decode).
EncounterWrite = Callable[
    [Idempotent, Header, str, str, Callable[[R], M], Callable[[bytes], M]], Awaitable[M]
]


def header_of(
    header: pb.RequestHeader, errors: Violations, *, person: bool, now: datetime
) -> Header | None:
    """The request's header read (None when bad; each bad field is in ``errors``)."""
    return read_header(
        header.msgid,
        header.mdtrtarea_admvs,
        header.insuplc_admdvs,
        header.opter_type,
        insured_pool_required=person,
        errors=errors,
        now=now,
    )


async def reverse(
    service: Settlement, request: Any, response_type: type[SR], kind: InstitutionKind
) -> SR:
    """ReverseSettlement (2208/2305) and CancelPurchase (2103): the settlement ``setl_id``
    reversed for its hospital or pharmacy (a pharmacy may leave its mdtrt_id out)."""
    errors = Violations()
    header = header_of(request.header, errors, person=True, now=service.china_now())
    check_id(request.setl_id, "setl_id", errors)
    if request.mdtrt_id or kind is InstitutionKind.HOSPITAL:
        check_id(request.mdtrt_id, "mdtrt_id", errors)
    check_psn_no(request.psn_no, "psn_no", errors)
    errors.raise_if_any()
    assert header is not None
    return await service.reverse(
        Idempotent(header.msgid, request),
        header,
        request.setl_id,
        request.mdtrt_id,
        request.psn_no,
        lambda record: settlement_response(response_type, record),
        response_type.FromString,
        kind=kind,
    )


class ServicerCore(settlement_pb2_grpc.SettlementServiceServicer):
    """The service layer behind the RPCs and the readers every request starts with."""

    def __init__(self, service: Settlement) -> None:
        self._service = service

    # -- reading requests ----------------------------------------------------------------

    def _header(
        self, header: pb.RequestHeader, errors: Violations, *, person: bool
    ) -> Header | None:
        return header_of(header, errors, person=person, now=self._service.china_now())

    def _today(self) -> date:
        return self._service.china_now().date()

    # -- shared by the requests about one encounter ----------------------------------------

    def _encounter_request(self, request: Any, errors: Violations) -> Header | None:
        header = self._header(request.header, errors, person=True)
        check_id(request.mdtrt_id, "mdtrt_id", errors)
        check_psn_no(request.psn_no, "psn_no", errors)
        return header

    async def _encounter_write(
        self,
        request: Any,
        use_case: EncounterWrite[R, M],
        encode: Callable[[R], M],
        response_type: type[M],
    ) -> M:
        """An RPC whose request is the header, mdtrt_id and psn_no, and nothing else."""
        errors = Violations()
        header = self._encounter_request(request, errors)
        errors.raise_if_any()
        assert header is not None
        return await use_case(
            Idempotent(header.msgid, request),
            header,
            request.mdtrt_id,
            request.psn_no,
            encode,
            response_type.FromString,
        )
