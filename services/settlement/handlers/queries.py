"""Reads: 5203, 5201/5204/5206 and reconciliation 3201/3202."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from services.settlement import store
from services.settlement.domain.accumulations import (
    annual_usage,
)
from services.settlement.domain.encounter import (
    account_balance_fen,
    require_owner,
    require_person,
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
from services.settlement.handlers.core import (
    ACQUIRE_TIMEOUT_S,
    TREATING_DAYS_AFTER_SETTLEMENT,
    FeeLinesPage,
    PersonYear,
    SettlementCore,
    SettlementView,
    TotalsOutcome,
    require_settlement_of,
)
from services.settlement.institution_access import HOSPITAL, acting_institution
from shared.errors import (
    NotFound,
    PermissionDenied,
)


class QueryCases(SettlementCore):
    """The read-only use cases."""

    # -- 5203 -----------------------------------------------------------------------------

    async def query_settlement(
        self, header: Header, setl_id: str, mdtrt_id: str, psn_no: str
    ) -> SettlementView:
        acting_institution(header)
        async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
            found = await store.get_settlement(conn, setl_id)
        if found is None:
            raise NotFound(f"no settlement {setl_id}")
        require_settlement_of(found.record, header.hospital_code, mdtrt_id, psn_no)
        return SettlementView(found.record)

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
        hospital = acting_institution(header, HOSPITAL)
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
        acting_institution(header, HOSPITAL)
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
        hospital = acting_institution(header, HOSPITAL)
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
