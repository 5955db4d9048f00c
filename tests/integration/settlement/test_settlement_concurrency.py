"""Concurrency: one person's annual accumulations under 50 simultaneous settlements from
five hospitals, one msgid sent ten times at once, and the msgid claimed before the
encounter is locked."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
import grpc

from services.settlement.handlers import Settlement
from shared.config import Settings
from shared.pb.crossclear.settlement.v1 import settlement_pb2 as pb
from tests.support.polling import wait_until

from .support import (
    COLONOSCOPY,
    CONSULTATION,
    GUANGZHOU_HOSPITALS,
    NANNING,
    NANNING_HOSPITALS,
    SHENZHEN_HOSPITAL,
    Filing,
    Hospital,
    fee,
    replace_line_one,
    rolled_back,
    rpc_error,
    statements_waiting,
)
from .test_settlement_round_trips import _counted, _settle

SETTLEMENTS = 50
# Guangxi employees, ordinary outpatient (policy_gx.json): 100 yuan deductible a year,
# 60 %, 2,000 yuan cap a year. 50 colonoscopies pay far more than the cap at 60 %.
OUTPATIENT_DEDUCTIBLE_FEN = 10_000
OUTPATIENT_CAP_FEN = 200_000


async def test_fifty_concurrent_settlements_never_pass_the_cap_nor_repeat_the_deductible(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    person = await filing.new_person(NANNING)
    await filing.file(person, province_code="44")  # long-term: no ratio reduction
    hospitals = [
        hospital(code) for code in (*GUANGZHOU_HOSPITALS, SHENZHEN_HOSPITAL, NANNING_HOSPITALS[0])
    ]
    visits = await asyncio.gather(
        *(
            h.outpatient_visit(person, [fee(1, COLONOSCOPY, h.province)])
            for h in (hospitals[i % len(hospitals)] for i in range(SETTLEMENTS))
        )
    )
    requests = [
        (hospitals[i % len(hospitals)], mdtrt_id, total_fen)
        for i, (mdtrt_id, total_fen) in enumerate(visits)
    ]

    results = await asyncio.gather(
        *(h.settle(person, mdtrt_id, total_fen) for h, mdtrt_id, total_fen in requests)
    )

    infos = [r.setlinfo for r in results]
    assert len({i.setl_id for i in infos}) == SETTLEMENTS
    assert sum(i.act_pay_dedc_fen for i in infos) == OUTPATIENT_DEDUCTIBLE_FEN
    assert sum(i.hifp_pay_fen for i in infos) == OUTPATIENT_CAP_FEN
    for i in infos:
        assert i.medfee_sumamt_fen == i.fund_pay_sumamt_fen + i.psn_part_amt_fen
        assert i.psn_part_amt_fen == i.acct_pay_fen + i.psn_cash_pay_fen
    async with settlement_db.acquire() as conn:
        acc = await conn.fetchrow("SELECT * FROM accumulations WHERE psn_no = $1", person.psn_no)
        stored = await conn.fetchrow(
            "SELECT count(*) AS n, sum((fund_pay_fen->>'hifp')::bigint) AS hifp,"
            " sum(act_pay_dedc_fen) AS dedc"
            "  FROM settlements WHERE psn_no = $1",
            person.psn_no,
        )
    assert acc["hifp_outpatient_paid_fen"] == OUTPATIENT_CAP_FEN == stored["hifp"]
    assert acc["outpatient_deductible_used_fen"] == OUTPATIENT_DEDUCTIBLE_FEN == stored["dedc"]
    assert acc["standing_settlements"] == SETTLEMENTS == stored["n"]


async def test_one_msgid_sent_ten_times_at_once_settles_once_with_identical_responses(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    person = await filing.new_person(NANNING)
    h = hospital(NANNING_HOSPITALS[1])
    mdtrt_id, total_fen = await h.outpatient_visit(person, [fee(1, COLONOSCOPY, "45")])
    request = h.settle_request(person, mdtrt_id, total_fen)

    responses = await asyncio.gather(*(h.call("Settle", request) for _ in range(10)))

    assert len({r.SerializeToString() for r in responses}) == 1
    setl_id = responses[0].setlinfo.setl_id
    async with settlement_db.acquire() as conn:
        settlements = await conn.fetchval(
            "SELECT count(*) FROM settlements WHERE mdtrt_id = $1", mdtrt_id
        )
        events = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE position($1::bytea IN payload) > 0",
            setl_id.encode(),
        )
    assert settlements == 1 and events == 1

    # A later retry is answered from storage, byte for byte; another body is refused.
    again = await h.call("Settle", request)
    assert again.SerializeToString() == responses[0].SerializeToString()
    changed = pb.SettleRequest()
    changed.CopyFrom(request)
    changed.acct_used_flag = True
    error = await rpc_error(h.call("Settle", changed))
    assert error.code() is grpc.StatusCode.ALREADY_EXISTS


async def test_a_settle_waits_for_its_msgid_before_it_locks_the_encounter(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    """The msgid comes first in Settle's statement (the gated write's journal row, the
    locked path's claim): while another transaction holds the msgid, the Settle holds no
    lock on the encounter (so a request that holds the msgid and then wants the encounter
    cannot deadlock with it)."""
    person = await filing.new_person(NANNING)
    h = hospital(NANNING_HOSPITALS[0])
    mdtrt_id, total_fen = await h.outpatient_visit(person, [fee(1, COLONOSCOPY, "45")])
    request = h.settle_request(person, mdtrt_id, total_fen)
    msgid = request.header.msgid
    # Rolled back at the end: the holder gives the msgid up and the Settle goes on.
    async with rolled_back(settlement_db) as holder:
        await holder.execute(
            "INSERT INTO messages (msgid, hospital_code, state, fingerprint, received_at)"
            " VALUES ($1, left($1, 12), 'CLAIMED', '\\x00', now())",
            msgid,
        )
        settle = asyncio.ensure_future(h.call("Settle", request))

        async def settle_waits_for_the_msgid() -> bool:
            # The gated write (its text is longer than pg_stat_activity keeps, so it
            # is known by its head) waits for the holder's transaction, on the msgid.
            return await _a_statement_waits(
                settlement_db, "WITH g AS MATERIALIZED%", "transactionid"
            ) or await _a_statement_waits(settlement_db, "%INSERT INTO messages%")

        await wait_until(settle_waits_for_the_msgid, what="the Settle waits on its msgid")
        # The encounter is free: the waiting Settle has not locked it.
        await holder.execute(
            "SELECT 1 FROM encounters WHERE mdtrt_id = $1 FOR UPDATE NOWAIT", mdtrt_id
        )
    response = await settle
    assert response.setlinfo.setl_id


class _LockedPathOnly(Settlement):
    """The settlement use cases with every Settle on the locked path, as when its gated
    attempts found rows changed."""

    async def _settle_unlocked(self, *args: object) -> None:
        return None


async def test_a_settle_that_waited_for_its_encounter_settles_the_lines_as_they_now_stand(
    hospital: Callable[[str], Hospital],
    filing: Filing,
    settlement_db: asyncpg.Pool,
    settings: Settings,
    filing_service: object,
) -> None:
    """The locked path reads the standing lines in the statement that locks the
    encounter. When it waited for that lock behind a change of the lines that kept their
    count and total (a line cancelled and another of the same amount uploaded), it settles
    the new lines, not the ones its statement's snapshot saw."""
    person = await filing.new_person(NANNING)
    h = hospital(NANNING_HOSPITALS[0])
    mdtrt_id, total_fen = await h.outpatient_visit(person, [fee(1, COLONOSCOPY, "45")])
    async with (
        _counted(settings, filing_service, [], _LockedPathOnly) as service,
        settlement_db.acquire() as holder,
    ):
        async with holder.transaction():
            await replace_line_one(holder, mdtrt_id, CONSULTATION)
            settle = asyncio.ensure_future(_settle(service, h, person, mdtrt_id, total_fen))

            async def settle_waits_for_the_encounter() -> bool:
                # Behind the holder's transaction (the encounter's row), in Settle's statement.
                return await _a_statement_waits(
                    settlement_db, "WITH claim AS (INSERT INTO messages%", "transactionid"
                )

            await wait_until(settle_waits_for_the_encounter, what="the Settle waits on it")
        setl_id = await settle
    settled_lines = await settlement_db.fetchval(
        "SELECT lines::text FROM settlements WHERE setl_id = $1", setl_id
    )
    assert CONSULTATION in settled_lines and COLONOSCOPY not in settled_lines, settled_lines


async def test_a_resent_settle_is_answered_without_waiting_for_its_encounter(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    """A msgid answered before is answered from the journal: its resend takes no lock on
    the encounter or the person's year row, so it never queues behind a writer."""
    person = await filing.new_person(NANNING)
    h = hospital(NANNING_HOSPITALS[0])
    mdtrt_id, total_fen = await h.outpatient_visit(person, [fee(1, COLONOSCOPY, "45")])
    request = h.settle_request(person, mdtrt_id, total_fen)
    first = await h.call("Settle", request)
    async with settlement_db.acquire() as holder, holder.transaction():
        await holder.execute("SELECT 1 FROM encounters WHERE mdtrt_id = $1 FOR UPDATE", mdtrt_id)
        await holder.execute(
            "SELECT 1 FROM accumulations WHERE psn_no = $1 FOR UPDATE", person.psn_no
        )
        again = await asyncio.wait_for(h.call("Settle", request), timeout=5)
    assert again == first


async def _a_statement_waits(pool: asyncpg.Pool, query_like: str, event: str = "%") -> bool:
    """Whether another session's statement LIKE ``query_like`` waits for a lock."""
    return await statements_waiting(pool, query_like, event) > 0
