"""Statements read back from their canonical bytes: exactly the statement generated."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings

from services.clearing.domain.canonical import CorruptStatement, statement_from_bytes
from services.clearing.domain.disputes import resolve_disputed_line, split_disputed
from services.clearing.domain.events import EventKind, FundType, SettlementEvent
from services.clearing.domain.lines import DisputeOutcome
from services.clearing.domain.statements import build_statements, statements_digest
from shared.errors import FailedPrecondition

from .clearing_factories import FEB, JAN, entries_of, event_lists, make_event


@settings(max_examples=60, deadline=None)
@given(event_lists(min_size=1, max_size=25))
def test_every_statement_round_trips(events: list[SettlementEvent]) -> None:
    for statement in build_statements(JAN, entries_of(events)):
        again = statement_from_bytes(statement.to_canonical_bytes())
        assert again == statement
        assert again.to_canonical_bytes() == statement.to_canonical_bytes()


def test_adjustments_round_trip_with_their_statement() -> None:
    events = [
        make_event(f"S{i}", funds={FundType.HIFP: 1_000 * i, FundType.MAF: 10}) for i in (1, 2)
    ]
    (january,) = build_statements(JAN, entries_of(events))
    _, (disputed, _) = split_disputed(january, {"S1", "S2"}, "duplicate")
    amended = resolve_disputed_line(
        disputed, DisputeOutcome.AMENDED, {FundType.HIFP: 500}, note="partly covered"
    )
    later = [make_event("S3", period=FEB, kind=EventKind.REVERSED)]
    (february,) = build_statements(FEB, entries_of(later), [amended])
    assert statement_from_bytes(february.to_canonical_bytes()) == february


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: d.update(net_fen=d["net_fen"] + 1),
        lambda d: d["lines"][0].update(total_fen=1),
        lambda d: d["lines"][0].update(late=1),
        lambda d: d.update(schema="other/1"),
        lambda d: d["lines"].append(dict(d["lines"][0])),
    ],
)
def test_tampered_bytes_are_refused(tamper: object) -> None:
    (statement,) = build_statements(JAN, entries_of([make_event("S1")]))
    data = json.loads(statement.to_canonical_bytes())
    tamper(data)  # type: ignore[operator]
    raw = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    # A duplicated line is the domain's own refusal; everything else fails the round trip.
    with pytest.raises((CorruptStatement, FailedPrecondition)):
        statement_from_bytes(raw)


def test_not_json_is_corrupt() -> None:
    with pytest.raises(CorruptStatement):
        statement_from_bytes(b"\xff not json")


def test_statements_digest_depends_on_every_statement_only() -> None:
    a = statements_digest([("202501-450100-440100", "aa"), ("202501-440300-440100", "bb")])
    b = statements_digest([("202501-440300-440100", "bb"), ("202501-450100-440100", "aa")])
    c = statements_digest([("202501-440300-440100", "bb"), ("202501-450100-440100", "ab")])
    assert a == b != c
