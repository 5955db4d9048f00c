"""An upload's and a discharge's answer is stored by the same statement as their write: the
journal row holds, byte for byte, what the hospital was told, a resend gets exactly that,
and concurrent uploads to one encounter each get the totals their own write left."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
import grpc

from shared.pb.crossclear.settlement.v1 import settlement_pb2 as pb

from .support import (
    CONSULTATION,
    INFUSION,
    NANNING,
    NANNING_HOSPITALS,
    Filing,
    Hospital,
    fee,
    reason,
    replayed,
    row_counts,
    rpc_error,
    today,
)


def _bytes(message: Any) -> bytes:
    return bytes(message.SerializeToString(deterministic=True))


async def _journal(db: asyncpg.Pool, msgid: str) -> asyncpg.Record | None:
    return await db.fetchrow("SELECT state, response FROM messages WHERE msgid = $1", msgid)


async def test_an_upload_and_a_discharge_are_answered_from_what_their_write_stored(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    person = await filing.new_person(NANNING)
    h = hospital(NANNING_HOSPITALS[0])
    mdtrt_id = (await h.admit(person)).mdtrt_id
    await h.upload(person, mdtrt_id, [fee(1, CONSULTATION, "45")])

    msgid = h.msgids(h.code)
    lines = [fee(2, INFUSION, "45"), fee(3, CONSULTATION, "45")]
    first = await h.upload(person, mdtrt_id, lines, msgid=msgid)
    row = await _journal(settlement_db, msgid)
    assert row is not None and row["state"] == "DONE"
    assert bytes(row["response"]) == _bytes(first)
    totals = await settlement_db.fetchrow(
        "SELECT line_count, line_amount_fen FROM encounters WHERE mdtrt_id = $1", mdtrt_id
    )
    assert first.line_count == 3
    assert (first.line_count, first.medfee_sumamt_fen) == tuple(totals)
    again = await replayed(settlement_db, h.upload(person, mdtrt_id, lines, msgid=msgid))
    assert _bytes(again) == _bytes(first)
    other = await rpc_error(h.upload(person, mdtrt_id, [fee(4, INFUSION, "45")], msgid=msgid))
    assert other.code() is grpc.StatusCode.ALREADY_EXISTS, other

    # A line already standing refuses the whole upload: no line, no journal row, and the
    # msgid is free for the corrected upload.
    before = await row_counts(settlement_db)
    retry = h.msgids(h.code)
    refused = await rpc_error(
        h.upload(person, mdtrt_id, [fee(5, INFUSION, "45"), fee(2, INFUSION, "45")], msgid=retry)
    )
    assert refused.code() is grpc.StatusCode.INVALID_ARGUMENT, refused
    assert await row_counts(settlement_db) == before
    assert await _journal(settlement_db, retry) is None
    assert (await h.upload(person, mdtrt_id, [fee(5, INFUSION, "45")], msgid=retry)).line_count == 4

    def discharge() -> pb.DischargeRequest:
        return pb.DischargeRequest(
            header=h.header(person.insured_pool),
            mdtrt_id=mdtrt_id,
            psn_no=person.psn_no,
            endtime=today().isoformat(),
        )

    request = discharge()
    discharged = await h.call("Discharge", request)
    row = await _journal(settlement_db, request.header.msgid)
    assert row is not None and row["state"] == "DONE"
    assert bytes(row["response"]) == _bytes(discharged)
    resent = await replayed(settlement_db, h.call("Discharge", request))
    assert _bytes(resent) == _bytes(discharged)
    before = await row_counts(settlement_db)
    twice = await rpc_error(h.call("Discharge", discharge()))
    assert reason(twice) == "ALREADY_DISCHARGED", twice
    assert await row_counts(settlement_db) == before


async def test_concurrent_uploads_each_store_the_totals_their_write_left(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    person = await filing.new_person(NANNING)
    h = hospital(NANNING_HOSPITALS[0])
    mdtrt_id = (await h.admit(person)).mdtrt_id
    msgids = [h.msgids(h.code) for _ in range(8)]
    answers = await asyncio.gather(
        *(
            h.upload(
                person,
                mdtrt_id,
                [fee(i + 1, INFUSION, "45"), fee(100 + i, CONSULTATION, "45")],
                msgid=msgid,
            )
            for i, msgid in enumerate(msgids)
        )
    )
    # The encounter is locked before each answer is computed: the totals step by one
    # upload's lines at a time, never two answers with the same totals.
    assert sorted(a.line_count for a in answers) == list(range(2, 18, 2))
    amounts = sorted(a.medfee_sumamt_fen for a in answers)
    assert amounts == [amounts[0] * (k + 1) for k in range(8)], amounts
    for msgid, answer in zip(msgids, answers, strict=True):
        row = await _journal(settlement_db, msgid)
        assert row is not None and bytes(row["response"]) == _bytes(answer)

    # One msgid sent several times at once: applied once, the same answer to every copy.
    msgid = h.msgids(h.code)
    copies = await asyncio.gather(
        *(h.upload(person, mdtrt_id, [fee(500, INFUSION, "45")], msgid=msgid) for _ in range(6))
    )
    assert len({_bytes(c) for c in copies}) == 1
    inserted = await settlement_db.fetchval(
        "SELECT count(*) FROM fee_lines WHERE upload_msgid = $1", msgid
    )
    assert inserted == 1
