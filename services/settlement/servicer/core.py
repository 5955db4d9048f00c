"""What every settlement RPC shares: the service it calls and the header it reads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any, Generic, Protocol, TypeVar

from google.protobuf import any_pb2
from google.protobuf.message import Message

from services.settlement.domain.inputs import (
    Header,
    check_id,
    check_psn_no,
    read_header,
)
from services.settlement.handlers import Answer, MsgKey, PreSettled, Settlement, Stored
from services.settlement.handlers.commands import OnEncounter, Reverse
from services.settlement.servicer.readers import read_days, read_range
from services.settlement.servicer.writers import PR, SR, presettled, settlement_response
from shared.auth import Caller, caller
from shared.errors import Violations
from shared.idempotency import fingerprint, stored_form
from shared.pb.crossclear.settlement.v1 import settlement_pb2 as pb
from shared.pb.crossclear.settlement.v1 import settlement_pb2_grpc
from shared.reference import InstitutionKind

R = TypeVar("R")
M = TypeVar("M", bound=Message)


class Command(Protocol):
    """What every write's command carries: the request's header (its msgid)."""

    @property
    def header(self) -> Header: ...


C = TypeVar("C", bound=Command)
# A write use case: (command, caller, key, answer) to its result or the stored answer.
WriteCase = Callable[[C, Caller, MsgKey, Answer[R]], Awaitable[R | Stored]]


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


async def answered(
    use_case: WriteCase[C, R],
    command: C,
    request: Message,
    encode: Callable[[R], M],
    response_type: type[M],
) -> M:
    """A write RPC once its request is read into ``command``: the use case run for the
    request's caller under the request's key, its result written as ``response_type``
    (a retried msgid gets its stored answer)."""
    reply = Reply(encode, response_type)
    key = key_of(command.header.msgid, request)
    return reply.of(await use_case(command, caller(), key, reply))


async def presettlement(
    use_case: WriteCase[C, PreSettled],
    command: C,
    request: Message,
    response_type: type[PR],
    *,
    opened: bool,
) -> PR:
    """A pre-settlement RPC (2206/2303, 2101) once its request is read into ``command``:
    written as ``response_type``, the encounter's mdtrt_id in it only when it was
    ``opened``."""
    encode = presettled(response_type, command.header, opened=opened)
    return await answered(use_case, command, request, encode, response_type)


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
    command = Reverse(header, request.setl_id, request.mdtrt_id, request.psn_no, kind)
    return await answered(
        service.reverse,
        command,
        request,
        lambda record: settlement_response(response_type, record),
        response_type,
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

    def _person_request(self, request: Any, errors: Violations) -> Header | None:
        """The header and psn_no of a read about one person (5201, 5205, 5206)."""
        header = self._header(request.header, errors, person=True)
        check_psn_no(request.psn_no, "psn_no", errors)
        return header

    def _range_request(
        self, request: Any, errors: Violations
    ) -> tuple[Header | None, date | None, date | None]:
        """The header of a reconciliation (3201, 3202) and its days ``stmt_begndate`` to
        ``stmt_enddate``."""
        header = self._header(request.header, errors, person=False)
        begin, end = read_range(request.stmt_begndate, request.stmt_enddate, errors)
        return header, begin, end

    def _person_days_request(
        self, request: Any, errors: Violations
    ) -> tuple[Header | None, date | None, date | None]:
        """The header and psn_no of a read about one person's rows, and its optional days
        ``begndate`` to ``enddate`` (5201, 5205)."""
        header = self._person_request(request, errors)
        begin, end = read_days(request.begndate, request.enddate, errors)
        return header, begin, end

    def _person_days(self, request: Any) -> tuple[Header, date | None, date | None]:
        """As ``_person_days_request``, InvalidArgument naming each bad field."""
        errors = Violations()
        header, begin, end = self._person_days_request(request, errors)
        errors.raise_if_any()
        assert header is not None
        return header, begin, end

    def _range(self, request: Any) -> tuple[Header, date, date]:
        """As ``_range_request``, InvalidArgument naming each bad field."""
        errors = Violations()
        header, begin, end = self._range_request(request, errors)
        errors.raise_if_any()
        assert header is not None and begin is not None and end is not None
        return header, begin, end

    def _encounter_header(self, request: Any) -> Header:
        """The header of a request that carries nothing to read but the encounter's
        mdtrt_id and psn_no (InvalidArgument naming each bad field)."""
        errors = Violations()
        header = self._encounter_request(request, errors)
        errors.raise_if_any()
        assert header is not None
        return header

    async def _encounter_write(
        self,
        request: Any,
        use_case: WriteCase[OnEncounter, R],
        encode: Callable[[R], M],
        response_type: type[M],
    ) -> M:
        """An RPC whose request is the header, mdtrt_id and psn_no, and nothing else."""
        header = self._encounter_header(request)
        command = OnEncounter(header, request.mdtrt_id, request.psn_no)
        return await answered(use_case, command, request, encode, response_type)
