"""What every settlement RPC shares: the service it calls and the header it reads."""

from __future__ import annotations

from datetime import date
from typing import Any

from services.settlement.domain.inputs import (
    Header,
    check_id,
    check_psn_no,
    read_header,
)
from services.settlement.handlers import (
    Settlement,
)
from shared.errors import Violations
from shared.pb.crossclear.settlement.v1 import settlement_pb2 as pb
from shared.pb.crossclear.settlement.v1 import settlement_pb2_grpc


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
