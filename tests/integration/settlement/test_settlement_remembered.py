"""A gated write that acts on the encounter as the process's own last write left it, without
reading it first. Another writer that changed the encounter or the person's year row since
(another process, another request, a direct change) makes the gate refuse the write whole;
the request then reads the rows and is decided on them as they now stand."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import asyncpg
import grpc

from services.settlement import store
from services.settlement.domain.accumulations import Accumulations
from services.settlement.domain.codes import VisitType
from services.settlement.handlers import Settlement
from services.settlement.store.encounters import _STANDING_LINES, Known, lines_of
from services.settlement.store.recent import LINES_KEPT_MAX, RecentEncounters
from services.settlement.store.year_rows import YearRow, year_row_of
from shared.config import Settings
from shared.db import connections_opened, create_pool

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
    reason,
    replace_line_one,
    rpc_error,
    today,
)
from .test_settlement_round_trips import _counted, _discharge, _open, _settle, _upload

# Guangxi employees, ordinary outpatient (policy_gx.json): 100 yuan deductible a year.
OUTPATIENT_DEDUCTIBLE_FEN = 10_000


async def test_a_settle_after_its_upload_settles_lines_another_writer_changed_since(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    """Line 1 replaced by another of the same amount after the upload this process wrote
    (count and total unchanged): the Settle's gate sees the encounter's row version
    changed, and the lines settled are the ones standing, not the ones uploaded."""
    h = hospital(NANNING_HOSPITALS[0])
    person = await filing.new_person(NANNING)
    first_id, first_fen = await h.outpatient_visit(person, [fee(1, CONSULTATION, "45")])
    await h.settle(person, first_id, first_fen)  # the person's year row exists
    mdtrt_id, total_fen = await h.outpatient_visit(person, [fee(1, COLONOSCOPY, "45")])
    async with settlement_db.acquire() as writer, writer.transaction():
        await replace_line_one(writer, mdtrt_id, CONSULTATION)
    response = await h.settle(person, mdtrt_id, total_fen)
    settled_lines = await settlement_db.fetchval(
        "SELECT lines::text FROM settlements WHERE setl_id = $1", response.setlinfo.setl_id
    )
    assert CONSULTATION in settled_lines and COLONOSCOPY not in settled_lines, settled_lines


async def test_a_settle_after_its_upload_sees_the_year_row_another_settlement_changed(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    """Two encounters of one person uploaded, then both settled: the second's year row,
    as its upload read it, is older than the first's settlement, so its gate refuses and
    it is settled on the row as the first left it. The deductible is taken once."""
    h = hospital(NANNING_HOSPITALS[0])
    person = await filing.new_person(NANNING)
    first_id, first_fen = await h.outpatient_visit(person, [fee(1, CONSULTATION, "45")])
    first = await h.settle(person, first_id, first_fen)
    x_id, x_fen = await h.outpatient_visit(person, [fee(1, COLONOSCOPY, "45")])
    y_id, y_fen = await h.outpatient_visit(person, [fee(1, COLONOSCOPY, "45")])
    settled_x = await h.settle(person, x_id, x_fen)
    settled_y = await h.settle(person, y_id, y_fen)
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


async def test_an_upload_after_another_writers_upload_counts_every_line(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    """A line added by another writer after this process's own upload: the next upload's
    gate sees the encounter changed, and its answer counts every standing line."""
    person = await filing.new_person(NANNING)
    h = hospital(NANNING_HOSPITALS[0])
    mdtrt_id, _ = await h.outpatient_visit(person, [fee(1, COLONOSCOPY, "45")])
    async with settlement_db.acquire() as writer, writer.transaction():
        await add_copy_of_line_one(writer, mdtrt_id, 5, "other-upload")  # another process's
    response = await h.upload(person, mdtrt_id, [fee(2, CONSULTATION, "45")])
    async with settlement_db.acquire() as conn:
        standing = await conn.fetchrow(
            "SELECT count(*) AS n, sum(amount_fen) AS fen FROM fee_lines"
            " WHERE mdtrt_id = $1 AND cancelled_at IS NULL",
            mdtrt_id,
        )
    assert response.line_count == 3 == standing["n"]
    assert response.medfee_sumamt_fen == standing["fen"]
    # And the settlement after it settles the three lines (its remembered lines would be
    # two): the upload's own read-and-write left the row as it stands.
    settled = await h.settle(person, mdtrt_id, int(standing["fen"]))
    assert settled.setlinfo.medfee_sumamt_fen == standing["fen"]


async def test_an_upload_resent_after_it_was_remembered_gets_its_answer_once(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    """The same upload twice: the second copy decides on the encounter the first left
    (its lines look new to it), but its msgid's journal row meets the first's and its
    statement writes nothing; it is answered with the first's stored answer, and the
    line stands once."""
    person = await filing.new_person(NANNING)
    h = hospital(NANNING_HOSPITALS[0])
    registered = await h.register(person)
    msgid = h.header(person.insured_pool).msgid
    lines = [fee(1, COLONOSCOPY, "45")]
    first = await h.upload(person, registered.mdtrt_id, lines, msgid)
    again = await h.upload(person, registered.mdtrt_id, lines, msgid)
    assert again.SerializeToString() == first.SerializeToString()
    standing = await settlement_db.fetchval(
        "SELECT count(*) FROM fee_lines WHERE mdtrt_id = $1 AND cancelled_at IS NULL",
        registered.mdtrt_id,
    )
    assert standing == 1 == first.line_count


async def test_a_discharge_after_another_writers_discharge_is_refused(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    """A stay this process admitted, discharged since by another writer: the remembered
    row says it is not discharged, but the gate sees it changed; the request is decided
    on the row as it stands and refused (ALREADY_DISCHARGED), and the first date stands."""
    person = await filing.new_person(NANNING)
    h = hospital(NANNING_HOSPITALS[0])
    mdtrt_id = (await h.admit(person)).mdtrt_id
    async with settlement_db.acquire() as writer:
        await writer.execute(
            "UPDATE encounters SET discharge_date = begin_date, diag_code = 'OTHER'"
            " WHERE mdtrt_id = $1",
            mdtrt_id,
        )
    error = await rpc_error(h.discharge(person, mdtrt_id, today()))
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION, error.details()
    assert reason(error) == "ALREADY_DISCHARGED", error.details()
    stored = await settlement_db.fetchrow(
        "SELECT discharge_date = begin_date AS first, diag_code FROM encounters"
        " WHERE mdtrt_id = $1",
        mdtrt_id,
    )
    assert stored["first"] and stored["diag_code"] == "OTHER"


def _known(mdtrt_id: str, lines: int = 0) -> Known:
    """An entry as the cache sees it: only the encounter's id and the lines matter to it."""
    encounter = SimpleNamespace(mdtrt_id=mdtrt_id)
    return Known(encounter, 0, 1, tuple(range(lines)), None)  # type: ignore[arg-type]


def test_the_remembered_encounters_are_bounded() -> None:
    recent = RecentEncounters(max_entries=3, max_lines=LINES_KEPT_MAX + 10, opened=lambda: 0)
    for i in range(5):
        recent.put(_known(f"M{i}"), 0)
    assert len(recent) == 3 and recent.get("M0") is None and recent.get("M4") is not None
    recent.get("M2")  # used: the least recently used goes first
    recent.put(_known("M5"), 0)
    assert recent.get("M3") is None and recent.get("M2") is not None
    recent.put(_known("M6", lines=LINES_KEPT_MAX + 1), 0)
    kept = recent.get("M6")
    assert kept is not None and kept.lines is None  # a long stay's lines are not kept
    recent.drop("M6")
    assert recent.get("M6") is None
    # The lines in all entries are bounded too: the oldest entries go to make room.
    recent.put(_known("M7", lines=LINES_KEPT_MAX), 0)
    recent.put(_known("M7", lines=LINES_KEPT_MAX), 0)  # replaced, not counted twice
    assert recent.lines == LINES_KEPT_MAX
    recent.put(_known("M8", lines=20), 0)
    assert recent.get("M7") is None and recent.lines == 20 and recent.get("M8") is not None


def test_a_connection_opened_since_forgets_every_remembered_version() -> None:
    """A failover or a restore reaches the process as connections opened again, and the
    server behind them may reuse transaction ids: nothing learnt before is kept, and a
    write that had its connection before the latest was opened is not remembered."""
    opened = [1]
    recent = RecentEncounters(opened=lambda: opened[0])
    since = recent.epoch()
    recent.put(_known("M1", lines=2), since)
    assert recent.get("M1") is not None
    opened[0] += 1  # another request's pool opened a connection
    assert recent.get("M1") is None and len(recent) == 0 and recent.lines == 0
    recent.put(_known("M2"), since)  # its write's connection predates that one
    assert recent.get("M2") is None
    recent.put(_known("M3"), recent.epoch())
    assert recent.get("M3") is not None


async def test_a_pool_counts_the_connections_it_opens(settings: Settings) -> None:
    # The count is the process's: the services this test session runs open theirs too.
    before = connections_opened()
    pool = await create_pool(settings.database_url, "settlement", min_size=2, max_size=2)
    try:
        assert connections_opened() >= before + 2
        opened = connections_opened()
        await pool.expire_connections()  # as after a failover: each is opened again on its next use
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT 1") == 1
        assert connections_opened() > opened
    finally:
        await pool.close()


async def _as_stored(pool: asyncpg.Pool, known: Known) -> Known:
    """The encounter of ``known`` as its rows stand: what a read would give the process."""
    mdtrt_id = known.encounter.mdtrt_id
    async with pool.acquire() as conn:
        found = await store.read_encounter(conn, mdtrt_id, "no-such-msgid")
        assert found is not None
        lines = lines_of(await conn.fetchval(_STANDING_LINES, mdtrt_id))
        person = found.read.encounter.person
        year = await conn.fetchrow(
            "SELECT acc_year AS year_row_year, xmin AS year_row_version, * FROM accumulations"
            " WHERE psn_no = $1 AND insutype = $2 AND acc_year = $3",
            person.psn_no,
            person.insutype.value,
            found.read.clock.year,
        )
    return Known(
        found.read.encounter,
        found.read.line_amount_fen,
        found.version,
        lines,
        YearRow(found.read.clock.year, Accumulations(), None)
        if year is None
        else year_row_of(year, found.read.clock.year),
    )


async def test_what_the_process_remembers_is_the_row_as_it_stands(
    hospital: Callable[[str], Hospital],
    filing: Filing,
    settings: Settings,
    filing_service: object,
    settlement_db: asyncpg.Pool,
) -> None:
    """After each write of two stays (admit, two uploads, then settle and discharge in
    either order) and of a visit,
    the encounter the process remembers is the one a read of its rows gives: the same
    encounter, totals, row version, standing lines (where it keeps them) and year row
    (where the write read it). Each write composes it from what it acted on and what its
    statement sets; this is the check that the composition is the row."""
    person = await filing.new_person(NANNING)
    h = hospital(NANNING_HOSPITALS[0])
    checked = 0

    async def matches(service: Settlement, mdtrt_id: str) -> None:
        nonlocal checked
        known = service._recent.get(mdtrt_id)
        assert known is not None, "every write of these remembers the encounter"
        stored = await _as_stored(settlement_db, known)
        assert known.encounter == stored.encounter
        assert (known.line_amount_fen, known.version) == (
            stored.line_amount_fen,
            stored.version,
        )
        if known.lines is not None:
            assert known.lines == stored.lines
        if known.year_row is not None:
            assert known.year_row == stored.year_row
        checked += 1

    first_id, first_fen = await h.outpatient_visit(person, [fee(1, CONSULTATION, "45")])
    await h.settle(person, first_id, first_fen)  # the person's year row exists
    async with _counted(settings, filing_service, [], Settlement) as service:
        for visit, discharged_first in (
            (VisitType.INPATIENT, False),
            (VisitType.ORDINARY_OUTPATIENT, False),
            (VisitType.INPATIENT, True),
        ):
            opened = await _open(service, h, person, visit, "K63.5")
            mdtrt_id = opened.encounter.mdtrt_id
            await matches(service, mdtrt_id)
            total_fen = 0
            for line_no in (1, 2):
                total_fen += await _upload(service, h, person, mdtrt_id, line_no=line_no)
                await matches(service, mdtrt_id)
            if discharged_first:  # recorded at the ward, then settled at the cashier
                await _discharge(service, h, person, mdtrt_id)
                await matches(service, mdtrt_id)
            await _settle(service, h, person, mdtrt_id, total_fen)
            await matches(service, mdtrt_id)
            if visit is VisitType.INPATIENT and not discharged_first:
                await _discharge(service, h, person, mdtrt_id)
                await matches(service, mdtrt_id)
    assert checked == 5 + 4 + 5
