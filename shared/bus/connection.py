"""The connection to RabbitMQ: one robust connection, one confirming channel for publishing.

``Bus.connect`` tries a bounded number of times, each attempt bounded by
``connect_timeout_s``, so a process that cannot reach the broker at start fails loudly
instead of hanging. Once connected, aio-pika's robust connection reconnects every
``reconnect_interval_s`` and restores channels and consumers; meanwhile ``is_healthy()``
is false (the ``crossclear.broker`` health entry reports NOT_SERVING; the services' own
readiness does not depend on it) and every publish fails within its timeout, so an
outbox row simply stays pending until the broker is back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Final

import aio_pika
import aiormq
import structlog
from aio_pika.abc import (
    AbstractExchange,
    AbstractRobustChannel,
    AbstractRobustConnection,
    HeadersType,
)
from pamqp.commands import Basic
from yarl import URL

from shared import clock

log = structlog.get_logger(__name__)

CONTENT_TYPE: Final = "application/x-protobuf"
CONNECT_ATTEMPTS_MAX: Final = 60
PREFETCH_MAX: Final = 10_000
# RabbitMQ accepts up to 128 MiB by default; our events are a few hundred bytes.
BODY_MAX_BYTES: Final = 4 * 1024 * 1024


class PublishFailed(Exception):
    """The broker did not confirm a message: nacked, timed out, or the channel failed.

    The message may or may not have reached a queue; the sender must publish it again
    (the consumers' inbox absorbs the duplicate).
    """

    def __init__(self, message_id: str, reason: str) -> None:
        super().__init__(f"message {message_id} not confirmed: {reason}")
        self.message_id = message_id
        self.reason = reason


class Bus:
    """Robust connection plus a publisher-confirms channel. Build it with ``Bus.connect``."""

    def __init__(
        self,
        connection: AbstractRobustConnection,
        publish_channel: AbstractRobustChannel,
        *,
        publish_timeout_s: float,
    ) -> None:
        assert 0 < publish_timeout_s <= 300, publish_timeout_s
        self._connection = connection
        self._publish_channel = publish_channel
        self._publish_timeout_s = publish_timeout_s
        self._exchanges: dict[str, AbstractExchange] = {}
        self.reconnects = 0  # times the connection was lost and made again
        self._reconnect_listeners: list[Callable[[], None]] = []
        connection.close_callbacks.add(self._on_connection_lost)
        connection.reconnect_callbacks.add(self._on_reconnected)

    @classmethod
    async def connect(
        cls,
        amqp_url: str,
        *,
        connect_timeout_s: float = 10.0,
        connect_attempts: int = 5,
        retry_interval_s: float = 2.0,
        reconnect_interval_s: float = 2.0,
        publish_timeout_s: float = 10.0,
        connection_name: str = "crossclear",
    ) -> Bus:
        assert 0 < connect_timeout_s <= 120, connect_timeout_s
        assert 1 <= connect_attempts <= CONNECT_ATTEMPTS_MAX, connect_attempts
        assert 0 <= retry_interval_s <= 60, retry_interval_s
        assert 0 < reconnect_interval_s <= 60, reconnect_interval_s
        connection = await _connect_with_retries(
            amqp_url,
            connect_timeout_s=connect_timeout_s,
            connect_attempts=connect_attempts,
            retry_interval_s=retry_interval_s,
            reconnect_interval_s=reconnect_interval_s,
            connection_name=connection_name,
        )
        try:
            channel = connection.channel(publisher_confirms=True)
            await asyncio.wait_for(channel.initialize(), connect_timeout_s)
        except BaseException:
            # Without its publishing channel the bus is useless; do not leak the socket.
            await connection.close()
            raise
        assert isinstance(channel, AbstractRobustChannel)
        return cls(connection, channel, publish_timeout_s=publish_timeout_s)

    def is_healthy(self) -> bool:
        """Connected now, and the publishing channel is open."""
        connection = self._connection
        return (
            not connection.is_closed
            and connection.connected.is_set()
            and not self._publish_channel.is_closed
        )

    def _on_connection_lost(self, _connection: object, exc: BaseException | None = None) -> None:
        if not self._connection.close_called:
            log.warning("broker connection lost, reconnecting", error=repr(exc))

    def _on_reconnected(self, _connection: object) -> None:
        self.reconnects += 1
        log.info("broker connection restored", reconnects=self.reconnects)
        for listener in list(self._reconnect_listeners):
            listener()

    def on_reconnect(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (synchronously, keep it cheap) after every reconnection."""
        assert len(self._reconnect_listeners) < 100, "reconnect listeners grow without bound"
        self._reconnect_listeners.append(listener)

    def forget_on_reconnect(self, listener: Callable[[], None]) -> None:
        if listener in self._reconnect_listeners:
            self._reconnect_listeners.remove(listener)

    async def open_channel(self, *, prefetch_count: int) -> AbstractRobustChannel:
        """A channel for consuming (no confirms), at most ``prefetch_count`` unacked messages."""
        assert 1 <= prefetch_count <= PREFETCH_MAX, prefetch_count
        channel = self._connection.channel(publisher_confirms=False)
        await asyncio.wait_for(channel.initialize(), self._publish_timeout_s)
        await channel.set_qos(prefetch_count=prefetch_count, timeout=self._publish_timeout_s)
        assert isinstance(channel, AbstractRobustChannel)
        return channel

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        *,
        message_id: str,
        message_type: str,
        headers: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> bool:
        """Publish one persistent message and wait for the broker's confirm.

        Returns False when the broker confirmed the message but could route it to no
        queue (nobody subscribes to that key); raises ``PublishFailed`` when it was not
        confirmed.
        """
        assert message_id, "every message carries its id: the consumers dedupe on it"
        assert message_type, "every message names its protobuf type"
        assert len(body) <= BODY_MAX_BYTES, len(body)
        message = aio_pika.Message(
            body,
            content_type=CONTENT_TYPE,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message_id,
            type=message_type,
            headers=_headers(headers),
            timestamp=clock.now(),
        )
        try:
            async with asyncio.timeout(timeout_s or self._publish_timeout_s):
                target = await self._exchange(exchange)
                confirmation = await target.publish(message, routing_key, mandatory=True)
        except TimeoutError as exc:
            raise PublishFailed(message_id, "no confirm within the timeout") from exc
        except aiormq.exceptions.DeliveryError as exc:
            # Basic.Nack: the broker refused it, e.g. a full queue with reject-publish.
            raise PublishFailed(message_id, f"nacked: {exc!r}") from exc
        except (aiormq.exceptions.AMQPError, aiormq.exceptions.ChannelInvalidStateError) as exc:
            # Channel or connection lost mid-publish: the confirm will never come.
            raise PublishFailed(message_id, f"channel failed: {exc!r}") from exc
        if isinstance(confirmation, Basic.Ack):
            return True
        # Mandatory message returned: confirmed, yet no queue is bound for the key.
        log.warning(
            "message unroutable", exchange=exchange, routing_key=routing_key, message_id=message_id
        )
        return False

    async def _exchange(self, name: str) -> AbstractExchange:
        exchange = self._exchanges.get(name)
        if exchange is None:
            # No passive declare: topology is declared at start-up, and publishing to a
            # missing exchange fails the publish (channel error), which the caller retries.
            exchange = await self._publish_channel.get_exchange(name, ensure=False)
            assert len(self._exchanges) < 1_000, "exchange cache grows without bound"
            self._exchanges[name] = exchange
        return exchange

    async def close(self) -> None:
        if self._connection.is_closed:
            return
        await self._connection.close()
        log.info("bus closed")


def _named(amqp_url: str, connection_name: str) -> URL:
    """The URL with ``?name=``: how the broker's tools show the connection (unless set)."""
    url = URL(amqp_url)
    return url if "name" in url.query else url.update_query(name=connection_name)


def _headers(headers: Mapping[str, str] | None) -> HeadersType:
    return dict(headers) if headers else {}


async def _connect_with_retries(
    amqp_url: str,
    *,
    connect_timeout_s: float,
    connect_attempts: int,
    retry_interval_s: float,
    reconnect_interval_s: float,
    connection_name: str,
) -> AbstractRobustConnection:
    for attempt in range(1, connect_attempts + 1):
        # aio_pika.connect_robust, but closing the connection object when its first connect
        # fails: dropped unclosed, it would try to close itself when collected, after its
        # event loop may be gone.
        connection = aio_pika.RobustConnection(
            URL(_named(amqp_url, connection_name)), reconnect_interval=reconnect_interval_s
        )
        try:
            await connection.connect(timeout=connect_timeout_s)
            return connection
        except BaseException as exc:
            with contextlib.suppress(Exception):
                await connection.close()
            if not isinstance(exc, (OSError, TimeoutError, aiormq.exceptions.AMQPError)):
                raise
            # Broker not up yet (a common race at deployment): retry a bounded number of
            # times, then let the process fail so the orchestrator sees it.
            if attempt == connect_attempts:
                raise
            log.warning(
                "broker connect failed, retrying",
                attempt=attempt,
                attempts_max=connect_attempts,
                error=repr(exc),
            )
            await asyncio.sleep(retry_interval_s)
    raise AssertionError("unreachable: the last attempt returns or raises")
