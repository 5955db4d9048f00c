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

from shared.bus.pg import Conn
from shared.unit_of_work import (
    ACQUIRE_TIMEOUT_S,
    MAX_PENDING_EVENTS,
    Transaction,
    UnitOfWork,
    opened,
    unit_of_work,
)

__all__ = ["MAX_PENDING_EVENTS", "Transaction", "answer_once", "transaction"]

M = TypeVar("M", bound=Message)


@asynccontextmanager
async def transaction(
    pool: asyncpg.Pool, *, acquire_timeout_s: float = ACQUIRE_TIMEOUT_S
) -> AsyncIterator[Transaction]:
    """Take a connection and BEGIN; roll back on leaving unless committed."""

    async def start(conn: Conn, pg_transaction: PgTransaction | None) -> Transaction:
        return Transaction(conn, pg_transaction)

    async with opened(pool, start, acquire_timeout_s=acquire_timeout_s) as tx:
        yield tx


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
