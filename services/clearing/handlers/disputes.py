"""Disputing statements and resolving disputes into adjustments."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import structlog

from services.clearing import access, store
from services.clearing.domain.disputes import resolve_disputed_line, split_disputed
from services.clearing.domain.events import EventKind, FundType
from services.clearing.domain.lifecycle import (
    Party,
    StatementAction,
    accepts_disputed_lines,
    transition_statement,
)
from services.clearing.domain.limits import MAX_DISPUTED_LINES, MAX_REASON_CHARS, check_count
from services.clearing.domain.lines import DisputedLine, DisputeOutcome
from services.clearing.handlers.base import ClearingBase, StatementStep, check_id, check_text
from services.clearing.handlers.statements import ADJUSTMENTS_RETURNED_MAX, existing_statement
from shared.auth import Caller
from shared.bus.pg import Conn
from shared.errors import FailedPrecondition, InvalidArgument

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Resolution:
    statement: store.StatementView
    no_op: bool
    adjustments: list[store.AdjustmentView]
    undecided_line_count: int


@dataclass(frozen=True)
class Decision:
    setl_id: str
    kind: EventKind | None
    outcome: DisputeOutcome
    amended_fen: Mapping[FundType, int] | None
    note: str


class DisputeCases(ClearingBase):
    """Disputes: a party disputes lines, a resolver decides each."""

    async def dispute(
        self,
        caller: Caller,
        statement_id: str,
        party: Party | None,
        *,
        whole_statement: bool,
        setl_ids: Sequence[str],
        reason: str,
    ) -> StatementStep:
        access.require_statement_party(caller, statement_id, party)
        check_id(statement_id, "statement_id")
        check_text(reason, "reason", required=True, max_chars=MAX_REASON_CHARS)
        if whole_statement == bool(setl_ids):
            raise InvalidArgument(
                "setl_ids", "name the disputed settlements, or set whole_statement (not both)"
            )
        check_count("disputed settlements", len(setl_ids), MAX_DISPUTED_LINES)
        async with self._write() as tx:
            view = await existing_statement(tx.conn, statement_id, lock=True)
            acting = access.party_of(caller, view.insured_pool, view.treatment_pool, party)
            step = transition_statement(view.status, StatementAction.DISPUTE, acting)
            statement = await store.load_statement(tx.conn, statement_id, self._run_timeout_s)
            named = {x.setl_id for x in statement.lines} if whole_statement else set(setl_ids)
            already = await store.disputed_setl_ids(tx.conn, statement_id)
            if named - already and not accepts_disputed_lines(view.status.state):
                raise FailedPrecondition(
                    "DISPUTE_CLOSED",
                    f"statement {statement_id} is {view.status.state.value}: "
                    "it takes no more disputed lines",
                )
            # The domain names unknown settlement ids and checks what moves.
            _, moved = split_disputed(statement, already | named, reason)
            newly = await store.mark_lines_disputed(
                tx.conn, statement_id, named - already, acting, reason
            )
            await store.set_statement_status(tx.conn, statement_id, step.state, disputed=moved)
            updated = await store.statement_view(tx.conn, statement_id, lock=False)
            await tx.commit()
        assert updated is not None
        log.info("statement disputed", statement_id=statement_id, party=acting.value, lines=newly)
        return StatementStep(updated, step.no_op and newly == 0, disputed_line_count=newly)

    async def resolve(
        self, caller: Caller, statement_id: str, decisions: Sequence[Decision]
    ) -> Resolution:
        access.require_statement_resolver(caller, statement_id)
        check_id(statement_id, "statement_id")
        check_count("decisions", len(decisions), MAX_DISPUTED_LINES)
        async with self._write() as tx:
            view = await existing_statement(tx.conn, statement_id, lock=True)
            access.require_resolver(caller, view.insured_pool, view.treatment_pool)
            step = transition_statement(view.status, StatementAction.RESOLVE)
            decided = await self._decide(tx.conn, caller, view, decisions)
            if not step.no_op:
                await store.set_statement_status(tx.conn, statement_id, step.state)
            adjustments = await store.adjustment_views(
                tx.conn, origin_statement_id=statement_id, limit=ADJUSTMENTS_RETURNED_MAX
            )
            undecided = view.disputed_lines - await store.decided_count(tx.conn, statement_id)
            assert undecided >= 0
            updated = await store.statement_view(tx.conn, statement_id, lock=False)
            await tx.commit()
        assert updated is not None
        log.info("dispute resolved", statement_id=statement_id, decided=decided)
        return Resolution(updated, step.no_op and decided == 0, adjustments, undecided)

    async def _decide(
        self,
        conn: Conn,
        caller: Caller,
        view: store.StatementView,
        decisions: Sequence[Decision],
    ) -> int:
        """Record each decision as an adjustment; return how many were new."""
        if not decisions:
            return 0
        disputed = {
            (line.setl_id, line.kind): (line, reason)
            for line, reason in await store.disputed_lines_of(conn, view.statement_id)
        }
        origin = view.period
        new = 0
        for index, decision in enumerate(decisions):
            keys = [
                key
                for key in disputed
                if key[0] == decision.setl_id and decision.kind in (None, key[1])
            ]
            if not keys:
                raise InvalidArgument(
                    f"decisions[{index}].setl_id",
                    f"{decision.setl_id!r} is not a disputed line of {view.statement_id}",
                )
            if len(keys) > 1:
                raise InvalidArgument(
                    f"decisions[{index}].kind",
                    "both a settlement and a reversal of this id are disputed: name the kind",
                )
            line, reason = disputed[keys[0]]
            adjustment = resolve_disputed_line(
                DisputedLine(origin, view.insured_pool, view.treatment_pool, line, reason),
                decision.outcome,
                decision.amended_fen,
                decision.note,
            )
            existing = await store.adjustment_of(conn, view.statement_id, line)
            if existing is not None:
                if existing != adjustment.to_canonical():
                    raise FailedPrecondition(
                        "LINE_ALREADY_DECIDED",
                        f"{line.kind.value} {line.setl_id} was already decided otherwise",
                    )
                continue
            target = await store.carry_target(conn, origin)
            await store.insert_adjustment(conn, view.statement_id, adjustment, target, caller.code)
            new += 1
        return new
