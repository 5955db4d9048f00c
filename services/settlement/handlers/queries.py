"""Reads: 5203, 5201/5204/5206 and reconciliation 3201/3202."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import date, timedelta

from services.settlement import store
from services.settlement.domain.accumulations import (
    annual_usage,
)
from services.settlement.domain.encounter import (
    Encounter,
    account_balance_fen,
    require_owner,
    require_person,
)
from services.settlement.domain.reconcile import (
    RECORDS_MAX,
    DetailOutcome,
    Record,
    Totals,
    compare_records,
    require_range_size,
)
from services.settlement.domain.records import SettlementRecord
from services.settlement.handlers.commands import (
    AboutPerson,
    OnSettlement,
    PersonPage,
    QueryFeeLines,
    Reconcile,
)
from services.settlement.handlers.core import (
    ACQUIRE_TIMEOUT_S,
    TREATING_DAYS_AFTER_SETTLEMENT,
    FeeLinesPage,
    PersonYear,
    SettlementCore,
    TotalsOutcome,
    require_settlement_of,
)
from services.settlement.institution_access import HOSPITAL, acting_institution
from shared.auth import Caller
from shared.bus.pg import Conn
from shared.errors import (
    NotFound,
    PermissionDenied,
)


class QueryCases(SettlementCore):
    """The read-only use cases."""

    # -- 5203 -----------------------------------------------------------------------------

    async def query_settlement(self, query: OnSettlement, caller: Caller) -> SettlementRecord:
        header = query.header
        acting_institution(header, caller)
        async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
            found = await store.get_settlement(conn, query.setl_id)
        if found is None:
            raise NotFound(f"no settlement {query.setl_id}")
        require_settlement_of(found.record, header.hospital_code, query.mdtrt_id, query.psn_no)
        return found.record

    # -- 5201 / 5204 / 5206 ---------------------------------------------------------------

    async def query_encounters(
        self, query: PersonPage[str], caller: Caller
    ) -> list[store.EncounterRow]:
        hospital = acting_institution(query.header, caller, HOSPITAL)
        assert query.limit > 0
        async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
            return await store.person_encounters(
                conn,
                hospital.code,
                query.psn_no,
                begin=query.begin,
                end=query.end,
                after_mdtrt_id=query.after,
                limit=query.limit,
            )

    async def query_fee_lines(self, query: QueryFeeLines, caller: Caller) -> FeeLinesPage:
        header, mdtrt_id = query.header, query.mdtrt_id
        acting_institution(header, caller, HOSPITAL)
        assert query.limit > 0
        async with (
            self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            found = await store.get_encounter(conn, mdtrt_id)
            if found is None:
                raise NotFound(f"no encounter {mdtrt_id}")
            require_owner(found.encounter, header.hospital_code)
            require_person(found.encounter, query.psn_no, header.insured_pool)
            lines = await store.standing_lines(
                conn, mdtrt_id, after_line_no=query.after_line_no, limit=query.limit
            )
        return FeeLinesPage(found, tuple(lines))

    async def query_accumulations(self, query: AboutPerson, caller: Caller) -> PersonYear:
        today = self.china_now().date()
        async with self.treating(query, caller, today) as (conn, encounter):
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

    @contextlib.asynccontextmanager
    async def treating(
        self, query: AboutPerson, caller: Caller, today: date
    ) -> AsyncIterator[tuple[Conn, Encounter]]:
        """A read-only snapshot in which the hospital is seen currently treating the
        person (5205, 5206) on ``today``: an OPEN encounter there, or one settled in the
        last ``TREATING_DAYS_AFTER_SETTLEMENT`` days; PERMISSION_DENIED otherwise."""
        hospital = acting_institution(query.header, caller, HOSPITAL)
        psn_no = query.psn_no
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
            require_person(encounter, psn_no, query.header.insured_pool)
            yield conn, encounter

    # -- 3201 / 3202 ----------------------------------------------------------------------

    async def reconcile_totals(self, query: Reconcile[Totals], caller: Caller) -> TotalsOutcome:
        hospital = acting_institution(query.header, caller)
        async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
            ours = await store.totals(conn, hospital.code, query.begin, query.end)
        theirs = query.theirs
        return TotalsOutcome(ours, theirs, tuple(ours.differing_fields(theirs)))

    async def reconcile_details(
        self, query: Reconcile[tuple[Record, ...]], caller: Caller
    ) -> DetailOutcome:
        hospital = acting_institution(query.header, caller)
        async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
            ours = await store.records(conn, hospital.code, query.begin, query.end, RECORDS_MAX + 1)
        require_range_size(len(ours))
        return compare_records(ours, query.theirs)
