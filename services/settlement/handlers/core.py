"""What every settlement use case shares: the transaction names, the results handed to the
servicer, the checks of who acts, and the plumbing of one transaction per request."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final, Generic, TypedDict, TypeVar

import asyncpg

from services.settlement import corrections, registry, store
from services.settlement.corrections import LATER_CORRECTABLE
from services.settlement.domain import engine
from services.settlement.domain.accumulations import (
    Accumulations,
    AnnualUsage,
)
from services.settlement.domain.bill import FeeLine
from services.settlement.domain.catalogue import Catalogue, LineSplit
from services.settlement.domain.codes import ChronicDisease, HospitalLevel, Insutype, VisitType
from services.settlement.domain.encounter import (
    Coverage,
    Encounter,
    EncounterState,
    PersonSnapshot,
    require_open,
    require_owner,
    require_person,
)
from services.settlement.domain.inputs import Header
from services.settlement.domain.reconcile import (
    Totals,
)
from services.settlement.domain.records import SettlementRecord, settlement_of
from services.settlement.domain.supervision import (
    SupervisionWarning,
)
from services.settlement.filing_client import FilingClient
from services.settlement.handlers.commands import OnEncounter
from services.settlement.institution_access import HOSPITAL, acting_institution
from services.settlement.versions import Versions
from shared import clock
from shared.auth import Caller
from shared.bus.pg import Conn
from shared.errors import (
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Violations,
)
from shared.faults import Unavailable
from shared.reference import Institution
from shared.unit_of_work import UnitOfWork, unit_of_work

SCOPE: Final = store.SCOPE  # idempotency scope of every hospital and pharmacy msgid
ACQUIRE_TIMEOUT_S: Final = 10.0

INFNO_REGISTER = "2201"
INFNO_REGISTER_CANCEL = "2202"
INFNO_ADMIT = "2401"
INFNO_DISCHARGE = "2402"
INFNO_ADMISSION_CHANGE = "2403"
INFNO_ADMISSION_CANCEL = "2404"
INFNO_DISCHARGE_CANCEL = "2405"
INFNO_CORRECTION = "2601"
INFNO_PURCHASE_CANCEL = "2103"  # a pharmacy's reversal: the purchase goes with it
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
F = TypeVar("F")


def infno_of(kind: str, encounter: Encounter) -> str:
    outpatient, inpatient = _INFNO[kind]
    return inpatient if encounter.is_inpatient else outpatient


def infno_for(kind: str) -> Callable[[Encounter], str]:
    """The transaction number of ``kind`` for an encounter, outpatient or inpatient."""
    return lambda encounter: infno_of(kind, encounter)


def new_id(prefix: str, day: date) -> str:
    """A fresh mdtrt_id / setl_id: prefix, China date, 64 random bits (25 characters)."""
    return f"{prefix}{day:%Y%m%d}{secrets.token_hex(8).upper()}"


@dataclass(frozen=True)
class MsgKey:
    """A request's msgid and the fingerprint of the request it came with: the idempotency
    key of one hospital or pharmacy transaction (the servicer computes the fingerprint)."""

    msgid: str
    digest: bytes


@dataclass(frozen=True)
class Stored:
    """A msgid answered before: its answer as stored (the servicer's encoding)."""

    response: bytes


# The servicer's encoding of a use case's result: the bytes stored as the msgid's answer.
Answer = Callable[[R], bytes]


class Replayed:
    """The work's own statement found its msgid answered before: the stored answer is the
    unit of work's ``replay``."""


REPLAYED: Final = Replayed()


@dataclass(frozen=True)
class Completed(Generic[R]):
    """The work completed its msgid itself, in the statement that did the work."""

    result: R


@dataclass(frozen=True)
class OnLocked:
    """What a write on one locked encounter acts with: the transaction's connection, the
    encounter as locked, the journal row the write records its msgid on, and the unit of
    work, whose msgid a write's own statement may complete (``UnitOfWork.completion``)."""

    conn: Conn
    locked: store.LockedEncounter
    journal: store.Journal
    uow: UnitOfWork


class _RecheckCoverage(Exception):
    """The stored coverage was refused: ask the filing service again, outside the
    transaction (which rolls back), then retry the request with the fresh answer."""

    def __init__(self, encounter: Encounter) -> None:
        super().__init__(encounter.mdtrt_id)
        self.encounter = encounter


# --- results handed to the servicer ------------------------------------------------------
# What a use case found or decided; the servicer writes the request's own ids back itself.


@dataclass(frozen=True)
class PersonLookup:
    person: PersonSnapshot
    coverage: Coverage
    age_years: int
    balance_fen: int


@dataclass(frozen=True)
class Opened:
    encounter: Encounter


@dataclass(frozen=True)
class Uploaded:
    lines: tuple[tuple[LineSplit, int | None], ...]  # each line's split and price limit
    totals: store.LineTotals  # the encounter's standing lines after the upload


@dataclass(frozen=True)
class Cancelled:
    cancelled_count: int
    totals: store.LineTotals  # the encounter's standing lines after the cancel


@dataclass(frozen=True)
class PreSettled:
    encounter: Encounter
    result: engine.SettlementResult
    warnings: tuple[SupervisionWarning, ...]
    computed_at: datetime


@dataclass(frozen=True)
class Discharged:
    discharge_date: date  # 2402: the date recorded; 2405: the date withdrawn


@dataclass(frozen=True)
class EncounterCancelled:
    cancelled_line_count: int


@dataclass(frozen=True)
class AdmissionChanged:
    begin_date: date
    diag_code: str
    dept_code: str
    coverage: Coverage


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
class TotalsOutcome:
    ours: Totals
    theirs: Totals
    differing_fields: tuple[str, ...]


# --- checks ------------------------------------------------------------------------------


def _level(hospital: Institution, day: date) -> HospitalLevel:
    """The hospital's level on the encounter's begin date, as the registry has it."""
    return HospitalLevel(registry.hospital_level_at(hospital.code, day))


class Visit(TypedDict):
    """A visit's type, disease, emergency and date: what the filing service decides
    coverage for, and what an encounter keeps in its fields of the same names. A hospital
    visit is both; a pharmacy purchase is covered as an outpatient visit but opened as a
    purchase, so it has one of each."""

    visit_type: VisitType
    chronic_disease: ChronicDisease | None
    emergency: bool
    begin_date: date


def new_encounter(
    institution: Institution,
    level: HospitalLevel,
    person: PersonSnapshot,
    coverage: Coverage,
    visit: Visit,
) -> Encounter:
    """An encounter opened at ``institution`` (a hospital, or a pharmacy for a purchase):
    no fee line, discharge nor settlement yet."""
    return Encounter(
        mdtrt_id=new_id("M", visit["begin_date"]),
        hospital_code=institution.code,
        hospital_level=level,
        treatment_pool=institution.pool_code,
        person=person,
        **visit,
        discharge_date=None,
        state=EncounterState.OPEN,
        setl_id=None,
        coverage=coverage,
        line_count=0,
    )


def require_same_person(person: PersonSnapshot, insutype: Insutype, header: Header) -> None:
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


def _decided(decide: Callable[[F], R], found: F) -> R | None:
    """``decide`` on ``found``; None if it refused (the locked path decides again)."""
    try:
        return decide(found)
    except (DomainError, _RecheckCoverage):
        return None


def require_settlement_of(
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


def _of_request(
    locked: store.LockedEncounter | None, mdtrt_id: str, header: Header, psn_no: str
) -> store.LockedEncounter:
    """The locked encounter, if it is the request's: it exists, the hospital owns it, the
    person is the request's."""
    if locked is None:
        raise NotFound(f"no encounter {mdtrt_id}")
    require_owner(locked.encounter, header.hospital_code)
    require_person(locked.encounter, psn_no, header.insured_pool)
    return locked


class SettlementCore:
    """The service's resources and the plumbing its use cases run through."""

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
        self._recent = store.RecentEncounters()

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
        key: MsgKey,
        work: Callable[[UnitOfWork], Awaitable[R | Completed[R] | Replayed]],
        answer: Answer[R],
        *,
        claim_in_work: bool = False,
        single_statement: bool = False,
    ) -> R | Stored:
        """Run ``work`` in one unit of work that claims the msgid and completes it with
        ``answer`` of the result (with ``claim_in_work``, the work's first statement claims
        it: ``_locked_for_settle``); a msgid answered before gets its stored answer."""
        async with unit_of_work(
            self._pool,
            SCOPE,
            key.msgid,
            None,
            digest=key.digest,
            acquire_timeout_s=ACQUIRE_TIMEOUT_S,
            journal=store.JOURNAL,
            claim_in_work=claim_in_work,
            single_statement=single_statement,
        ) as uow:
            if uow.replay is not None:
                return Stored(uow.replay)
            result = await work(uow)
            if isinstance(result, Replayed):
                assert uow.replay is not None
                return Stored(uow.replay)
            if isinstance(result, Completed):  # the work's own write completed the key
                await uow.commit()
                return result.result
            await uow.commit(answer(result))
            return result

    async def _gated(
        self,
        mdtrt_id: str,
        known: Callable[[store.Known], F | None],
        read: Callable[[Conn], Awaitable[F | None]],
        decide: Callable[[F], R],
        write: Callable[[Conn, F, R], Awaitable[store.Known | None]],
    ) -> R | None:
        """A write in one or two statements and no transaction (Settle, upload, discharge):
        ``decide`` on the encounter as the locked path would, and ``write`` it in one
        statement gated on the row versions it decided on. Those are ``known`` of what the
        last write of this process on the encounter left (``store.recent``), if any; else,
        or if the write finds them changed, what ``read`` reads with their versions. What
        the write leaves is remembered for the next. None, having written nothing, leaves
        the request to the locked path: ``read`` found nothing to gate on (a msgid known
        already, an unknown encounter), ``decide`` refused (the locked path refuses again
        under its locks, or re-checks coverage), or ``write`` found a row changed or the
        msgid taken."""
        async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
            # Taken with the connection in hand: a version learnt before a connection was
            # opened since (a failover, a restore) is forgotten, never written over it.
            since = self._recent.epoch()
            last = self._recent.get(mdtrt_id)
            remembered = None if last is None else known(last)
            if remembered is not None:
                decided = _decided(decide, remembered)
                if decided is not None:
                    left = await write(conn, remembered, decided)
                    if left is not None:
                        self._recent.put(left, since)
                        return decided
                self._recent.drop(mdtrt_id)  # overtaken, or refused as known: read it
            found = await read(conn)
            if found is None:
                return None
            decided = _decided(decide, found)
            if decided is None:
                return None
            left = await write(conn, found, decided)
            if left is None:
                return None
            self._recent.put(left, since)
            return decided

    async def _checked_or_answered(self, key: MsgKey, checks: Awaitable[R]) -> R | Stored:
        """``checks``, made before the unit of work (the filing service's coverage, the
        catalogue, an institution's designation), or the msgid's stored answer if they
        refuse now but the msgid was answered before.

        A resend repeats these checks. One that refuses now (a purchase resent after
        midnight with the day before's lines, a person's insurance type changed since, the
        filing service unavailable) must not turn an answered msgid into a refusal: the
        stored answer is read then, and only then, so a first attempt costs no read. Who the
        caller is was checked already: a stored answer goes only to its own institution."""
        try:
            return await checks
        except (DomainError, Unavailable):
            async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
                stored = await store.answered(conn, key.msgid, key.digest)
            if stored is None:
                raise
            return Stored(stored)

    async def _once_with_coverage(
        self,
        key: MsgKey,
        work: Callable[[UnitOfWork, Coverage | None], Awaitable[R | Completed[R] | Replayed]],
        answer: Answer[R],
        *,
        claim_in_work: bool = False,
    ) -> R | Stored:
        """As ``_once``; when the work finds the stored coverage refused, re-check it with
        the filing service between two transactions and run the work again with it."""
        try:
            return await self._once(
                key, lambda uow: work(uow, None), answer, claim_in_work=claim_in_work
            )
        except _RecheckCoverage as needed:
            fresh = await self._check_coverage(needed.encounter)
        return await self._once(
            key, lambda uow: work(uow, fresh), answer, claim_in_work=claim_in_work
        )

    async def _coverage_at(
        self, institution: Institution, psn_no: str, visit: Visit
    ) -> tuple[PersonSnapshot, Coverage]:
        """The person and their coverage for ``visit`` at ``institution``, as the filing
        service decides it (a gRPC call: never while holding a lock another request waits
        on)."""
        return await self._filing.check_coverage(
            psn_no=psn_no,
            treatment_pool=institution.pool_code,
            treatment_date=visit["begin_date"],
            visit_type=visit["visit_type"],
            emergency=visit["emergency"],
            hospital_code=institution.code,
            chronic_disease=visit["chronic_disease"],
        )

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

    async def _on_encounter(
        self,
        command: OnEncounter,
        caller: Caller,
        key: MsgKey,
        answer: Answer[R],
        act: Callable[[OnLocked], Awaitable[R | Completed[R]]],
        infno: str | Callable[[Encounter], str],
        *,
        undoable: bool = False,
    ) -> R | Stored:
        """A hospital's write on one of its encounters: the msgid claimed and the encounter
        locked in one statement, the encounter checked as the request's (owner, person),
        then ``act`` in the request's unit of work with the journal row of transaction
        ``infno`` (or of the one it names for the encounter, outpatient or inpatient). An
        ``undoable`` write (2202, 2404, 2405: a correction may undo it later) keeps the
        encounter as it was before and after it."""
        header = command.header
        acting_institution(header, caller, HOSPITAL)

        self._recent.drop(command.mdtrt_id)  # the locked write does not return the encounter

        async def work(uow: UnitOfWork) -> R | Completed[R] | Replayed:
            conn = uow.conn
            claimed, found = await store.claim_and_lock_encounter(conn, command.mdtrt_id, uow.claim)
            await uow.claimed(claimed)
            if uow.replay is not None:
                return REPLAYED
            locked = _of_request(found, command.mdtrt_id, header, command.psn_no)
            number = infno if isinstance(infno, str) else infno(locked.encounter)
            journal = store.Journal(header.msgid, header.hospital_code, number)
            on_locked = OnLocked(conn, locked, journal, uow)
            if not undoable:
                return await act(on_locked)
            async with corrections.remembered(conn, command.mdtrt_id, header.msgid):
                return await act(on_locked)

        return await self._once(key, work, answer, claim_in_work=True)

    @staticmethod
    def _settlement(
        result: engine.SettlementResult, encounter: Encounter, clock: store.TxnClock, msgid: str
    ) -> SettlementRecord:
        """The settlement record of ``result`` for the encounter, dated by its transaction."""
        person = encounter.person
        return settlement_of(
            result,
            setl_id=new_id("S", clock.china_date),
            mdtrt_id=encounter.mdtrt_id,
            hospital_code=encounter.hospital_code,
            treatment_pool=encounter.treatment_pool,
            psn_no=person.psn_no,
            insured_pool=person.insured_pool,
            relation=encounter.coverage.relation,
            msgid=msgid,
            **clock.record_times(),
            acc_year=clock.year,
            ratio_reduction_bp=encounter.coverage.ratio_reduction_bp,
        )

    async def _locked(
        self, conn: Conn, mdtrt_id: str, header: Header, psn_no: str
    ) -> store.LockedEncounter:
        self._recent.drop(mdtrt_id)  # a locked write does not return the encounter
        locked = await store.lock_encounter(conn, mdtrt_id)
        return _of_request(locked, mdtrt_id, header, psn_no)

    async def _locked_for_settle(
        self, uow: UnitOfWork, mdtrt_id: str, header: Header, psn_no: str, *, claiming: bool
    ) -> tuple[store.LockedEncounter, Accumulations] | Replayed:
        """The encounter and the person's year row, locked in one round trip which also
        claims the msgid when ``claiming`` (the unit of work opened with claim_in_work)."""
        found = await store.lock_for_settle(uow.conn, mdtrt_id, uow.claim if claiming else None)
        if claiming:
            await uow.claimed(found.claimed)
            if uow.replay is not None:
                return REPLAYED
        locked = _of_request(found.locked, mdtrt_id, header, psn_no)
        assert found.accumulations is not None, "the year row is locked with its encounter"
        return locked, found.accumulations

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
