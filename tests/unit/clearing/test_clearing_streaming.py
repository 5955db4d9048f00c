"""Statements generated a line at a time: the same summary and the same canonical bytes as
the whole statement, without ever holding its lines."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from hypothesis import given, settings

from services.clearing.domain.disputes import resolve_disputed_line, split_disputed
from services.clearing.domain.events import EventKind, FundType, SettlementEvent
from services.clearing.domain.lines import DisputeOutcome
from services.clearing.domain.netting import StatementTotal, net_period
from services.clearing.domain.pools import ClearingLevel
from services.clearing.domain.statements import (
    Statement,
    StatementBuilder,
    build_statements,
    canonical_chunks,
    canonical_head,
    canonical_tail,
    parse_statement_id,
    statement_id_of,
)
from shared.errors import FailedPrecondition, InvalidArgument

from .clearing_factories import (
    FEB,
    GUANGZHOU,
    HOSPITAL_GZ,
    JAN,
    LIUZHOU,
    NANNING,
    PHARMACY_GZ,
    SHENZHEN,
    entries_of,
    event_lists,
    make_event,
    settle_time,
)


def _streamed(statement: Statement) -> StatementBuilder:
    builder = StatementBuilder(statement.period, statement.pair, statement.adjustments)
    for line in statement.lines:
        builder.add(line)
    return builder


@settings(max_examples=200, deadline=None)
@given(events=event_lists(institutions=(HOSPITAL_GZ, PHARMACY_GZ)))
def test_streamed_statements_equal_whole_ones_byte_for_byte(
    events: list[SettlementEvent],
) -> None:
    for statement in build_statements(JAN, entries_of(events)):
        summary = _streamed(statement).summary()
        assert summary == statement.summary()
        canonical = b"".join(canonical_chunks(summary, statement.lines))
        assert canonical == statement.to_canonical_bytes()
        assert hashlib.sha256(canonical).hexdigest() == statement.digest()


def test_late_lines_reversals_and_adjustments_stream_identically() -> None:
    december = JAN.previous()
    events = [
        make_event("S1", funds={FundType.HIFP: 9_000, FundType.ACCT: 100}),
        make_event("S2", funds={FundType.HIFOB: 4_000}, period=december),
        make_event(
            "R1", kind=EventKind.REVERSED, funds={FundType.HIFP: 9_000}, reversed_setl_id="S1"
        ),
    ]
    (january,) = build_statements(JAN, entries_of(events, closed=[december]))
    _, moved = split_disputed(january, {"S1"}, "billed twice")
    adjustment = resolve_disputed_line(
        moved[0], DisputeOutcome.AMENDED, {FundType.HIFP: 5_000}, note="part"
    )
    later = [make_event("S3", period=FEB, when=settle_time(period=FEB))]
    (february,) = build_statements(FEB, entries_of(later), [adjustment])
    for statement in (january, february):
        summary = _streamed(statement).summary()
        assert summary == statement.summary()
        assert b"".join(canonical_chunks(summary, statement.lines)) == (
            statement.to_canonical_bytes()
        )
    assert january.summary().late_count == 1


def test_a_statement_of_adjustments_only_has_an_empty_lines_array() -> None:
    (january,) = build_statements(JAN, entries_of([make_event("S1")]))
    _, moved = split_disputed(january, {"S1"}, "duplicate")
    adjustment = resolve_disputed_line(moved[0], DisputeOutcome.REJECTED)
    (february,) = build_statements(FEB, [], [adjustment])
    summary = StatementBuilder(FEB, february.pair, [adjustment]).summary()
    assert summary == february.summary() and summary.line_count == 0
    head, tail = canonical_head(summary), canonical_tail(summary)
    assert head.endswith(b'"lines":[') and tail.startswith(b"],")
    assert head + tail == february.to_canonical_bytes()


def test_lines_out_of_order_or_repeated_are_refused() -> None:
    events = [
        make_event("A", when=settle_time(day=2)),
        make_event("B", when=settle_time(day=1)),
    ]
    (statement,) = build_statements(JAN, entries_of(events))
    first, second = statement.lines
    builder = StatementBuilder(JAN, statement.pair, ())
    builder.add(first)
    with pytest.raises(FailedPrecondition) as repeated:
        builder.add(first)
    assert repeated.value.reason == "DUPLICATE_LINE"
    builder.add(second)
    with pytest.raises(AssertionError):
        builder.add(first)


def test_a_local_pair_makes_no_statement() -> None:
    with pytest.raises(InvalidArgument):
        StatementBuilder(JAN, (NANNING, NANNING), ())


def test_statement_ids_name_their_period_and_pair() -> None:
    statement_id = statement_id_of(JAN, NANNING, GUANGZHOU)
    assert statement_id == "202501-450100-440100"
    assert parse_statement_id(statement_id) == (JAN, (NANNING, GUANGZHOU))
    for text in (
        "",
        "202501-450100",
        "202513-450100-440100",
        "202501-450100-450100",
        "202501-45010-440100",
        "202501-450100-440100-1",
        "x" * 64,
    ):
        assert parse_statement_id(text) is None, text


def test_netting_from_totals_equals_netting_the_statements() -> None:
    flows = [(NANNING, LIUZHOU, 1_000), (LIUZHOU, SHENZHEN, 2_500), (SHENZHEN, GUANGZHOU, 700)]
    events = [
        make_event(
            f"S{i}",
            insured=payer,
            treatment=receiver,
            funds={FundType.HIFP: fen},
            when=settle_time() + timedelta(minutes=i),
        )
        for i, (payer, receiver, fen) in enumerate(flows)
    ]
    statements = build_statements(JAN, entries_of(events))
    totals = [StatementTotal(JAN, s.insured_pool, s.treatment_pool, s.net_fen) for s in statements]
    assert [t.statement_id for t in totals] == [s.statement_id for s in statements]
    assert [t.level for t in totals] == [s.level for s in statements]
    assert net_period(JAN, totals) == net_period(JAN, statements)
    assert totals[0].level in (ClearingLevel.PROVINCIAL, ClearingLevel.NATIONAL)
