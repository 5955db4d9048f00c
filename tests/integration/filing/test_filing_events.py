"""Every effective filing, change and cancellation is published exactly once on the
filing exchange, through the outbox, with the pools in the routing key."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aio_pika
import asyncpg
import pytest
from aio_pika.abc import AbstractQueue

from shared.bus import exchange_name
from shared.config import Settings
from shared.pb.crossclear.events.v1 import events_pb2
from shared.pb.crossclear.filing.v1 import filing_pb2
from tests.support.polling import wait_until

from .support import GUANGZHOU, NANNING, SHENZHEN, Api, rpc_error, submission

EVENT_TIMEOUT_S = 10.0
QUIET_S = 0.5  # after the expected events: long enough for a duplicate to show up


@pytest.fixture
async def filing_queue(settings: Settings, bus_ready: None) -> AsyncIterator[AbstractQueue]:
    """A temporary queue bound to every filing event of the run's namespace."""
    connection = await aio_pika.connect(settings.amqp_url)
    channel = await connection.channel()
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(exchange_name(settings.bus_namespace, "filing"), routing_key="filing.#")
    yield queue
    await connection.close()


async def _events_of(
    queue: AbstractQueue, psn_no: str, expected: int
) -> list[tuple[str, events_pb2.FilingEvent]]:
    """(routing key, event) of the person's events: ``expected`` of them, then quiet."""
    found: list[tuple[str, events_pb2.FilingEvent]] = []

    async def taken() -> bool:
        """Take what the queue holds now; whether the expected count has arrived."""
        while (message := await queue.get(fail=False)) is not None:
            await message.ack()
            if message.type == events_pb2.ChronicCertificationEvent.DESCRIPTOR.full_name:
                continue  # the filing exchange also carries chronic certifications
            event = events_pb2.FilingEvent.FromString(message.body)
            assert message.message_id == event.event_id
            assert message.type == events_pb2.FilingEvent.DESCRIPTOR.full_name
            if event.psn_no == psn_no:
                found.append((message.routing_key or "", event))
        return len(found) >= expected

    await wait_until(taken, timeout_s=EVENT_TIMEOUT_S, what=f"{expected} events of the person")
    await asyncio.sleep(QUIET_S)
    await taken()
    return found


async def test_each_effective_filing_change_and_cancel_is_published_once(
    api: Api, filing_queue: AbstractQueue
) -> None:
    person = await api.new_person(NANNING)
    request = submission(person.psn_no, pool_code=GUANGZHOU, channel=filing_pb2.CHANNEL_WEB)
    filed = await api.submit(request)
    await api.submit(request)  # a retry publishes nothing more
    change = filing_pb2.ChangeFilingRequest(
        channel=filing_pb2.CHANNEL_WEB,
        channel_request_id="move",
        filing_id=filed.filing.filing_id,
        reason=filing_pb2.CHANGE_REASON_PERSONAL_REQUEST,
        destination=filing_pb2.Destination(pool_code=SHENZHEN),
    )
    await api.call("ChangeFiling", change, "channel-web")
    cancel = filing_pb2.CancelFilingRequest(
        channel=filing_pb2.CHANNEL_COUNTER,
        channel_request_id="stop",
        filing_id=filed.filing.filing_id,
        reason=filing_pb2.CHANGE_REASON_PERSONAL_REQUEST,
    )
    await api.call("CancelFiling", cancel, NANNING)  # at the agency's counter

    events = await _events_of(filing_queue, person.psn_no, expected=3)
    kinds = sorted((event.kind, key) for key, event in events)
    assert kinds == [
        (events_pb2.FILING_EVENT_KIND_EFFECTIVE, f"filing.effective.{NANNING}.{GUANGZHOU}"),
        (events_pb2.FILING_EVENT_KIND_CHANGED, f"filing.changed.{NANNING}.{SHENZHEN}"),
        (events_pb2.FILING_EVENT_KIND_CANCELLED, f"filing.cancelled.{NANNING}.{SHENZHEN}"),
    ]
    by_kind = {event.kind: event for _, event in events}
    effective = by_kind[events_pb2.FILING_EVENT_KIND_EFFECTIVE]
    assert effective.filing_id == filed.filing.filing_id
    assert (effective.insured_pool, effective.destination) == (NANNING, GUANGZHOU)
    assert (effective.category, effective.channel) == ("OTHER_TEMPORARY", "WEB")
    assert effective.valid_from_date == filed.filing.valid_from_date
    assert effective.valid_until_date == filed.filing.valid_until_date
    cancelled = by_kind[events_pb2.FILING_EVENT_KIND_CANCELLED]
    assert (
        cancelled.channel == "COUNTER"
        and cancelled.valid_until_date < filed.filing.valid_until_date
    )
    assert len({event.event_id for _, event in events}) == 3


async def test_each_write_enqueues_one_event_in_its_own_transaction(
    api: Api, filing_db: asyncpg.Pool
) -> None:
    person = await api.new_person(NANNING)
    filed = await api.submit(submission(person.psn_no, pool_code=GUANGZHOU))
    refused = filing_pb2.ChangeFilingRequest(
        channel=filing_pb2.CHANNEL_APP,
        channel_request_id="nothing",
        filing_id=filed.filing.filing_id,
        reason=filing_pb2.CHANGE_REASON_PERSONAL_REQUEST,
        destination=filing_pb2.Destination(pool_code=GUANGZHOU),  # already the destination
    )
    await rpc_error(api.call("ChangeFiling", refused, "channel-app"))
    rows = await filing_db.fetch(
        "SELECT routing_key, message_type, payload FROM outbox"
        " WHERE position($1::bytea IN payload) > 0",
        person.psn_no.encode(),
    )
    assert [(r["routing_key"], r["message_type"]) for r in rows] == [
        (f"filing.effective.{NANNING}.{GUANGZHOU}", events_pb2.FilingEvent.DESCRIPTOR.full_name)
    ]
    event = events_pb2.FilingEvent.FromString(rows[0]["payload"])
    assert (event.filing_id, event.psn_no) == (filed.filing.filing_id, person.psn_no)
