"""The settlement service layer: one database transaction per hospital request.

Every write runs as::

    coverage re-check with the filing service, only when needed (no transaction open)
    BEGIN
      claim the msgid            (a retry returns the stored response; nothing else runs)
      lock what the request acts on, check ownership and state
      pure domain work           (engine, supervision, validation)
      one statement writing every row the request changes, with its journal entry
      enqueue the event          (settlement and reversal only: the outbox)
      complete the msgid with the response
    COMMIT

so a request either commits everything, including its stored response and its event, or
nothing. Round trips of a Settle, steady state (prepared statements cached):

    1 BEGIN · 2 claim msgid · 3 lock encounter + its lines + create the person's year row
    + the transaction's clock · 4 lock the person's year row · 5 write settlement, funds,
    accumulations, encounter, journal · 6 outbox insert · 7 complete msgid · 8 COMMIT

Eight (docs/benchmark.md says why each is there). The person's year row, where concurrent
settlements of one person queue, is held from 4 to the COMMIT. The coverage re-check (a
gRPC call) happens only when the stored coverage was refused, and then in a first
transaction that rolls back before the call and a second one after it: a slow filing
service never holds a lock.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Final, Generic, TypeVar

import asyncpg
from google.protobuf import any_pb2
from google.protobuf.message import Message

from services.settlement import corrections, pharmacy_store, registry, store
from services.settlement.corrections import LATER_CORRECTABLE
from services.settlement.domain import engine
from services.settlement.domain.accumulations import (
    AnnualUsage,
    annual_usage,
    apply_delta,
    reverse_delta,
)
from services.settlement.domain.bill import FeeLine
from services.settlement.domain.catalogue import Catalogue, LineSplit
from services.settlement.domain.codes import ChronicDisease, HospitalLevel, Insutype, VisitType
from services.settlement.domain.encounter import (
    Coverage,
    Encounter,
    EncounterState,
    PersonSnapshot,
    account_balance_fen,
    check_admission_date,
    check_cancel_selection,
    require_admission_cancellable,
    require_admission_changeable,
    require_cancellable,
    require_discharge_cancellable,
    require_dischargeable,
    require_open,
    require_owner,
    require_person,
    require_registration_cancellable,
    require_settleable,
    settle_request,
    validate_upload,
)
from services.settlement.domain.inputs import Header
from services.settlement.domain.reconcile import (
    RECORDS_MAX,
    DetailOutcome,
    Record,
    Totals,
    compare_records,
    require_range_size,
)
from services.settlement.domain.records import SettlementRecord, reversal_of, settlement_of
from services.settlement.domain.supervision import (
    SupervisionWarning,
    admitted_elsewhere,
    supervise_request,
)
from services.settlement.events import enqueue_settlement_event, settlement_outbox_item
from services.settlement.filing_client import FilingClient
from services.settlement.pharmacy_access import acting_pharmacy, check_oinfno
from services.settlement.versions import Versions
from shared import clock
from shared.auth import CallerKind, caller
from shared.bus.pg import Conn
from shared.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Violations,
)
from shared.idempotency import claim, complete, stored_form
from shared.identity import DocumentType
from shared.reference import Institution, UnknownCode

SCOPE: Final = "settlement"  # idempotency scope of every hospital msgid
ACQUIRE_TIMEOUT_S: Final = 10.0

INFNO_REGISTER = "2201"
INFNO_REGISTER_CANCEL = "2202"
INFNO_ADMIT = "2401"
INFNO_DISCHARGE = "2402"
INFNO_ADMISSION_CHANGE = "2403"
INFNO_ADMISSION_CANCEL = "2404"
INFNO_DISCHARGE_CANCEL = "2405"
INFNO_CORRECTION = "2601"
# Outpatient / inpatient numbers of the transactions that exist in both forms.
_INFNO = {
    "upload": ("2204", "2301"),
    "cancel": ("2205", "2302"),
    "presettle": ("2206", "2303"),
    "settle": ("2207", "2304"),
    "reverse": ("2208", "2305"),
}
CORRECTABLE: Final = (
    frozenset({"2201", "2401", "2204", "2301", "2207", "2304", "2402", "2102"}) | LATER_CORRECTABLE
)
SETTLING: Final = frozenset({"2207", "2304", "2102"})  # 2102: a pharmacy purchase
# 5206: a SETTLED encounter keeps the hospital "currently treating" its person this long
# after its settlement date (an OPEN encounter does as long as it is open).
TREATING_DAYS_AFTER_SETTLEMENT: Final = 30

R = TypeVar("R")
M = TypeVar("M", bound=Message)


def _infno(kind: str, encounter: Encounter) -> str:
    outpatient, inpatient = _INFNO[kind]
    return inpatient if encounter.is_inpatient else outpatient


def new_id(prefix: str, day: date) -> str:
    """A fresh mdtrt_id / setl_id: prefix, China date, 64 random bits (25 characters)."""
    return f"{prefix}{day:%Y%m%d}{secrets.token_hex(8).upper()}"


@dataclass(frozen=True)
class Idempotent:
    """A request's msgid and the message whose bytes the idempotency key fingerprints."""

    msgid: str
    request: Message


def _fingerprinted(request: Message) -> Message:
    # Packed with its type: two RPCs whose requests serialise to the same bytes must not
    # share a stored response under one msgid.
    packed = any_pb2.Any()
    packed.Pack(request, deterministic=True)
    return packed


@dataclass(frozen=True)
class _Completed(Generic[M]):
    """The work completed its msgid itself, in the statement that did the work."""

    response: M


class _RecheckCoverage(Exception):
    """The stored coverage was refused: ask the filing service again, outside the
    transaction (which rolls back), then retry the request with the fresh answer."""

    def __init__(self, encounter: Encounter) -> None:
        super().__init__(encounter.mdtrt_id)
        self.encounter = encounter


# --- results handed to the servicer ------------------------------------------------------


@dataclass(frozen=True)
class PersonLookup:
    person: PersonSnapshot
    coverage: Coverage
    age_years: int
    balance_fen: int


@dataclass(frozen=True)
class Opened:
    encounter: Encounter
    visit_no: str


@dataclass(frozen=True)
class Uploaded:
    lines: tuple[tuple[LineSplit, int | None], ...]  # each line's split and price limit
    line_count: int
    line_amount_fen: int


@dataclass(frozen=True)
class Cancelled:
    cancelled_count: int
    line_count: int
    line_amount_fen: int


@dataclass(frozen=True)
class PreSettled:
    encounter: Encounter
    result: engine.SettlementResult
    warnings: tuple[SupervisionWarning, ...]
    computed_at: datetime


@dataclass(frozen=True)
class Discharged:
    mdtrt_id: str
    discharge_date: date


@dataclass(frozen=True)
class EncounterCancelled:
    mdtrt_id: str
    cancelled_line_count: int


@dataclass(frozen=True)
class AdmissionChanged:
    mdtrt_id: str
    begin_date: date
    diag_code: str
    dept_code: str
    coverage: Coverage


@dataclass(frozen=True)
class AdmissionChange:
    """What a 2403 changes: None or empty leaves the field as it is."""

    begin_date: date | None
    diag_code: str
    dept_code: str


@dataclass(frozen=True)
class FeeLinesPage:
    encounter: store.EncounterRow
    lines: tuple[store.StoredLine, ...]


@dataclass(frozen=True)
class PersonYear:
    encounter: Encounter  # the encounter the hospital is treating the person by
    year: int
    policy_version_id: str
    usage: AnnualUsage
    balance_fen: int


@dataclass(frozen=True)
class Corrected:
    omsgid: str
    oinfno: str
    tombstoned: bool
    mdtrt_id: str
    reversal: SettlementRecord | None


@dataclass(frozen=True)
class SettlementView:
    record: SettlementRecord


@dataclass(frozen=True)
class TotalsOutcome:
    ours: Totals
    theirs: Totals
    differing_fields: tuple[str, ...]


class Settlement:
    """The use cases behind the 20 RPCs; the servicer translates protobuf to and fro."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        versions: Versions,
        filing: FilingClient,
        bus_namespace: str,
    ) -> None:
        self._pool = pool
        self._versions = versions
        self._filing = filing
        self._namespace = bus_namespace

    def china_now(self) -> datetime:
        return clock.china_now()

    @property
    def pool(self) -> asyncpg.Pool:
        return self._pool

    @property
    def versions(self) -> Versions:
        return self._versions

    # -- plumbing -----------------------------------------------------------------------

    async def _once(
        self,
        key: Idempotent,
        work: Callable[[Conn], Awaitable[R | _Completed[M]]],
        encode: Callable[[R], M],
        decode: Callable[[bytes], M],
    ) -> M:
        """Run ``work`` in one transaction that claims and completes the msgid."""
        async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn, conn.transaction():
            stored = await claim(conn, SCOPE, key.msgid, _fingerprinted(key.request))
            if stored is not None:
                return decode(stored)
            result = await work(conn)
            if isinstance(result, _Completed):  # the work's own write completed the key
                return result.response
            response = encode(result)
            await complete(conn, SCOPE, key.msgid, response)
            return response

    async def _once_with_coverage(
        self,
        key: Idempotent,
        work: Callable[[Conn, Coverage | None], Awaitable[R | _Completed[M]]],
        encode: Callable[[R], M],
        decode: Callable[[bytes], M],
    ) -> M:
        """As ``_once``; when the work finds the stored coverage refused, re-check it with
        the filing service between two transactions and run the work again with it."""
        try:
            return await self._once(key, lambda conn: work(conn, None), encode, decode)
        except _RecheckCoverage as needed:
            fresh = await self._check_coverage(needed.encounter)
        return await self._once(key, lambda conn: work(conn, fresh), encode, decode)

    async def _check_coverage(self, encounter: Encounter) -> Coverage:
        person, coverage = await self._filing.check_coverage(
            psn_no=encounter.person.psn_no,
            treatment_pool=encounter.treatment_pool,
            treatment_date=encounter.begin_date,
            visit_type=encounter.visit_type,
            emergency=encounter.emergency,
            hospital_code=encounter.hospital_code,
            chronic_disease=encounter.chronic_disease,
        )
        assert person.psn_no == encounter.person.psn_no
        return coverage

    @staticmethod
    def _with_current_coverage(encounter: Encounter, fresh: Coverage | None) -> Encounter:
        require_open(encounter)
        if encounter.coverage.allowed:
            return encounter
        if fresh is None:
            raise _RecheckCoverage(encounter)
        return encounter.with_coverage(fresh)

    async def _locked(
        self, conn: Conn, mdtrt_id: str, header: Header, psn_no: str, **kw: bool
    ) -> store.LockedEncounter:
        locked = await store.lock_encounter(conn, mdtrt_id, header.msgid, **kw)
        if locked is None:
            raise NotFound(f"no encounter {mdtrt_id}")
        require_owner(locked.encounter, header.hospital_code)
        require_person(locked.encounter, psn_no, header.insured_pool)
        return locked

    def _catalogue(self, encounter: Encounter) -> Catalogue:
        return self._versions.catalogue_for(encounter.treatment_pool[:2], encounter.begin_date)

    def _run_engine(
        self, request: engine.SettleRequest, catalogue: Catalogue
    ) -> engine.SettlementResult:
        policy = self._versions.policy_for(
            request.person.insured_pool_code, request.encounter.treatment_date
        )
        try:
            return engine.settle(request, catalogue, policy)
        except InvalidArgument as exc:
            # The lines were valid when uploaded; a version that took effect since (an item
            # dropped from the catalogue) makes them unsettleable, not the request invalid.
            raise FailedPrecondition(
                "FEE_LINES_NOT_SETTLEABLE",
                f"the standing fee lines no longer settle under {catalogue.version_id}: "
                f"{exc.message}; cancel and upload them again",
            ) from None

    # -- 1101 / 2001 ----------------------------------------------------------------------

    async def query_person(
        self,
        header: Header,
        document_type: DocumentType,
        document_number: str,
        visit_type: VisitType,
        emergency: bool,
    ) -> PersonLookup:
        hospital = acting_institution(header)
        found = await self._filing.find_person(document_type, document_number)
        today = self.china_now().date()
        person, coverage = await self._filing.check_coverage(
            psn_no=found.psn_no,
            treatment_pool=hospital.pool_code,
            treatment_date=today,
            visit_type=visit_type,
            emergency=emergency,
            hospital_code=hospital.code,
        )
        async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
            acc = await store.accumulations_now(conn, person.psn_no, person.insutype)
        return PersonLookup(
            person, coverage, person.age_years_on(today), account_balance_fen(person, acc)
        )

    # -- 2201 / 2401 ----------------------------------------------------------------------

    async def open_encounter(
        self,
        key: Idempotent,
        header: Header,
        *,
        psn_no: str,
        insutype: Insutype,
        visit_type: VisitType,
        chronic_disease: ChronicDisease | None,
        begin_date: date,
        visit_no: str,
        diag_code: str,
        emergency: bool,
        encode: Callable[[Opened], M],
        decode: Callable[[bytes], M],
    ) -> M:
        hospital = acting_hospital(header)
        assert hospital.level is not None
        # The filing service is asked before the transaction: never while holding locks.
        person, coverage = await self._filing.check_coverage(
            psn_no=psn_no,
            treatment_pool=hospital.pool_code,
            treatment_date=begin_date,
            visit_type=visit_type,
            emergency=emergency,
            hospital_code=hospital.code,
            chronic_disease=chronic_disease,
        )
        _require_same_person(person, insutype, header)
        encounter = Encounter(
            mdtrt_id=new_id("M", begin_date),
            hospital_code=hospital.code,
            hospital_level=_level(hospital, begin_date),
            treatment_pool=hospital.pool_code,
            person=person,
            visit_type=visit_type,
            chronic_disease=chronic_disease,
            emergency=emergency,
            begin_date=begin_date,
            discharge_date=None,
            state=EncounterState.OPEN,
            setl_id=None,
            coverage=coverage,
            line_count=0,
        )
        infno = INFNO_ADMIT if visit_type is VisitType.INPATIENT else INFNO_REGISTER

        async def work(conn: Conn) -> Opened:
            journal = store.Journal(header.msgid, hospital.code, infno)
            await store.insert_encounter(
                conn, encounter, visit_no=visit_no, diag_code=diag_code, journal=journal
            )
            return Opened(encounter, visit_no)

        return await self._once(key, work, encode, decode)

    # -- 2204/2301, 2205/2302 -------------------------------------------------------------

    async def upload_fee_lines(
        self,
        key: Idempotent,
        header: Header,
        mdtrt_id: str,
        psn_no: str,
        lines: Sequence[FeeLine],
        encode: Callable[[Uploaded], M],
        decode: Callable[[bytes], M],
    ) -> M:
        acting_hospital(header)

        async def work(conn: Conn) -> Uploaded:
            locked = await self._locked(conn, mdtrt_id, header, psn_no)
            encounter = locked.encounter
            require_open(encounter)
            catalogue = self._catalogue(encounter)
            splits = validate_upload(
                encounter, locked.line_amount_fen, lines, catalogue, locked.clock.china_date
            )
            journal = store.Journal(header.msgid, header.hospital_code, _infno("upload", encounter))
            inserted, totals = await store.insert_fee_lines(conn, mdtrt_id, lines, journal)
            _require_all_inserted(lines, inserted)
            limits = [catalogue.require(s.item_code, "feedetail").price_limit_fen for s in splits]
            return Uploaded(
                tuple(zip(splits, limits, strict=True)), totals.line_count, totals.line_amount_fen
            )

        return await self._once(key, work, encode, decode)

    async def cancel_fee_lines(
        self,
        key: Idempotent,
        header: Header,
        mdtrt_id: str,
        psn_no: str,
        line_nos: Sequence[int],
        all_lines: bool,
        encode: Callable[[Cancelled], M],
        decode: Callable[[bytes], M],
    ) -> M:
        acting_hospital(header)
        check_cancel_selection(line_nos, all_lines)

        async def work(conn: Conn) -> Cancelled:
            locked = await self._locked(conn, mdtrt_id, header, psn_no)
            require_open(locked.encounter)
            journal = store.Journal(
                header.msgid, header.hospital_code, _infno("cancel", locked.encounter)
            )
            selection = None if all_lines else line_nos
            cancelled, totals = await store.cancel_fee_lines(conn, mdtrt_id, selection, journal)
            missing = sorted(set(line_nos) - cancelled)
            if missing:
                raise InvalidArgument(
                    "feedetl_sn", f"no standing line numbered {', '.join(map(str, missing[:20]))}"
                )
            return Cancelled(len(cancelled), totals.line_count, totals.line_amount_fen)

        return await self._once(key, work, encode, decode)

    # -- 2206/2303 ------------------------------------------------------------------------

    async def presettle(
        self,
        key: Idempotent,
        header: Header,
        mdtrt_id: str,
        psn_no: str,
        acct_opted_in: bool,
        encode: Callable[[PreSettled], M],
        decode: Callable[[bytes], M],
    ) -> M:
        acting_hospital(header)

        async def work(conn: Conn, fresh: Coverage | None) -> PreSettled:
            view = await store.read_for_presettle(conn, mdtrt_id, header.msgid)
            if view is None:
                raise NotFound(f"no encounter {mdtrt_id}")
            require_owner(view.locked.encounter, header.hospital_code)
            require_person(view.locked.encounter, psn_no, header.insured_pool)
            encounter = self._with_current_coverage(view.locked.encounter, fresh)
            require_settleable(encounter, view.locked.line_amount_fen)
            catalogue = self._catalogue(encounter)
            request = settle_request(
                encounter, view.locked.lines, view.accumulations, acct_opted_in=acct_opted_in
            )
            result = self._run_engine(request, catalogue)
            warnings = supervise_request(request, catalogue) + tuple(
                admitted_elsewhere(code, since) for code, since in view.stays_elsewhere
            )
            journal = store.Journal(
                header.msgid, header.hospital_code, _infno("presettle", encounter)
            )
            await store.insert_warnings(conn, encounter, warnings, journal)
            return PreSettled(encounter, result, warnings, view.locked.clock.now)

        return await self._once_with_coverage(key, work, encode, decode)

    # -- 2207/2304 ------------------------------------------------------------------------

    async def settle(
        self,
        key: Idempotent,
        header: Header,
        mdtrt_id: str,
        psn_no: str,
        acct_opted_in: bool,
        medfee_sumamt_fen: int,
        encode: Callable[[SettlementRecord], M],
        decode: Callable[[bytes], M],
    ) -> M:
        acting_hospital(header)

        async def work(conn: Conn, fresh: Coverage | None) -> _Completed[M]:
            locked = await self._locked(conn, mdtrt_id, header, psn_no, for_settle=True)
            encounter = self._with_current_coverage(locked.encounter, fresh)
            require_settleable(encounter, locked.line_amount_fen)
            if medfee_sumamt_fen != locked.line_amount_fen:
                raise InvalidArgument(
                    "medfee_sumamt_fen",
                    f"the standing fee lines total {locked.line_amount_fen} fen, "
                    f"not {medfee_sumamt_fen}",
                )
            clock = locked.clock
            person = encounter.person
            acc = await store.lock_accumulations(conn, person.psn_no, person.insutype, clock.year)
            catalogue = self._catalogue(encounter)
            request = settle_request(encounter, locked.lines, acc, acct_opted_in=acct_opted_in)
            result = self._run_engine(request, catalogue)
            record = settlement_of(
                result,
                setl_id=new_id("S", clock.china_date),
                mdtrt_id=mdtrt_id,
                hospital_code=encounter.hospital_code,
                treatment_pool=encounter.treatment_pool,
                psn_no=person.psn_no,
                insured_pool=person.insured_pool,
                relation=encounter.coverage.relation,
                msgid=header.msgid,
                setl_time=clock.now,
                setl_date=clock.china_date,
                clearing_period=clock.clearing_period,
                acc_year=clock.year,
                ratio_reduction_bp=encounter.coverage.ratio_reduction_bp,
            )
            journal = store.Journal(
                header.msgid, encounter.hospital_code, _infno("settle", encounter)
            )
            response = encode(record)
            # One statement writes the settlement, its event and the msgid's stored answer.
            await store.write_settlement(
                conn,
                record,
                apply_delta(acc, result.delta),
                encounter.coverage,
                fresh is not None,
                journal,
                settlement_outbox_item(self._namespace, record),
                store.Completion(SCOPE, header.msgid, stored_form(response)),
            )
            return _Completed(response)

        return await self._once_with_coverage(key, work, encode, decode)

    # -- 2208/2305 ------------------------------------------------------------------------

    async def reverse(
        self,
        key: Idempotent,
        header: Header,
        setl_id: str,
        mdtrt_id: str,
        psn_no: str,
        encode: Callable[[SettlementRecord], M],
        decode: Callable[[bytes], M],
    ) -> M:
        acting_hospital(header)

        async def work(conn: Conn) -> SettlementRecord:
            found = await store.get_settlement(conn, setl_id, for_update=True)
            if found is None:
                raise NotFound(f"no settlement {setl_id}")
            _require_settlement_of(found.record, header.hospital_code, mdtrt_id, psn_no)
            locked = await self._locked(conn, found.record.mdtrt_id, header, psn_no)
            infno = _infno("reverse", locked.encounter)
            return await self._reverse_locked(conn, found, locked, header, infno)

        return await self._once(key, work, encode, decode)

    async def _reverse_locked(
        self,
        conn: Conn,
        found: store.LockedSettlement,
        locked: store.LockedEncounter,
        header: Header,
        infno: str,
    ) -> SettlementRecord:
        original = found.record
        if original.is_reversal:
            raise FailedPrecondition(
                "NOT_A_SETTLEMENT", f"{original.setl_id} is a reversal record, not a settlement"
            )
        if original.reversed_by_setl_id is not None:
            raise FailedPrecondition(
                "SETTLEMENT_ALREADY_REVERSED",
                f"settlement {original.setl_id} was reversed by {original.reversed_by_setl_id}",
            )
        encounter = locked.encounter
        assert encounter.state is EncounterState.SETTLED and encounter.setl_id == original.setl_id
        person = encounter.person
        acc = await store.lock_accumulations(
            conn, person.psn_no, person.insutype, original.acc_year
        )
        restored = reverse_delta(acc, original.delta)
        clock = locked.clock
        reversal = reversal_of(
            original,
            setl_id=new_id("R", clock.china_date),
            msgid=header.msgid,
            setl_time=clock.now,
            setl_date=clock.china_date,
            clearing_period=clock.clearing_period,
            balc_fen=account_balance_fen(person, restored),
        )
        journal = store.Journal(header.msgid, header.hospital_code, infno)
        await store.write_reversal(conn, reversal, restored, journal)
        await enqueue_settlement_event(conn, self._namespace, reversal)
        return reversal

    # -- 2402 -----------------------------------------------------------------------------

    async def discharge(
        self,
        key: Idempotent,
        header: Header,
        mdtrt_id: str,
        psn_no: str,
        discharge_date: date,
        diag_code: str,
        encode: Callable[[Discharged], M],
        decode: Callable[[bytes], M],
    ) -> M:
        acting_hospital(header)

        async def work(conn: Conn) -> Discharged:
            locked = await self._locked(conn, mdtrt_id, header, psn_no)
            if discharge_date > locked.clock.china_date:
                raise InvalidArgument("endtime", f"{discharge_date} is in the future")
            require_dischargeable(locked.encounter, discharge_date)
            journal = store.Journal(header.msgid, header.hospital_code, INFNO_DISCHARGE)
            await store.set_discharge(conn, mdtrt_id, discharge_date, diag_code, journal)
            return Discharged(mdtrt_id, discharge_date)

        return await self._once(key, work, encode, decode)

    # -- 2601 -----------------------------------------------------------------------------

    async def correct(
        self,
        key: Idempotent,
        header: Header,
        psn_no: str,
        omsgid: str,
        oinfno: str,
        encode: Callable[[Corrected], M],
        decode: Callable[[bytes], M],
    ) -> M:
        check_oinfno(acting_institution(header), oinfno)
        if not omsgid.startswith(header.hospital_code):
            raise PermissionDenied("a hospital corrects only its own messages")
        if omsgid == header.msgid:
            raise InvalidArgument("omsgid", "a correction cannot name itself")

        async def work(conn: Conn) -> Corrected:
            entry = await store.tombstone_or_lock(
                conn, omsgid, header.hospital_code, oinfno, header.msgid
            )
            journal = store.Journal(header.msgid, header.hospital_code, INFNO_CORRECTION)
            if entry is None:
                await store.journal_only(conn, journal, None)
                return Corrected(omsgid, oinfno, True, "", None)
            assert entry.hospital_code == header.hospital_code, "msgids carry their hospital"
            if entry.state != "DONE":
                raise FailedPrecondition("ALREADY_CORRECTED", f"{omsgid} was corrected already")
            if entry.infno != oinfno:
                raise InvalidArgument("oinfno", f"{omsgid} was a {entry.infno} transaction")
            if entry.infno not in CORRECTABLE:
                raise FailedPrecondition(
                    "NOT_CORRECTABLE", f"a {entry.infno} transaction cannot be corrected"
                )
            assert entry.mdtrt_id is not None
            reversal = await self._undo(conn, entry, header, psn_no, journal)
            await store.mark_corrected(conn, omsgid, header.msgid)
            # A retry of the original must now be refused, not answered from storage.
            await store.forget_response(conn, SCOPE, omsgid)
            return Corrected(omsgid, oinfno, False, entry.mdtrt_id, reversal)

        return await self._once(key, work, encode, decode)

    async def _undo(
        self,
        conn: Conn,
        entry: store.JournalEntry,
        header: Header,
        psn_no: str,
        journal: store.Journal,
    ) -> SettlementRecord | None:
        assert entry.mdtrt_id is not None
        if entry.infno in SETTLING:
            assert entry.setl_id is not None
            found = await store.get_settlement(conn, entry.setl_id, for_update=True)
            assert found is not None, "a journalled settlement exists"
            locked = await self._locked_for_correction(conn, entry.mdtrt_id, header, psn_no)
            reversal = await self._reverse_locked(conn, found, locked, header, INFNO_CORRECTION)
            if entry.infno == "2102":  # a purchase is cancelled with its settlement (2103)
                line_count = locked.encounter.line_count
                await pharmacy_store.close_purchase(conn, entry.mdtrt_id, line_count, header.msgid)
            return reversal
        locked = await self._locked_for_correction(conn, entry.mdtrt_id, header, psn_no)
        if entry.infno in LATER_CORRECTABLE:  # see corrections.py for the rule
            await corrections.undo(conn, entry, journal)
        elif entry.infno in (INFNO_REGISTER, INFNO_ADMIT):
            require_cancellable(locked.encounter)
            await store.cancel_encounter(conn, entry.mdtrt_id, journal)
        elif entry.infno in ("2204", "2301"):
            require_open(locked.encounter)
            await store.cancel_fee_lines(
                conn, entry.mdtrt_id, None, journal, uploaded_by_msgid=entry.msgid
            )
        else:
            assert entry.infno == INFNO_DISCHARGE, entry.infno
            if locked.encounter.state is EncounterState.CANCELLED:
                raise FailedPrecondition(
                    "ENCOUNTER_CANCELLED", f"encounter {entry.mdtrt_id} was cancelled"
                )
            await store.set_discharge(conn, entry.mdtrt_id, None, "", journal)
        return None

    async def _locked_for_correction(
        self, conn: Conn, mdtrt_id: str, header: Header, psn_no: str
    ) -> store.LockedEncounter:
        locked = await store.lock_encounter(conn, mdtrt_id, header.msgid)
        assert locked is not None, "a journalled encounter exists"
        require_owner(locked.encounter, header.hospital_code)
        require_person(
            locked.encounter, psn_no or locked.encounter.person.psn_no, header.insured_pool
        )
        return locked

    # -- 5203 -----------------------------------------------------------------------------

    async def query_settlement(
        self, header: Header, setl_id: str, mdtrt_id: str, psn_no: str
    ) -> SettlementView:
        acting_institution(header)
        async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
            found = await store.get_settlement(conn, setl_id)
        if found is None:
            raise NotFound(f"no settlement {setl_id}")
        _require_settlement_of(found.record, header.hospital_code, mdtrt_id, psn_no)
        return SettlementView(found.record)

    # -- 2202 / 2404 ----------------------------------------------------------------------

    async def cancel_registration(
        self,
        key: Idempotent,
        header: Header,
        mdtrt_id: str,
        psn_no: str,
        encode: Callable[[EncounterCancelled], M],
        decode: Callable[[bytes], M],
    ) -> M:
        acting_hospital(header)

        async def work(conn: Conn) -> EncounterCancelled:
            locked = await self._locked(conn, mdtrt_id, header, psn_no)
            encounter = locked.encounter
            require_registration_cancellable(encounter)
            journal = store.Journal(header.msgid, header.hospital_code, INFNO_REGISTER_CANCEL)
            async with corrections.remembered(conn, mdtrt_id, header.msgid):
                await store.cancel_registration(conn, mdtrt_id, encounter.line_count, journal)
            return EncounterCancelled(mdtrt_id, encounter.line_count)

        return await self._once(key, work, encode, decode)

    async def cancel_admission(
        self,
        key: Idempotent,
        header: Header,
        mdtrt_id: str,
        psn_no: str,
        encode: Callable[[EncounterCancelled], M],
        decode: Callable[[bytes], M],
    ) -> M:
        acting_hospital(header)

        async def work(conn: Conn) -> EncounterCancelled:
            locked = await self._locked(conn, mdtrt_id, header, psn_no)
            require_admission_cancellable(locked.encounter)
            journal = store.Journal(header.msgid, header.hospital_code, INFNO_ADMISSION_CANCEL)
            async with corrections.remembered(conn, mdtrt_id, header.msgid):
                await store.cancel_encounter(conn, mdtrt_id, journal)
            return EncounterCancelled(mdtrt_id, 0)

        return await self._once(key, work, encode, decode)

    # -- 2403 -----------------------------------------------------------------------------

    async def change_admission(
        self,
        key: Idempotent,
        header: Header,
        mdtrt_id: str,
        psn_no: str,
        change: AdmissionChange,
        encode: Callable[[AdmissionChanged], M],
        decode: Callable[[bytes], M],
    ) -> M:
        acting_hospital(header)

        async def work(conn: Conn, fresh: Coverage | None) -> AdmissionChanged:
            locked = await self._locked(conn, mdtrt_id, header, psn_no)
            encounter = locked.encounter
            require_admission_changeable(encounter)
            begin_date = encounter.begin_date
            coverage = encounter.coverage
            moved = change.begin_date is not None and change.begin_date != begin_date
            if change.begin_date is not None and moved:
                check_admission_date(
                    encounter, change.begin_date, await store.earliest_line_date(conn, mdtrt_id)
                )
                if fresh is None:  # the coverage of the new date, asked outside the txn
                    raise _RecheckCoverage(replace(encounter, begin_date=change.begin_date))
                begin_date, coverage = change.begin_date, fresh
            journal = store.Journal(header.msgid, header.hospital_code, INFNO_ADMISSION_CHANGE)
            async with corrections.remembered(conn, mdtrt_id, header.msgid):
                diag_code, dept_code = await store.change_admission(
                    conn,
                    mdtrt_id,
                    begin_date=begin_date,
                    diag_code=change.diag_code,
                    dept_code=change.dept_code,
                    coverage=coverage,
                    coverage_checked=moved,
                    journal=journal,
                )
            return AdmissionChanged(mdtrt_id, begin_date, diag_code, dept_code, coverage)

        return await self._once_with_coverage(key, work, encode, decode)

    # -- 2405 -----------------------------------------------------------------------------

    async def cancel_discharge(
        self,
        key: Idempotent,
        header: Header,
        mdtrt_id: str,
        psn_no: str,
        encode: Callable[[Discharged], M],
        decode: Callable[[bytes], M],
    ) -> M:
        acting_hospital(header)

        async def work(conn: Conn) -> Discharged:
            locked = await self._locked(conn, mdtrt_id, header, psn_no)
            encounter = locked.encounter
            require_discharge_cancellable(encounter)
            assert encounter.discharge_date is not None
            journal = store.Journal(header.msgid, header.hospital_code, INFNO_DISCHARGE_CANCEL)
            async with corrections.remembered(conn, mdtrt_id, header.msgid):
                await store.set_discharge(conn, mdtrt_id, None, "", journal)
            return Discharged(mdtrt_id, encounter.discharge_date)

        return await self._once(key, work, encode, decode)

    # -- 5201 / 5204 / 5206 ---------------------------------------------------------------

    async def query_encounters(
        self,
        header: Header,
        psn_no: str,
        begin: date | None,
        end: date | None,
        after_mdtrt_id: str | None,
        limit: int,
    ) -> list[store.EncounterRow]:
        hospital = acting_hospital(header)
        assert limit > 0
        async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
            return await store.person_encounters(
                conn,
                hospital.code,
                psn_no,
                begin=begin,
                end=end,
                after_mdtrt_id=after_mdtrt_id,
                limit=limit,
            )

    async def query_fee_lines(
        self, header: Header, mdtrt_id: str, psn_no: str, after_line_no: int, limit: int
    ) -> FeeLinesPage:
        acting_hospital(header)
        assert limit > 0
        async with (
            self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            found = await store.get_encounter(conn, mdtrt_id)
            if found is None:
                raise NotFound(f"no encounter {mdtrt_id}")
            require_owner(found.encounter, header.hospital_code)
            require_person(found.encounter, psn_no, header.insured_pool)
            lines = await store.standing_lines(
                conn, mdtrt_id, after_line_no=after_line_no, limit=limit
            )
        return FeeLinesPage(found, tuple(lines))

    async def query_accumulations(self, header: Header, psn_no: str) -> PersonYear:
        hospital = acting_hospital(header)
        today = self.china_now().date()
        since = today - timedelta(days=TREATING_DAYS_AFTER_SETTLEMENT)
        async with (
            self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            encounter = await store.treating_encounter(conn, hospital.code, psn_no, since)
            if encounter is None:
                raise PermissionDenied(
                    f"{hospital.code} is not currently treating {psn_no}: no open encounter "
                    f"and none settled in the last {TREATING_DAYS_AFTER_SETTLEMENT} days"
                )
            require_person(encounter, psn_no, header.insured_pool)
            person = encounter.person
            acc = await store.accumulations_now(conn, person.psn_no, person.insutype)
        policy = self._versions.policy_for(person.insured_pool, today)
        return PersonYear(
            encounter,
            today.year,
            policy.version_id,
            annual_usage(acc, policy, person.insutype),
            account_balance_fen(person, acc),
        )

    # -- 3201 / 3202 ----------------------------------------------------------------------

    async def reconcile_totals(
        self, header: Header, begin: date, end: date, theirs: Totals
    ) -> TotalsOutcome:
        hospital = acting_institution(header)
        async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
            ours = await store.totals(conn, hospital.code, begin, end)
        return TotalsOutcome(ours, theirs, tuple(ours.differing_fields(theirs)))

    async def reconcile_details(
        self, header: Header, begin: date, end: date, theirs: Sequence[Record]
    ) -> DetailOutcome:
        hospital = acting_institution(header)
        async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
            ours = await store.records(conn, hospital.code, begin, end, RECORDS_MAX + 1)
        require_range_size(len(ours))
        return compare_records(ours, theirs)


# --- checks ------------------------------------------------------------------------------


def acting_hospital(header: Header) -> Institution:
    """The hospital a request acts for: the caller, whose code must open the msgid.

    Trusted callers (crossclear services, operators) act for the hospital the msgid names.
    """
    who = caller()
    if who.kind is CallerKind.HOSPITAL:
        if header.hospital_code != who.code:
            raise PermissionDenied(
                f"msgid must start with your institution code {who.code}, not "
                f"{header.hospital_code}"
            )
    elif not who.is_trusted:
        raise PermissionDenied(f"caller {who.code} ({who.kind.value}) is not a hospital")
    try:
        hospital = registry.hospital_at(header.hospital_code, clock.china_today())
    except UnknownCode:
        raise PermissionDenied(f"{header.hospital_code} is not a designated hospital") from None
    if header.treatment_pool != hospital.pool_code:
        raise InvalidArgument(
            "header.mdtrtarea_admvs", f"the hospital's pool is {hospital.pool_code}"
        )
    return hospital


def acting_institution(header: Header) -> Institution:
    """1101, 2601, 5203, 3201/3202: a hospital, or a pharmacy (whose msgid opens with P)."""
    return acting_pharmacy(header) if header.hospital_code[0] == "P" else acting_hospital(header)


def _level(hospital: Institution, day: date) -> HospitalLevel:
    """The hospital's level on the encounter's begin date, as the registry has it."""
    return HospitalLevel(registry.hospital_level_at(hospital.code, day))


def _require_same_person(person: PersonSnapshot, insutype: Insutype, header: Header) -> None:
    errors = Violations()
    errors.check(
        person.insutype is insutype,
        "insutype",
        f"the person is insured under {person.insutype.value}",
    )
    errors.check(
        header.insured_pool == person.insured_pool,
        "header.insuplc_admdvs",
        f"the person is insured in {person.insured_pool}",
    )
    errors.raise_if_any()


def _require_all_inserted(lines: Sequence[FeeLine], inserted: set[int]) -> None:
    if len(inserted) == len(lines):
        return
    errors = Violations()
    for index, line in enumerate(lines):
        if line.line_no not in inserted:
            errors.add(
                f"feedetail[{index}].feedetl_sn",
                f"line {line.line_no} already stands on the encounter: cancel it first",
            )
    errors.raise_if_any()


def _require_settlement_of(
    record: SettlementRecord, hospital_code: str, mdtrt_id: str, psn_no: str
) -> None:
    if record.hospital_code != hospital_code:
        raise PermissionDenied(f"settlement {record.setl_id} belongs to another hospital")
    errors = Violations()
    if mdtrt_id:
        errors.check(
            mdtrt_id == record.mdtrt_id, "mdtrt_id", f"is not the encounter of {record.setl_id}"
        )
    if psn_no:
        errors.check(psn_no == record.psn_no, "psn_no", f"is not the patient of {record.setl_id}")
    errors.raise_if_any()
