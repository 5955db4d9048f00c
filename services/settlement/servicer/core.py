"""What every settlement RPC shares: the service it calls and the header it reads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any, TypeVar

from google.protobuf.message import Message

from services.settlement.domain.inputs import (
    Header,
    check_id,
    check_psn_no,
    read_header,
)
from services.settlement.handlers import Idempotent, Settlement
from shared.errors import Violations
from shared.pb.crossclear.settlement.v1 import settlement_pb2 as pb
from shared.pb.crossclear.settlement.v1 import settlement_pb2_grpc

R = TypeVar("R")
M = TypeVar("M", bound=Message)
# A write on one encounter that takes nothing but the encounter's own fields:
# (key, header, mdtrt_id, psn_no, encode, decode).
EncounterWrite = Callable[
    [Idempotent, Header, str, str, Callable[[R], M], Callable[[bytes], M]], Awaitable[M]
]


class ServicerCore(settlement_pb2_grpc.SettlementServiceServicer):
    """The service layer behind the RPCs and the readers every request starts with."""

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
