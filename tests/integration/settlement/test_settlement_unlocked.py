"""A settlement (an upload, a discharge) written without a transaction: a read, then one write
gated on the encounter and the person's year row being the row versions read. Another writer between
the two statements makes the gate refuse the write whole, and the request is decided
again under locks, as if the first attempt had not run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
import grpc

from shared.pb.crossclear.filing.v1 import filing_pb2
from shared.pb.crossclear.settlement.v1 import settlement_pb2 as pb
from tests.support.polling import wait_until

from .support import (
    COLONOSCOPY,
    CONSULTATION,
    NANNING,
    NANNING_HOSPITALS,
    Filing,
    Hospital,
    add_copy_of_line_one,
    assert_year_row_holds,
    fee,
    replace_line_one,
    rolled_back,
    rpc_error,
    statements_waiting,
    today,
)

# Guangxi employees, ordinary outpatient (policy_gx.json): 100 yuan deductible a year.
OUTPATIENT_DEDUCTIBLE_FEN = 10_000
GATED_WRITE = "WITH g AS MATERIALIZED%"  # the settling statement of the unlocked path


async def _written(pool: asyncpg.Pool, mdtrt_id: str) -> tuple[int, int, int]:
    """The encounter's settlements, their journal rows and their outbox events."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            """SELECT (SELECT count(*) FROM settlements WHERE mdtrt_id = $1) AS s,
                      (SELECT count(*) FROM messages WHERE mdtrt_id = $1 AND setl_id IS NOT NULL)
                          AS j,
                      (SELECT count(*) FROM outbox o JOIN settlements s
                          ON position(convert_to(s.setl_id, 'UTF8') IN o.payload) > 0
                        WHERE s.mdtrt_id = $1) AS ob""",
            mdtrt_id,
        )
    assert row is not None
    return row["s"], row["j"], row["ob"]


async def _colonoscopy_after_a_settlement(
    h: Hospital, filing: Filing
) -> tuple[filing_pb2.Person, str, int]:
    """A new person settled once at ``h`` (so their year row exists and a Settle takes the
    unlocked path), and an encounter of theirs with a colonoscopy, ready to settle."""
    person = await filing.new_person(NANNING)
    before_id, before_fen = await h.outpatient_visit(person, [fee(1, CONSULTATION, "45")])
    await h.settle(person, before_id, before_fen)
    mdtrt_id, total_fen = await h.outpatient_visit(person, [fee(1, COLONOSCOPY, "45")])
    return person, mdtrt_id, total_fen


async def test_a_settle_whose_year_row_changed_after_its_read_is_decided_again(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    """Two settlements of one person whose reads both precede the first's write: the
    second's gate sees the year row changed and the second is settled on the row as the
    first left it. The deductible is taken once in all, and the year row holds exactly
    what the settlements say (no update lost)."""
    person = await filing.new_person(NANNING)
    h = hospital(NANNING_HOSPITALS[0])
    # A first settlement makes the person's year row (and takes part of the deductible).
    first_id, first_fen = await h.outpatient_visit(person, [fee(1, CONSULTATION, "45")])
    first = await h.settle(person, first_id, first_fen)
    assert 0 < first.setlinfo.act_pay_dedc_fen < OUTPATIENT_DEDUCTIBLE_FEN
    x_id, x_fen = await h.outpatient_visit(person, [fee(1, COLONOSCOPY, "45")])
    y_id, y_fen = await h.outpatient_visit(person, [fee(1, COLONOSCOPY, "45")])

    async with rolled_back(settlement_db) as holder:
        # Hold the year row (locked, not changed): both writes queue behind it after
        # their reads, X first.
        await holder.execute(
            "SELECT 1 FROM accumulations WHERE psn_no = $1 FOR UPDATE", person.psn_no
        )
        x = asyncio.ensure_future(h.settle(person, x_id, x_fen))

        async def x_waits() -> bool:
            return await statements_waiting(settlement_db, GATED_WRITE) == 1

        await wait_until(x_waits, what="X's gated write waits for the year row")
        y = asyncio.ensure_future(h.settle(person, y_id, y_fen))

        async def both_wait() -> bool:
            return await statements_waiting(settlement_db, GATED_WRITE) == 2

        await wait_until(both_wait, what="Y's gated write waits behind X's")
    settled_x, settled_y = await asyncio.gather(x, y)

    # X wrote on the row it read; Y's read was older than X's write, so Y was settled
    # again under locks, on the row with X's deductible in it.
    assert settled_x.setlinfo.act_pay_dedc_fen == (
        OUTPATIENT_DEDUCTIBLE_FEN - first.setlinfo.act_pay_dedc_fen
    )
    assert settled_y.setlinfo.act_pay_dedc_fen == 0
    await assert_year_row_holds(
        settlement_db,
        person.psn_no,
        settlements=3,
        deductible_fen=OUTPATIENT_DEDUCTIBLE_FEN,
    )
    for mdtrt_id in (x_id, y_id):
        assert await _written(settlement_db, mdtrt_id) == (1, 1, 1)


async def test_a_settle_whose_lines_changed_after_its_read_settles_them_as_they_stand(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    """A line cancelled and another of the same amount uploaded between the Settle's read
    and its write (count and total unchanged, as the hospital's sum still matches): the
    write's gate sees the encounter's row version changed, writes nothing, and the locked
    path settles the lines as they now stand."""
    h = hospital(NANNING_HOSPITALS[0])
    person, mdtrt_id, total_fen = await _colonoscopy_after_a_settlement(h, filing)
    async with settlement_db.acquire() as holder, holder.transaction():
        await replace_line_one(holder, mdtrt_id, CONSULTATION)
        settle = asyncio.ensure_future(h.settle(person, mdtrt_id, total_fen))

        async def settle_waits() -> bool:
            return await statements_waiting(settlement_db, GATED_WRITE) == 1

        await wait_until(settle_waits, what="the gated write waits for the encounter")
    response = await settle
    settled_lines = await settlement_db.fetchval(
        "SELECT lines::text FROM settlements WHERE setl_id = $1", response.setlinfo.setl_id
    )
    assert CONSULTATION in settled_lines and COLONOSCOPY not in settled_lines, settled_lines
    assert await _written(settlement_db, mdtrt_id) == (1, 1, 1)


async def test_a_msgid_taken_after_the_read_writes_nothing_and_gets_the_stored_answer(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    """The same msgid sent twice, both copies past their reads: the second copy's journal
    row collides with the first's, its statement writes nothing, and it is answered with
    the first's stored answer, byte for byte."""
    h = hospital(NANNING_HOSPITALS[0])
    person, mdtrt_id, total_fen = await _colonoscopy_after_a_settlement(h, filing)
    request = h.settle_request(person, mdtrt_id, total_fen)
    async with rolled_back(settlement_db) as holder:
        await holder.execute(
            "SELECT 1 FROM accumulations WHERE psn_no = $1 FOR UPDATE", person.psn_no
        )
        copies = [asyncio.ensure_future(h.call("Settle", request)) for _ in range(2)]

        async def one_waits_on_the_row_one_on_the_msgid() -> bool:
            return await statements_waiting(settlement_db, GATED_WRITE) == 2

        await wait_until(one_waits_on_the_row_one_on_the_msgid, what="both copies wait")
    first, second = await asyncio.gather(*copies)
    assert first.SerializeToString() == second.SerializeToString()
    assert await _written(settlement_db, mdtrt_id) == (1, 1, 1)


async def test_a_gated_write_waits_for_its_msgid_before_it_locks_any_row(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    """The gated write inserts its msgid's journal row before its gate locks the encounter
    and the year row, as the locked path claims its msgid before it locks them: while
    another transaction holds the msgid, the write holds neither row, so a transaction
    that holds the msgid and wants a row cannot deadlock with it."""
    h = hospital(NANNING_HOSPITALS[0])
    person, mdtrt_id, total_fen = await _colonoscopy_after_a_settlement(h, filing)
    request = h.settle_request(person, mdtrt_id, total_fen)
    # Rolled back at the end: the holder gives the msgid up and the Settle goes on.
    async with rolled_back(settlement_db) as holder:
        await holder.execute(
            "INSERT INTO messages (msgid, hospital_code, state, fingerprint, received_at)"
            " VALUES ($1, left($1, 12), 'CLAIMED', '\\x00', now())",
            request.header.msgid,
        )
        settle = asyncio.ensure_future(h.call("Settle", request))

        async def settle_waits() -> bool:
            return await statements_waiting(settlement_db, GATED_WRITE) == 1

        await wait_until(settle_waits, what="the gated write waits on its msgid")
        await holder.execute(
            "SELECT 1 FROM encounters WHERE mdtrt_id = $1 FOR UPDATE NOWAIT", mdtrt_id
        )
        await holder.execute(
            "SELECT 1 FROM accumulations WHERE psn_no = $1 FOR UPDATE NOWAIT", person.psn_no
        )
    response = await settle
    assert response.setlinfo.setl_id
    assert await _written(settlement_db, mdtrt_id) == (1, 1, 1)


GATED_UPLOAD = "WITH j AS (%INSERT INTO fee_lines%"  # the gated statement of an upload


async def test_an_upload_onto_an_encounter_changed_after_its_read_counts_every_line(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    """Lines added to the encounter between an upload's read and its write: the write's
    gate sees the encounter's row version changed, writes nothing, and the locked path
    answers with the encounter's totals as they now stand, the other lines included."""
    person = await filing.new_person(NANNING)
    h = hospital(NANNING_HOSPITALS[0])
    mdtrt_id, _ = await h.outpatient_visit(person, [fee(1, COLONOSCOPY, "45")])
    async with settlement_db.acquire() as holder, holder.transaction():
        await add_copy_of_line_one(holder, mdtrt_id, 5, "held-upload")
        upload = asyncio.ensure_future(h.upload(person, mdtrt_id, [fee(2, CONSULTATION, "45")]))

        async def upload_waits() -> bool:
            return await statements_waiting(settlement_db, GATED_UPLOAD) == 1

        await wait_until(upload_waits, what="the gated upload waits for the encounter")
    response = await upload
    async with settlement_db.acquire() as conn:
        standing = await conn.fetchrow(
            "SELECT count(*) AS n, sum(amount_fen) AS fen FROM fee_lines"
            " WHERE mdtrt_id = $1 AND cancelled_at IS NULL",
            mdtrt_id,
        )
        totals = await conn.fetchrow(
            "SELECT line_count, line_amount_fen FROM encounters WHERE mdtrt_id = $1", mdtrt_id
        )
    assert response.line_count == 3 == standing["n"] == totals["line_count"]
    assert response.medfee_sumamt_fen == standing["fen"] == totals["line_amount_fen"]


async def test_an_upload_of_a_standing_line_number_is_refused_and_writes_nothing(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    """A line number that stands already is not known to the read (it reads no lines): the
    gated insert collides with it and writes nothing, and the locked path refuses the
    upload naming the line."""
    person = await filing.new_person(NANNING)
    h = hospital(NANNING_HOSPITALS[0])
    mdtrt_id, first_fen = await h.outpatient_visit(person, [fee(1, COLONOSCOPY, "45")])
    again = h.header(person.insured_pool)
    error = await rpc_error(
        h.call(
            "UploadFeeDetails",
            pb.UploadFeeDetailsRequest(
                header=again,
                mdtrt_id=mdtrt_id,
                psn_no=person.psn_no,
                feedetail=[fee(2, CONSULTATION, "45"), fee(1, CONSULTATION, "45")],
            ),
        )
    )
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "feedetail[1].feedetl_sn" in (error.details() or ""), error.details()
    async with settlement_db.acquire() as conn:
        journal = await conn.fetchval("SELECT count(*) FROM messages WHERE msgid = $1", again.msgid)
        totals = await conn.fetchrow(
            "SELECT line_count, line_amount_fen FROM encounters WHERE mdtrt_id = $1", mdtrt_id
        )
        lines = await conn.fetchval("SELECT count(*) FROM fee_lines WHERE mdtrt_id = $1", mdtrt_id)
    assert journal == 0
    assert (totals["line_count"], totals["line_amount_fen"], lines) == (1, first_fen, 1)


async def test_a_discharge_of_a_stay_discharged_after_its_read_is_refused(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    """A stay discharged by another transaction between a discharge's read and its write:
    the gate sees the encounter changed, the write records nothing, and the locked path
    refuses the second discharge (ALREADY_DISCHARGED) — the first date stands."""
    person = await filing.new_person(NANNING)
    h = hospital(NANNING_HOSPITALS[0])
    mdtrt_id = (await h.admit(person)).mdtrt_id
    request = pb.DischargeRequest(
        header=h.header(person.insured_pool),
        mdtrt_id=mdtrt_id,
        psn_no=person.psn_no,
        endtime=today().isoformat(),
    )
    async with settlement_db.acquire() as holder, holder.transaction():
        await holder.execute(
            "UPDATE encounters SET discharge_date = begin_date, diag_code = 'HELD'"
            " WHERE mdtrt_id = $1",
            mdtrt_id,
        )
        discharge = asyncio.ensure_future(h.call("Discharge", request))

        async def discharge_waits() -> bool:
            return await statements_waiting(settlement_db, "WITH j AS (%SET discharge_date%") == 1

        await wait_until(discharge_waits, what="the gated discharge waits for the encounter")
    error = await rpc_error(discharge)
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION, error.details()
    assert "ALREADY_DISCHARGED" in (error.details() or ""), error.details()
    async with settlement_db.acquire() as conn:
        journal = await conn.fetchval(
            "SELECT count(*) FROM messages WHERE msgid = $1", request.header.msgid
        )
        diag = await conn.fetchval("SELECT diag_code FROM encounters WHERE mdtrt_id = $1", mdtrt_id)
    assert (journal, diag) == (0, "HELD")


async def test_two_first_settlements_of_a_year_create_the_year_row_once(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    """A person's first two settlements of a year, both past their reads (no year row
    then): each gated write inserts the year row. The second insert meets the first's row
    and aborts its statement whole; that Settle is decided again on the row as the first
    left it. The deductible is taken once, and the row holds both settlements."""
    person = await filing.new_person(NANNING)
    h = hospital(NANNING_HOSPITALS[0])
    x_id, x_fen = await h.outpatient_visit(person, [fee(1, COLONOSCOPY, "45")])
    y_id, y_fen = await h.outpatient_visit(person, [fee(1, COLONOSCOPY, "45")])
    async with rolled_back(settlement_db) as holder:
        # A year row of the person, not committed: both inserts wait for it.
        await holder.execute(
            "INSERT INTO accumulations (psn_no, insutype, acc_year, updated_at)"
            " SELECT psn_no, insutype, extract(year FROM now() AT TIME ZONE"
            " 'Asia/Shanghai')::smallint, now() FROM encounters WHERE mdtrt_id = $1",
            x_id,
        )
        x = asyncio.ensure_future(h.settle(person, x_id, x_fen))
        y = asyncio.ensure_future(h.settle(person, y_id, y_fen))

        async def both_wait() -> bool:
            return await statements_waiting(settlement_db, GATED_WRITE, "transactionid") == 2

        await wait_until(both_wait, what="both gated writes wait on the year row")
    settled = await asyncio.gather(x, y)
    deductibles = sorted(s.setlinfo.act_pay_dedc_fen for s in settled)
    assert deductibles == [0, OUTPATIENT_DEDUCTIBLE_FEN], deductibles
    await assert_year_row_holds(
        settlement_db,
        person.psn_no,
        settlements=2,
        deductible_fen=OUTPATIENT_DEDUCTIBLE_FEN,
    )
    for mdtrt_id in (x_id, y_id):
        assert await _written(settlement_db, mdtrt_id) == (1, 1, 1)
