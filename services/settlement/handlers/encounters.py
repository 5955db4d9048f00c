"""Encounters and their fee lines: 1101/2001, 2201/2401, 2204/2301, 2205/2302, 2202/2404,
2403, 2405."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date

from services.settlement import corrections, store
from services.settlement.domain.bill import FeeLine
from services.settlement.domain.codes import ChronicDisease, Insutype, VisitType
from services.settlement.domain.encounter import (
    Coverage,
    Encounter,
    EncounterState,
    account_balance_fen,
    check_admission_date,
    check_cancel_selection,
    require_admission_cancellable,
    require_admission_changeable,
    require_discharge_cancellable,
    require_open,
    require_registration_cancellable,
    validate_upload,
)
from services.settlement.domain.inputs import Header
from services.settlement.handlers.core import (
    ACQUIRE_TIMEOUT_S,
    INFNO_ADMISSION_CANCEL,
    INFNO_ADMISSION_CHANGE,
    INFNO_ADMIT,
    INFNO_DISCHARGE_CANCEL,
    INFNO_REGISTER,
    INFNO_REGISTER_CANCEL,
    REPLAYED,
    AdmissionChange,
    AdmissionChanged,
    Answer,
    Cancelled,
    Completed,
    Discharged,
    EncounterCancelled,
    MsgKey,
    Opened,
    PersonLookup,
    Replayed,
    SettlementCore,
    Stored,
    Uploaded,
    _level,
    _RecheckCoverage,
    _require_all_inserted,
    infno_of,
    new_id,
    require_same_person,
)
from services.settlement.institution_access import HOSPITAL, acting_institution
from shared.bus.pg import Conn
from shared.errors import (
    InvalidArgument,
)
from shared.identity import DocumentType
from shared.unit_of_work import UnitOfWork


class EncounterCases(SettlementCore):
    """Opening, changing and cancelling encounters and their fee lines."""

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
        key: MsgKey,
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
        answer: Answer[Opened],
    ) -> Opened | Stored:
        hospital = acting_institution(header, HOSPITAL)
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
        require_same_person(person, insutype, header)
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

        opened = Opened(encounter, visit_no)

        async def work(uow: UnitOfWork) -> Completed[Opened] | Replayed:
            # One statement claims the msgid, opens the encounter and stores the answer.
            response = answer(opened)
            claimed = await store.claim_and_open_encounter(
                uow.conn,
                encounter,
                visit_no=visit_no,
                diag_code=diag_code,
                journal=store.Journal(header.msgid, hospital.code, infno),
                claim=uow.claim,
                response=response,
            )
            await uow.claimed(claimed)
            if uow.replay is not None:
                return REPLAYED
            uow.completion(response)
            return Completed(opened)

        return await self._once(key, work, answer, claim_in_work=True)

    # -- 2204/2301, 2205/2302 -------------------------------------------------------------

    async def upload_fee_lines(
        self,
        key: MsgKey,
        header: Header,
        mdtrt_id: str,
        psn_no: str,
        lines: Sequence[FeeLine],
        answer: Answer[Uploaded],
    ) -> Uploaded | Stored:
        async def act(conn: Conn, locked: store.LockedEncounter) -> Uploaded:
            encounter = locked.encounter
            require_open(encounter)
            catalogue = self._catalogue(encounter)
            splits = validate_upload(
                encounter, locked.line_amount_fen, lines, catalogue, locked.clock.china_date
            )
            journal = store.Journal(
                header.msgid, header.hospital_code, infno_of("upload", encounter)
            )
            inserted, totals = await store.insert_fee_lines(conn, mdtrt_id, lines, journal)
            _require_all_inserted(lines, inserted)
            limits = [catalogue.require(s.item_code, "feedetail").price_limit_fen for s in splits]
            return Uploaded(
                tuple(zip(splits, limits, strict=True)), totals.line_count, totals.line_amount_fen
            )

        return await self._on_encounter(key, header, mdtrt_id, psn_no, act, answer)

    async def cancel_fee_lines(
        self,
        key: MsgKey,
        header: Header,
        mdtrt_id: str,
        psn_no: str,
        line_nos: Sequence[int],
        all_lines: bool,
        answer: Answer[Cancelled],
    ) -> Cancelled | Stored:
        acting_institution(header, HOSPITAL)
        check_cancel_selection(line_nos, all_lines)

        async def act(conn: Conn, locked: store.LockedEncounter) -> Cancelled:
            require_open(locked.encounter)
            journal = store.Journal(
                header.msgid, header.hospital_code, infno_of("cancel", locked.encounter)
            )
            selection = None if all_lines else line_nos
            cancelled, totals = await store.cancel_fee_lines(conn, mdtrt_id, selection, journal)
            missing = sorted(set(line_nos) - cancelled)
            if missing:
                raise InvalidArgument(
                    "feedetl_sn", f"no standing line numbered {', '.join(map(str, missing[:20]))}"
                )
            return Cancelled(len(cancelled), totals.line_count, totals.line_amount_fen)

        return await self._on_encounter(key, header, mdtrt_id, psn_no, act, answer)

    # -- 2202 / 2404 ----------------------------------------------------------------------

    async def cancel_registration(
        self,
        key: MsgKey,
        header: Header,
        mdtrt_id: str,
        psn_no: str,
        answer: Answer[EncounterCancelled],
    ) -> EncounterCancelled | Stored:
        async def act(conn: Conn, locked: store.LockedEncounter) -> EncounterCancelled:
            line_count = locked.encounter.line_count
            require_registration_cancellable(locked.encounter)
            journal = store.Journal(header.msgid, header.hospital_code, INFNO_REGISTER_CANCEL)
            async with corrections.remembered(conn, mdtrt_id, header.msgid):
                await store.cancel_registration(conn, mdtrt_id, line_count, journal)
            return EncounterCancelled(mdtrt_id, line_count)

        return await self._on_encounter(key, header, mdtrt_id, psn_no, act, answer)

    async def cancel_admission(
        self,
        key: MsgKey,
        header: Header,
        mdtrt_id: str,
        psn_no: str,
        answer: Answer[EncounterCancelled],
    ) -> EncounterCancelled | Stored:
        async def act(conn: Conn, locked: store.LockedEncounter) -> EncounterCancelled:
            require_admission_cancellable(locked.encounter)
            journal = store.Journal(header.msgid, header.hospital_code, INFNO_ADMISSION_CANCEL)
            async with corrections.remembered(conn, mdtrt_id, header.msgid):
                await store.cancel_encounter(conn, mdtrt_id, journal)
            return EncounterCancelled(mdtrt_id, 0)

        return await self._on_encounter(key, header, mdtrt_id, psn_no, act, answer)

    # -- 2403 -----------------------------------------------------------------------------

    async def change_admission(
        self,
        key: MsgKey,
        header: Header,
        mdtrt_id: str,
        psn_no: str,
        change: AdmissionChange,
        answer: Answer[AdmissionChanged],
    ) -> AdmissionChanged | Stored:
        acting_institution(header, HOSPITAL)

        async def work(uow: UnitOfWork, fresh: Coverage | None) -> AdmissionChanged:
            conn = uow.conn
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

        return await self._once_with_coverage(key, work, answer)

    # -- 2405 -----------------------------------------------------------------------------

    async def cancel_discharge(
        self,
        key: MsgKey,
        header: Header,
        mdtrt_id: str,
        psn_no: str,
        answer: Answer[Discharged],
    ) -> Discharged | Stored:
        async def act(conn: Conn, locked: store.LockedEncounter) -> Discharged:
            encounter = locked.encounter
            require_discharge_cancellable(encounter)
            assert encounter.discharge_date is not None
            journal = store.Journal(header.msgid, header.hospital_code, INFNO_DISCHARGE_CANCEL)
            async with corrections.remembered(conn, mdtrt_id, header.msgid):
                await store.set_discharge(conn, mdtrt_id, None, "", journal)
            return Discharged(mdtrt_id, encounter.discharge_date)

        return await self._on_encounter(key, header, mdtrt_id, psn_no, act, answer)
