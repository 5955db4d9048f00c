"""Inbox consumer: each message's effect is applied exactly once, however often it arrives.

Deliveries are gathered into batches (up to ``batch_size``, or whatever arrived within
``batch_wait_ms``). A batch is one transaction: record the message ids in ``inbox`` (a
conflict means "seen before"), call the handler with the new deliveries only, commit, and
only then acknowledge. A crash before the commit redelivers the messages; a crash after
it redelivers them too, and the inbox skips them.

Failures:
- no message id, or the handler raises ``PoisonMessage``: rejected without requeue, so
  the queue dead-letters it at once;
- the handler raises anything else: the batch rolls back and its messages are retried
  one by one, so one bad message does not block the others; a message that still fails
  is returned to the queue (nack, requeue) and the queue's delivery limit dead-letters it
  after a few attempts, while the messages behind it go on being consumed;
- PostgreSQL unreachable (before the handler runs, or at commit): the batch is retried in
  place with a bounded backoff, without spending the messages' delivery attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Final, TypeAlias

import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, AbstractRobustChannel
from prometheus_client import Histogram

from shared import clock
from shared.bus.connection import PREFETCH_MAX, Bus
from shared.bus.pg import DATABASE_UNAVAILABLE, Conn, Pool
from shared.faults import describe, is_transient

log = structlog.get_logger(__name__)


BATCH_SIZE_MAX: Final = 1_000
CONSUMER_NAME_MAX_CHARS: Final = 100
# Message ids are kept long past any redelivery the broker could still make (the outbox
# keeps published rows 7 days), then purged in bounded batches.
INBOX_RETENTION_DAYS: Final = 30
INBOX_PURGE_INTERVAL_S: Final = 600.0
INBOX_PURGE_BATCH: Final = 5_000
INBOX_PURGE_BATCHES_MAX: Final = 20


class PoisonMessage(Exception):
    """Raised by a handler for a message that can never succeed (undecodable, invalid).

    The message is dead-lettered at once instead of being retried.
    """


@dataclass(frozen=True)
class Delivery:
    message_id: str
    routing_key: str
    message_type: str
    body: bytes
    headers: Mapping[str, object]
    redelivered: bool


# Called inside the batch's transaction with the deliveries not seen before.
Handler: TypeAlias = Callable[[Conn, list[Delivery]], Awaitable[None]]


@dataclass
class ConsumerStats:
    """Counters since start, for tests and metrics."""

    received: int = 0
    handled: int = 0  # passed to the handler and committed
    duplicates: int = 0  # already in the inbox (or twice in one batch): acked, no effect
    rejected: int = 0  # dead-lettered at once: no message id, or PoisonMessage
    requeued: int = 0  # handler kept failing: back to the queue, one delivery spent
    batches: int = 0
    ack_failures: int = 0

    @property
    def settled(self) -> int:
        """Deliveries done with: applied, skipped as duplicates, dead-lettered or returned."""
        return self.handled + self.duplicates + self.rejected + self.requeued


class _HandlerFailed(Exception):
    def __init__(self, cause: Exception) -> None:
        super().__init__(repr(cause))
        self.cause = cause


class _DatabaseUnavailable(Exception):
    pass


INBOX_DELAY = Histogram(
    "crossclear_inbox_delay_seconds",
    "From an event's publication to its effect committed by the consumer (the lag)",
    ["queue"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800, 3600),
)

_RECORD_INBOX = """
INSERT INTO inbox (consumer, message_id, received_at)
SELECT $1, unnest($2::text[]), $3
ON CONFLICT DO NOTHING
RETURNING message_id
"""


class InboxConsumer:
    """Consumes one queue into one schema (the pool's search_path) through the inbox."""

    def __init__(
        self,
        bus: Bus,
        pool: Pool,
        queue: str,
        consumer_name: str,
        handler: Handler,
        *,
        batch_size: int = 200,
        batch_wait_ms: int = 50,
        prefetch: int | None = None,
        db_timeout_s: float = 10.0,
        db_retries_max: int = 30,
        db_backoff_max_s: float = 5.0,
        stop_timeout_s: float = 30.0,
    ) -> None:
        prefetch = prefetch if prefetch is not None else min(2 * batch_size, PREFETCH_MAX)
        assert 1 <= batch_size <= BATCH_SIZE_MAX, batch_size
        assert 0 <= batch_wait_ms <= 10_000, batch_wait_ms
        assert batch_size <= prefetch <= PREFETCH_MAX, (batch_size, prefetch)
        assert 0 < len(consumer_name) <= CONSUMER_NAME_MAX_CHARS, consumer_name
        assert 0 < db_timeout_s <= 120, db_timeout_s
        assert 0 <= db_retries_max <= 1_000, db_retries_max
        assert 0 < db_backoff_max_s <= 60, db_backoff_max_s
        assert 0 < stop_timeout_s <= 600, stop_timeout_s
        self._bus = bus
        self._pool = pool
        self._queue_name = queue
        self._consumer_name = consumer_name
        self._handler = handler
        self._batch_size = batch_size
        self._batch_wait_s = batch_wait_ms / 1000
        self._prefetch = prefetch
        self._db_timeout_s = db_timeout_s
        self._db_retries_max = db_retries_max
        self._db_backoff_max_s = db_backoff_max_s
        self._stop_timeout_s = stop_timeout_s
        # The broker sends at most `prefetch` unacked messages per channel, so the buffer
        # never blocks the delivery callbacks for long.
        self._buffer: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue(maxsize=prefetch)
        self._stopping = asyncio.Event()
        self._channel: AbstractRobustChannel | None = None
        self._queue: AbstractQueue | None = None
        self._consumer_tag: str | None = None
        self._worker: asyncio.Task[None] | None = None
        self._purger: asyncio.Task[None] | None = None
        self.stats = ConsumerStats()

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        assert self._worker is None, "a consumer starts once"
        self._channel = await self._bus.open_channel(prefetch_count=self._prefetch)
        self._queue = await self._channel.get_queue(self._queue_name, ensure=True)
        self._consumer_tag = await self._queue.consume(self._on_message)
        self._worker = asyncio.create_task(self._work(), name=f"inbox:{self._consumer_name}")
        self._purger = asyncio.create_task(
            self._purge_loop(), name=f"inbox-purge:{self._consumer_name}"
        )
        log.info("consumer started", queue=self._queue_name, consumer=self._consumer_name)

    def is_running(self) -> bool:
        return self._worker is not None and not self._worker.done()

    async def purge_once(self, retention_days: int = INBOX_RETENTION_DAYS) -> int:
        """Delete this consumer's inbox rows older than the retention; bounded work."""
        deleted = 0
        for _ in range(INBOX_PURGE_BATCHES_MAX):
            status = await self._pool.execute(
                """DELETE FROM inbox WHERE ctid IN (
                       SELECT ctid FROM inbox
                       WHERE consumer = $1 AND received_at < $2
                       LIMIT $3)""",
                self._consumer_name,
                clock.now() - timedelta(days=retention_days),
                INBOX_PURGE_BATCH,
            )
            count = int(status.split()[-1])
            deleted += count
            if count < INBOX_PURGE_BATCH:
                break
        return deleted

    async def _purge_loop(self) -> None:
        while True:
            await asyncio.sleep(INBOX_PURGE_INTERVAL_S)
            try:
                deleted = await self.purge_once()
                if deleted:
                    log.info("inbox purged", consumer=self._consumer_name, deleted=deleted)
            except Exception as exc:  # purging is housekeeping: try again next interval
                log.warning("inbox purge failed", consumer=self._consumer_name, error=repr(exc))

    async def stop(self) -> None:
        """Stop taking messages, finish those already received, close the channel."""
        if self._purger is not None:
            self._purger.cancel()
        if self._worker is None:
            return
        await self._cancel_consumer()
        self._stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._worker), self._stop_timeout_s)
        except TimeoutError:
            # The handler is stuck: abandon the batch; closing the channel returns its
            # unacked messages to the queue, and nothing of it was committed.
            log.error("consumer did not finish in time", queue=self._queue_name)
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        if self._channel is not None and not self._channel.is_closed:
            await self._channel.close()
        log.info("consumer stopped", queue=self._queue_name, consumer=self._consumer_name)

    async def _cancel_consumer(self) -> None:
        if self._queue is None or self._consumer_tag is None:
            return
        try:
            await self._queue.cancel(self._consumer_tag, timeout=self._db_timeout_s)
        except Exception as exc:
            # The connection is down: the broker has already dropped the consumer.
            log.warning("consumer cancel failed", queue=self._queue_name, error=repr(exc))

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        await self._buffer.put(message)

    # -- gathering batches -------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            batch = await self._next_batch()
            if not batch:
                return
            self.stats.batches += 1
            self.stats.received += len(batch)
            try:
                await self._process(batch)
            except Exception as error:
                # A bug in this module or a lost broker channel, not a bad message: return
                # the batch (requeue) and keep consuming rather than silently stop.
                if is_transient(error):
                    log.warning(
                        "batch processing interrupted",
                        queue=self._queue_name,
                        fault=describe(error),
                    )
                else:
                    log.exception("batch processing crashed", queue=self._queue_name)
                await self._requeue_all(batch)

    async def _next_batch(self) -> list[AbstractIncomingMessage]:
        first = await self._first_message()
        if first is None:
            return []
        batch = [first]
        deadline_s = asyncio.get_running_loop().time() + self._batch_wait_s
        while len(batch) < self._batch_size:
            if not self._buffer.empty():
                batch.append(self._buffer.get_nowait())
                continue
            remaining_s = deadline_s - asyncio.get_running_loop().time()
            if remaining_s <= 0 or self._stopping.is_set():
                break
            try:
                batch.append(await asyncio.wait_for(self._buffer.get(), remaining_s))
            except TimeoutError:
                break
        return batch

    async def _first_message(self) -> AbstractIncomingMessage | None:
        """The next message; None once stopping and everything received is processed."""
        while True:
            if not self._buffer.empty():
                return self._buffer.get_nowait()
            if self._stopping.is_set():
                return None
            getter = asyncio.ensure_future(self._buffer.get())
            stopper = asyncio.ensure_future(self._stopping.wait())
            await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if getter.done():
                return getter.result()
            # A cancelled get leaves its item in the queue; the loop takes it.
            getter.cancel()

    # -- processing --------------------------------------------------------------------

    async def _process(self, batch: list[AbstractIncomingMessage]) -> None:
        identified = await self._reject_anonymous(batch)
        if len(identified) <= 1:
            for message in identified:
                await self._process_alone(message)
            return
        try:
            await self._apply_and_ack(identified)
            return
        except _HandlerFailed as failed:
            log.warning(
                "batch failed, retrying one by one",
                queue=self._queue_name,
                batch_size=len(identified),
                error=repr(failed.cause),
            )
        except _DatabaseUnavailable:
            await self._requeue_all(identified)
            return
        for message in identified:
            await self._process_alone(message)

    async def _process_alone(self, message: AbstractIncomingMessage) -> None:
        with structlog.contextvars.bound_contextvars(message_id=message.message_id):
            try:
                await self._apply_and_ack([message])
            except _HandlerFailed as failed:
                await self._settle_failed(message, failed.cause)
            except _DatabaseUnavailable:
                await self._requeue_all([message])

    async def _reject_anonymous(
        self, batch: list[AbstractIncomingMessage]
    ) -> list[AbstractIncomingMessage]:
        identified = [message for message in batch if message.message_id]
        for message in batch:
            if not message.message_id:
                # Without an id the inbox cannot dedupe it: it could be applied twice.
                log.error(
                    "message without id, dead-lettering",
                    queue=self._queue_name,
                    routing_key=message.routing_key,
                )
                await self._settle(message, reject=True)
        return identified

    async def _apply_and_ack(self, messages: list[AbstractIncomingMessage]) -> None:
        deliveries = _unique_deliveries(messages)
        fresh = await self._apply_with_retries(deliveries)
        self.stats.handled += fresh
        self.stats.duplicates += len(messages) - fresh
        applied_at = clock.now()
        for message in messages:
            if message.timestamp is not None:
                delay_s = (applied_at - message.timestamp.astimezone(UTC)).total_seconds()
                INBOX_DELAY.labels(self._queue_name).observe(max(0.0, delay_s))
        await self._ack_all(messages)

    async def _apply_with_retries(self, deliveries: list[Delivery]) -> int:
        for attempt in range(self._db_retries_max + 1):
            try:
                return await self._apply(deliveries)
            except _HandlerFailed:
                raise
            except DATABASE_UNAVAILABLE as exc:
                # PostgreSQL unreachable, or the commit failed: nothing was applied; retry
                # the same deliveries, holding them (their delivery attempts are not spent).
                if attempt == self._db_retries_max or self._stopping.is_set():
                    # Expected during an outage: the messages go back to the queue intact.
                    log.warning(
                        "database unavailable, returning messages",
                        queue=self._queue_name,
                        attempts=attempt + 1,
                        error=repr(exc),
                    )
                    raise _DatabaseUnavailable() from exc
                log.warning(
                    "database unavailable, retrying",
                    queue=self._queue_name,
                    attempt=attempt + 1,
                    error=repr(exc),
                )
                await asyncio.sleep(min(self._db_backoff_max_s, 0.1 * 2 ** min(attempt, 10)))
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _apply(self, deliveries: list[Delivery]) -> int:
        """One transaction: record the ids, handle the new deliveries; return their count."""
        async with self._pool.acquire(timeout=self._db_timeout_s) as conn, conn.transaction():
            ids = [delivery.message_id for delivery in deliveries]
            new_ids = {
                r["message_id"]
                for r in await conn.fetch(_RECORD_INBOX, self._consumer_name, ids, clock.now())
            }
            fresh = [delivery for delivery in deliveries if delivery.message_id in new_ids]
            assert len(fresh) == len(new_ids), (len(fresh), len(new_ids))
            if fresh:
                try:
                    await self._handler(conn, fresh)
                except Exception as exc:
                    # Raised through the transaction, which rolls back the inbox rows too.
                    # A lost connection inside the handler is the database's fault, not
                    # the message's: it must not spend the message's delivery attempts.
                    if is_transient(exc):
                        raise
                    raise _HandlerFailed(exc) from exc
        return len(fresh)

    # -- settling ----------------------------------------------------------------------

    async def _settle_failed(self, message: AbstractIncomingMessage, cause: Exception) -> None:
        with structlog.contextvars.bound_contextvars(message_id=message.message_id):
            if isinstance(cause, PoisonMessage):
                log.error(
                    "poison message, dead-lettering",
                    queue=self._queue_name,
                    message_type=message.type,
                    error=repr(cause),
                )
                await self._settle(message, reject=True)
                return
            log.warning(
                "handler failed, returning message",
                queue=self._queue_name,
                message_type=message.type,
                redelivered=message.redelivered,
                delivery_count=_delivery_count(message),
                error=repr(cause),
            )
            await self._settle(message, reject=False)

    async def _requeue_all(self, messages: Sequence[AbstractIncomingMessage]) -> None:
        for message in messages:
            await self._settle(message, reject=False)

    async def _settle(self, message: AbstractIncomingMessage, *, reject: bool) -> None:
        """reject: dead-letter now; else requeue (spends one of its delivery attempts)."""
        try:
            if reject:
                await message.reject(requeue=False)
                self.stats.rejected += 1
            else:
                await message.nack(requeue=True)
                self.stats.requeued += 1
        except Exception as exc:
            # Channel gone: the broker returns the unacked message by itself.
            log.warning("settle failed", message_id=message.message_id, error=repr(exc))

    async def _ack_all(self, messages: Sequence[AbstractIncomingMessage]) -> None:
        for message in messages:
            try:
                await message.ack()
            except Exception as exc:
                # Committed but not acked (channel lost): the broker redelivers it and the
                # inbox acknowledges the copy without a second effect.
                self.stats.ack_failures += 1
                log.warning("ack failed", message_id=message.message_id, error=repr(exc))


def _unique_deliveries(messages: Sequence[AbstractIncomingMessage]) -> list[Delivery]:
    """One delivery per message id: a batch can hold a message and its re-publication."""
    seen: dict[str, Delivery] = {}
    for message in messages:
        assert message.message_id, "anonymous messages are rejected before"
        if message.message_id not in seen:
            seen[message.message_id] = _delivery_of(message)
    return list(seen.values())


def _delivery_of(message: AbstractIncomingMessage) -> Delivery:
    assert message.message_id
    return Delivery(
        message_id=message.message_id,
        routing_key=message.routing_key or "",
        message_type=message.type or "",
        body=message.body,
        headers=dict(message.headers),
        redelivered=bool(message.redelivered),
    )


def _delivery_count(message: AbstractIncomingMessage) -> int:
    count = message.headers.get("x-delivery-count", 0)
    return count if isinstance(count, int) else 0
