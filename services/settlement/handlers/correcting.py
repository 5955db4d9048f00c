"""Corrections (2601): undo what a msgid did, or refuse it before it arrives."""

from __future__ import annotations

from services.settlement import corrections, store
from services.settlement.corrections import LATER_CORRECTABLE
from services.settlement.domain.encounter import (
    EncounterState,
    require_cancellable,
    require_open,
    require_owner,
    require_person,
)
from services.settlement.domain.inputs import Header
from services.settlement.domain.records import SettlementRecord
from services.settlement.handlers.commands import Correct
from services.settlement.handlers.core import (
    CORRECTABLE,
    INFNO_ADMIT,
    INFNO_CORRECTION,
    INFNO_DISCHARGE,
    INFNO_REGISTER,
    SETTLING,
    Answer,
    Corrected,
    MsgKey,
    Stored,
)
from services.settlement.handlers.settling import SettleCases
from services.settlement.institution_access import acting_institution, check_oinfno
from shared.auth import Caller
from shared.bus.pg import Conn
from shared.errors import (
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
)
from shared.unit_of_work import UnitOfWork


class CorrectionCases(SettleCases):
    """2601: a correction undoes one earlier msgid."""

    # -- 2601 -----------------------------------------------------------------------------

    async def correct(
        self, command: Correct, caller: Caller, key: MsgKey, answer: Answer[Corrected]
    ) -> Corrected | Stored:
        header, psn_no, omsgid, oinfno = (
            command.header,
            command.psn_no,
            command.omsgid,
            command.oinfno,
        )
        check_oinfno(acting_institution(header, caller), oinfno)
        if not omsgid.startswith(header.hospital_code):
            raise PermissionDenied("a hospital corrects only its own messages")
        if omsgid == header.msgid:
            raise InvalidArgument("omsgid", "a correction cannot name itself")

        async def work(uow: UnitOfWork) -> Corrected:
            conn = uow.conn
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
            if not entry.infno:  # a msgid kept as an idempotency key only (migration 0007)
                raise FailedPrecondition(
                    "NOT_CORRECTABLE", f"{omsgid} journalled no transaction to correct"
                )
            if entry.infno != oinfno:
                raise InvalidArgument("oinfno", f"{omsgid} was a {entry.infno} transaction")
            if entry.infno not in CORRECTABLE:
                raise FailedPrecondition(
                    "NOT_CORRECTABLE", f"a {entry.infno} transaction cannot be corrected"
                )
            assert entry.mdtrt_id is not None
            reversal = await self._undo(uow, entry, header, psn_no, journal)
            # A retry of the original is refused from now on, not answered from storage.
            await store.mark_corrected(conn, omsgid, header.msgid)
            return Corrected(omsgid, oinfno, False, entry.mdtrt_id, reversal)

        return await self._once(key, work, answer)

    async def _undo(
        self,
        uow: UnitOfWork,
        entry: store.JournalEntry,
        header: Header,
        psn_no: str,
        journal: store.Journal,
    ) -> SettlementRecord | None:
        assert entry.mdtrt_id is not None
        conn = uow.conn
        if entry.infno in SETTLING:
            assert entry.setl_id is not None
            found = await store.get_settlement(conn, entry.setl_id, for_update=True)
            assert found is not None, "a journalled settlement exists"
            locked = await self._locked_for_correction(conn, entry.mdtrt_id, header, psn_no)
            # (a purchase, 2102, is cancelled with its settlement, as 2103 does)
            return await self._reverse_locked(uow, found, locked, header, INFNO_CORRECTION)
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
        locked = await store.lock_encounter(conn, mdtrt_id)
        assert locked is not None, "a journalled encounter exists"
        require_owner(locked.encounter, header.hospital_code)
        require_person(
            locked.encounter, psn_no or locked.encounter.person.psn_no, header.insured_pool
        )
        return locked
