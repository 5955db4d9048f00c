from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.clearing.domain.disputes import split_disputed
from services.clearing.domain.events import FundType, SettlementEvent
from services.clearing.domain.netting import (
    InstructionLeg,
    NettingResult,
    PaymentInstruction,
    net_period,
)
from services.clearing.domain.pools import ClearingLevel
from services.clearing.domain.statements import Statement, build_statements
from shared.errors import FailedPrecondition, InvalidArgument

from .clearing_factories import (
    BEIHAI,
    FEB,
    GUANGZHOU,
    JAN,
    LIUZHOU,
    NANNING,
    SHENZHEN,
    entries_of,
    event_lists,
    make_event,
)

FLOWS = [  # (insured pool pays, treatment pool receives, amount fen)
    (NANNING, LIUZHOU, 1_000),
    (LIUZHOU, NANNING, 300),
    (BEIHAI, NANNING, 200),
    (SHENZHEN, GUANGZHOU, 500),
    (NANNING, GUANGZHOU, 10_000),
    (LIUZHOU, SHENZHEN, 2_000),
    (GUANGZHOU, NANNING, 4_000),
    (SHENZHEN, BEIHAI, 1_000),
]


def _statements() -> tuple[Statement, ...]:
    events = [
        make_event(f"S{i}", insured=payer, treatment=receiver, funds={FundType.HIFP: amount})
        for i, (payer, receiver, amount) in enumerate(FLOWS)
    ]
    return build_statements(JAN, entries_of(events))


def _legs(instructions: tuple[PaymentInstruction, ...]) -> list[tuple[str, str, int]]:
    return [(i.payer, i.payee, i.amount_fen) for i in instructions]


def test_provincial_netting_per_province() -> None:
    result = net_period(JAN, _statements())
    gd, gx = result.provincial
    assert (gd.matrix.scope, gx.matrix.scope) == ("44", "45")
    assert {p.party: p.net_fen for p in gx.matrix.positions} == {
        NANNING: -500,
        LIUZHOU: 700,
        BEIHAI: -200,
    }
    assert _legs(gx.instructions) == [
        (NANNING, "CENTRE-45", 500),
        (BEIHAI, "CENTRE-45", 200),
        ("CENTRE-45", LIUZHOU, 700),
    ]
    assert _legs(gd.instructions) == [(SHENZHEN, "CENTRE-44", 500), ("CENTRE-44", GUANGZHOU, 500)]


def test_a_netting_result_is_a_hashable_value() -> None:
    first, again = net_period(JAN, _statements()), net_period(JAN, _statements())
    assert first == again and hash(first) == hash(again)


def test_national_netting_between_provinces_and_allocation_to_pools() -> None:
    result = net_period(JAN, _statements())
    assert result.national.matrix.amount_fen("45", "44") == 12_000
    assert result.national.matrix.amount_fen("44", "45") == 5_000
    assert result.national.matrix.amount_fen("44", "44") == 0  # no cell: owes nothing
    assert _legs(result.national.instructions) == [
        ("45", "NATIONAL", 7_000),
        ("NATIONAL", "44", 7_000),
    ]
    gd, gx = result.allocations
    assert (gx.province, gx.province_net_fen) == ("45", -7_000)
    assert {p.party: p.net_fen for p in gx.pool_positions} == {
        NANNING: -6_000,
        LIUZHOU: -2_000,
        BEIHAI: 1_000,
    }
    assert _legs(gx.instructions) == [
        (NANNING, "CENTRE-45", 6_000),
        (LIUZHOU, "CENTRE-45", 2_000),
        ("CENTRE-45", BEIHAI, 1_000),
    ]
    assert {p.party: p.net_fen for p in gd.pool_positions} == {GUANGZHOU: 6_000, SHENZHEN: 1_000}


def test_instruction_ids_are_unique_and_ordered_by_leg() -> None:
    instructions = net_period(JAN, _statements()).instructions()
    assert len({i.instruction_id for i in instructions}) == len(instructions)
    legs = [i.leg for i in instructions]
    assert legs == sorted(legs, key=list(InstructionLeg).index)
    assert instructions[0].instruction_id == "202501-PROVINCIAL-44-440300-CENTRE-44"


def test_statements_of_another_period_or_twice_are_refused() -> None:
    statements = _statements()
    with pytest.raises(InvalidArgument):
        net_period(FEB, statements)
    with pytest.raises(FailedPrecondition) as caught:
        net_period(JAN, (*statements, statements[0]))
    assert caught.value.reason == "DUPLICATE_STATEMENT"


def test_no_statements_nets_to_nothing() -> None:
    result = net_period(JAN, ())
    assert (result.provincial, result.national.instructions, result.allocations) == ((), (), ())


def _check_result(result: NettingResult, statements: tuple[Statement, ...]) -> None:
    for netting in (*result.provincial, result.national):
        assert sum(p.net_fen for p in netting.matrix.positions) == 0
        hub_in = sum(i.amount_fen for i in netting.instructions if i.payee == netting.hub)
        hub_out = sum(i.amount_fen for i in netting.instructions if i.payer == netting.hub)
        assert hub_in == hub_out
        assert all(netting.hub in (i.payer, i.payee) for i in netting.instructions)
    national_net = {p.party: p.net_fen for p in result.national.matrix.positions}
    for allocation in result.allocations:
        pools_net = sum(p.net_fen for p in allocation.pool_positions)
        assert pools_net == allocation.province_net_fen == national_net[allocation.province]
    provincial_fen = sum(s.net_fen for s in statements if s.level is ClearingLevel.PROVINCIAL)
    matrix_fen = sum(fen for n in result.provincial for _payer, _receiver, fen in n.matrix.cells)
    assert matrix_fen == provincial_fen


@settings(max_examples=200, deadline=None)
@given(events=event_lists(), seed=st.integers(0, 2**32 - 1))
def test_every_level_sums_to_zero_and_is_order_independent(
    events: list[SettlementEvent], seed: int
) -> None:
    statements = build_statements(JAN, entries_of(events))
    result = net_period(JAN, statements)
    _check_result(result, statements)
    shuffled = list(statements)
    random.Random(seed).shuffle(shuffled)
    assert net_period(JAN, shuffled) == result


@settings(max_examples=200, deadline=None)
@given(events=event_lists(min_size=1), data=st.data())
def test_netting_confirmed_parts_after_disputes_still_balances(
    events: list[SettlementEvent], data: st.DataObject
) -> None:
    confirmed = []
    for statement in build_statements(JAN, entries_of(events)):
        ids = sorted({x.setl_id for x in statement.lines})
        named = data.draw(st.lists(st.sampled_from(ids), max_size=2, unique=True))
        confirmed.append(split_disputed(statement, named)[0])
    _check_result(net_period(JAN, confirmed), tuple(confirmed))
