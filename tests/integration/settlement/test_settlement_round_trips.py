"""The hot path's cost in PostgreSQL round trips, counted on the wire (asyncpg's query
logger sees every statement sent). docs/benchmark.md explains each of them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TypeVar

import asyncpg
import grpc

from services.settlement.domain.codes import VisitType
from services.settlement.domain.inputs import CHINA_TZ, Header, read_header
from services.settlement.filing_client import FilingClient
from services.settlement.handlers import Settlement
from services.settlement.handlers.commands import (
    Discharge,
    OpenEncounter,
    Settle,
    SettlePurchase,
    UploadFeeLines,
)
from services.settlement.handlers.core import Discharged, Opened
from services.settlement.pharmacy import PharmacySettlement, PurchaseSettled
from services.settlement.pharmacy_servicer import PharmacySettlementServicer
from services.settlement.servicer.core import Reply, key_of
from services.settlement.servicer.readers import read_fee_lines
from services.settlement.servicer.writers import discharged
from services.settlement.versions import Versions
from shared import pb_enums
from shared.auth import parse_caller
from shared.config import Settings
from shared.db import release_without_reset
from shared.errors import Violations
from shared.pb.crossclear.filing.v1 import filing_pb2
from shared.pb.crossclear.settlement.v1 import pharmacy_pb2 as ppb
from shared.pb.crossclear.settlement.v1 import settlement_pb2 as pb

from .support import (
    COLONOSCOPY,
    NANNING,
    NANNING_HOSPITALS,
    Filing,
    Hospital,
    Msgids,
    fee,
    today,
)
from .test_pharmacy import BASKET, PHARMACY, Pharmacy, _filed_employee

S = TypeVar("S", bound=Settlement)

# No transaction: read the encounter (+ lines) and the person's year row with their row
# versions, then one write gated on both being unchanged (settlement, funds, accumulations,
# encounter, the msgid's journal row with its stored answer, outbox event), which commits
# itself. A person's first settlement of a year is the same two: the write inserts the year
# row, and one created meanwhile aborts it.
SETTLE_ROUND_TRIPS = 2
# A Settle on an encounter this process remembers but another writer changed since: the
# gated write aborts, then the read and the gated write.
SETTLE_ROUND_TRIPS_OVERTAKEN = 3
# Settlement's pool releases a connection without asyncpg's reset statement (it leaves no
# session state behind; shared.db.create_pool(full_reset=False)).
POOL_RESET_ROUND_TRIPS = 0


async def test_a_settlement_costs_two_round_trips_and_no_transaction(
    hospital: Callable[[str], Hospital],
    filing: Filing,
    settings: Settings,
    filing_service: object,
) -> None:
    sent: list[str] = []
    person, newcomer = await filing.new_person(NANNING), await filing.new_person(NANNING)
    h = hospital(NANNING_HOSPITALS[0])
    caller = parse_caller(h.code)
    counts, statements = [], []
    async with _counted(settings, filing_service, sent, Settlement) as service:
        # The first runs prepare statements (the first is also the person's first of the
        # year); the third is the steady state; the fourth is the first settlement of
        # another person this year.
        for who in (person, person, person, newcomer):
            mdtrt_id, total_fen = await h.outpatient_visit(who, [fee(1, COLONOSCOPY, "45")])
            request = h.settle_request(who, mdtrt_id, total_fen)
            command = Settle(_header(request), mdtrt_id, who.psn_no, False, total_fen)
            sent.clear()
            reply = Reply(
                lambda record: pb.SettleResponse(
                    setlinfo=pb.SettlementInfo(setl_id=record.setl_id)
                ),
                pb.SettleResponse,
            )
            outcome = await service.settle(
                command, caller, key_of(command.header.msgid, request), reply
            )
            assert reply.of(outcome).setlinfo.setl_id
            counts.append(len(sent))
            statements.append(list(sent))
    steady, first_of_year = counts[2:]
    assert steady == SETTLE_ROUND_TRIPS + POOL_RESET_ROUND_TRIPS, counts
    assert first_of_year == SETTLE_ROUND_TRIPS + POOL_RESET_ROUND_TRIPS, statements[3]
    for settled in statements[2:]:
        assert "BEGIN;" not in settled and "COMMIT;" not in settled, settled


@asynccontextmanager
async def _counted(
    settings: Settings, filing_service: object, sent: list[str], kind: type[S]
) -> AsyncIterator[S]:
    """The settlement use cases over a pool of one connection, every statement it sends to
    PostgreSQL appended to ``sent``, releasing connections as the service's own pool does."""

    async def init(conn: asyncpg.Connection) -> None:
        conn.add_query_logger(lambda logged: sent.append(logged.query))

    pool = await asyncpg.create_pool(
        settings.database_url,
        min_size=1,
        max_size=1,
        init=init,
        server_settings={"search_path": '"settlement", public'},
        reset=release_without_reset,  # as the service's own pool
    )
    assert pool is not None
    port = filing_service.port  # type: ignore[attr-defined]
    client = FilingClient(settings.model_copy(update={"filing_target": f"127.0.0.1:{port}"}))
    try:
        versions = Versions()
        await versions.reload(pool)
        yield kind(pool, versions, client, settings.bus_namespace)
    finally:
        await client.close()
        await pool.close()


def _header(request: pb.SettleRequest | pb.RequestHeader) -> Header:
    errors = Violations()
    h = request if isinstance(request, pb.RequestHeader) else request.header
    header = read_header(
        h.msgid,
        h.mdtrtarea_admvs,
        h.insuplc_admdvs,
        h.opter_type,
        insured_pool_required=True,
        errors=errors,
        now=datetime.now(CHINA_TZ),
    )
    errors.raise_if_any()
    assert header is not None
    return header


async def _open(
    service: Settlement, h: Hospital, person: filing_pb2.Person, visit: VisitType, diag_code: str
) -> Opened:
    """Register (or admit, for an inpatient visit) ``person`` at ``h`` today."""
    caller = parse_caller(h.code)
    insutype = pb_enums.INSUTYPE.by_number[person.insutype]
    register = pb.RegisterRequest(header=h.header(person.insured_pool))
    opening = OpenEncounter(
        _header(register.header), person.psn_no, insutype,
        visit, None, today(), "V1", diag_code, False,
    )  # fmt: skip
    opened = await service.open_encounter(
        opening,
        caller,
        key_of(opening.header.msgid, register),
        Reply(lambda o: pb.RegisterResponse(mdtrt_id=o.encounter.mdtrt_id), pb.RegisterResponse),
    )
    assert isinstance(opened, Opened)
    return opened


# One statement, atomic on its own (no BEGIN/COMMIT): claim the msgid already done with its
# answer + open the encounter; the filing service's coverage answer is asked before it.
REGISTER_ROUND_TRIPS = 1
# No transaction: read the encounter with its row version, then one statement gated on it
# (the journal row with the msgid's answer, the lines, the encounter's totals: the totals
# after the upload are known from the row read), which commits itself.
UPLOAD_ROUND_TRIPS = 2
# After a write of the same process on the encounter (its registration, an upload), which
# returned the row as it left it with its version: the gated statement alone.
UPLOAD_ROUND_TRIPS_AFTER_OWN_WRITE = 1
SETTLE_ROUND_TRIPS_AFTER_OWN_WRITE = 1
DISCHARGE_ROUND_TRIPS_AFTER_OWN_WRITE = 1


async def _upload(
    service: Settlement,
    h: Hospital,
    person: filing_pb2.Person,
    mdtrt_id: str,
    *,
    line_no: int = 1,
) -> int:
    """Upload one line onto the encounter: its amount."""
    upload = pb.UploadFeeDetailsRequest(
        header=h.header(person.insured_pool), feedetail=[fee(line_no, COLONOSCOPY, "45")]
    )
    errors = Violations()
    lines = tuple(read_fee_lines(upload.feedetail, errors))
    errors.raise_if_any()
    command = UploadFeeLines(_header(upload.header), mdtrt_id, person.psn_no, lines)
    await service.upload_fee_lines(
        command,
        parse_caller(h.code),
        key_of(command.header.msgid, upload),
        Reply(lambda u: pb.UploadFeeDetailsResponse(), pb.UploadFeeDetailsResponse),
    )
    return sum(line.amount_fen for line in lines)


async def _settle(
    service: Settlement, h: Hospital, person: filing_pb2.Person, mdtrt_id: str, total_fen: int
) -> str:
    request = h.settle_request(person, mdtrt_id, total_fen)
    command = Settle(_header(request), mdtrt_id, person.psn_no, False, total_fen)
    reply = Reply(
        lambda record: pb.SettleResponse(setlinfo=pb.SettlementInfo(setl_id=record.setl_id)),
        pb.SettleResponse,
    )
    outcome = await service.settle(
        command, parse_caller(h.code), key_of(command.header.msgid, request), reply
    )
    setl_id: str = reply.of(outcome).setlinfo.setl_id
    assert setl_id
    return setl_id


async def _discharge(
    service: Settlement, h: Hospital, person: filing_pb2.Person, mdtrt_id: str
) -> None:
    request = pb.DischargeRequest(header=h.header(person.insured_pool))
    command = Discharge(_header(request.header), mdtrt_id, person.psn_no, today(), "")
    done = await service.discharge(
        command,
        parse_caller(h.code),
        key_of(command.header.msgid, request),
        Reply(discharged(pb.DischargeResponse, mdtrt_id), pb.DischargeResponse),
    )
    assert isinstance(done, Discharged)


async def test_a_flow_in_one_process_reads_nothing_before_its_writes(
    hospital: Callable[[str], Hospital],
    filing: Filing,
    settings: Settings,
    filing_service: object,
) -> None:
    """Register, upload, settle in the process that made each write before: every call
    is its one gated statement (the person's year row was read by the upload's), the
    person's first settlement of the year too."""
    sent: list[str] = []
    person = await filing.new_person(NANNING)
    h = hospital(NANNING_HOSPITALS[0])
    counts: list[tuple[int, int, int]] = []
    async with _counted(settings, filing_service, sent, Settlement) as service:
        # The first flow prepares the statements and creates the person's year row.
        for _ in range(3):
            sent.clear()
            opened = await _open(service, h, person, VisitType.ORDINARY_OUTPATIENT, "")
            registered = len(sent)
            sent.clear()
            total_fen = await _upload(service, h, person, opened.encounter.mdtrt_id)
            uploaded = len(sent)
            sent.clear()
            await _settle(service, h, person, opened.encounter.mdtrt_id, total_fen)
            counts.append((registered, uploaded, len(sent)))
        # Another writer changes the encounter between the upload and the Settle (twice:
        # the first prepares the read).
        for _ in range(2):
            opened = await _open(service, h, person, VisitType.ORDINARY_OUTPATIENT, "")
            mdtrt_id = opened.encounter.mdtrt_id
            total_fen = await _upload(service, h, person, mdtrt_id)
            await service.pool.execute(
                "UPDATE encounters SET updated_at = now() WHERE mdtrt_id = $1", mdtrt_id
            )
            sent.clear()
            await _settle(service, h, person, mdtrt_id, total_fen)
            overtaken = len(sent)
    assert counts[-1] == (
        REGISTER_ROUND_TRIPS + POOL_RESET_ROUND_TRIPS,
        UPLOAD_ROUND_TRIPS_AFTER_OWN_WRITE + POOL_RESET_ROUND_TRIPS,
        SETTLE_ROUND_TRIPS_AFTER_OWN_WRITE + POOL_RESET_ROUND_TRIPS,
    ), counts
    assert overtaken == SETTLE_ROUND_TRIPS_OVERTAKEN + POOL_RESET_ROUND_TRIPS, [
        " ".join(q.split())[:50] for q in sent
    ]


async def test_a_stay_in_one_process_reads_nothing_before_its_writes(
    hospital: Callable[[str], Hospital],
    filing: Filing,
    settings: Settings,
    filing_service: object,
) -> None:
    """Admit, upload, settle, then discharge (the order of a stay settled at the cashier
    before the discharge is recorded), in the process that made each write before."""
    sent: list[str] = []
    person = await filing.new_person(NANNING)
    h = hospital(NANNING_HOSPITALS[0])
    counts: list[tuple[int, ...]] = []
    async with _counted(settings, filing_service, sent, Settlement) as service:
        for _ in range(3):  # the first stay prepares the statements and the year row
            counted = []
            sent.clear()
            opened = await _open(service, h, person, VisitType.INPATIENT, "K63.5")
            mdtrt_id = opened.encounter.mdtrt_id
            counted.append(len(sent))
            sent.clear()
            total_fen = await _upload(service, h, person, mdtrt_id)
            counted.append(len(sent))
            sent.clear()
            await _settle(service, h, person, mdtrt_id, total_fen)
            counted.append(len(sent))
            sent.clear()
            await _discharge(service, h, person, mdtrt_id)
            counted.append(len(sent))
            counts.append(tuple(counted))
    assert counts[-1] == (
        REGISTER_ROUND_TRIPS + POOL_RESET_ROUND_TRIPS,
        UPLOAD_ROUND_TRIPS_AFTER_OWN_WRITE + POOL_RESET_ROUND_TRIPS,
        SETTLE_ROUND_TRIPS_AFTER_OWN_WRITE + POOL_RESET_ROUND_TRIPS,
        DISCHARGE_ROUND_TRIPS_AFTER_OWN_WRITE + POOL_RESET_ROUND_TRIPS,
    ), counts


async def test_a_registration_costs_one_round_trip_and_an_upload_two(
    hospital: Callable[[str], Hospital],
    filing: Filing,
    settings: Settings,
    filing_service: object,
) -> None:
    sent: list[str] = []
    person = await filing.new_person(NANNING)
    h = hospital(NANNING_HOSPITALS[0])
    caller = parse_caller(h.code)
    registers, uploads = [], []
    async with (
        _counted(settings, filing_service, [], Settlement) as registrar,
        _counted(settings, filing_service, sent, Settlement) as service,
    ):
        for _ in range(3):  # the first runs prepare statements; the last is the steady state
            sent.clear()
            opened = await _open(service, h, person, VisitType.ORDINARY_OUTPATIENT, "")
            registers.append(len(sent))
            # Registered by another process: this one reads the encounter before writing.
            opened = await _open(registrar, h, person, VisitType.ORDINARY_OUTPATIENT, "")
            upload = pb.UploadFeeDetailsRequest(
                header=h.header(person.insured_pool), feedetail=[fee(1, COLONOSCOPY, "45")]
            )
            errors = Violations()
            lines = tuple(read_fee_lines(upload.feedetail, errors))
            errors.raise_if_any()
            command = UploadFeeLines(
                _header(upload.header), opened.encounter.mdtrt_id, person.psn_no, lines
            )
            sent.clear()
            await service.upload_fee_lines(
                command,
                caller,
                key_of(command.header.msgid, upload),
                Reply(lambda u: pb.UploadFeeDetailsResponse(), pb.UploadFeeDetailsResponse),
            )
            uploads.append(len(sent))
    assert registers[-1] == REGISTER_ROUND_TRIPS + POOL_RESET_ROUND_TRIPS, registers
    assert uploads[-1] == UPLOAD_ROUND_TRIPS + POOL_RESET_ROUND_TRIPS, uploads


# No transaction, as an upload: read the encounter with its row version, then one statement
# gated on it (the journal row with the answer, the discharge date), which commits itself.
DISCHARGE_ROUND_TRIPS = 2


async def test_a_discharge_costs_two_round_trips(
    hospital: Callable[[str], Hospital],
    filing: Filing,
    settings: Settings,
    filing_service: object,
) -> None:
    sent: list[str] = []
    person = await filing.new_person(NANNING)
    h = hospital(NANNING_HOSPITALS[0])
    caller = parse_caller(h.code)
    discharges: list[tuple[int, int]] = []
    async with (
        _counted(settings, filing_service, [], Settlement) as registrar,
        _counted(settings, filing_service, sent, Settlement) as service,
    ):
        for _ in range(3):  # the first runs prepare statements; the last is the steady state
            counted = []
            # Admitted by another process (the encounter is read first), then by this one.
            for admitting in (registrar, service):
                opened = await _open(admitting, h, person, VisitType.INPATIENT, "K63.5")
                mdtrt_id = opened.encounter.mdtrt_id
                request = pb.DischargeRequest(header=h.header(person.insured_pool))
                command = Discharge(_header(request.header), mdtrt_id, person.psn_no, today(), "")
                sent.clear()
                done = await service.discharge(
                    command,
                    caller,
                    key_of(command.header.msgid, request),
                    Reply(discharged(pb.DischargeResponse, mdtrt_id), pb.DischargeResponse),
                )
                assert isinstance(done, Discharged)
                counted.append(len(sent))
            discharges.append((counted[0], counted[1]))
    assert discharges[-1] == (
        DISCHARGE_ROUND_TRIPS + POOL_RESET_ROUND_TRIPS,
        DISCHARGE_ROUND_TRIPS_AFTER_OWN_WRITE + POOL_RESET_ROUND_TRIPS,
    ), discharges


# BEGIN, claim the msgid + insert the purchase (its encounter and drug lines), lock it with
# its lines + create and lock the person's year row, one write (as Settle's), COMMIT; a
# purchase with supervision warnings inserts them in one more. The filing service's
# coverage answer is asked before the transaction; the msgid's journal row is read only
# when a check made before it refuses (a resend).
PURCHASE_ROUND_TRIPS_IN_TRANSACTION = 5


async def test_a_pharmacy_purchase_costs_its_round_trips_in_one_transaction(
    settlement_channel: grpc.aio.Channel,
    msgids: Msgids,
    filing: Filing,
    settings: Settings,
    filing_service: object,
) -> None:
    sent: list[str] = []
    person = await _filed_employee(filing)
    p = Pharmacy(PHARMACY, settlement_channel, msgids)
    caller = parse_caller(p.code)
    counts = []
    async with _counted(settings, filing_service, sent, PharmacySettlement) as service:
        servicer = PharmacySettlementServicer(service)
        for _ in range(3):  # the first runs prepare statements; the last is the steady state
            request = p.settle_request(person, lines=BASKET[:1], acct=False)
            header, purchase = servicer._read(request)
            command = SettlePurchase(header, purchase, request.medfee_sumamt_fen)
            sent.clear()
            done = await service.settle_purchase(
                command,
                caller,
                key_of(header.msgid, request),
                Reply(lambda _: ppb.SettlePurchaseResponse(), ppb.SettlePurchaseResponse),
            )
            assert isinstance(done, PurchaseSettled)
            counts.append(len(sent))
    assert counts[-1] == PURCHASE_ROUND_TRIPS_IN_TRANSACTION + POOL_RESET_ROUND_TRIPS, [
        " ".join(q.split())[:70] for q in sent
    ]
