"""Settlement events from the bus: decoded into domain events, or refused as poison."""

from __future__ import annotations

import uuid
from datetime import datetime
from types import SimpleNamespace

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from services.clearing.domain.events import EventKind
from services.clearing.domain.periods import SHANGHAI, Period
from services.clearing.domain.pools import ClearingLevel
from services.clearing.messages import (
    SETTLEMENT_EVENT_TYPE,
    advance_alert_item,
    decode_settlement_event,
    statement_issued_items,
)
from services.clearing.store.advance import UsageChange
from shared.bus import Delivery, PoisonMessage
from shared.pb.crossclear.common.v1 import common_pb2
from shared.pb.crossclear.events.v1 import events_pb2


def _message(**changes: object) -> events_pb2.SettlementEvent:
    occurred = Timestamp()
    occurred.FromDatetime(datetime(2025, 1, 31, 23, 59, tzinfo=SHANGHAI))
    fields: dict[str, object] = {
        "event_id": str(uuid.uuid4()),
        "kind": events_pb2.SETTLEMENT_EVENT_KIND_SETTLED,
        "setl_id": "S1",
        "hospital_code": "H44010000001",
        "insured_pool": "450100",
        "treatment_pool": "440100",
        "clearing_period": "202501",
        "occurred_at": occurred,
        "amounts": common_pb2.FundAmounts(
            medfee_sumamt_fen=12_000, hifp_fen=9_000, acct_fen=1_000, cash_fen=2_000
        ),
    }
    fields.update(changes)
    return events_pb2.SettlementEvent(**fields)  # type: ignore[arg-type]


def _delivery(message: events_pb2.SettlementEvent, **changes: object) -> Delivery:
    fields: dict[str, object] = {
        "message_id": message.event_id,
        "routing_key": "settlement.settled.450100.440100",
        "message_type": SETTLEMENT_EVENT_TYPE,
        "body": message.SerializeToString(),
        "headers": {},
        "redelivered": False,
    }
    fields.update(changes)
    return Delivery(**fields)  # type: ignore[arg-type]


def test_a_settlement_becomes_a_domain_event() -> None:
    event = decode_settlement_event(_delivery(_message()))
    assert event.kind is EventKind.SETTLED
    assert event.period == Period(2025, 1)
    assert (event.hifp_fen, event.acct_fen, event.psn_cash_fen) == (9_000, 1_000, 2_000)
    assert event.reversed_setl_id is None
    assert event.cleared_fen() == 10_000


def test_a_reversal_keeps_its_negative_amounts() -> None:
    message = _message(
        kind=events_pb2.SETTLEMENT_EVENT_KIND_REVERSED,
        setl_id="R1",
        reversed_setl_id="S1",
        amounts=common_pb2.FundAmounts(medfee_sumamt_fen=-3_000, hifp_fen=-3_000),
    )
    event = decode_settlement_event(_delivery(message))
    assert (event.kind, event.reversed_setl_id, event.hifp_fen) == (
        EventKind.REVERSED,
        "S1",
        -3_000,
    )


@pytest.mark.parametrize(
    "delivery",
    [
        _delivery(_message(), message_type="crossclear.events.v1.FilingEvent"),
        _delivery(_message(), body=b"\xff\xff\xff"),
        _delivery(_message(), message_id="another-id"),
        _delivery(_message(kind=events_pb2.SETTLEMENT_EVENT_KIND_UNSPECIFIED)),
        _delivery(_message(clearing_period="2025-01")),
        _delivery(_message(hospital_code="")),
        _delivery(_message(hospital_code="X44010000001")),  # neither hospital nor pharmacy
        _delivery(_message(insured_pool="45010")),
        _delivery(_message(amounts=common_pb2.FundAmounts(medfee_sumamt_fen=5, hifp_fen=4))),
        _delivery(_message(amounts=common_pb2.FundAmounts(medfee_sumamt_fen=5, hifes_fen=5))),
        _delivery(_message(amounts=common_pb2.FundAmounts(medfee_sumamt_fen=-5, hifp_fen=-5))),
        _delivery(_message(reversed_setl_id="S0")),
    ],
)
def test_events_that_can_never_be_cleared_are_poison(delivery: Delivery) -> None:
    with pytest.raises(PoisonMessage):
        decode_settlement_event(delivery)


def test_missing_occurred_at_is_poison() -> None:
    message = _message()
    message.ClearField("occurred_at")
    with pytest.raises(PoisonMessage):
        decode_settlement_event(_delivery(message))


def test_outgoing_ids_are_derived_from_content() -> None:
    statement = SimpleNamespace(
        statement_id="202501-450100-440100",
        period="202501",
        insured_pool="450100",
        treatment_pool="440100",
        level=ClearingLevel.NATIONAL,
        funds=(),
        settlement_count=3,
        net_fen=100,
        digest="ab" * 32,
        institutions=(),
    )
    issued_at = datetime(2025, 2, 3, tzinfo=SHANGHAI)
    first = statement_issued_items("ns", statement, issued_at)
    again = statement_issued_items("ns", statement, issued_at)
    assert [i.routing_key for i in first] == ["statement.issued.450100", "statement.issued.440100"]
    assert [i.message_id for i in first] == [i.message_id for i in again]
    assert len({i.message_id for i in first}) == 2
    usage = UsageChange(
        insured_pool="450100",
        treatment_pool="440100",
        period="202501",
        used_before_fen=600,
        used_after_fen=700,
        alerted_bp=(),
        advance_fen=1_000,
    )
    alert = advance_alert_item(
        "ns", usage, threshold_bp=7_000, occurred_at=datetime(2025, 1, 20, tzinfo=SHANGHAI)
    )
    assert alert.routing_key == "advance.alert.450100"
    assert alert.exchange == "ns.clearing"
