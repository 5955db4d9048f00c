"""Bus messages ⇄ the clearing core: settlement events in, statements and alerts out.

Incoming: a SettlementEvent that cannot become a valid domain event is poison — it can
never succeed, so it is dead-lettered for an operator instead of being retried.
Outgoing: StatementIssued and AdvanceFundAlert, as outbox items whose message ids are
derived from their content, so a repeated step enqueues the same ids (the outbox keeps
one row per id and consumers' inboxes drop repeats).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from google.protobuf.message import DecodeError
from google.protobuf.timestamp_pb2 import Timestamp

from services.clearing.domain.events import FUND_ORDER, EventKind, SettlementEvent
from services.clearing.domain.periods import Period
from services.clearing.domain.pools import ClearingLevel
from services.clearing.domain.statements import FundSummary, InstitutionSummary
from shared import pb_enums
from shared.bus import (
    Delivery,
    OutboxItem,
    PoisonMessage,
    advance_alert_key,
    exchange_name,
    statement_issued_key,
)
from shared.errors import DomainError
from shared.pb.crossclear.events.v1 import events_pb2
from shared.pb_fields import message_from
from shared.reference.institutions import InstitutionKind

if TYPE_CHECKING:
    from services.clearing.store.advance import UsageChange
    from services.clearing.store.statements import StatementView

SETTLEMENT_EVENT_TYPE = events_pb2.SettlementEvent.DESCRIPTOR.full_name
# Fixed namespace for the content-derived message ids of what clearing publishes.
_MESSAGE_ID_NAMESPACE = uuid.UUID("6f1c0d2e-3b0a-5c2e-9a8e-63c1e4a0c1ea")

# The fund table's proto numbers: the one mapping in ``shared.pb_enums``.
FUND_TO_PB = pb_enums.FUND_TYPE.by_member
FUND_FROM_PB = pb_enums.FUND_TYPE.by_number
LEVEL_TO_PB = {
    ClearingLevel.PROVINCIAL: events_pb2.CLEARING_LEVEL_PROVINCIAL,
    ClearingLevel.NATIONAL: events_pb2.CLEARING_LEVEL_NATIONAL,
}
INSTITUTION_KIND_TO_PB = {
    InstitutionKind.HOSPITAL: events_pb2.INSTITUTION_KIND_HOSPITAL,
    InstitutionKind.PHARMACY: events_pb2.INSTITUTION_KIND_PHARMACY,
}
_KIND_FROM_PB = {
    events_pb2.SETTLEMENT_EVENT_KIND_SETTLED: EventKind.SETTLED,
    events_pb2.SETTLEMENT_EVENT_KIND_REVERSED: EventKind.REVERSED,
}


def decode_settlement_event(delivery: Delivery) -> SettlementEvent:
    """The domain event a delivery carries; PoisonMessage if it can never be one."""
    if delivery.message_type != SETTLEMENT_EVENT_TYPE:
        raise PoisonMessage(f"unexpected message type {delivery.message_type!r}")
    message = events_pb2.SettlementEvent()
    try:
        message.ParseFromString(delivery.body)
    except DecodeError as exc:
        raise PoisonMessage("undecodable SettlementEvent") from exc
    if message.event_id != delivery.message_id:
        # The inbox dedupes on the message id: it must be the event's own id.
        raise PoisonMessage(f"event_id {message.event_id!r} differs from the message id")
    try:
        return settlement_event_of(message)
    except DomainError as exc:
        raise PoisonMessage(f"invalid SettlementEvent {message.event_id}: {exc.message}") from exc


def settlement_event_of(message: events_pb2.SettlementEvent) -> SettlementEvent:
    kind = _KIND_FROM_PB.get(message.kind)
    if kind is None:
        raise PoisonMessage(f"event {message.event_id}: kind {message.kind} unknown")
    if not message.HasField("occurred_at"):
        raise PoisonMessage(f"event {message.event_id}: occurred_at missing")
    amounts = message.amounts
    # Enterprise-supplementary and "other" funds are not paid by any settlement this
    # system makes; an amount there would be silently left out of clearing, so refuse it.
    if amounts.hifes_fen or amounts.oth_fen:
        raise PoisonMessage(f"event {message.event_id}: hifes/oth amounts are not cleared")
    return SettlementEvent(
        event_id=message.event_id,
        kind=kind,
        setl_id=message.setl_id,
        reversed_setl_id=message.reversed_setl_id or None,
        hospital_code=message.hospital_code,
        insured_pool=message.insured_pool,
        treatment_pool=message.treatment_pool,
        period=Period.parse(message.clearing_period, "clearing_period"),
        settle_time=message.occurred_at.ToDatetime(tzinfo=UTC),
        medfee_sumamt_fen=amounts.medfee_sumamt_fen,
        psn_cash_fen=amounts.cash_fen,
        # Every fund of the table, read from the proto field named after it.
        **{f"{fund.value}_fen": int(getattr(amounts, f"{fund.value}_fen")) for fund in FUND_ORDER},
    )


def timestamp_of(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _message_id(key: str) -> str:
    """The id of the message saying what ``key`` names: the same for a repeated step."""
    return str(uuid.uuid5(_MESSAGE_ID_NAMESPACE, key))


def fund_total_pb(summary: FundSummary) -> events_pb2.StatementFundTotal:
    return message_from(events_pb2.StatementFundTotal, summary, fund_type=FUND_TO_PB[summary.fund])


def institution_total_pb(summary: InstitutionSummary) -> events_pb2.StatementInstitutionTotal:
    return message_from(
        events_pb2.StatementInstitutionTotal,
        summary,
        institution_kind=INSTITUTION_KIND_TO_PB[summary.kind],
        funds=[fund_total_pb(f) for f in summary.funds],
        total_fen=summary.net_fen,
    )


def statement_issued_items(
    namespace: str, statement: StatementView, issued_at: datetime
) -> list[OutboxItem]:
    """One StatementIssued per party, each to that party's region queue."""
    items = []
    for recipient in (statement.insured_pool, statement.treatment_pool):
        event_id = _message_id(f"statement/{statement.digest}/{recipient}")
        message = message_from(
            events_pb2.StatementIssued,
            statement,
            event_id=event_id,
            period=str(statement.period),
            level=LEVEL_TO_PB[statement.level],
            funds=[fund_total_pb(f) for f in statement.funds],
            total_fen=statement.net_fen,
            issued_at=timestamp_of(issued_at),
            institution_totals=[institution_total_pb(k) for k in statement.institutions],
        )
        items.append(
            OutboxItem(
                exchange=exchange_name(namespace, "clearing"),
                routing_key=statement_issued_key(recipient),
                message=message,
                message_id=event_id,
            )
        )
    return items


def advance_alert_item(
    namespace: str, usage: UsageChange, *, threshold_bp: int, occurred_at: datetime
) -> OutboxItem:
    """An alert to the insured side's region queue: once per pair, period and threshold,
    for the usage that crossed it (its pair, period and advance, and the usage after)."""
    assert usage.advance_fen is not None, "a usage crosses a threshold of a set advance only"
    event_id = _message_id(
        f"advance/{usage.insured_pool}/{usage.treatment_pool}/{usage.period}/{threshold_bp}"
    )
    message = message_from(
        events_pb2.AdvanceFundAlert,
        usage,
        event_id=event_id,
        threshold_bp=threshold_bp,
        advance_fen=usage.advance_fen,
        used_fen=usage.used_after_fen,
        occurred_at=timestamp_of(occurred_at),
    )
    return OutboxItem(
        exchange=exchange_name(namespace, "clearing"),
        routing_key=advance_alert_key(usage.insured_pool),
        message=message,
        message_id=event_id,
    )
