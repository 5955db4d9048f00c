"""Which failures are the infrastructure's, not the request's.

A request that fails because PostgreSQL restarted, a connection was cut, the pool timed
out, a transaction lost a serialisation race or a server we depend on is down is not the
caller's fault and not our bug: the same request, retried with the same idempotency key
(msgid or channel request id), is answered once. The gRPC host maps these to UNAVAILABLE
with a retry hint, and background loops log them as warnings and try again, instead of
INTERNAL and ERROR.

A failure while *committing* is in this class too: the commit may or may not have
happened, and only a retry with the same key can tell — it returns the stored answer of
the first attempt if it committed, or does the work once if it did not.
"""

from __future__ import annotations

from typing import Final

import asyncpg
from asyncpg import exceptions as pg

# PostgreSQL conditions that a retry can outlive: the server or the connection went away
# (08xxx), an operator or a crash stopped the server or cancelled the statement (57xxx),
# too many connections or another resource ran short (53xxx), a serialisation failure or
# deadlock (40xxx), or a write reached a standby during a failover (25006).
_TRANSIENT_PG: Final = (
    pg.PostgresConnectionError,
    pg.OperatorInterventionError,
    pg.InsufficientResourcesError,
    pg.TransactionRollbackError,
    pg.ReadOnlySQLTransactionError,
)
# asyncpg's InterfaceError also reports programming errors (wrong argument count, ...);
# only the connection-state ones are the infrastructure's.
_INTERFACE_STATES: Final = ("closed", "released", "pool is closing", "connection", "terminat")


class Unavailable(Exception):
    """A dependency of this request is unreachable now; retry later with the same key."""

    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s


def is_transient(error: BaseException) -> bool:
    """True when ``error`` is an infrastructure fault that a retry may outlive."""
    if isinstance(error, BaseExceptionGroup):
        return all(is_transient(e) for e in error.exceptions)
    if isinstance(error, (Unavailable, TimeoutError, OSError, *_TRANSIENT_PG)):
        return True
    if isinstance(error, asyncpg.InterfaceError):
        text = str(error).lower()
        return any(state in text for state in _INTERFACE_STATES)
    cause = error.__cause__
    return cause is not None and cause is not error and is_transient(cause)


def describe(error: BaseException) -> str:
    """A short, safe name for a transient fault: its class, never its text (which can
    carry connection strings or statement fragments)."""
    return type(error).__name__
