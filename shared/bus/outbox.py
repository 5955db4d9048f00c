"""Transactional outbox: write events with the change they describe, publish them later.

``enqueue`` / ``enqueue_many`` insert rows in the CALLER's transaction, so an event exists
if and only if its change committed. ``OutboxRelay`` publishes pending rows with publisher
confirms and then marks them. Several relays may run over one outbox (``FOR UPDATE SKIP
LOCKED`` gives each row to one of them). A relay that dies after the broker confirmed and
before the mark commits leaves the rows pending: they are published again, and the
consumers' inbox absorbs the duplicate. Order is not preserved across rows (a failed row
is retried after rows behind it), so consumers must not depend on it.

A message the broker confirms but cannot route to any queue (``publish`` returns False:
no binding for its routing key) is NOT marked published: it stays pending with its error,
is counted (``crossclear_outbox_unroutable_total``) and logged at ERROR, and is retried
with the failed rows — which are taken after fresh rows, so they never block the outbox.

While backing off after a failure the relay wakes as soon as the broker connection is
restored, or on NOTIFY once the broker is healthy again, so a backlog built during a
broker outage drains within moments of its return.

Cost: one transaction per batch (BEGIN, SELECT, publish up to ``batch_size`` rows
concurrently with confirms, UPDATE, COMMIT): four round trips to PostgreSQL and one
confirm round trip to the broker per batch of up to 200 events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Final, TypeAlias

import asyncpg
import structlog
from google.protobuf.message import Message
from prometheus_client import Counter

from shared import clock
from shared.bus.connection import BODY_MAX_BYTES, Bus
from shared.bus.pg import DATABASE_UNAVAILABLE, Conn, Pool, is_open
from shared.db import check_schema_name
from shared.faults import describe, is_transient

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

log = structlog.get_logger(__name__)

# Called with the message ids the broker just confirmed, before their rows are marked.
AfterPublish: TypeAlias = Callable[[Sequence[str]], Awaitable[None]]

ENQUEUE_BATCH_MAX: Final = 10_000
HEADERS_MAX: Final = 32
KEY_MAX_BYTES: Final = 255  # AMQP short string: exchange names and routing keys
BATCH_SIZE_MAX: Final = 10_000
LAST_ERROR_MAX_CHARS: Final = 1_000
# After this many failed attempts a row is logged as an error on every further attempt.
ATTEMPTS_ALARM: Final = 10
UNROUTABLE: Final = "unroutable"
# While backing off, how often the relay looks whether the broker came back.
_BACKOFF_TICK_S: Final = 0.25

OUTBOX_UNROUTABLE = Counter(
    "crossclear_outbox_unroutable_total",
    "Events the broker confirmed but could route to no queue; they stay unpublished",
    ["crossclear_service"],
)
OUTBOX_PUBLISH_FAILED = Counter(
    "crossclear_outbox_publish_failures_total",
    "Outbox publish attempts that were not confirmed (nack, timeout, lost channel)",
    ["crossclear_service"],
)


@dataclass(frozen=True)
class OutboxItem:
    exchange: str
    routing_key: str
    message: Message
    message_id: uuid.UUID | str
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class RelayStats:
    """Counters since construction, for tests and metrics."""

    passes: int = 0
    published: int = 0
    failed: int = 0
    unroutable: int = 0


@dataclass(frozen=True)
class RelayPass:
    """What one relay pass did: rows it locked, rows confirmed and marked, rows failed."""

    selected: int
    published: int
    failed: int

    def __post_init__(self) -> None:
        assert self.published + self.failed == self.selected, self


_INSERT = """
INSERT INTO outbox (message_id, exchange, routing_key, message_type, payload, headers,
                    created_at)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)
"""


async def enqueue(
    conn: Conn,
    *,
    exchange: str,
    routing_key: str,
    message: Message,
    message_id: uuid.UUID | str,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Add one event to the outbox, in the caller's open transaction."""
    await enqueue_many(
        conn, [OutboxItem(exchange, routing_key, message, message_id, headers or {})]
    )


# For a write that inserts its event in the same statement as its change (one round trip
# instead of two): the outbox columns, and ``outbox_values`` gives one row's values in
# that order (created_at from the clock included).
OUTBOX_COLUMNS: Final = (
    "message_id",
    "exchange",
    "routing_key",
    "message_type",
    "payload",
    "headers",
    "created_at",
)


def outbox_values(item: OutboxItem) -> tuple[object, ...]:
    return (*_row_of(item), clock.now())


async def enqueue_many(conn: Conn, items: Sequence[OutboxItem]) -> None:
    """Add events to the outbox, in the caller's open transaction (one executemany)."""
    # Outside a transaction the row would commit on its own: the event could then be
    # published for a change that later rolls back. That is a programming error.
    assert conn.is_in_transaction(), "enqueue the event in the transaction of its change"
    assert len(items) <= ENQUEUE_BATCH_MAX, len(items)
    if not items:
        return
    created_at = clock.now()
    await conn.executemany(_INSERT, [(*_row_of(item), created_at) for item in items])


def _row_of(item: OutboxItem) -> tuple[object, ...]:
    message_id = uuid.UUID(str(item.message_id))
    message_type = type(item.message).DESCRIPTOR.full_name
    payload = item.message.SerializeToString()
    assert 0 < len(item.exchange.encode()) <= KEY_MAX_BYTES, item.exchange
    assert 0 < len(item.routing_key.encode()) <= KEY_MAX_BYTES, item.routing_key
    assert len(payload) <= BODY_MAX_BYTES, len(payload)
    assert len(item.headers) <= HEADERS_MAX, len(item.headers)
    assert all(isinstance(v, str) for v in item.headers.values()), item.headers
    return (
        message_id,
        item.exchange,
        item.routing_key,
        message_type,
        payload,
        json.dumps(dict(item.headers)),
    )


@dataclass(frozen=True)
class _Row:
    id: int
    message_id: str
    exchange: str
    routing_key: str
    message_type: str
    payload: bytes
    headers: dict[str, str]
    attempts: int

    @classmethod
    def of(cls, record: asyncpg.Record) -> _Row:
        headers = json.loads(record["headers"])
        assert isinstance(headers, dict), headers
        return cls(
            id=record["id"],
            message_id=str(record["message_id"]),
            exchange=record["exchange"],
            routing_key=record["routing_key"],
            message_type=record["message_type"],
            payload=bytes(record["payload"]),
            headers={str(k): str(v) for k, v in headers.items()},
            attempts=record["attempts"],
        )


class OutboxRelay:
    """Publishes a schema's pending outbox rows; ``run()`` until ``stop()``."""

    def __init__(
        self,
        pool: Pool,
        bus: Bus,
        schema: str,
        *,
        batch_size: int = 200,
        poll_interval_s: float = 1.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        passes_per_wake_max: int = 50,
        db_timeout_s: float = 10.0,
        retention_days: int = 7,
        cleanup_interval_s: float = 600.0,
        cleanup_batch_size: int = 5_000,
        cleanup_batches_max: int = 20,
        after_publish: AfterPublish | None = None,
    ) -> None:
        assert 1 <= batch_size <= BATCH_SIZE_MAX, batch_size
        assert 0 < poll_interval_s <= 60, poll_interval_s
        assert 0 < backoff_initial_s <= backoff_max_s <= 600, (backoff_initial_s, backoff_max_s)
        assert 1 <= passes_per_wake_max <= 10_000, passes_per_wake_max
        assert 0 < db_timeout_s <= 120, db_timeout_s
        assert 1 <= retention_days <= 366, retention_days
        assert 1 <= cleanup_interval_s <= 86_400, cleanup_interval_s
        assert 1 <= cleanup_batch_size <= 100_000, cleanup_batch_size
        assert 1 <= cleanup_batches_max <= 1_000, cleanup_batches_max
        self._pool = pool
        self._bus = bus
        self._schema = check_schema_name(schema)
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._passes_per_wake_max = passes_per_wake_max
        self._db_timeout_s = db_timeout_s
        self._retention_days = retention_days
        self._cleanup_interval_s = cleanup_interval_s
        self._cleanup_batch_size = cleanup_batch_size
        self._cleanup_batches_max = cleanup_batches_max
        self._after_publish = after_publish
        self._channel = f"{schema}_outbox"  # the NOTIFY channel of the outbox trigger
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._running = False
        self._listen_conn: PoolConnectionProxy[asyncpg.Record] | None = None
        self._next_cleanup_at = 0.0
        self.stats = RelayStats()
        table = f'"{self._schema}".outbox'
        self._select_sql = f"""
            SELECT id, message_id, exchange, routing_key, message_type, payload, headers,
                   attempts
              FROM {table}
             WHERE published_at IS NULL
             ORDER BY attempts, id
             LIMIT $1
               FOR UPDATE SKIP LOCKED"""
        self._mark_sql = f"UPDATE {table} SET published_at = $2 WHERE id = ANY($1::bigint[])"
        self._failure_sql = (
            f"UPDATE {table} SET attempts = attempts + 1, last_error = $2 WHERE id = $1"
        )
        # ORDER BY id walks the primary key from the oldest rows, which are the ones due.
        self._cleanup_sql = f"""
            DELETE FROM {table} WHERE id IN (
                SELECT id FROM {table}
                 WHERE published_at < $1
                 ORDER BY id
                 LIMIT $2
                   FOR UPDATE SKIP LOCKED)"""

    # -- one pass ----------------------------------------------------------------------

    async def publish_pending_once(self) -> RelayPass:
        """Lock up to batch_size pending rows, publish them, mark the confirmed ones."""
        async with self._pool.acquire(timeout=self._db_timeout_s) as conn, conn.transaction():
            records = await conn.fetch(self._select_sql, self._batch_size)
            if not records:
                return RelayPass(selected=0, published=0, failed=0)
            rows = [_Row.of(record) for record in records]
            errors = await asyncio.gather(*(self._publish_row(row) for row in rows))
            confirmed = [row for row, error in zip(rows, errors, strict=True) if error is None]
            failed = [(row, error) for row, error in zip(rows, errors, strict=True) if error]
            if confirmed and self._after_publish is not None:
                await self._after_publish([row.message_id for row in confirmed])
            await self._mark(conn, confirmed)
            await self._record_failures(conn, failed)
        result = RelayPass(selected=len(rows), published=len(confirmed), failed=len(failed))
        self.stats.passes += 1
        self.stats.published += result.published
        self.stats.failed += result.failed
        log.debug(
            "outbox pass", schema=self._schema, published=result.published, failed=result.failed
        )
        return result

    async def _publish_row(self, row: _Row) -> str | None:
        """Publish one row; return None when confirmed, else why it was not."""
        try:
            routed = await self._bus.publish(
                row.exchange,
                row.routing_key,
                row.payload,
                message_id=row.message_id,
                message_type=row.message_type,
                headers=row.headers,
            )
        except Exception as exc:
            # Whatever went wrong (nack, timeout, lost channel, a row the broker cannot
            # take), the row stays pending with its error and is retried; it must not
            # hold back the other rows of the batch.
            OUTBOX_PUBLISH_FAILED.labels(self._schema).inc()
            return repr(exc)[:LAST_ERROR_MAX_CHARS]
        if not routed:
            # Confirmed, yet no queue took it: marking it published would lose it.
            self.stats.unroutable += 1
            OUTBOX_UNROUTABLE.labels(self._schema).inc()
            return f"{UNROUTABLE}: no queue is bound to {row.exchange} / {row.routing_key}"[
                :LAST_ERROR_MAX_CHARS
            ]
        return None

    async def _mark(self, conn: Conn, confirmed: Sequence[_Row]) -> None:
        if not confirmed:
            return
        status = await conn.execute(self._mark_sql, [row.id for row in confirmed], clock.now())
        # The rows are locked by this transaction: nobody else can have marked them.
        assert status == f"UPDATE {len(confirmed)}", status

    async def _record_failures(self, conn: Conn, failed: Sequence[tuple[_Row, str]]) -> None:
        if not failed:
            return
        await conn.executemany(self._failure_sql, [(row.id, error) for row, error in failed])
        for row, error in failed:
            with structlog.contextvars.bound_contextvars(message_id=row.message_id):
                attempts = row.attempts + 1
                if error.startswith(UNROUTABLE):
                    # A topology or routing defect: an operator must bind a queue.
                    log.error(
                        "outbox event unroutable; kept unpublished",
                        schema=self._schema,
                        attempts=attempts,
                        exchange=row.exchange,
                        routing_key=row.routing_key,
                    )
                    continue
                emit = log.error if attempts >= ATTEMPTS_ALARM else log.warning
                emit("outbox publish failed", schema=self._schema, attempts=attempts, error=error)

    # -- housekeeping ------------------------------------------------------------------

    async def cleanup_once(self) -> int:
        """Delete rows published more than retention_days ago, in bounded batches."""
        deleted_total = 0
        for _ in range(self._cleanup_batches_max):
            async with self._pool.acquire(timeout=self._db_timeout_s) as conn:
                status = await conn.execute(
                    self._cleanup_sql,
                    clock.now() - timedelta(days=self._retention_days),
                    self._cleanup_batch_size,
                )
            deleted = int(status.rsplit(" ", 1)[1])
            assert 0 <= deleted <= self._cleanup_batch_size, status
            deleted_total += deleted
            if deleted < self._cleanup_batch_size:
                break
        if deleted_total:
            log.info("outbox cleaned", schema=self._schema, deleted=deleted_total)
        return deleted_total

    # -- the loop ----------------------------------------------------------------------

    async def run(self) -> None:
        """Publish until stop(): on every NOTIFY, else every poll_interval_s."""
        assert not self._running, "a relay runs once at a time"
        self._running = True
        self._stopping.clear()
        failures = 0
        log.info("outbox relay started", schema=self._schema)
        self._bus.on_reconnect(self._wake.set)
        try:
            while not self._stopping.is_set():
                await self._ensure_listening()
                ok = await self._drain()
                await self._cleanup_if_due()
                failures = 0 if ok else failures + 1
                if ok:
                    await self._wait_for_wake(self._poll_interval_s)
                else:
                    await self._back_off(self._backoff_s(failures))
        finally:
            self._bus.forget_on_reconnect(self._wake.set)
            await self._stop_listening()
            self._running = False
            log.info("outbox relay stopped", schema=self._schema)

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def _drain(self) -> bool:
        """Run passes until the outbox is empty; False when a pass failed."""
        if not self._bus.is_healthy():
            # Every publish would wait out its timeout while holding the rows' locks.
            log.warning("outbox relay waiting for the broker", schema=self._schema)
            return False
        for _ in range(self._passes_per_wake_max):
            if self._stopping.is_set():
                return True
            try:
                result = await self.publish_pending_once()
            except Exception as error:
                # PostgreSQL or the broker is unreachable, or the hook failed: the rows stay
                # pending (the transaction rolled back) and the loop backs off and retries.
                if is_transient(error):
                    log.warning("outbox pass failed", schema=self._schema, fault=describe(error))
                else:
                    log.exception("outbox pass failed", schema=self._schema)
                return False
            if result.failed:
                return False
            if result.selected < self._batch_size:
                return True
        # More rows are waiting: come straight back after cleanup and the LISTEN check.
        self._wake.set()
        return True

    def _backoff_s(self, failures: int) -> float:
        assert failures >= 1, failures
        delay_s = min(self._backoff_max_s, self._backoff_initial_s * 2.0 ** min(failures - 1, 20))
        # Jitter, so relays of several replicas do not retry in lockstep.
        return delay_s * random.uniform(0.5, 1.0)

    async def _wait_for_wake(self, timeout_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout_s)
        self._wake.clear()

    async def _back_off(self, timeout_s: float) -> None:
        """Wait up to timeout_s; end early when the broker comes back (reconnect callback,
        or seen healthy after being down) or on NOTIFY while it is healthy. A NOTIFY while
        the broker is still down does not end the wait: no retry storm during an outage."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        was_healthy = self._bus.is_healthy()
        self._wake.clear()
        while not self._stopping.is_set():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(remaining, _BACKOFF_TICK_S))
            woken = self._wake.is_set()
            self._wake.clear()
            healthy = self._bus.is_healthy()
            if healthy and (woken or not was_healthy):
                return
            was_healthy = healthy

    async def _cleanup_if_due(self) -> None:
        now_s = asyncio.get_running_loop().time()
        if now_s < self._next_cleanup_at:
            return
        self._next_cleanup_at = now_s + self._cleanup_interval_s
        try:
            await self.cleanup_once()
        except Exception as error:
            # Housekeeping only: published rows can wait for the next interval.
            if is_transient(error):
                log.warning("outbox cleanup failed", schema=self._schema, fault=describe(error))
            else:
                log.exception("outbox cleanup failed", schema=self._schema)

    # -- LISTEN ------------------------------------------------------------------------

    def _on_notify(
        self,
        conn: asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record],
        pid: int,
        channel: str,
        payload: object,
    ) -> None:
        self._wake.set()

    async def _ensure_listening(self) -> None:
        if self._listen_conn is not None and is_open(self._listen_conn):
            return
        await self._stop_listening()
        try:
            conn = await self._pool.acquire(timeout=self._db_timeout_s)
        except DATABASE_UNAVAILABLE as exc:
            # Polling every poll_interval_s still publishes everything; LISTEN is retried
            # on the next loop.
            log.warning("outbox listen unavailable, polling", schema=self._schema, error=repr(exc))
            return
        try:
            await conn.add_listener(self._channel, self._on_notify)
        except DATABASE_UNAVAILABLE as exc:
            # As above: fall back to polling; give the connection back to the pool.
            log.warning("outbox listen failed, polling", schema=self._schema, error=repr(exc))
            await self._release_quietly(conn)
            return
        self._listen_conn = conn

    async def _stop_listening(self) -> None:
        conn, self._listen_conn = self._listen_conn, None
        if conn is None:
            return
        if is_open(conn):
            with contextlib.suppress(*DATABASE_UNAVAILABLE):
                # A broken connection cannot UNLISTEN; the pool discards it on release.
                await conn.remove_listener(self._channel, self._on_notify)
        await self._release_quietly(conn)

    async def _release_quietly(self, conn: PoolConnectionProxy[asyncpg.Record]) -> None:
        try:
            await self._pool.release(conn, timeout=self._db_timeout_s)
        except DATABASE_UNAVAILABLE as exc:
            # The pool terminates a connection it cannot reset; nothing else to do here.
            log.warning("outbox listen connection release failed", error=repr(exc))
