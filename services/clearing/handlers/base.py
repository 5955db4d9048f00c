"""What every use case shares: the pool, settings, one transaction, argument checks, and
what a step on a period or a statement returns.

Clearing's writes carry no idempotency key: the month-end steps, confirmations, disputes
and payments are idempotent by the state they find (a repeated step is a no-op that says
so), and a top-up by its own id. Each write is one ``shared.transaction`` that rolls back
unless the use case commits it explicitly once its change (and the action it records) is
written; a read takes the same transaction and never commits.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from services.clearing import access, store
from services.clearing.config import ClearingSettings
from services.clearing.domain.limits import MAX_ID_CHARS
from services.clearing.domain.periods import Period
from shared import clock
from shared.auth import Caller
from shared.bus.pg import Conn, Pool
from shared.errors import InvalidArgument
from shared.transaction import Transaction, transaction

T = TypeVar("T")


def check_text(value: str, field_name: str, *, required: bool, max_chars: int) -> str:
    if required and not value:
        raise InvalidArgument(field_name, "required")
    if len(value) > max_chars or not value.isprintable():
        raise InvalidArgument(field_name, f"at most {max_chars} printable characters")
    return value


def check_application_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidArgument("application_id", "not an application id") from None


def check_id(value: str, field_name: str) -> str:
    if not (1 <= len(value) <= MAX_ID_CHARS and value.isascii() and value.isprintable()):
        raise InvalidArgument(field_name, f"1..{MAX_ID_CHARS} printable ASCII characters")
    return value


@dataclass(frozen=True)
class PeriodStep:
    period: store.PeriodView
    no_op: bool
    count: int = 0  # statements generated, delivered, or instructions issued
    total_net_fen: int = 0
    changed_count: int = 0


@dataclass(frozen=True)
class StatementStep:
    statement: store.StatementView
    no_op: bool
    disputed_line_count: int = 0


async def record_step(
    tx: Transaction, period: Period, action: str, caller: Caller, *, no_op: bool, detail: str = ""
) -> store.PeriodView:
    """Record a month-end step's action on the period and commit: the period as it now is."""
    await store.record_action(tx.conn, period, action, caller.code, no_op=no_op, detail=detail)
    view = await store.period_view(tx.conn, period)
    await tx.commit()
    return view


class ClearingBase:
    """The clearing service's use cases over one database pool."""

    def __init__(
        self,
        pool: Pool,
        namespace: str,
        settings: ClearingSettings,
        now: Callable[[], datetime] = clock.now,
    ) -> None:
        self._pool = pool
        self._namespace = namespace
        self._settings = settings
        self._now = now

    @contextlib.asynccontextmanager
    async def _write(self, *, run_step: bool = False) -> AsyncIterator[Transaction]:
        """One transaction, rolled back unless the use case commits it."""
        timeout_s = self._settings.rpc_db_timeout_s
        async with transaction(self._pool, acquire_timeout_s=timeout_s) as tx:
            if run_step:
                # A month-end step on a large period is long, but never unbounded.
                seconds = int(self._settings.run_step_timeout_s)
                await store.set_statement_timeout(tx.conn, seconds)
            yield tx

    @contextlib.asynccontextmanager
    async def _read(self) -> AsyncIterator[Conn]:
        """One transaction for reading: nothing is written, so it is never committed."""
        async with self._write() as tx:
            yield tx.conn

    async def _read_as(
        self, caller: Caller, read: Callable[[Conn, access.Viewer], Awaitable[T]]
    ) -> T:
        """A read of what the caller may see: ``read`` gets the connection and the caller's
        viewer, which the store filters by."""
        viewer = access.viewer_of(caller)
        async with self._read() as conn:
            return await read(conn, viewer)

    @property
    def thresholds_bp(self) -> tuple[int, ...]:
        return self._settings.advance_thresholds_bp

    @property
    def _run_timeout_s(self) -> float:
        return self._settings.run_step_timeout_s
