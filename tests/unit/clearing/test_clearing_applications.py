from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from services.clearing.domain.applications import (
    ApplicationDifference,
    ApplicationItem,
    ClearingApplication,
    DifferenceKind,
    match_application,
    match_application_amounts,
)
from services.clearing.domain.events import EventKind, FundType, SettlementEvent
from services.clearing.domain.ledger import LedgerEntry
from shared.errors import InvalidArgument

from .clearing_factories import (
    FEB,
    HOSPITAL_GZ,
    HOSPITAL_NN,
    JAN,
    entries_of,
    event_lists,
    make_event,
)

EVENTS = [
    make_event("S1", funds={FundType.HIFP: 8_000, FundType.ACCT: 500}, cash_fen=1_500),
    make_event("S2", funds={FundType.HIFP: 3_000}),
    make_event("R2", kind=EventKind.REVERSED, funds={FundType.HIFP: 3_000}, reversed_setl_id="S2"),
    make_event("N1", hospital=HOSPITAL_NN),  # another hospital
    make_event("F1", period=FEB),  # another month
]
LEDGER = entries_of(EVENTS)
MATCHING = (
    ApplicationItem("S1", 8_500),
    ApplicationItem("S2", 3_000),
    ApplicationItem("R2", -3_000),
)


def _apply(*items: ApplicationItem) -> tuple[ApplicationDifference, ...]:
    return match_application(ClearingApplication(HOSPITAL_GZ, JAN, items), LEDGER)


def test_matching_application_has_no_differences() -> None:
    assert _apply(*MATCHING) == ()


def test_the_ledger_summed_per_settlement_matches_alike() -> None:
    """What the store sums in SQL (one figure per settlement id of the hospital and month)
    gives the differences the entries give."""
    summed: dict[str, int] = defaultdict(int)
    for entry in LEDGER:
        if entry.hospital_code == HOSPITAL_GZ and entry.event_period == JAN:
            summed[entry.setl_id] += entry.amount_fen
    for items in (MATCHING, MATCHING[1:], (*MATCHING[:2], ApplicationItem("R2", -2_000))):
        application = ClearingApplication(HOSPITAL_GZ, JAN, items)
        assert match_application_amounts(application, summed) == match_application(
            application, LEDGER
        )


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        pytest.param(
            (*MATCHING[:2], ApplicationItem("R2", -2_000)),
            ApplicationDifference("R2", DifferenceKind.AMOUNT_MISMATCH, -2_000, -3_000),
            id="amount-mismatch",
        ),
        pytest.param(
            MATCHING[1:],
            ApplicationDifference("S1", DifferenceKind.MISSING_IN_APPLICATION, None, 8_500),
            id="missing-in-application",
        ),
        pytest.param(
            (*MATCHING, ApplicationItem("S9", 100)),
            ApplicationDifference("S9", DifferenceKind.MISSING_IN_LEDGER, 100, None),
            id="missing-in-ledger",
        ),
        pytest.param(
            (*MATCHING, ApplicationItem("F1", 10_000)),
            ApplicationDifference("F1", DifferenceKind.MISSING_IN_LEDGER, 10_000, None),
            id="other-month-not-matched",
        ),
    ],
)
def test_exactly_one_differing_settlement_is_reported(
    items: tuple[ApplicationItem, ...], expected: ApplicationDifference
) -> None:
    assert _apply(*items) == (expected,)


def test_settlements_that_clear_nothing_never_differ() -> None:
    # Listed with 0 though clearing has no entry (an all-cash bill), or a settlement and
    # its reversal under one id that sum to 0, left out: nobody owes anything either way.
    cash_only = ApplicationItem("C1", 0)
    assert _apply(*MATCHING, cash_only) == ()
    undone = [
        make_event("U1", funds={FundType.HIFP: 700}),
        make_event("U1", kind=EventKind.REVERSED, funds={FundType.HIFP: 700}, event_id="ev-U1r"),
    ]
    application = ClearingApplication(HOSPITAL_GZ, JAN, MATCHING)
    assert match_application(application, [*LEDGER, *entries_of(undone)]) == ()


def test_duplicate_settlement_in_application_is_refused() -> None:
    with pytest.raises(InvalidArgument) as caught:
        ClearingApplication(HOSPITAL_GZ, JAN, (MATCHING[0], MATCHING[0]))
    assert caught.value.violations[0].field == "items.setl_id"


def _application_from(entries: list[LedgerEntry]) -> dict[str, int]:
    amounts: dict[str, int] = defaultdict(int)
    for entry in entries:
        amounts[entry.setl_id] += entry.amount_fen
    return amounts


@settings(max_examples=200, deadline=None)
@given(events=event_lists(min_size=1), data=st.data())
def test_one_perturbed_settlement_gives_exactly_one_difference(
    events: list[SettlementEvent], data: st.DataObject
) -> None:
    entries = entries_of(events)
    amounts = _application_from(entries)
    assume(amounts)
    target = data.draw(st.sampled_from(sorted(amounts)))
    kind = data.draw(st.sampled_from(DifferenceKind))
    if kind is DifferenceKind.MISSING_IN_APPLICATION:
        del amounts[target]
    elif kind is DifferenceKind.AMOUNT_MISMATCH:
        amounts[target] += data.draw(st.integers(1, 10**6)) * data.draw(st.sampled_from((1, -1)))
    else:
        target = "not-in-ledger"
        amounts[target] = 1
    items = tuple(ApplicationItem(s, a) for s, a in amounts.items())
    application = ClearingApplication(HOSPITAL_GZ, JAN, items)
    (difference,) = match_application(application, entries)
    assert (difference.setl_id, difference.kind) == (target, kind)
