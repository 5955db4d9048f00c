"""Pre-settlement, settlement, reversal and discharge: 2206/2303, 2207/2304, 2208/2305, 2402."""

from __future__ import annotations

from datetime import date

from services.settlement import pharmacy_store, store
from services.settlement.domain.accumulations import (
    Accumulations,
    apply_delta,
    reverse_delta,
)
from services.settlement.domain.encounter import (
    Coverage,
    Encounter,
    EncounterState,
    account_balance_fen,
    require_dischargeable,
    require_owner,
    require_person,
    require_settleable,
    settle_request,
)
from services.settlement.domain.inputs import Header
from services.settlement.domain.records import SettlementRecord, reversal_of
from services.settlement.domain.supervision import (
    admitted_elsewhere,
    supervise_request,
)
from services.settlement.events import settlement_outbox_item
from services.settlement.handlers.commands import Discharge, PreSettle, Reverse, Settle
from services.settlement.handlers.core import (
    INFNO_DISCHARGE,
    INFNO_PURCHASE_CANCEL,
    Answer,
    Completed,
    Discharged,
    MsgKey,
    OnLocked,
    PreSettled,
    R,
    Replayed,
    SettlementCore,
    Stored,
    _of_request,
    infno_of,
    new_id,
    require_settlement_of,
)
from services.settlement.institution_access import HOSPITAL, PHARMACY, acting_institution
from shared.auth import Caller
from shared.bus.pg import Conn
from shared.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from shared.unit_of_work import UnitOfWork


class SettleCases(SettlementCore):
    """Settling an encounter and undoing it."""

    # -- 2206/2303 ------------------------------------------------------------------------

    async def presettle(
        self, command: PreSettle, caller: Caller, key: MsgKey, answer: Answer[PreSettled]
    ) -> PreSettled | Stored:
        header, mdtrt_id = command.header, command.mdtrt_id
        acting_institution(header, caller, HOSPITAL)

        async def work(uow: UnitOfWork, fresh: Coverage | None) -> PreSettled:
            conn = uow.conn
            view = await store.read_for_presettle(conn, mdtrt_id)
            if view is None:
                raise NotFound(f"no encounter {mdtrt_id}")
            require_owner(view.locked.encounter, header.hospital_code)
            require_person(view.locked.encounter, command.psn_no, header.insured_pool)
            encounter = self._with_current_coverage(view.locked.encounter, fresh)
            require_settleable(encounter, view.locked.line_amount_fen)
            catalogue = self._catalogue(encounter)
            request = settle_request(
                encounter,
                view.locked.lines,
                view.accumulations,
                acct_opted_in=command.acct_opted_in,
            )
            result = self._run_engine(request, catalogue)
            warnings = supervise_request(request, catalogue) + tuple(
                admitted_elsewhere(code, since) for code, since in view.stays_elsewhere
            )
            journal = store.Journal(
                header.msgid, header.hospital_code, infno_of("presettle", encounter)
            )
            await store.insert_warnings(conn, encounter, warnings, journal)
            return PreSettled(encounter, result, warnings, view.locked.clock.now)

        return await self._once_with_coverage(key, work, answer)

    # -- 2207/2304 ------------------------------------------------------------------------

    async def settle(
        self, command: Settle, caller: Caller, key: MsgKey, answer: Answer[SettlementRecord]
    ) -> SettlementRecord | Stored:
        header = command.header
        acting_institution(header, caller, HOSPITAL)
        settled = await self._settle_unlocked(command, key, answer)
        if settled is not None:
            return settled
        self._recent.drop(command.mdtrt_id)

        async def work(
            uow: UnitOfWork, fresh: Coverage | None
        ) -> Completed[SettlementRecord] | Replayed:
            found = await self._locked_for_settle(
                uow, command.mdtrt_id, header, command.psn_no, claiming=True
            )
            if isinstance(found, Replayed):
                return found
            locked, acc = found
            encounter, record, after = self._settling(command, locked, acc, fresh)
            return await self._write_settlement(
                uow,
                record,
                after,
                encounter,
                fresh is not None,
                infno_of("settle", encounter),
                record,
                answer,
            )

        return await self._once_with_coverage(key, work, answer, claim_in_work=True)

    async def _settle_unlocked(
        self, command: Settle, key: MsgKey, answer: Answer[SettlementRecord]
    ) -> SettlementRecord | None:
        """A settlement in one or two statements and no transaction (``_gated``): the
        encounter, its lines and the person's year row as this process's last write on it
        left them, or else read; then one statement writes everything the settlement
        changes if neither row changed since (``store.write_settlement_if_unchanged``), so
        the result is the one the locked path would have reached at that moment. One round
        trip after an upload of this process, two otherwise, instead of four. The settled
        encounter is remembered in turn: a discharge after the settlement skips its read."""
        header = command.header

        def decide(read: store.SettleRead) -> tuple[Encounter, SettlementRecord, Accumulations]:
            locked = _of_request(read.locked, command.mdtrt_id, header, command.psn_no)
            return self._settling(command, locked, read.accumulations, None)

        async def write(
            conn: Conn,
            read: store.SettleRead,
            decided: tuple[Encounter, SettlementRecord, Accumulations],
        ) -> store.Known | None:
            encounter, record, after = decided
            return await store.write_settlement_if_unchanged(
                conn,
                read,
                record,
                after,
                store.Journal(record.msgid, encounter.hospital_code, infno_of("settle", encounter)),
                settlement_outbox_item(self._namespace, record),
                key.digest,
                answer(record),
            )

        decided = await self._gated(
            command.mdtrt_id,
            store.known_for_settle,
            lambda conn: store.read_for_settle(conn, command.mdtrt_id, header.msgid),
            decide,
            write,
        )
        return None if decided is None else decided[1]

    def _settling(
        self,
        command: Settle,
        locked: store.LockedEncounter,
        acc: Accumulations,
        fresh: Coverage | None,
    ) -> tuple[Encounter, SettlementRecord, Accumulations]:
        """The encounter settled (with its coverage now), its settlement record and the
        person's year row after it; or the refusal."""
        encounter = self._with_current_coverage(locked.encounter, fresh)
        require_settleable(encounter, locked.line_amount_fen)
        if command.medfee_sumamt_fen != locked.line_amount_fen:
            raise InvalidArgument(
                "medfee_sumamt_fen",
                f"the standing fee lines total {locked.line_amount_fen} fen, "
                f"not {command.medfee_sumamt_fen}",
            )
        catalogue = self._catalogue(encounter)
        request = settle_request(encounter, locked.lines, acc, acct_opted_in=command.acct_opted_in)
        result = self._run_engine(request, catalogue)
        record = self._settlement(result, encounter, locked.clock, command.header.msgid)
        return encounter, record, apply_delta(acc, result.delta)

    # -- 2208/2305 ------------------------------------------------------------------------

    async def reverse(
        self, command: Reverse, caller: Caller, key: MsgKey, answer: Answer[SettlementRecord]
    ) -> SettlementRecord | Stored:
        """2208/2305 for a hospital; 2103 for a pharmacy (its purchase goes with it)."""
        header, kind = command.header, command.kind
        acting_institution(header, caller, kind)

        async def work(uow: UnitOfWork) -> SettlementRecord:
            found, locked = await self._settled(
                uow.conn, command.setl_id, header, command.mdtrt_id, command.psn_no
            )
            infno = (
                INFNO_PURCHASE_CANCEL if kind is PHARMACY else infno_of("reverse", locked.encounter)
            )
            return await self._reverse_locked(uow, found, locked, header, infno)

        return await self._once(key, work, answer)

    async def _write_settlement(
        self,
        uow: UnitOfWork,
        record: SettlementRecord,
        accumulations_after: Accumulations,
        encounter: Encounter,
        coverage_rechecked: bool,
        infno: str,
        result: R,
        answer: Answer[R],
    ) -> Completed[R]:
        """One statement writes the settlement, its event and the msgid's stored answer
        (``answer`` of ``result``, the use case's result)."""
        journal = store.Journal(record.msgid, encounter.hospital_code, infno)
        await store.write_settlement(
            uow.conn,
            record,
            accumulations_after,
            encounter.coverage,
            coverage_rechecked,
            journal,
            settlement_outbox_item(self._namespace, record),
            uow.completion(answer(result)),
        )
        return Completed(result)

    async def _settled(
        self, conn: Conn, setl_id: str, header: Header, mdtrt_id: str, psn_no: str
    ) -> tuple[store.LockedSettlement, store.LockedEncounter]:
        """The settlement a reversal names and its encounter, both locked and checked."""
        found = await store.get_settlement(conn, setl_id, for_update=True)
        if found is None:
            raise NotFound(f"no settlement {setl_id}")
        require_settlement_of(found.record, header.hospital_code, mdtrt_id, psn_no)
        locked = await self._locked(conn, found.record.mdtrt_id, header, psn_no)
        return found, locked

    async def _reverse_locked(
        self,
        uow: UnitOfWork,
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
        conn = uow.conn
        acc = await store.lock_accumulations(
            conn, person.psn_no, person.insutype, original.acc_year
        )
        restored = reverse_delta(acc, original.delta)
        clock = locked.clock
        reversal = reversal_of(
            original,
            setl_id=new_id("R", clock.china_date),
            msgid=header.msgid,
            **clock.record_times(),
            balc_fen=account_balance_fen(person, restored),
        )
        journal = store.Journal(header.msgid, header.hospital_code, infno)
        await store.write_reversal(conn, reversal, restored, journal)
        if encounter.hospital_code.startswith("P"):  # a purchase (2102) ends with its settlement
            line_count = encounter.line_count
            await pharmacy_store.close_purchase(conn, encounter.mdtrt_id, line_count, header.msgid)
        uow.emit(settlement_outbox_item(self._namespace, reversal))
        return reversal

    # -- 2402 -----------------------------------------------------------------------------

    async def discharge(
        self, command: Discharge, caller: Caller, key: MsgKey, answer: Answer[Discharged]
    ) -> Discharged | Stored:
        discharge_date = command.discharge_date
        acting_institution(command.header, caller, HOSPITAL)
        discharged = await self._discharge_unlocked(command, key, answer)
        if discharged is not None:
            return discharged

        async def act(at: OnLocked) -> Completed[Discharged]:
            discharged = _discharged(at.locked, discharge_date)
            await store.set_discharge(
                at.conn,
                command.mdtrt_id,
                discharge_date,
                command.diag_code,
                at.journal,
                response=at.uow.completion(answer(discharged)).response,
            )
            return Completed(discharged)

        return await self._on_encounter(command, caller, key, answer, act, INFNO_DISCHARGE)

    async def _discharge_unlocked(
        self, command: Discharge, key: MsgKey, answer: Answer[Discharged]
    ) -> Discharged | None:
        """A discharge in one or two statements and no transaction (``_gated``): the
        encounter as this process's last write on it left it, or else read; then one
        statement that records the date with the msgid's answer if the encounter is still
        that row version."""
        header = command.header

        def decide(found: store.EncounterRead) -> Discharged:
            read = _of_request(found.read, command.mdtrt_id, header, command.psn_no)
            return _discharged(read, command.discharge_date)

        async def write(
            conn: Conn, found: store.EncounterRead, discharged: Discharged
        ) -> store.Known | None:
            return await store.set_discharge_if_unchanged(
                conn,
                found,
                command.discharge_date,
                command.diag_code,
                store.Journal(header.msgid, header.hospital_code, INFNO_DISCHARGE),
                key.digest,
                answer(discharged),
            )

        return await self._gated(
            command.mdtrt_id,
            store.Known.reading,
            lambda conn: store.read_encounter(conn, command.mdtrt_id, header.msgid),
            decide,
            write,
        )


def _discharged(encounter: store.LockedEncounter, discharge_date: date) -> Discharged:
    """The discharge of the encounter as it stands on ``discharge_date``; or the refusal."""
    if discharge_date > encounter.clock.china_date:
        raise InvalidArgument("endtime", f"{discharge_date} is in the future")
    require_dischargeable(encounter.encounter, discharge_date)
    return Discharged(discharge_date)
