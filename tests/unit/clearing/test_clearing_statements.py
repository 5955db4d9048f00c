from __future__ import annotations

import hashlib
import json
import random
from dataclasses import replace
from datetime import UTC

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.clearing.domain.events import EventKind, FundType, SettlementEvent
from services.clearing.domain.ledger import ledger_entries
from services.clearing.domain.pools import ClearingLevel
from services.clearing.domain.statements import Statement, build_statements
from shared.errors import FailedPrecondition, InvalidArgument

from .clearing_factories import (
    FEB,
    GUANGZHOU,
    HOSPITAL_GZ,
    JAN,
    LIUZHOU,
    NANNING,
    SHENZHEN,
    entries_of,
    event_lists,
    make_event,
    settle_time,
)


def _fund(statement: Statement, fund: FundType) -> dict[str, int]:
    (summary,) = [f for f in statement.funds if f.fund is fund]
    return summary.to_canonical()


def test_one_statement_per_pair_sorted_with_level() -> None:
    events = [
        make_event("S3", insured=NANNING, treatment=LIUZHOU),
        make_event("S1", insured=SHENZHEN, treatment=GUANGZHOU),
        make_event("S2", insured=NANNING, treatment=GUANGZHOU),
        make_event("S4", insured=NANNING, treatment=GUANGZHOU),
    ]
    statements = build_statements(JAN, entries_of(events))
    assert [(s.insured_pool, s.treatment_pool, s.level) for s in statements] == [
        (SHENZHEN, GUANGZHOU, ClearingLevel.PROVINCIAL),
        (NANNING, GUANGZHOU, ClearingLevel.NATIONAL),
        (NANNING, LIUZHOU, ClearingLevel.PROVINCIAL),
    ]
    assert statements[1].statement_id == "202501-450100-440100"
    assert len(statements[1].lines) == 2


def test_reversals_and_late_items_shown_apart_per_fund() -> None:
    december = JAN.previous()
    events = [
        make_event("S1", funds={FundType.HIFP: 10_000, FundType.ACCT: 500}),
        make_event("S2", funds={FundType.HIFP: 4_000}, period=december),
        make_event("R1", kind=EventKind.REVERSED, funds={FundType.HIFP: 3_000}),
    ]
    entries = entries_of(events, closed=[december])
    (statement,) = build_statements(JAN, entries)
    assert _fund(statement, FundType.HIFP) == {
        "fund": "hifp",
        "settled_count": 2,
        "settled_fen": 14_000,
        "reversed_count": 1,
        "reversed_fen": -3_000,
        "adjustment_count": 0,
        "adjustment_fen": 0,
        "late_count": 1,
        "late_fen": 4_000,
        "net_fen": 11_000,
    }
    assert _fund(statement, FundType.ACCT)["net_fen"] == 500
    assert _fund(statement, FundType.MAF)["net_fen"] == 0
    assert statement.net_fen == 11_500
    assert [x.setl_id for x in statement.lines if x.late] == ["S2"]


def test_local_entries_are_skipped_and_other_periods_refused() -> None:
    late_entries = entries_of([make_event("S1")], closed=[JAN])
    with pytest.raises(InvalidArgument):
        build_statements(JAN, late_entries)
    assert build_statements(FEB, late_entries)[0].period == FEB


def test_two_events_for_one_settlement_are_refused() -> None:
    events = [make_event("S1", event_id="e1"), make_event("S1", event_id="e2")]
    with pytest.raises(FailedPrecondition) as caught:
        build_statements(JAN, entries_of(events))
    assert caught.value.reason == "DUPLICATE_LINE"


def test_entries_of_one_event_must_agree() -> None:
    (first, second) = ledger_entries(
        make_event("S1", funds={FundType.HIFP: 1, FundType.MAF: 2}), ()
    )
    with pytest.raises(FailedPrecondition) as caught:
        build_statements(JAN, [first, replace(second, hospital_code="H44030000001")])
    assert caught.value.reason == "INCONSISTENT_ENTRIES"


def test_canonical_bytes_are_stable_json_and_digest_is_their_sha256() -> None:
    (statement,) = build_statements(JAN, entries_of([make_event("S1", hospital=HOSPITAL_GZ)]))
    raw = statement.to_canonical_bytes()
    decoded = json.loads(raw)
    assert decoded["schema"] == "crossclear.clearing.statement/1"
    assert decoded["lines"][0]["settle_time"] == "2025-01-15T10:00:00+08:00"
    assert raw == json.dumps(decoded, sort_keys=True, separators=(",", ":")).encode()
    assert statement.digest() == hashlib.sha256(raw).hexdigest()


def test_same_instant_in_another_zone_serialises_identically() -> None:
    shanghai = make_event("S1")
    in_utc = replace(shanghai, settle_time=shanghai.settle_time.astimezone(UTC))
    one = build_statements(JAN, entries_of([shanghai]))[0]
    other = build_statements(JAN, entries_of([in_utc]))[0]
    assert one.to_canonical_bytes() == other.to_canonical_bytes()


def _cross_pool_cleared_fen(events: list[SettlementEvent]) -> int:
    return sum(e.cleared_fen() for e in events if e.insured_pool != e.treatment_pool)


@settings(max_examples=200, deadline=None)
@given(events=event_lists())
def test_conservation_statement_totals_equal_cross_pool_fund_amounts(
    events: list[SettlementEvent],
) -> None:
    statements = build_statements(JAN, entries_of(events))
    assert sum(s.net_fen for s in statements) == _cross_pool_cleared_fen(events)
    for statement in statements:
        assert statement.insured_pool != statement.treatment_pool
        assert statement.net_fen == sum(x.total_fen for x in statement.lines)
        assert statement.net_fen == sum(f.net_fen for f in statement.funds)
        counted = sum(f.settled_count + f.reversed_count for f in statement.funds)
        assert counted == sum(len(x.amounts) for x in statement.lines)


@settings(max_examples=200, deadline=None)
@given(events=event_lists(min_size=1), seed=st.integers(0, 2**32 - 1))
def test_regeneration_from_shuffled_entries_is_byte_identical(
    events: list[SettlementEvent], seed: int
) -> None:
    entries = entries_of(events)
    shuffled = list(entries)
    random.Random(seed).shuffle(shuffled)
    first = build_statements(JAN, entries)
    second = build_statements(JAN, shuffled)
    assert [s.to_canonical_bytes() for s in first] == [s.to_canonical_bytes() for s in second]
    assert [s.digest() for s in first] == [s.digest() for s in second]


def test_lines_sorted_by_settle_time_then_id() -> None:
    events = [
        make_event("B", when=settle_time(day=3)),
        make_event("A", when=settle_time(day=3)),
        make_event("C", when=settle_time(day=1)),
    ]
    (statement,) = build_statements(JAN, entries_of(events))
    assert [x.setl_id for x in statement.lines] == ["C", "A", "B"]
