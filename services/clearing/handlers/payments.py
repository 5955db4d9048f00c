"""Netting a period, its net positions, payment instructions and payments."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from services.clearing import access, store
from services.clearing.domain.lifecycle import (
    InstructionState,
    PeriodAction,
    PeriodState,
    transition_instruction,
    transition_period,
)
from services.clearing.domain.netting import InstructionLeg, StatementTotal, hub_of, net_period
from services.clearing.domain.periods import Period
from services.clearing.handlers.base import ClearingBase, PeriodStep, check_id, record_step
from shared.auth import Caller
from shared.errors import InvalidArgument, NotFound

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class NetLevel:
    view: store.NetLevelView
    hub: str
    province_net_fen: int


@dataclass(frozen=True)
class PaymentStep:
    instruction: store.InstructionView
    no_op: bool
    period_state: PeriodState


class PaymentCases(ClearingBase):
    """Netting and the payments it calls for."""

    async def net(self, caller: Caller, period: Period) -> PeriodStep:
        access.require_trusted(caller, "net a period")
        async with self._write(run_step=True) as tx:
            state = await store.lock_period(tx.conn, period, "NO KEY UPDATE") or PeriodState.OPEN
            step = transition_period(
                state,
                PeriodAction.NET,
                statement_states=await store.statement_states(tx.conn, period),
            )
            if step.no_op:
                view = await record_step(tx, period, "NET", caller, no_op=True)
                return PeriodStep(view, True, count=view.instruction_count)
            # Netting needs each statement's confirmed net amount, kept as a summary when
            # it was generated and disputed: no statement is loaded. The bytes still hash
            # to their digest and the disputed lines still add up, or nothing is netted.
            failing = await store.statements_failing_checks(tx.conn, period, self._run_timeout_s)
            if failing:
                raise AssertionError(f"statements fail their checks, not netted: {failing}")
            confirmed = [
                StatementTotal(period, v.insured_pool, v.treatment_pool, v.confirmed_net_fen)
                for v in await store.all_statement_views(tx.conn, period)
            ]
            result = net_period(period, confirmed)
            await store.save_netting(tx.conn, result, self._run_timeout_s)
            await store.set_period_state(tx.conn, period, PeriodState.NETTED)
            instructions = result.instructions()
            if not instructions:
                # Nothing to pay: every statement is final and every (no) instruction paid.
                settle = transition_period(
                    PeriodState.NETTED, PeriodAction.SETTLE, instruction_states=[]
                )
                await store.set_period_state(tx.conn, period, settle.state)
            view = await record_step(
                tx, period, "NET", caller, no_op=False, detail=f"{len(instructions)}"
            )
        log.info("period netted", period=str(period), instructions=len(instructions))
        return PeriodStep(view, False, count=len(instructions))

    async def net_positions(
        self, caller: Caller, period: Period, leg: InstructionLeg | None, scope: str | None
    ) -> list[NetLevel]:
        viewer = access.viewer_of(caller)
        async with self._read() as conn:
            levels = await store.net_levels(conn, period, None, None)
        national = {
            party: receivable - payable
            for level in levels
            if level.leg is InstructionLeg.NATIONAL
            for party, receivable, payable in level.positions
        }
        found = []
        for level in levels:
            if leg is not None and level.leg is not leg:
                continue
            if scope is not None and level.scope != scope:
                continue
            if not viewer.sees_scope(level.scope):
                continue
            hub = hub_of(level.leg, level.scope)
            province_net = national.get(level.scope, 0)
            if level.leg is InstructionLeg.ALLOCATION:
                assert sum(r - p for _, r, p in level.positions) == province_net
            else:
                assert sum(r - p for _, r, p in level.positions) == 0, "positions sum to zero"
            found.append(NetLevel(level, hub, province_net))
        return found

    async def list_instructions(
        self,
        caller: Caller,
        period: Period,
        *,
        party: str | None,
        state: InstructionState | None,
        after_seq: int,
        limit: int,
    ) -> list[store.InstructionView]:
        return await self._read_as(
            caller,
            lambda conn, viewer: store.instruction_views(
                conn,
                period,
                party=party,
                state=state,
                visible_parties=None if viewer.everything else viewer.instruction_parties(),
                after_seq=after_seq,
                limit=limit,
            ),
        )

    async def record_payment(
        self, caller: Caller, instruction_id: str, amount_fen: int, reference: str
    ) -> PaymentStep:
        # Before anything is read: a hospital learns nothing of which instructions exist.
        access.require_instruction_recorder(caller, instruction_id)
        check_id(instruction_id, "instruction_id")
        check_id(reference, "payment_reference")
        async with self._write() as tx:
            period = await store.instruction_period(tx.conn, instruction_id)
            if period is None:
                raise NotFound(f"payment instruction {instruction_id} not found")
            # Period first, then the instruction: the same order as every other step.
            state = await store.lock_period(tx.conn, period, "NO KEY UPDATE")
            assert state is not None
            view = await store.instruction_view(tx.conn, instruction_id, lock=True)
            assert view is not None
            instruction = view.instruction
            access.require_payment_recorder(caller, instruction.leg, instruction.scope)
            if amount_fen != instruction.amount_fen:
                raise InvalidArgument(
                    "amount_fen", f"the instruction is for {instruction.amount_fen} fen"
                )
            step = transition_instruction(view.state)
            if not step.no_op:
                await store.mark_paid(tx.conn, instruction_id, reference, caller.code)
            states = await store.instruction_states(tx.conn, period)
            if state is PeriodState.NETTED and set(states) == {InstructionState.PAID}:
                settle = transition_period(state, PeriodAction.SETTLE, instruction_states=states)
                await store.set_period_state(tx.conn, period, settle.state)
                await store.record_action(tx.conn, period, "SETTLE", caller.code, no_op=False)
                state = settle.state
            updated = await store.instruction_view(tx.conn, instruction_id, lock=False)
            await tx.commit()
        assert updated is not None
        log.info("payment recorded", instruction_id=instruction_id, no_op=step.no_op)
        return PaymentStep(updated, step.no_op, state)
