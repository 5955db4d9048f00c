"""Writes beside the unit of work: a request answered once, and a write with no key.

A write whose request carries an idempotency key (a msgid, a channel's request id) and
whose work returns the response runs as::

    return await answer_once(pool, scope, key, request, Response, work)

— ``shared.unit_of_work`` claims the key, ``work(uow)`` locks, checks, writes and emits
its events, and the response is stored with the key at the explicit commit; a retry gets
the stored answer decoded as ``Response``.

A write with no key (an operator's month-end step, a state change that is a no-op when
repeated) runs in the same shape, without the claim::

    async with transaction(pool, acquire_timeout_s=10) as tx:
        ... lock, check, write through tx.conn ...
        tx.emit(event)          # outbox rows, written at the commit (or at flush)
        await tx.commit()

It rolls back unless :meth:`Transaction.commit` is called, so an exception or a forgotten
commit leaves nothing behind. A read takes the same helper and never commits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import asyncpg
from asyncpg.transaction import Transaction as PgTransaction
from google.protobuf.message import Message

from shared.bus import OutboxItem
from shared.bus.outbox import ENQUEUE_BATCH_MAX, enqueue_many
from shared.bus.pg import Conn
from shared.unit_of_work import ACQUIRE_TIMEOUT_S, UnitOfWork, unit_of_work

M = TypeVar("M", bound=Message)

MAX_PENDING_EVENTS = ENQUEUE_BATCH_MAX  # events held before a flush writes them


class Transaction:
    """The open transaction of one write without an idempotency key."""

    def __init__(self, conn: Conn, transaction: PgTransaction) -> None:
        self.conn = conn
        self._transaction = transaction
        self._events: list[OutboxItem] = []
        self.committed = False

    def emit(self, *events: OutboxItem) -> None:
        """Write these events to the outbox in this transaction (at the next flush)."""
        assert not self.committed, "the transaction is committed"
        self._events.extend(events)
        if len(self._events) > MAX_PENDING_EVENTS:
            raise ValueError(f"flush before holding more than {MAX_PENDING_EVENTS} events")

    async def flush(self) -> None:
        """Write the events emitted so far (a long step keeps its memory bounded)."""
        events, self._events = self._events, []
        if events:
            await enqueue_many(self.conn, events)

    async def commit(self) -> None:
        """Write the emitted events and COMMIT."""
        assert not self.committed, "the transaction is committed once"
        await self.flush()
        await self._transaction.commit()
        self.committed = True


@asynccontextmanager
async def transaction(
    pool: asyncpg.Pool, *, acquire_timeout_s: float = ACQUIRE_TIMEOUT_S
) -> AsyncIterator[Transaction]:
    """Take a connection and BEGIN; roll back on leaving unless committed."""
    async with pool.acquire(timeout=acquire_timeout_s) as conn:
        pg_transaction = conn.transaction()
        await pg_transaction.start()
        tx: Transaction | None = None
        try:
            tx = Transaction(conn, pg_transaction)
            yield tx
        finally:
            if tx is None or not tx.committed:
                await pg_transaction.rollback()


async def answer_once(
    pool: asyncpg.Pool,
    scope: str,
    key: str,
    request: Message,
    response_type: type[M],
    work: Callable[[UnitOfWork], Awaitable[M]],
    *,
    acquire_timeout_s: float = ACQUIRE_TIMEOUT_S,
) -> M:
    """Run ``work`` in one unit of work that claims ``key`` and stores its response."""
    async with unit_of_work(pool, scope, key, request, acquire_timeout_s=acquire_timeout_s) as uow:
        if uow.replay is not None:
            return response_type.FromString(uow.replay)
        response = await work(uow)
        await uow.commit(response)
        return response
