"""A pooling region's own broker user, set up by the project's command on the plain
broker: it reads its own queue and nothing else; the reference consumer decodes a
statement and acknowledges it."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from urllib.parse import quote, urlsplit, urlunsplit

import aio_pika
import aiormq
import pytest
from google.protobuf.message import Message

from deploy.regions.reference_consumer import consume
from shared.bus import Bus, exchange_name, region_queue
from shared.bus.names import statement_issued_key
from shared.config import Settings
from shared.pb.crossclear.events.v1 import events_pb2
from shared.region_access import grant, revoke

pytestmark = pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="needs rabbitmqctl")
OWN, OTHER = "440100", "110000"  # regions of the bus tests' topology


@pytest.fixture
async def region_url(settings: Settings, topology: str) -> AsyncIterator[str]:
    access, password = await grant(topology, OWN)
    parts = urlsplit(settings.amqp_url)
    host = parts.netloc.rsplit("@", 1)[-1]
    yield urlunsplit(
        parts._replace(netloc=f"{quote(access.user)}:{quote(password, safe='')}@{host}")
    )
    await revoke(topology, OWN)


async def test_a_region_reads_only_its_own_queue(bus: Bus, topology: str, region_url: str) -> None:
    statement = events_pb2.StatementIssued(
        event_id=str(uuid.uuid4()), statement_id="ST-1", period="202606",
        insured_pool="450100", treatment_pool=OWN, total_fen=123_456,
    )  # fmt: skip
    routed = await bus.publish(
        exchange_name(topology, "clearing"),
        statement_issued_key(OWN),
        statement.SerializeToString(),
        message_id=statement.event_id,
        message_type=events_pb2.StatementIssued.DESCRIPTOR.full_name,
    )
    assert routed
    received: list[tuple[str, Message]] = []

    async def handle(message_id: str, event: Message) -> None:
        received.append((message_id, event))

    assert await consume(region_url, region_queue(topology, OWN), handle, limit=1) == 1
    assert received == [(statement.event_id, statement)]

    connection = await aio_pika.connect(region_url)
    try:
        for forbidden in (
            lambda ch: ch.get_queue(region_queue(topology, OTHER), ensure=True),
            lambda ch: ch.declare_queue(f"{topology}.region-made-{OWN}"),
            lambda ch: ch.default_exchange.publish(
                aio_pika.Message(b"x"), routing_key=region_queue(topology, OWN)
            ),
        ):
            channel = await connection.channel()
            with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
                queue = await forbidden(channel)
                if isinstance(queue, aio_pika.abc.AbstractQueue):
                    await queue.consume(lambda _m: None)
                await channel.close()
    finally:
        await connection.close()
