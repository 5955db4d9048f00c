"""Statement generation in bounded memory: however small the batches (statements written in
parts, lines copied as they stream), the stored statements are byte for byte the domain's
``build_statements`` over the same ledger, and a broken ledger is refused, not cleared."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import asyncpg
import grpc
import pytest

from services.clearing.config import ClearingSettings
from services.clearing.domain.events import EventKind, FundType
from services.clearing.domain.ledger import LedgerEntry
from services.clearing.domain.periods import Period
from services.clearing.domain.pools import ClearingLevel
from services.clearing.domain.statements import Statement, build_statements
from services.clearing.handlers import Clearing
from shared.auth import parse_caller
from shared.bus import Bus
from shared.errors import FailedPrecondition
from shared.grpc_errors import reason_of
from shared.pb.crossclear.clearing.v1 import clearing_pb2 as pb

from .conftest import Client
from .support import SHANGHAI, publish, reversal, settlement, wait_ingested

PERIOD, BEFORE = "201208", "201207"
BROKEN, SPLIT = "201210", "201211"
NANNING, LIUZHOU, GUANGZHOU, SHENZHEN = "450100", "450200", "440100", "440300"


def _entry_of(row: asyncpg.Record) -> LedgerEntry:
    return LedgerEntry(
        event_id=row["event_id"],
        period=Period.parse(row["period"]),
        event_period=Period.parse(row["event_period"]),
        late=row["late"],
        insured_pool=row["insured_pool"],
        treatment_pool=row["treatment_pool"],
        level=ClearingLevel(row["level"]),
        hospital_code=row["hospital_code"],
        fund=FundType(row["fund"]),
        amount_fen=row["amount_fen"],
        setl_id=row["setl_id"],
        kind=EventKind(row["kind"]),
        reversed_setl_id=row["reversed_setl_id"],
        settle_time=row["settle_time"],
    )


async def _expected(db: asyncpg.Pool, period: str) -> dict[str, Statement]:
    """What the whole-period, in-memory domain makes of the stored ledger."""
    rows = await db.fetch("SELECT * FROM ledger WHERE period = $1", period)
    statements = build_statements(Period.parse(period), [_entry_of(r) for r in rows])
    return {s.statement_id: s for s in statements}


def _generator(db: asyncpg.Pool, batch_lines: int) -> Clearing:
    """The service's use cases over the test's pool, with tiny generation batches."""
    return Clearing(db, "unused", ClearingSettings(generate_batch_lines=batch_lines))


async def test_statements_written_in_parts_equal_the_domain_byte_for_byte(
    operator: Client, publisher: Bus, namespace: str, db: asyncpg.Pool, unique: str
) -> None:
    # A late settlement: its period is closed before it arrives, so it lands in PERIOD.
    await operator.ClosePeriod(pb.ClosePeriodRequest(period=BEFORE))
    big = [
        settlement(f"G{unique}{i:02d}", NANNING, GUANGZHOU, PERIOD, hifp=1_000 + i, acct=i + 1)
        for i in range(11)
    ]
    medium = [settlement(f"G{unique}M{i}", LIUZHOU, NANNING, PERIOD, maf=700 + i) for i in (1, 2)]
    small = settlement(f"G{unique}S", SHENZHEN, GUANGZHOU, PERIOD, hifp=5_000, hifob=20)
    late = settlement(f"G{unique}L", NANNING, GUANGZHOU, BEFORE, hifp=3_300, hifmi=40)
    events = [*big, reversal(big[3]), reversal(medium[0]), *medium, small, late]
    await publish(publisher, namespace, events)
    await wait_ingested(db, events)
    await operator.ClosePeriod(pb.ClosePeriodRequest(period=PERIOD))

    expected = await _expected(db, PERIOD)
    assert max(len(s.lines) for s in expected.values()) == 13
    for batch_lines in (1, 3, 5_000):
        step = await _generator(db, batch_lines).generate(
            parse_caller("op-generation-test"), Period.parse(PERIOD)
        )
        assert step.count == len(expected) and step.total_net_fen == sum(
            s.net_fen for s in expected.values()
        )
        stored = await db.fetch(
            "SELECT * FROM statements WHERE period = $1 ORDER BY statement_id", PERIOD
        )
        assert [r["statement_id"] for r in stored] == sorted(expected)
        for row in stored:
            statement = expected[row["statement_id"]]
            assert bytes(row["canonical"]) == statement.to_canonical_bytes(), batch_lines
            assert row["digest"] == statement.digest()
            summary = statement.summary()
            assert (row["line_count"], row["late_count"], row["net_fen"]) == (
                summary.line_count,
                summary.late_count,
                summary.net_fen,
            )
            assert json.loads(row["funds"]) == [f.to_canonical() for f in statement.funds]
            lines = await db.fetch(
                "SELECT line_no, setl_id, kind, amounts FROM statement_lines "
                "WHERE statement_id = $1 ORDER BY line_no",
                row["statement_id"],
            )
            assert [(r["line_no"], r["setl_id"], r["kind"]) for r in lines] == [
                (n, x.setl_id, x.kind.value) for n, x in enumerate(statement.lines, start=1)
            ]
        assert sum(r["late_count"] for r in stored) == 1

    # The service's own generation (default batches) agrees: nothing changed.
    again = await operator.GenerateStatements(pb.GenerateStatementsRequest(period=PERIOD))
    assert again.changed_count == 0 and again.statement_count == len(expected)


async def _insert(db: asyncpg.Pool, period: str, rows: list[tuple[object, ...]]) -> None:
    recorded_at = datetime.now(UTC)  # what ingestion would stamp from the clock
    await db.execute(
        "INSERT INTO periods (period, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        period,
        recorded_at,
    )
    await db.copy_records_to_table(
        "ledger",
        columns=[
            "period",
            "event_period",
            "late",
            "event_id",
            "setl_id",
            "kind",
            "insured_pool",
            "treatment_pool",
            "level",
            "hospital_code",
            "fund",
            "amount_fen",
            "settle_time",
            "recorded_at",
        ],
        records=[(*row, recorded_at) for row in rows],
    )


async def test_a_ledger_whose_entries_disagree_is_refused_and_nothing_is_generated(
    operator: Client, db: asyncpg.Pool, unique: str
) -> None:
    when = datetime(2012, 10, 5, 9, tzinfo=SHANGHAI)

    def row(
        period: str, event: str, setl: str, pair: tuple[str, str], fund: str, hospital: str
    ) -> tuple[object, ...]:
        level = "NATIONAL" if pair[0][:2] != pair[1][:2] else "PROVINCIAL"
        return (
            period,
            period,
            False,
            event,
            setl,
            "SETTLED",
            *pair,
            level,
            hospital,
            fund,
            100,
            when,
        )

    gz = "H44010000001"
    # One event, two entries that disagree on the hospital.
    await _insert(
        db,
        BROKEN,
        [
            row(BROKEN, f"e{unique}1", f"B{unique}1", (NANNING, GUANGZHOU), "hifp", gz),
            row(BROKEN, f"e{unique}1", f"B{unique}1", (NANNING, GUANGZHOU), "acct", "H44010000002"),
        ],
    )
    # One event whose entries name two different pairs.
    await _insert(
        db,
        SPLIT,
        [
            row(SPLIT, f"e{unique}2", f"B{unique}2", (NANNING, GUANGZHOU), "hifp", gz),
            row(SPLIT, f"e{unique}2", f"B{unique}2", (LIUZHOU, GUANGZHOU), "acct", gz),
            row(SPLIT, f"e{unique}3", f"B{unique}3", (LIUZHOU, GUANGZHOU), "hifp", gz),
        ],
    )
    for period in (BROKEN, SPLIT):
        await operator.ClosePeriod(pb.ClosePeriodRequest(period=period))
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await operator.GenerateStatements(pb.GenerateStatementsRequest(period=period))
        assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert reason_of(refused.value) == "INCONSISTENT_ENTRIES"
        with pytest.raises(FailedPrecondition):
            await _generator(db, 1).generate(parse_caller("op-t"), Period.parse(period))
        state = await db.fetchval("SELECT state FROM periods WHERE period = $1", period)
        assert state == "CLOSED"
        assert await db.fetchval("SELECT count(*) FROM statements WHERE period = $1", period) == 0
