"""Who may act on what, coverage refusals and the retroactive filing that lifts them, and
corrections (2601)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import asyncpg
import grpc

from shared.pb.crossclear.filing.v1 import filing_pb2
from shared.pb.crossclear.settlement.v1 import settlement_pb2 as pb

from .support import (
    COLONOSCOPY,
    CONSULTATION,
    ECHOCARDIOGRAM,
    GUANGZHOU_HOSPITALS,
    NANNING,
    NANNING_HOSPITALS,
    Filing,
    Hospital,
    fee,
    reason,
    row_counts,
    rpc_error,
    today,
)


async def test_a_hospital_acts_only_on_its_own_encounters_and_settlements(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    person = await filing.new_person(NANNING)
    a, b = hospital(NANNING_HOSPITALS[0]), hospital(NANNING_HOSPITALS[1])
    mdtrt_id, total_fen = await a.outpatient_visit(person, [fee(1, CONSULTATION, "45")])
    info = (await a.settle(person, mdtrt_id, total_fen)).setlinfo
    before = await row_counts(settlement_db)

    denied = [
        await rpc_error(b.reverse(person, info)),
        await rpc_error(
            b.call(
                "QuerySettlement",
                pb.QuerySettlementRequest(header=b.header(), setl_id=info.setl_id),
            )
        ),
        await rpc_error(b.upload(person, mdtrt_id, [fee(2, CONSULTATION, "45")])),
        await rpc_error(b.discharge(person, mdtrt_id)),
        # B's own caller certificate with A's code in the msgid.
        await rpc_error(
            b.call(
                "QuerySettlement",
                pb.QuerySettlementRequest(header=a.header(), setl_id=info.setl_id),
            )
        ),
    ]
    assert [e.code() for e in denied] == [grpc.StatusCode.PERMISSION_DENIED] * len(denied)
    # A pool agency is no hospital.
    agency = await rpc_error(
        a.call(
            "QuerySettlement",
            pb.QuerySettlementRequest(header=a.header(), setl_id=info.setl_id),
            caller=NANNING,
        )
    )
    assert agency.code() is grpc.StatusCode.PERMISSION_DENIED
    assert await row_counts(settlement_db) == before


async def test_a_cross_province_visit_without_filing_settles_after_a_retroactive_filing(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    person = await filing.new_person(NANNING)
    h = hospital(GUANGZHOU_HOSPITALS[2])
    admitted_on = today() - timedelta(days=3)
    admitted = await h.admit(person, begin=admitted_on)
    assert not admitted.trtinfo.allowed  # the encounter is kept, flagged
    assert admitted.trtinfo.reason_code == "FILING_REQUIRED"
    lines = [fee(1, ECHOCARDIOGRAM, "44", day=admitted_on), fee(2, COLONOSCOPY, "44")]
    total_fen = (await h.upload(person, admitted.mdtrt_id, lines)).medfee_sumamt_fen
    settle = h.settle_request(person, admitted.mdtrt_id, total_fen)
    before = await row_counts(settlement_db)

    refused = await rpc_error(h.call("Settle", settle))
    assert refused.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert reason(refused) == "FILING_REQUIRED"
    presettle = await rpc_error(h.presettle(person, admitted.mdtrt_id))
    assert reason(presettle) == "FILING_REQUIRED"
    assert await row_counts(settlement_db) == before

    # 补办: filed after admission, starting on the admission day. The same request (same
    # msgid: the refusal left nothing behind) now settles.
    await filing.file(
        person,
        category=filing_pb2.FILING_CATEGORY_OTHER_TEMPORARY,
        pool_code=h.pool,
        start=admitted_on,
    )
    settled = (await h.call("Settle", settle)).setlinfo
    assert settled.medfee_sumamt_fen == total_fen
    assert settled.ratio_reduction_bp == 2_000  # other temporary: −20 points
    async with settlement_db.acquire() as conn:
        basis = await conn.fetchval(
            "SELECT coverage_basis FROM encounters WHERE mdtrt_id = $1", admitted.mdtrt_id
        )
    assert basis == "RETROACTIVE_FILING"


async def test_corrections_undo_the_original_and_refuse_it_afterwards(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    person = await filing.new_person(NANNING)
    h = hospital(NANNING_HOSPITALS[0])
    mdtrt_id, total_fen = await h.outpatient_visit(person, [fee(1, COLONOSCOPY, "45")])
    settle_msgid = h.msgids(h.code)
    settle = h.settle_request(person, mdtrt_id, total_fen, msgid=settle_msgid)
    info = (await h.call("Settle", settle)).setlinfo

    def correction(omsgid: str, oinfno: str) -> pb.CorrectRequest:
        return pb.CorrectRequest(
            header=h.header(), psn_no=person.psn_no, omsgid=omsgid, oinfno=oinfno
        )

    # The hospital never saw the settlement's response: 2601 reverses it.
    undone = await h.call("Correct", correction(settle_msgid, "2207"))
    assert undone.result == pb.CORRECTION_RESULT_UNDONE
    assert undone.reversal.reversed_setl_id == info.setl_id
    assert undone.reversal.hifp_pay_fen == -info.hifp_pay_fen
    # Its retry is refused, not answered from storage; a second correction too.
    late = await rpc_error(h.call("Settle", settle))
    assert reason(late) == "MSGID_CORRECTED"
    twice = await rpc_error(h.call("Correct", correction(settle_msgid, "2207")))
    assert reason(twice) == "ALREADY_CORRECTED"

    # A message that never arrived: the correction leaves a tombstone that refuses it.
    lost_msgid = h.msgids(h.code)
    tomb = await h.call("Correct", correction(lost_msgid, "2207"))
    assert tomb.result == pb.CORRECTION_RESULT_TOMBSTONED
    before = await row_counts(settlement_db)
    late = await rpc_error(h.settle(person, mdtrt_id, total_fen, msgid=lost_msgid))
    assert late.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert reason(late) == "MSGID_CORRECTED"
    assert await row_counts(settlement_db) == before

    # An upload's lines and a registration are undone the same way.
    upload_msgid = h.msgids(h.code)
    await h.upload(person, mdtrt_id, [fee(2, CONSULTATION, "45")], msgid=upload_msgid)
    await h.call("Correct", correction(upload_msgid, "2204"))
    registered = await h.register(person)
    async with settlement_db.acquire() as conn:
        lines = await conn.fetchval(
            "SELECT line_count FROM encounters WHERE mdtrt_id = $1", mdtrt_id
        )
        register_msgid = await conn.fetchval(
            "SELECT opened_msgid FROM encounters WHERE mdtrt_id = $1", registered.mdtrt_id
        )
    assert lines == 1
    await h.call("Correct", correction(register_msgid, "2201"))
    cancelled = await rpc_error(h.upload(person, registered.mdtrt_id, [fee(1, CONSULTATION, "45")]))
    assert reason(cancelled) == "ENCOUNTER_CANCELLED"
    # Another hospital's msgid cannot be corrected.
    other = hospital(NANNING_HOSPITALS[1])
    foreign = await rpc_error(
        other.call(
            "Correct", pb.CorrectRequest(header=other.header(), omsgid=settle_msgid, oinfno="2207")
        )
    )
    assert foreign.code() is grpc.StatusCode.PERMISSION_DENIED
