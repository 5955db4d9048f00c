"""Designated-pharmacy purchases (定点药店购药): 2101 pre-settle, 2102 settle, 2103 cancel.

A purchase is an encounter of the usual model whose drug lines come with the request:

    BEGIN
      claim the msgid            (a retry returns the stored response, asking nobody)
      coverage check with the filing service (a gRPC call; the transaction holds only the
                                 msgid's own journal row, which only a resend waits on)
      2102: open the encounter with its lines, lock it and the person's year row, run the
            engine, store the warnings, write the settlement, its event (outbox) and the
            stored response — the hospital settlement's own statement
      2103: reverse the settlement (accumulations and personal account restored, event)
            and cancel the purchase's lines and encounter
    COMMIT

2101 runs the same checks and split and writes only its journal row and stored response
(there is no encounter to hang warnings on: they are stored with the 2102 that follows).
A refused request writes nothing. 2103 is the hospital reversal for a pharmacy
(``Settlement.reverse`` of a ``Reverse`` of kind PHARMACY), and 2601 undoes a 2102 as 2103 does: reversing a
purchase's settlement cancels the purchase (see handlers/settling.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

from services.settlement import pharmacy_store, store
from services.settlement.domain import engine
from services.settlement.domain.catalogue import Catalogue
from services.settlement.domain.codes import VisitType
from services.settlement.domain.encounter import (
    Encounter,
    settle_request,
    validate_upload,
)
from services.settlement.domain.inputs import Header
from services.settlement.domain.pharmacy import PHARMACY_LEVEL, require_dual_channel
from services.settlement.domain.records import SettlementRecord
from services.settlement.domain.supervision import SupervisionWarning, supervise_request
from services.settlement.handlers import Settlement
from services.settlement.handlers.commands import PreSettlePurchase, Purchase, SettlePurchase
from services.settlement.handlers.core import (
    REPLAYED,
    Answer,
    Completed,
    MsgKey,
    PreSettled,
    Replayed,
    Stored,
    Visit,
    new_encounter,
    require_same_person,
)
from services.settlement.institution_access import PHARMACY, acting_institution
from shared.auth import Caller
from shared.errors import FieldViolation, InvalidArgument
from shared.reference import Institution
from shared.unit_of_work import UnitOfWork

INFNO_PRESETTLE: Final = "2101"
INFNO_SETTLE: Final = "2102"


@dataclass(frozen=True)
class PurchaseSettled:
    record: SettlementRecord
    warnings: tuple[SupervisionWarning, ...]


class PharmacySettlement(Settlement):
    """The pharmacy transactions, on the hospital service layer's plumbing."""

    async def _prepare(
        self, key: MsgKey, header: Header, purchase: Purchase, caller: Caller
    ) -> tuple[Encounter, Catalogue] | Stored:
        """The purchase as an encounter of today, covered or not, its lines checked against
        the catalogue it is settled under; or, for a resend these checks now refuse, the
        answer its msgid was given. A purchase is dated by the day it is settled, so a
        resend after midnight (or after the pharmacy's designation, the person's insurance
        or the catalogue changed) must get that answer, not a new verdict."""
        pharmacy = acting_institution(header, caller, PHARMACY)
        return await self._checked_or_answered(
            key, self._purchase_checks(pharmacy, header, purchase)
        )

    async def _purchase_checks(
        self, pharmacy: Institution, header: Header, purchase: Purchase
    ) -> tuple[Encounter, Catalogue]:
        require_dual_channel(pharmacy.code, purchase.chronic_disease)
        today = self.china_now().date()
        # An ordinary purchase is covered as an ordinary outpatient visit would be.
        covered_as = Visit(
            visit_type=VisitType.CHRONIC_OUTPATIENT
            if purchase.chronic_disease is not None
            else VisitType.ORDINARY_OUTPATIENT,
            chronic_disease=purchase.chronic_disease,
            emergency=False,
            begin_date=today,
        )
        person, coverage = await self._coverage_at(pharmacy, purchase.psn_no, covered_as)
        require_same_person(person, purchase.insutype, header)
        purchased = Visit(
            visit_type=purchase.visit_type,
            chronic_disease=purchase.chronic_disease,
            emergency=False,
            begin_date=today,
        )
        encounter = new_encounter(pharmacy, PHARMACY_LEVEL, person, coverage, purchased)
        catalogue = self._catalogue(encounter)
        try:
            validate_upload(encounter, 0, purchase.lines, catalogue, today)
        except InvalidArgument as exc:
            raise in_purchase(exc) from None
        return replace(encounter, line_count=len(purchase.lines)), catalogue

    # -- 2101 -----------------------------------------------------------------------------

    async def presettle_purchase(
        self,
        command: PreSettlePurchase,
        caller: Caller,
        key: MsgKey,
        answer: Answer[PreSettled],
    ) -> PreSettled | Stored:
        header, purchase = command.header, command.purchase
        # The filing service is asked before the transaction: never while holding a
        # connection, a transaction or the msgid's row.
        prepared = await self._prepare(key, header, purchase, caller)
        if isinstance(prepared, Stored):
            return prepared
        encounter, catalogue = prepared

        async def work(uow: UnitOfWork) -> PreSettled:
            conn = uow.conn
            encounter.coverage.require_allowed()
            person = encounter.person
            acc = await store.accumulations_now(conn, person.psn_no, person.insutype)
            request = settle_request(
                encounter, purchase.lines, acc, acct_opted_in=purchase.acct_opted_in
            )
            result = self._run_engine(request, catalogue)
            warnings = supervise_request(request, catalogue)
            journal = store.Journal(header.msgid, header.hospital_code, INFNO_PRESETTLE)
            await store.journal_only(conn, journal, None)
            return PreSettled(encounter, result, warnings, self.china_now())

        return await self._once(key, work, answer)

    # -- 2102 -----------------------------------------------------------------------------

    async def settle_purchase(
        self,
        command: SettlePurchase,
        caller: Caller,
        key: MsgKey,
        answer: Answer[PurchaseSettled],
    ) -> PurchaseSettled | Stored:
        header, purchase = command.header, command.purchase
        total_fen = sum(line.amount_fen for line in purchase.lines)
        if command.medfee_sumamt_fen != total_fen:
            raise InvalidArgument(
                "medfee_sumamt_fen",
                f"the drug lines total {total_fen} fen, not {command.medfee_sumamt_fen}",
            )

        prepared = await self._prepare(key, header, purchase, caller)  # before the txn
        if isinstance(prepared, Stored):
            return prepared
        purchased, catalogue = prepared

        async def work(uow: UnitOfWork) -> Completed[PurchaseSettled] | Replayed:
            conn = uow.conn
            # One statement claims the msgid and opens the purchase with its lines.
            claimed = await pharmacy_store.claim_and_insert_purchase(
                conn, purchased, purchase.lines, header.msgid, uow.claim
            )
            await uow.claimed(claimed)
            if uow.replay is not None:
                return REPLAYED
            purchased.coverage.require_allowed()  # a refusal rolls the purchase back
            mdtrt_id = purchased.mdtrt_id
            found = await self._locked_for_settle(
                uow, mdtrt_id, header, purchase.psn_no, claiming=False
            )
            assert not isinstance(found, Replayed), "the unit of work claimed the msgid"
            locked, acc = found
            encounter, clock = locked.encounter, locked.clock
            request = settle_request(
                encounter, locked.lines, acc, acct_opted_in=purchase.acct_opted_in
            )
            result = self._run_engine(request, catalogue)
            warnings = supervise_request(request, catalogue)
            record = self._settlement(result, encounter, clock, header.msgid)
            await pharmacy_store.insert_warnings(conn, encounter, warnings, header.msgid)
            return await self._write_settlement(
                uow,
                record,
                engine.apply_delta(acc, result.delta),
                encounter,
                False,
                INFNO_SETTLE,
                PurchaseSettled(record, warnings),
                answer,
            )

        return await self._once(key, work, answer, claim_in_work=True)


def in_purchase(exc: InvalidArgument) -> InvalidArgument:
    """The drug lines travel inside ``purchase``: name them there (purchase.feedetail[0]…)."""
    return InvalidArgument.of(
        [
            FieldViolation(
                f"purchase.{v.field}" if v.field.startswith("feedetail") else v.field, v.description
            )
            for v in exc.violations
        ]
    )
