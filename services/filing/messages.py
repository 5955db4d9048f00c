"""The filing service's events: domain values → the outbox items of the filing exchange,
which the use case emits in its unit of work.

The only place beside the servicer that knows protobuf: the use cases (``handlers``) say
what happened, this module says how it is written on the bus.
"""

from __future__ import annotations

import uuid
from enum import Enum

from services.filing.domain import Channel, Filing, chronic
from shared import clock
from shared.bus import OutboxItem, filing_key
from shared.pb.crossclear.events.v1 import events_pb2


class FilingEventKind(Enum):
    """What happened to a filing; the value is the routing key's word."""

    EFFECTIVE = "effective"
    CHANGED = "changed"
    CANCELLED = "cancelled"


_FILING_KINDS = {
    FilingEventKind.EFFECTIVE: events_pb2.FILING_EVENT_KIND_EFFECTIVE,
    FilingEventKind.CHANGED: events_pb2.FILING_EVENT_KIND_CHANGED,
    FilingEventKind.CANCELLED: events_pb2.FILING_EVENT_KIND_CANCELLED,
}

_CHRONIC_KINDS = {
    chronic.CertificationStatus.PENDING: (
        events_pb2.CHRONIC_CERTIFICATION_EVENT_KIND_PENDING,
        "chronic_pending",
    ),
    chronic.CertificationStatus.ACTIVE: (
        events_pb2.CHRONIC_CERTIFICATION_EVENT_KIND_ACTIVE,
        "chronic_active",
    ),
    chronic.CertificationStatus.CANCELLED: (
        events_pb2.CHRONIC_CERTIFICATION_EVENT_KIND_CANCELLED,
        "chronic_cancelled",
    ),
}


def filing_event(
    exchange: str,
    kind: FilingEventKind,
    psn_no: str,
    filing: Filing,
    channel: Channel,
) -> OutboxItem:
    """One event per new filing version, to the insured pool's and destination's queues."""
    event_id = uuid.uuid4()
    destination = filing.destination.pool_code or filing.destination.province_code
    assert destination, "a stored filing has a destination"
    until = filing.effective_until
    event = events_pb2.FilingEvent(
        event_id=str(event_id),
        kind=_FILING_KINDS[kind],
        filing_id=filing.filing_id,
        psn_no=psn_no,
        insured_pool=filing.insured_pool,
        destination=destination,
        category=filing.category.value,
        channel=channel.value,
        valid_from_date=filing.valid_from.isoformat(),
        valid_until_date=until.isoformat() if until else "",
    )
    event.occurred_at.GetCurrentTime()
    return OutboxItem(
        exchange, filing_key(kind.value, filing.insured_pool, destination), event, event_id
    )


def certification_event(exchange: str, certification: chronic.ChronicCertification) -> OutboxItem:
    """One event per state change, to the insured pool's region queue (filing exchange)."""
    event_id = uuid.uuid4()
    kind, word = _CHRONIC_KINDS[certification.status]
    c = certification
    until = c.effective_until
    event = events_pb2.ChronicCertificationEvent(
        event_id=str(event_id),
        kind=kind,
        certification_id=c.certification_id,
        psn_no=c.psn_no,
        insured_pool=c.certifying_pool,
        disease_code=c.disease_code,
        source=c.source.value,
        hospital_code=c.hospital_code or "",
        valid_from_date=c.valid_from.isoformat(),
        valid_until_date=until.isoformat() if until else "",
    )
    event.occurred_at.FromDatetime(clock.now())
    # The second region is where the application came from: the applying hospital's
    # pool, or the insured pool itself for its agency's decision.
    origin = c.hospital_code[1:7] if c.hospital_code else c.certifying_pool
    return OutboxItem(exchange, filing_key(word, c.certifying_pool, origin), event, event_id)
