"""PostgreSQL types and error classes shared by the outbox and the inbox."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, TypeAlias

import asyncpg

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

# A plain connection or one borrowed from a pool: both run the same queries.
Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"

# The database could not be reached or did not finish the statement: nothing of the
# transaction was committed, so the same work may be tried again later.
DATABASE_UNAVAILABLE: Final = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)


def is_open(conn: Conn) -> bool:
    """Whether a connection can still be used. asyncpg raises (instead of answering
    True) when asked about a pool connection that was already released, e.g. after the
    pool discarded it because the server went away: that is a closed connection too."""
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:
        return False
