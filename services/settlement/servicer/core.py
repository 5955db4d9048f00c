"""What every settlement RPC shares: the service it calls and the header it reads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any, Generic, TypeVar

from google.protobuf import any_pb2
from google.protobuf.message import Message

from services.settlement.domain.inputs import (
    Header,
    check_id,
    check_psn_no,
    read_header,
)
from services.settlement.domain.records import SettlementRecord
from services.settlement.handlers import Answer, MsgKey, Settlement, Stored
from services.settlement.servicer.writers import SR, settlement_response
from shared.errors import Violations
from shared.idempotency import fingerprint, stored_form
from shared.pb.crossclear.settlement.v1 import settlement_pb2 as pb
from shared.pb.crossclear.settlement.v1 import settlement_pb2_grpc
from shared.reference import InstitutionKind

R = TypeVar("R")
M = TypeVar("M", bound=Message)
# A write on one encounter that takes nothing but the encounter's own fields:
# (key, header, mdtrt_id, psn_no, answer).
EncounterWrite = Callable[[MsgKey, Header, str, str, Answer[R]], Awaitable[R | Stored]]


def key_of(msgid: str, request: Message) -> MsgKey:
    """The request's idempotency key: its msgid and the fingerprint of the request, packed
    with its type (two RPCs whose requests serialise to the same bytes must not share a
    stored answer under one msgid)."""
    packed = any_pb2.Any()
    packed.Pack(request, deterministic=True)
    return MsgKey(msgid, fingerprint(packed))


class Reply(Generic[R, M]):
    """A use case's answer as this RPC writes it. Passed to the use case as its
    :data:`~services.settlement.handlers.Answer`: ``encode`` builds the response of the
    result once, and its deterministic bytes are stored as the msgid's answer. ``of``
    gives the RPC's response: that message, or a stored answer read back."""

    def __init__(self, encode: Callable[[R], M], response_type: type[M]) -> None:
        self._encode = encode
        self._type = response_type
        self._built: tuple[R, M] | None = None

    def __call__(self, result: R) -> bytes:
        response = self._encode(result)
        self._built = (result, response)
        return stored_form(response)

    def of(self, outcome: R | Stored) -> M:
        if isinstance(outcome, Stored):
            return self._type.FromString(outcome.response)
        if self._built is not None and self._built[0] is outcome:
            return self._built[1]
        return self._encode(outcome)


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
    reply: Reply[SettlementRecord, SR] = Reply(
        lambda record: settlement_response(response_type, record), response_type
    )
    return reply.of(
        await service.reverse(
            key_of(header.msgid, request),
            header,
            request.setl_id,
            request.mdtrt_id,
            request.psn_no,
            reply,
            kind=kind,
        )
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
        use_case: EncounterWrite[R],
        encode: Callable[[R], M],
        response_type: type[M],
    ) -> M:
        """An RPC whose request is the header, mdtrt_id and psn_no, and nothing else."""
        errors = Violations()
        header = self._encounter_request(request, errors)
        errors.raise_if_any()
        assert header is not None
        reply = Reply(encode, response_type)
        return reply.of(
            await use_case(
                key_of(header.msgid, request), header, request.mdtrt_id, request.psn_no, reply
            )
        )
