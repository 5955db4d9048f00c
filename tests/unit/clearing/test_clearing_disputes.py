from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from services.clearing.domain.disputes import (
    dispute_whole,
    resolve_disputed_line,
    split_disputed,
)
from services.clearing.domain.events import EventKind, FundType, SettlementEvent
from services.clearing.domain.lines import DisputedLine, DisputeOutcome
from services.clearing.domain.statements import Statement, build_statements
from shared.errors import InvalidArgument

from .clearing_factories import FEB, GUANGZHOU, JAN, NANNING, entries_of, event_lists, make_event

FUNDS = {FundType.HIFP: 10_000, FundType.MAF: 2_000}


def _statement(count: int = 5) -> Statement:
    events = [make_event(f"S{i}", funds=FUNDS) for i in range(count)]
    (statement,) = build_statements(JAN, entries_of(events))
    return statement


def test_disputing_two_lines_moves_exactly_those_two() -> None:
    statement = _statement()
    confirmed, disputed = split_disputed(statement, {"S1", "S3"}, reason="duplicate billing")
    assert [d.line.setl_id for d in disputed] == ["S1", "S3"]
    assert [x.setl_id for x in confirmed.lines] == ["S0", "S2", "S4"]
    assert confirmed.net_fen == 3 * 12_000
    assert {d.reason for d in disputed} == {"duplicate billing"}
    assert {(d.period, d.insured_pool, d.treatment_pool) for d in disputed} == {
        (JAN, NANNING, GUANGZHOU)
    }


@pytest.mark.parametrize(
    "names",
    [
        pytest.param({"S9"}, id="unknown"),
        pytest.param({"S1", "nope"}, id="one-known-one-unknown"),
    ],
)
def test_disputing_a_line_not_on_the_statement_is_refused(names: set[str]) -> None:
    with pytest.raises(InvalidArgument) as caught:
        split_disputed(_statement(), names)
    assert caught.value.violations[0].field == "disputed_setl_ids"


def test_whole_statement_dispute_moves_every_line() -> None:
    confirmed, disputed = dispute_whole(_statement(3), reason="not ours")
    assert (confirmed.lines, confirmed.net_fen, len(disputed)) == ((), 0, 3)


@settings(max_examples=200, deadline=None)
@given(events=event_lists(min_size=2), data=st.data())
def test_split_moves_exactly_the_named_lines_and_conserves(
    events: list[SettlementEvent], data: st.DataObject
) -> None:
    statements = build_statements(JAN, entries_of(events))
    assume(statements)
    statement = data.draw(st.sampled_from(statements))
    ids = sorted({x.setl_id for x in statement.lines})
    named = set(data.draw(st.lists(st.sampled_from(ids), max_size=2, unique=True)))
    confirmed, disputed = split_disputed(statement, named)
    assert {d.line.setl_id for d in disputed} == named
    assert {x.setl_id for x in confirmed.lines} == set(ids) - named
    assert confirmed.net_fen + sum(d.line.total_fen for d in disputed) == statement.net_fen


def _disputed() -> DisputedLine:
    _, (disputed,) = split_disputed(_statement(2), {"S1"}, reason="wrong person")
    return disputed


@pytest.mark.parametrize(
    ("outcome", "amended", "hifp_fen", "total_fen"),
    [
        pytest.param(DisputeOutcome.REJECTED, None, 10_000, 12_000, id="rejected-line-stands"),
        pytest.param(DisputeOutcome.UPHELD, None, 0, 0, id="upheld-nothing-owed"),
        pytest.param(
            DisputeOutcome.AMENDED, {FundType.HIFP: 6_000}, 6_000, 6_000, id="amended-hifp-only"
        ),
    ],
)
def test_resolved_dispute_is_carried_into_next_period_shown_apart(
    outcome: DisputeOutcome,
    amended: dict[FundType, int] | None,
    hifp_fen: int,
    total_fen: int,
) -> None:
    adjustment = resolve_disputed_line(_disputed(), outcome, amended, note="agreed 2025-02-20")
    feb_event = make_event("S7", period=FEB, funds={FundType.HIFP: 100})
    (statement,) = build_statements(FEB, entries_of([feb_event]), [adjustment])
    (hifp,) = [f for f in statement.funds if f.fund is FundType.HIFP]
    assert (hifp.settled_fen, hifp.adjustment_fen) == (100, hifp_fen)
    assert statement.net_fen == 100 + total_fen
    assert statement.adjustments == (adjustment,)


def test_adjustment_alone_makes_a_statement() -> None:
    adjustment = resolve_disputed_line(_disputed(), DisputeOutcome.REJECTED)
    (statement,) = build_statements(FEB, [], [adjustment])
    assert (statement.lines, statement.net_fen) == ((), 12_000)


@pytest.mark.parametrize(
    ("outcome", "amended"),
    [
        pytest.param(DisputeOutcome.AMENDED, {FundType.HIFP: 10_001}, id="more-than-line"),
        pytest.param(DisputeOutcome.AMENDED, {FundType.ACCT: 5}, id="fund-not-on-line"),
        pytest.param(DisputeOutcome.AMENDED, {FundType.HIFP: -5}, id="sign-flipped"),
        pytest.param(DisputeOutcome.AMENDED, None, id="amended-without-amounts"),
        pytest.param(DisputeOutcome.REJECTED, {FundType.HIFP: 5}, id="amounts-without-amend"),
    ],
)
def test_resolution_cannot_enlarge_or_resign_a_line(
    outcome: DisputeOutcome, amended: dict[FundType, int] | None
) -> None:
    with pytest.raises(InvalidArgument):
        resolve_disputed_line(_disputed(), outcome, amended)


def test_adjustment_cannot_go_back_into_its_own_period() -> None:
    adjustment = resolve_disputed_line(_disputed(), DisputeOutcome.REJECTED)
    with pytest.raises(InvalidArgument):
        build_statements(JAN, [], [adjustment])


def test_reversal_line_disputed_and_carried_keeps_its_sign() -> None:
    events = [make_event("R1", kind=EventKind.REVERSED, funds={FundType.HIFP: 900})]
    (statement,) = build_statements(JAN, entries_of(events))
    _, (disputed,) = split_disputed(statement, {"R1"})
    adjustment = resolve_disputed_line(
        disputed, DisputeOutcome.AMENDED, {FundType.HIFP: -400}, note="partial"
    )
    assert adjustment.total_fen == -400
