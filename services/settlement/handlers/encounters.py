"""Encounters and their fee lines: 1101/2001, 2201/2401, 2204/2301, 2205/2302, 2202/2404,
2403, 2405."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from services.settlement import corrections, store
from services.settlement.domain.bill import FeeLine
from services.settlement.domain.codes import VisitType
from services.settlement.domain.encounter import (
    Coverage,
    Encounter,
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
from services.settlement.handlers.commands import (
    CancelFeeLines,
    ChangeAdmission,
    OnEncounter,
    OpenEncounter,
    QueryPerson,
    UploadFeeLines,
)
from services.settlement.handlers.core import (
    ACQUIRE_TIMEOUT_S,
    INFNO_ADMISSION_CANCEL,
    INFNO_ADMISSION_CHANGE,
    INFNO_ADMIT,
    INFNO_DISCHARGE_CANCEL,
    INFNO_REGISTER,
    INFNO_REGISTER_CANCEL,
    REPLAYED,
    AdmissionChanged,
    Answer,
    Cancelled,
    Completed,
    Discharged,
    EncounterCancelled,
    MsgKey,
    OnLocked,
    Opened,
    PersonLookup,
    Replayed,
    SettlementCore,
    Stored,
    Uploaded,
    Visit,
    _level,
    _of_request,
    _RecheckCoverage,
    _require_all_inserted,
    infno_for,
    new_encounter,
    require_same_person,
)
from services.settlement.institution_access import HOSPITAL, acting_institution
from shared.auth import Caller
from shared.bus.pg import Conn
from shared.errors import (
    InvalidArgument,
)
from shared.unit_of_work import UnitOfWork


class EncounterCases(SettlementCore):
    """Opening, changing and cancelling encounters and their fee lines."""

    # -- 1101 / 2001 ----------------------------------------------------------------------

    async def query_person(self, query: QueryPerson, caller: Caller) -> PersonLookup:
        hospital = acting_institution(query.header, caller)
        found = await self._filing.find_person(query.document_type, query.document_number)
        today = self.china_now().date()
        visit = Visit(
            visit_type=query.visit_type,
            chronic_disease=None,
            emergency=query.emergency,
            begin_date=today,
        )
        person, coverage = await self._coverage_at(hospital, found.psn_no, visit)
        async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
            acc = await store.accumulations_now(conn, person.psn_no, person.insutype)
        return PersonLookup(
            person, coverage, person.age_years_on(today), account_balance_fen(person, acc)
        )

    # -- 2201 / 2401 ----------------------------------------------------------------------

    async def open_encounter(
        self, command: OpenEncounter, caller: Caller, key: MsgKey, answer: Answer[Opened]
    ) -> Opened | Stored:
        header = command.header
        hospital = acting_institution(header, caller, HOSPITAL)
        assert hospital.level is not None
        visit = Visit(
            visit_type=command.visit_type,
            chronic_disease=command.chronic_disease,
            emergency=command.emergency,
            begin_date=command.begin_date,
        )

        async def checks() -> Encounter:
            # The filing service is asked before the transaction: never while holding locks.
            person, coverage = await self._coverage_at(hospital, command.psn_no, visit)
            require_same_person(person, command.insutype, header)
            level = _level(hospital, command.begin_date)
            return new_encounter(hospital, level, person, coverage, visit)

        checked = await self._checked_or_answered(key, checks())
        if isinstance(checked, Stored):
            return checked
        encounter = checked
        infno = INFNO_ADMIT if command.visit_type is VisitType.INPATIENT else INFNO_REGISTER

        opened = Opened(encounter)
        written: list[store.Known] = []

        async def work(uow: UnitOfWork) -> Completed[Opened] | Replayed:
            # One statement claims the msgid, opens the encounter and stores the answer.
            response = answer(opened)
            known = await store.claim_and_open_encounter(
                uow.conn,
                encounter,
                visit_no=command.visit_no,
                diag_code=command.diag_code,
                journal=store.Journal(header.msgid, hospital.code, infno),
                claim=uow.claim,
                response=response,
            )
            await uow.claimed(known is not None)
            if uow.replay is not None:
                return REPLAYED
            assert known is not None
            written.append(known)
            uow.completion(response)
            return Completed(opened)

        # The statement is the whole write: no BEGIN/COMMIT around it.
        since = self._recent.epoch()
        done = await self._once(key, work, answer, claim_in_work=True, single_statement=True)
        for known in written:  # committed: the next call on the encounter may skip its read
            self._recent.put(known, since)
        return done

    # -- 2204/2301, 2205/2302 -------------------------------------------------------------

    async def upload_fee_lines(
        self, command: UploadFeeLines, caller: Caller, key: MsgKey, answer: Answer[Uploaded]
    ) -> Uploaded | Stored:
        lines = command.lines
        acting_institution(command.header, caller, HOSPITAL)
        uploaded = await self._upload_unlocked(command, key, answer)
        if uploaded is not None:
            return uploaded

        async def act(at: OnLocked) -> Completed[Uploaded]:
            # The encounter is locked: its totals after the upload are known now, so the
            # insert stores the answer too (a skipped line rolls the whole unit back).
            uploaded = self._uploaded(at.locked, lines)
            inserted, totals = await store.insert_fee_lines(
                at.conn,
                command.mdtrt_id,
                lines,
                at.journal,
                response=at.uow.completion(answer(uploaded)).response,
            )
            _require_all_inserted(lines, inserted)
            assert totals == uploaded.totals, (totals, uploaded.totals)
            return Completed(uploaded)

        return await self._on_encounter(command, caller, key, answer, act, infno_for("upload"))

    async def _upload_unlocked(
        self, command: UploadFeeLines, key: MsgKey, answer: Answer[Uploaded]
    ) -> Uploaded | None:
        """An upload in one or two statements and no transaction (``_gated``): the
        encounter as this process's last write on it left it, or else read; then one
        statement that inserts the lines with the encounter's totals and the msgid's answer
        if the encounter is still that row version (``store.insert_fee_lines_if_unchanged``;
        a line number standing already aborts it). One round trip after a write of this
        process on the encounter, two otherwise, instead of four."""
        header = command.header

        def decide(found: store.EncounterRead) -> Uploaded:
            read = _of_request(found.read, command.mdtrt_id, header, command.psn_no)
            return self._uploaded(read, command.lines)

        async def write(
            conn: Conn, found: store.EncounterRead, uploaded: Uploaded
        ) -> store.Known | None:
            infno = infno_for("upload")(found.read.encounter)
            known = await store.insert_fee_lines_if_unchanged(
                conn,
                found,
                command.lines,
                store.Journal(header.msgid, header.hospital_code, infno),
                key.digest,
                answer(uploaded),
            )
            # Committed already when not None: the encounter was the row version read, so
            # the totals are the ones answered; this only reports a bug.
            if known is not None:
                totals = store.LineTotals(known.encounter.line_count, known.line_amount_fen)
                assert totals == uploaded.totals, (totals, uploaded.totals)
            return known

        return await self._gated(
            command.mdtrt_id,
            store.Known.reading,
            lambda conn: store.read_encounter(conn, command.mdtrt_id, header.msgid),
            decide,
            write,
        )

    def _uploaded(self, locked: store.LockedEncounter, lines: Sequence[FeeLine]) -> Uploaded:
        """The upload's answer onto the encounter as it stands: each line's split and price
        limit, and the encounter's totals with the lines; or the refusal."""
        encounter = locked.encounter
        require_open(encounter)
        catalogue = self._catalogue(encounter)
        splits = validate_upload(
            encounter, locked.line_amount_fen, lines, catalogue, locked.clock.china_date
        )
        limits = [catalogue.require(s.item_code, "feedetail").price_limit_fen for s in splits]
        expected = store.LineTotals(
            encounter.line_count + len(lines),
            locked.line_amount_fen + sum(line.amount_fen for line in lines),
        )
        return Uploaded(tuple(zip(splits, limits, strict=True)), expected)

    async def cancel_fee_lines(
        self, command: CancelFeeLines, caller: Caller, key: MsgKey, answer: Answer[Cancelled]
    ) -> Cancelled | Stored:
        acting_institution(command.header, caller, HOSPITAL)
        line_nos = command.line_nos
        check_cancel_selection(line_nos, command.all_lines)

        async def act(at: OnLocked) -> Cancelled:
            require_open(at.locked.encounter)
            selection = None if command.all_lines else line_nos
            cancelled, totals = await store.cancel_fee_lines(
                at.conn, command.mdtrt_id, selection, at.journal
            )
            missing = sorted(set(line_nos) - cancelled)
            if missing:
                raise InvalidArgument(
                    "feedetl_sn", f"no standing line numbered {', '.join(map(str, missing[:20]))}"
                )
            return Cancelled(len(cancelled), totals)

        return await self._on_encounter(command, caller, key, answer, act, infno_for("cancel"))

    # -- 2202 / 2404 / 2405: undone by a correction, so each keeps its undo snapshot ------

    async def cancel_registration(
        self,
        command: OnEncounter,
        caller: Caller,
        key: MsgKey,
        answer: Answer[EncounterCancelled],
    ) -> EncounterCancelled | Stored:
        async def act(at: OnLocked) -> EncounterCancelled:
            line_count = at.locked.encounter.line_count
            require_registration_cancellable(at.locked.encounter)
            await store.cancel_registration(at.conn, command.mdtrt_id, line_count, at.journal)
            return EncounterCancelled(line_count)

        return await self._on_encounter(
            command, caller, key, answer, act, INFNO_REGISTER_CANCEL, undoable=True
        )

    async def cancel_admission(
        self,
        command: OnEncounter,
        caller: Caller,
        key: MsgKey,
        answer: Answer[EncounterCancelled],
    ) -> EncounterCancelled | Stored:
        async def act(at: OnLocked) -> EncounterCancelled:
            require_admission_cancellable(at.locked.encounter)
            await store.cancel_encounter(at.conn, command.mdtrt_id, at.journal)
            return EncounterCancelled(0)

        return await self._on_encounter(
            command, caller, key, answer, act, INFNO_ADMISSION_CANCEL, undoable=True
        )

    async def cancel_discharge(
        self, command: OnEncounter, caller: Caller, key: MsgKey, answer: Answer[Discharged]
    ) -> Discharged | Stored:
        async def act(at: OnLocked) -> Discharged:
            encounter = at.locked.encounter
            require_discharge_cancellable(encounter)
            assert encounter.discharge_date is not None
            await store.set_discharge(at.conn, command.mdtrt_id, None, "", at.journal)
            return Discharged(encounter.discharge_date)

        return await self._on_encounter(
            command, caller, key, answer, act, INFNO_DISCHARGE_CANCEL, undoable=True
        )

    # -- 2403 -----------------------------------------------------------------------------

    async def change_admission(
        self,
        command: ChangeAdmission,
        caller: Caller,
        key: MsgKey,
        answer: Answer[AdmissionChanged],
    ) -> AdmissionChanged | Stored:
        header, mdtrt_id = command.header, command.mdtrt_id
        acting_institution(header, caller, HOSPITAL)

        async def work(uow: UnitOfWork, fresh: Coverage | None) -> AdmissionChanged:
            conn = uow.conn
            locked = await self._locked(conn, mdtrt_id, header, command.psn_no)
            encounter = locked.encounter
            require_admission_changeable(encounter)
            begin_date = encounter.begin_date
            coverage = encounter.coverage
            new_date = command.begin_date
            moved = new_date is not None and new_date != begin_date
            if new_date is not None and moved:
                check_admission_date(
                    encounter, new_date, await store.earliest_line_date(conn, mdtrt_id)
                )
                if fresh is None:  # the coverage of the new date, asked outside the txn
                    raise _RecheckCoverage(replace(encounter, begin_date=new_date))
                begin_date, coverage = new_date, fresh
            journal = store.Journal(header.msgid, header.hospital_code, INFNO_ADMISSION_CHANGE)
            async with corrections.remembered(conn, mdtrt_id, header.msgid):
                diag_code, dept_code = await store.change_admission(
                    conn,
                    mdtrt_id,
                    begin_date=begin_date,
                    diag_code=command.diag_code,
                    dept_code=command.dept_code,
                    coverage=coverage,
                    coverage_checked=moved,
                    journal=journal,
                )
            return AdmissionChanged(
                begin_date=begin_date, diag_code=diag_code, dept_code=dept_code, coverage=coverage
            )

        return await self._once_with_coverage(key, work, answer)
