"""message_from: a message from a read model's same-named attributes, the rest given."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from shared.pb.crossclear.events.v1 import events_pb2
from shared.pb_fields import message_from


@dataclass(frozen=True)
class Alert:
    event_id: str
    insured_pool: str
    treatment_pool: str
    period: str
    threshold_bp: int
    advance_fen: int
    used_fen: int


ALERT = Alert("e1", "450100", "440100", "202601", 8000, 1_000_000, 850_000)


def test_every_field_is_copied_by_name_or_given() -> None:
    message = message_from(events_pb2.AdvanceFundAlert, ALERT, occurred_at=None)
    assert message == events_pb2.AdvanceFundAlert(
        event_id="e1",
        insured_pool="450100",
        treatment_pool="440100",
        period="202601",
        threshold_bp=8000,
        advance_fen=1_000_000,
        used_fen=850_000,
    )


def test_a_given_field_wins_over_the_attribute() -> None:
    message = message_from(events_pb2.AdvanceFundAlert, ALERT, occurred_at=None, used_fen=1)
    assert message.used_fen == 1


def test_a_field_in_neither_is_refused() -> None:
    with pytest.raises(AssertionError, match="occurred_at"):
        message_from(events_pb2.AdvanceFundAlert, ALERT)


def test_a_given_name_the_message_lacks_is_refused() -> None:
    with pytest.raises(ValueError):
        message_from(events_pb2.AdvanceFundAlert, ALERT, occurred_at=None, no_such_field=1)
