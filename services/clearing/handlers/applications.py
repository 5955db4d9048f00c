"""Hospitals' clearing applications: submitted (3203), matched, cancelled (3204)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from services.clearing import access, store
from services.clearing.domain.applications import (
    ApplicationItem,
    ClearingApplication,
    match_application_amounts,
)
from services.clearing.domain.limits import MAX_REASON_CHARS
from services.clearing.domain.periods import Period
from services.clearing.domain.pools import check_hospital_code
from services.clearing.handlers.base import ClearingBase, check_application_id, check_text
from shared.auth import Caller
from shared.errors import FailedPrecondition, NotFound

log = structlog.get_logger(__name__)


DIFFERENCES_RETURNED_MAX = 1_000


@dataclass(frozen=True)
class ApplicationResult:
    application: store.ApplicationView
    no_op: bool


class ApplicationCases(ClearingBase):
    """Hospitals' and pharmacies' clearing applications."""

    async def submit_application(
        self,
        caller: Caller,
        hospital_code: str,
        period: Period,
        items: Sequence[ApplicationItem],
    ) -> ApplicationResult:
        access.require_institution(caller, hospital_code)
        check_hospital_code(hospital_code)
        application = ClearingApplication(hospital_code, period, tuple(items))
        digest = _items_digest(application)
        async with self._write() as tx:
            # One submission per hospital and month at a time, so two concurrent ones
            # cannot both find no active application.
            await store.lock_application_month(tx.conn, hospital_code, period)
            active = await store.active_application(tx.conn, hospital_code, period)
            if active is not None:
                existing = await store.application_view(
                    tx.conn, active, differences_max=DIFFERENCES_RETURNED_MAX
                )
                assert existing is not None
                if existing.items_digest != digest:
                    raise FailedPrecondition(
                        "APPLICATION_ACTIVE",
                        f"application {active} for {period} is active: cancel it (3204) first",
                    )
                await tx.commit()
                return ApplicationResult(existing, no_op=True)
            # Summed per settlement id in SQL: one figure per settlement, not every entry.
            ledger_fen = await store.hospital_ledger_fen(
                tx.conn, hospital_code, period, self._run_timeout_s
            )
            differences = match_application_amounts(application, ledger_fen)
            application_id = await store.insert_application(
                tx.conn,
                hospital_code=hospital_code,
                period=period,
                items_digest=digest,
                item_count=len(application.items),
                application_fen=sum(i.fund_amount_fen for i in application.items),
                ledger_item_count=len(ledger_fen),
                ledger_fen=sum(ledger_fen.values()),
                differences=differences,
                caller=caller.code,
            )
            view = await store.application_view(
                tx.conn, application_id, differences_max=DIFFERENCES_RETURNED_MAX
            )
            await tx.commit()
        assert view is not None
        log.info(
            "clearing application matched",
            hospital=hospital_code,
            period=str(period),
            differences=len(differences),
        )
        return ApplicationResult(view, no_op=False)

    async def cancel_application(
        self, caller: Caller, application_id: str, reason: str
    ) -> ApplicationResult:
        access.require_institution_kind(caller, "cancel clearing applications")
        application_id = check_application_id(application_id)
        check_text(reason, "reason", required=False, max_chars=MAX_REASON_CHARS)
        # An institution only ever finds its own applications: another's is refused in the
        # same words as one that does not exist (the id names no hospital).
        own = None if caller.is_trusted else caller.code
        async with self._write() as tx:
            view = await store.application_view(
                tx.conn, application_id, differences_max=0, lock=True, hospital_code=own
            )
            if view is None:
                if own is not None:
                    raise access.institution_application_denied(caller, application_id)
                raise NotFound(f"clearing application {application_id} not found")
            access.require_institution(caller, view.hospital_code)
            if view.state == "CANCELLED":
                await tx.commit()
                return ApplicationResult(view, no_op=True)
            await store.cancel_application(tx.conn, application_id, reason)
            updated = await store.application_view(tx.conn, application_id, differences_max=0)
            await tx.commit()
        assert updated is not None
        return ApplicationResult(updated, no_op=False)


def _items_digest(application: ClearingApplication) -> str:
    """The same items in any order give the same digest: a repeated submission matches."""
    text = "".join(
        f"{item.setl_id}\t{item.fund_amount_fen}\n"
        for item in sorted(application.items, key=lambda i: i.setl_id)
    )
    return hashlib.sha256(text.encode()).hexdigest()
