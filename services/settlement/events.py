"""Settlement events: a committed settlement or reversal, written to the outbox with it.

The event is enqueued in the transaction that records the settlement, so it exists if
and only if the settlement committed; the outbox relay publishes it later, off the
hospital's request path (no synchronous broker hop in a settlement).
"""

from __future__ import annotations

import uuid

from services.settlement.domain.records import Amounts, SettlementRecord
from shared import pb_enums
from shared.bus import (
    OutboxItem,
    exchange_name,
    settlement_reversed_key,
    settlement_settled_key,
)
from shared.pb.crossclear.common.v1 import common_pb2
from shared.pb.crossclear.events.v1 import events_pb2
from shared.vocabulary import Relation


def relation_number(relation: str) -> common_pb2.Relation.ValueType:
    """A coverage's relation as the protos number it; UNSPECIFIED for any other text."""
    if relation not in Relation.__members__:
        return common_pb2.RELATION_UNSPECIFIED
    number: common_pb2.Relation.ValueType = pb_enums.RELATION.number(Relation[relation])
    return number


def fund_amounts(a: Amounts) -> common_pb2.FundAmounts:
    """Who paid a settlement, as cleared: every fund by its ``<fund>_fen`` field, then the
    personal account and cash."""
    amounts = common_pb2.FundAmounts(
        medfee_sumamt_fen=a.medfee_sumamt_fen,
        **{f"{fund.value}_fen": fen for fund, fen in a.fund_pay_fen.items()},
        acct_fen=a.acct_pay_fen,
        cash_fen=a.psn_cash_pay_fen,
    )
    # The clearing side re-adds these: a settlement's parts must still sum to its total.
    parts_fen = sum(fen for field, fen in amounts.ListFields() if field.name != "medfee_sumamt_fen")
    assert parts_fen == amounts.medfee_sumamt_fen, amounts
    return amounts


def settlement_event(record: SettlementRecord, event_id: str) -> events_pb2.SettlementEvent:
    event = events_pb2.SettlementEvent(
        event_id=event_id,
        kind=(
            events_pb2.SETTLEMENT_EVENT_KIND_REVERSED
            if record.is_reversal
            else events_pb2.SETTLEMENT_EVENT_KIND_SETTLED
        ),
        setl_id=record.setl_id,
        reversed_setl_id=record.reverses_setl_id or "",
        mdtrt_id=record.mdtrt_id,
        hospital_code=record.hospital_code,
        insured_pool=record.insured_pool,
        treatment_pool=record.treatment_pool,
        clearing_period=record.clearing_period,
        psn_no=record.psn_no,
        insutype=pb_enums.INSUTYPE.number(record.insutype),
        med_type=pb_enums.MED_TYPE.number(record.med_type),
        relation=relation_number(record.relation),
        amounts=fund_amounts(record.amounts),
        medins_setl_id=record.msgid,
    )
    event.occurred_at.FromDatetime(record.setl_time)  # set in place, not built and copied
    return event


def settlement_outbox_item(namespace: str, record: SettlementRecord) -> OutboxItem:
    """The record's event as an outbox row, with a fresh event id."""
    event_id = str(uuid.uuid4())
    key_of = settlement_reversed_key if record.is_reversal else settlement_settled_key
    return OutboxItem(
        exchange=exchange_name(namespace, "settlement"),
        routing_key=key_of(record.insured_pool, record.treatment_pool),
        message=settlement_event(record, event_id),
        message_id=event_id,
    )
