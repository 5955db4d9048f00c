"""The month-end steps on a period: close, generate, deliver; the period's state."""

from __future__ import annotations

import structlog

from services.clearing import access, store
from services.clearing.domain.lifecycle import (
    PeriodAction,
    PeriodState,
    regenerates,
    transition_period,
)
from services.clearing.domain.periods import Period
from services.clearing.domain.statements import statements_digest
from services.clearing.generation import check_against_ledger, generate_statements
from services.clearing.handlers.base import ClearingBase, PeriodStep, record_step
from services.clearing.messages import statement_issued_items
from shared.auth import Caller
from shared.bus.outbox import ENQUEUE_BATCH_MAX
from shared.errors import FailedPrecondition

log = structlog.get_logger(__name__)


class PeriodSteps(ClearingBase):
    """Period state and the month-end steps up to delivery."""

    async def period(self, caller: Caller, period: Period) -> store.PeriodView:
        # Period states and counts carry no party's figures: any authenticated caller.
        del caller
        async with self._read() as conn:
            return await store.period_view(conn, period)

    async def close_period(self, caller: Caller, period: Period) -> PeriodStep:
        access.require_trusted(caller, "close a period")
        current = Period.from_datetime(self._now())
        if period > current:
            raise FailedPrecondition(
                "PERIOD_NOT_STARTED", f"period {period} has not started (it is {current})"
            )
        async with self._write() as tx:
            await store.ensure_periods(tx.conn, [period])
            # FOR UPDATE waits for every ingestion transaction that locked the row (FOR KEY
            # SHARE) and makes later ones wait for this commit: the fence.
            state = await store.lock_period(tx.conn, period, "UPDATE")
            assert state is not None
            step = transition_period(state, PeriodAction.CLOSE)
            if not step.no_op:
                await store.set_period_state(tx.conn, period, step.state)
            view = await record_step(tx, period, "CLOSE", caller, no_op=step.no_op)
        log.info("period closed", period=str(period), no_op=step.no_op, caller=caller.code)
        return PeriodStep(view, step.no_op)

    async def generate(self, caller: Caller, period: Period) -> PeriodStep:
        access.require_trusted(caller, "generate statements")
        async with self._write(run_step=True) as tx:
            state = await store.lock_period(tx.conn, period, "NO KEY UPDATE") or PeriodState.OPEN
            regenerate = regenerates(state)
            if not regenerate:
                step = transition_period(state, PeriodAction.GENERATE)
                if step.no_op:
                    view = await record_step(tx, period, "GENERATE", caller, no_op=True)
                    return PeriodStep(view, True, count=view.statement_count)
            previous = await store.statement_digests(tx.conn, period)
            # Pair by pair from a cursor, in bounded memory (generation.py).
            generated = await generate_statements(
                tx.conn,
                period,
                batch_lines=self._settings.generate_batch_lines,
                timeout_s=self._run_timeout_s,
            )
            digests = generated.digests
            changed = sum(1 for k, v in digests.items() if previous.get(k) != v)
            changed += len(previous.keys() - digests.keys())
            await store.set_statements_digest(tx.conn, period, statements_digest(digests.items()))
            if not regenerate:
                await store.set_period_state(tx.conn, period, PeriodState.GENERATED)
            detail = f"statements={len(digests)} changed={changed}"
            await store.record_action(
                tx.conn, period, "GENERATE", caller.code, no_op=False, detail=detail
            )
            view = await store.period_view(tx.conn, period)
            check_against_ledger(
                generated,
                event_count=view.event_count,
                cleared_fen=view.cleared_fen,
                adjusted_fen=await store.adjusted_fen_into(tx.conn, period),
            )
            await tx.commit()
        log.info(
            "statements generated",
            period=str(period),
            regenerated=regenerate,
            detail=detail,
            lines=generated.line_count,
            largest=generated.largest_line_count,
        )
        return PeriodStep(
            view,
            False,
            count=len(digests),
            total_net_fen=generated.total_net_fen,
            changed_count=changed,
        )

    async def deliver(self, caller: Caller, period: Period) -> PeriodStep:
        access.require_trusted(caller, "deliver statements")
        async with self._write(run_step=True) as tx:
            state = await store.lock_period(tx.conn, period, "NO KEY UPDATE") or PeriodState.OPEN
            if state is not PeriodState.GENERATED:
                # Raises for a period not generated yet; a no-op once delivered.
                step = transition_period(
                    state,
                    PeriodAction.DELIVER,
                    statement_states=await store.statement_states(tx.conn, period),
                )
                assert step.no_op
                view = await record_step(tx, period, "DELIVER", caller, no_op=True)
                return PeriodStep(view, True)
            delivered = await store.mark_delivered(tx.conn, period, self._run_timeout_s)
            issued_at = self._now()
            # Two messages per statement (one per party): built a batch at a time.
            per_batch = max(1, ENQUEUE_BATCH_MAX // 2)
            for start in range(0, len(delivered), per_batch):
                items = [
                    item
                    for v in delivered[start : start + per_batch]
                    for item in statement_issued_items(self._namespace, v, issued_at)
                ]
                for first in range(0, len(items), ENQUEUE_BATCH_MAX):
                    tx.emit(*items[first : first + ENQUEUE_BATCH_MAX])
                    await tx.flush()
            step = transition_period(
                state,
                PeriodAction.DELIVER,
                statement_states=await store.statement_states(tx.conn, period),
            )
            await store.set_period_state(tx.conn, period, step.state)
            view = await record_step(
                tx, period, "DELIVER", caller, no_op=False, detail=f"{len(delivered)}"
            )
        log.info("statements delivered", period=str(period), statements=len(delivered))
        return PeriodStep(view, False, count=len(delivered))
