"""Idempotent requests: a retry with the same key returns the first response.

Used inside the caller's transaction::

    async with conn.transaction():
        stored = await claim(conn, "settle", msgid, request)
        if stored is not None:
            return Response.FromString(stored)
        ... do the work ...
        await complete(conn, "settle", msgid, response)

The same key with a different body is refused with ALREADY_EXISTS. Only completed
(committed) requests are remembered: a request that failed left nothing behind, so its
retry is judged afresh.

The keys live in ``idempotency_keys`` (:data:`KEYS`); a service that keeps its keys on a
journal of its own (settlement's ``messages``) passes its :class:`KeyJournal` to the unit
of work instead.
"""

from __future__ import annotations

import hashlib
from typing import Final, Protocol

from google.protobuf.message import Message

from shared import clock
from shared.bus.pg import Conn
from shared.errors import AlreadyExists

MAX_KEY_CHARS = 64


def fingerprint(request: Message) -> bytes:
    return hashlib.sha256(request.SerializeToString(deterministic=True)).digest()


class KeyJournal(Protocol):
    """Where a scope's keys are claimed, completed and their answers kept."""

    async def claim(self, conn: Conn, scope: str, key: str, digest: bytes) -> bytes | None:
        """Own the key for this transaction (→ None) or return its stored response."""

    async def stored(self, conn: Conn, scope: str, key: str, digest: bytes) -> bytes:
        """The stored response of a key whose claim (by a statement of the caller's own,
        fused with other work) found it taken; ALREADY_EXISTS for another request."""

    async def complete(self, conn: Conn, scope: str, key: str, response: bytes) -> None:
        """Store ``response`` as the answer of the key this transaction claimed."""


def stored_answer(key: str, digest: bytes, kept: bytes | None, response: bytes | None) -> bytes:
    """The answer of a key another (committed) transaction claimed: its stored response if
    ``digest`` is the fingerprint it kept, else ALREADY_EXISTS."""
    if kept is None or bytes(kept) != digest:
        raise AlreadyExists(f"{key} was already used for a different request")
    assert response is not None, "keys are completed in the transaction that claimed them"
    return bytes(response)


async def claim(conn: Conn, scope: str, key: str, request: Message) -> bytes | None:
    """Own the key for this transaction (→ None) or return the stored response bytes."""
    return await KEYS.claim(conn, scope, key, fingerprint(request))


async def _claim_key(conn: Conn, scope: str, key: str, digest: bytes) -> bytes | None:
    assert 0 < len(key) <= MAX_KEY_CHARS, "idempotency keys are validated by the caller"
    claimed = await conn.fetchval(
        "INSERT INTO idempotency_keys (scope, key, fingerprint, created_at) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING true",
        scope,
        key,
        digest,
        clock.now(),
    )
    if claimed:
        return None
    return await _stored_key(conn, scope, key, digest)


async def _stored_key(conn: Conn, scope: str, key: str, digest: bytes) -> bytes:
    row = await conn.fetchrow(
        "SELECT fingerprint, response FROM idempotency_keys WHERE scope = $1 AND key = $2",
        scope,
        key,
    )
    assert row is not None, "a conflicting key is committed, so it is visible"
    return stored_answer(key, digest, row["fingerprint"], row["response"])


def stored_form(response: Message) -> bytes:
    """The bytes a completed key keeps (and returns to a retry)."""
    return response.SerializeToString(deterministic=True)


# For a write that completes its key in the same statement as its change: a CTE that
# must update exactly one row (scope, key and response are parameters of that statement).
COMPLETE_SQL: Final = (
    "UPDATE idempotency_keys SET response = {response} "
    "WHERE scope = {scope} AND key = {key} AND response IS NULL RETURNING 1"
)


async def complete(conn: Conn, scope: str, key: str, response: Message) -> None:
    await complete_bytes(conn, scope, key, stored_form(response))


async def complete_bytes(conn: Conn, scope: str, key: str, response: bytes) -> None:
    """Store ``response`` as the answer of the key this transaction claimed."""
    status = await conn.execute(
        "UPDATE idempotency_keys SET response = $3 WHERE scope = $1 AND key = $2 AND response IS NULL",
        scope,
        key,
        response,
    )
    assert status == "UPDATE 1", (
        f"idempotency key {scope}/{key} was not claimed by this transaction"
    )


class _IdempotencyKeys:
    """The shared ``idempotency_keys`` table (scope, key)."""

    async def claim(self, conn: Conn, scope: str, key: str, digest: bytes) -> bytes | None:
        return await _claim_key(conn, scope, key, digest)

    async def stored(self, conn: Conn, scope: str, key: str, digest: bytes) -> bytes:
        return await _stored_key(conn, scope, key, digest)

    async def complete(self, conn: Conn, scope: str, key: str, response: bytes) -> None:
        await complete_bytes(conn, scope, key, response)


KEYS: Final[KeyJournal] = _IdempotencyKeys()
