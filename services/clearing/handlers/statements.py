"""Reading statements and confirming them."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from services.clearing import access, store
from services.clearing.domain.lifecycle import (
    Party,
    StatementAction,
    StatementState,
    transition_statement,
)
from services.clearing.domain.periods import Period
from services.clearing.handlers.base import ClearingBase, StatementStep, check_id
from shared.auth import Caller
from shared.bus.pg import Conn
from shared.errors import FailedPrecondition, NotFound, PermissionDenied

log = structlog.get_logger(__name__)


ADJUSTMENTS_RETURNED_MAX = 1_000
CANONICAL_RETURNED_MAX_BYTES = 3 * 1024 * 1024


@dataclass(frozen=True)
class StatementDetail:
    statement: store.StatementView
    lines: list[store.LineView]
    adjustments: list[store.AdjustmentView]
    adjustments_truncated: bool
    canonical: bytes


async def existing_statement(conn: Conn, statement_id: str, *, lock: bool) -> store.StatementView:
    """The statement (its row locked if asked), or NOT_FOUND: for callers already
    allowed on it by its id."""
    view = await store.statement_view(conn, statement_id, lock=lock)
    if view is None:
        raise NotFound(f"statement {statement_id} not found")
    return view


class StatementCases(ClearingBase):
    """Statements as their parties and trusted callers see them; confirmation."""

    async def list_statements(
        self,
        caller: Caller,
        period: Period,
        *,
        pool: str | None,
        state: StatementState | None,
        after: str | None,
        limit: int,
    ) -> list[store.StatementView]:
        return await self._read_as(
            caller,
            lambda conn, viewer: store.statement_views(
                conn, period, pool=pool, state=state, viewer=viewer, after=after, limit=limit
            ),
        )

    async def _visible_statement(
        self, conn: Conn, caller: Caller, statement_id: str, *, lock: bool
    ) -> store.StatementView:
        view = await existing_statement(conn, statement_id, lock=lock)
        if not access.may_see_pair(caller, view.insured_pool, view.treatment_pool):
            raise PermissionDenied(
                f"caller {caller.code} is not a party to statement {statement_id}"
            )
        return view

    async def statement(
        self,
        caller: Caller,
        statement_id: str,
        *,
        after_line_no: int,
        limit: int,
        include_canonical: bool,
    ) -> StatementDetail:
        access.require_statement_reader(caller, statement_id)
        check_id(statement_id, "statement_id")
        async with self._read() as conn:
            view = await self._visible_statement(conn, caller, statement_id, lock=False)
            lines = await store.line_views(
                conn, statement_id, after_line_no=after_line_no, limit=limit
            )
            adjustments = await store.adjustment_views(
                conn,
                target_period=view.period,
                insured_pool=view.insured_pool,
                treatment_pool=view.treatment_pool,
                limit=ADJUSTMENTS_RETURNED_MAX + 1,
            )
            canonical = b""
            if include_canonical:
                size = await store.canonical_size(conn, statement_id)
                if size > CANONICAL_RETURNED_MAX_BYTES:
                    raise FailedPrecondition(
                        "STATEMENT_TOO_LARGE",
                        f"{size} bytes: export the statement instead of fetching it",
                    )
                canonical = await store.canonical_of(conn, statement_id)
        return StatementDetail(
            statement=view,
            lines=lines,
            adjustments=adjustments[:ADJUSTMENTS_RETURNED_MAX],
            adjustments_truncated=len(adjustments) > ADJUSTMENTS_RETURNED_MAX,
            canonical=canonical,
        )

    async def confirm(
        self, caller: Caller, statement_id: str, party: Party | None
    ) -> StatementStep:
        access.require_statement_party(caller, statement_id, party)
        check_id(statement_id, "statement_id")
        async with self._write() as tx:
            view = await existing_statement(tx.conn, statement_id, lock=True)
            acting = access.party_of(caller, view.insured_pool, view.treatment_pool, party)
            step = transition_statement(view.status, StatementAction.CONFIRM, acting)
            if not step.no_op:
                await store.set_statement_status(tx.conn, statement_id, step.state)
            updated = await store.statement_view(tx.conn, statement_id, lock=False)
            await tx.commit()
        assert updated is not None
        log.info("statement confirmed", statement_id=statement_id, party=acting.value)
        return StatementStep(updated, step.no_op)
