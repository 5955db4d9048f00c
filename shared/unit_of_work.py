"""One unit of work: a pooled connection, one transaction, an idempotency key, an outbox.

Every idempotent write runs as::

    async with unit_of_work(pool, "settlement", msgid, request) as uow:
        if uow.replay is not None:          # the key was answered before: that answer
            return Response.FromString(uow.replay)
        ... lock, check, write through uow.conn ...
        uow.emit(event)                     # outbox rows, written before the commit
        await uow.commit(response)          # the key completed with the response, COMMIT

The key is claimed first, before anything else runs in the transaction: a second request
with the same key waits for the first one's transaction on the key's row, then finds its
stored answer (the same key with a different body is refused with ALREADY_EXISTS). The
transaction rolls back unless :meth:`UnitOfWork.commit` is called, so an exception, a
replay or a forgotten commit leaves nothing behind — and an uncommitted key is no answer:
its retry is judged afresh.

A request whose first statement can claim the key itself (settlement's Settle: claim and
lock in one round trip) opens the unit with ``claim_in_work=True``: it fuses
:attr:`UnitOfWork.claim` into that statement and reports the outcome with
:meth:`UnitOfWork.claimed`, which sets :attr:`UnitOfWork.replay` as the claim would have.

A write that completes the key in its own statement (the settling statement stores its
response, its event and the key's answer together) takes :meth:`UnitOfWork.completion`
for that statement and then calls :meth:`UnitOfWork.commit` with no response.

A write that is one statement altogether — it claims the key, writes and stores the
answer in that statement (settlement's Register: the answer is known before the write) —
opens the unit with ``single_statement=True``: no BEGIN and no COMMIT, two round trips
fewer, and the statement is atomic on its own. Such a unit emits no events beside its
statement, and a failure after its statement leaves what the statement did (the key with
its answer): a retry gets that answer.

Faults are not mapped here: an infrastructure failure, the commit's included, propagates
as it is and ``shared.faults`` makes it UNAVAILABLE; the retry with the same key returns
the stored answer if the commit happened.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

import asyncpg
from asyncpg.transaction import Transaction as PgTransaction
from google.protobuf.message import Message

from shared.bus import OutboxItem
from shared.bus.outbox import ENQUEUE_BATCH_MAX, enqueue_many
from shared.bus.pg import Conn
from shared.idempotency import KEYS, KeyJournal, fingerprint, stored_form

ACQUIRE_TIMEOUT_S = 10.0
MAX_PENDING_EVENTS = ENQUEUE_BATCH_MAX  # events held before a flush writes them


@dataclass(frozen=True)
class KeyClaim:
    """What a statement that claims the key itself needs: the key and its fingerprint."""

    scope: str
    key: str
    digest: bytes


@dataclass(frozen=True)
class Completion:
    """An idempotency key completed by the statement that performs its request."""

    scope: str
    key: str
    response: bytes


class Transaction:
    """An open transaction whose change writes its outbox events with it: a write with no
    idempotency key (``shared.transaction.transaction``), and the base of a unit of work.
    ``transaction`` is None for a single statement that commits itself."""

    def __init__(self, conn: Conn, transaction: PgTransaction | None) -> None:
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
        assert self._transaction is not None, "a single statement committed itself"
        await self.flush()
        await self._transaction.commit()
        self.committed = True


class UnitOfWork(Transaction):
    """The open transaction of one idempotent request (see the module docstring)."""

    def __init__(
        self,
        conn: Conn,
        transaction: PgTransaction | None,
        scope: str,
        key: str,
        replay: bytes | None,
        journal: KeyJournal = KEYS,
        claim: KeyClaim | None = None,
    ) -> None:
        super().__init__(conn, transaction)
        self.replay = replay
        self._scope = scope
        self._key = key
        self._journal = journal
        self._claim = claim  # set while the work's own statement has still to claim the key
        self._completed_in_statement = False

    @property
    def claim(self) -> KeyClaim:
        """The key to claim in the work's first statement (``claim_in_work=True``)."""
        assert self._claim is not None, "the key is claimed once"
        return self._claim

    async def claimed(self, claimed: bool) -> None:
        """The work's statement claimed the key (True) or found it taken (False: the stored
        answer becomes :attr:`replay`, or ALREADY_EXISTS is raised)."""
        claim = self.claim
        self._claim = None
        if not claimed:
            self.replay = await self._journal.stored(
                self.conn, claim.scope, claim.key, claim.digest
            )

    def completion(self, response: Message | bytes) -> Completion:
        """The key's answer, for a statement that completes the key itself."""
        assert self.replay is None and self._claim is None, "only a claimed key is completed"
        assert not self._completed_in_statement, "the key is completed once"
        self._completed_in_statement = True
        return Completion(self._scope, self._key, _as_bytes(response))

    async def commit(self, response: Message | bytes | None = None) -> None:
        """Write the collected events, complete the key with ``response`` and COMMIT."""
        assert self.replay is None, "a replayed request commits nothing"
        assert self._claim is None, "the key was never claimed"
        assert not self.committed, "the unit of work is committed once"
        assert (response is None) == self._completed_in_statement, (
            "the key is completed either here or by the work's own statement"
        )
        if self._transaction is None:  # single_statement: the statement committed itself
            assert not self._events, "a single-statement unit writes its events in its statement"
            self.committed = True
            return
        await self.flush()
        if response is not None:
            await self._journal.complete(self.conn, self._scope, self._key, _as_bytes(response))
        await self._transaction.commit()
        self.committed = True


def _as_bytes(response: Message | bytes) -> bytes:
    return response if isinstance(response, bytes) else stored_form(response)


T = TypeVar("T", bound=Transaction)


@asynccontextmanager
async def opened(
    pool: asyncpg.Pool,
    start: Callable[[Conn, PgTransaction | None], Awaitable[T]],
    *,
    acquire_timeout_s: float = ACQUIRE_TIMEOUT_S,
    begin: bool = True,
) -> AsyncIterator[T]:
    """Take a connection, BEGIN (unless not ``begin``), make the write's transaction with
    ``start``; roll back on leaving unless it committed."""
    async with pool.acquire(timeout=acquire_timeout_s) as conn:
        pg_transaction = conn.transaction() if begin else None
        if pg_transaction is not None:
            await pg_transaction.start()
        tx: T | None = None
        try:
            tx = await start(conn, pg_transaction)
            yield tx
        finally:
            if pg_transaction is not None and (tx is None or not tx.committed):
                await pg_transaction.rollback()


@asynccontextmanager
async def unit_of_work(
    pool: asyncpg.Pool,
    scope: str,
    key: str,
    request: Message | None,
    *,
    acquire_timeout_s: float = ACQUIRE_TIMEOUT_S,
    journal: KeyJournal = KEYS,
    claim_in_work: bool = False,
    single_statement: bool = False,
    digest: bytes | None = None,
) -> AsyncIterator[UnitOfWork]:
    """Take a connection, BEGIN, claim ``key`` in ``scope`` for ``request`` (in ``journal``,
    by default ``idempotency_keys``; with ``claim_in_work`` the work's first statement
    claims it); roll back on leaving unless committed. A caller that fingerprinted the
    request already passes ``digest`` (``shared.idempotency.fingerprint``) and no request.
    ``single_statement`` (with ``claim_in_work``): no transaction around the work's one
    statement (see the module docstring)."""
    assert claim_in_work or not single_statement, "a single statement claims its key itself"
    if digest is None:
        assert request is not None, "a request or its digest"
        digest = fingerprint(request)
    key_digest = digest

    async def start(conn: Conn, pg_transaction: PgTransaction | None) -> UnitOfWork:
        if claim_in_work:
            claim = KeyClaim(scope, key, key_digest)
            return UnitOfWork(conn, pg_transaction, scope, key, None, journal, claim)
        stored = await journal.claim(conn, scope, key, key_digest)
        return UnitOfWork(conn, pg_transaction, scope, key, stored, journal)

    async with opened(
        pool, start, acquire_timeout_s=acquire_timeout_s, begin=not single_statement
    ) as uow:
        yield uow
