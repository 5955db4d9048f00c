"""The month-end clearing of each treatment month, driven through the clearing gRPC API as
the parties drive it, on the simulated calendar.

The operator (``op-simulator``) sets the advance funds before any traffic (modeled sizes).
On day 5 of the month after a treatment month, once every settlement event of that month
has reached the ledger, it closes the month's period (the cut-off; the settlement service
placed each settlement in the month it committed, which is the treatment month since the
services' clocks are the simulated calendar's), generates the statements (twice: the
second run must change nothing) and delivers them to both parties' region queues.
Hospitals apply for clearing (3203) and reconcile the month's totals (3201). Each pool
agency confirms its statements (caller = its pool code); one insured pool disputes a few
lines of one statement, and the clearing centre closes the dispute for the period, so
the undisputed part is netted; the operator nets the period, the national centre and the
provincial centres record the payments, and the period ends SETTLED. The advance funds
are then sized again from the months cleared so far (``SizeFromHistory``).

On day 15 the clearing centre decides the disputed lines (upheld, rejected, amended);
each decision is carried as an adjustment into the next period's statements, which the
next month-end shows.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date

import grpc

from services.simulation.clients import Clients
from services.simulation.clockwork import SimClock
from services.simulation.scenario import month_window
from services.simulation.statement_views import (
    NATIONAL_CENTRE,
    OPERATOR,
    enum_name,
    every_page,
    list_statements,
)
from services.simulation.tally import (
    CLEARED_FUNDS,
    AdvanceView,
    CarriedIn,
    DisputeView,
    MonthEnd,
    NetLevelView,
    Resize,
    StatementView,
    Tally,
)
from shared.config import Settings
from shared.grpc_errors import reason_of
from shared.pb.crossclear.clearing.v1 import clearing_pb2
from shared.pb.crossclear.common.v1 import common_pb2
from shared.pb.crossclear.settlement.v1 import settlement_pb2
from shared.records import record_from
from shared.vocabulary import FundType

INGEST_TIMEOUT_S = 120.0
MAX_DISPUTED_LINES = 3
# After a month-end: sized from the months cleared so far, at most this many.
RESIZE_TRAILING_MONTHS_MAX = 3
STEPS_PER_MONTH_END = 12

Step = Callable[[str], None]


# -- the run ----------------------------------------------------------------------------------


@dataclass
class _Pending:
    """Lines disputed at a month-end, to be decided later."""

    view: StatementView
    lines: list[clearing_pb2.StatementLine]
    resolver: str


@dataclass
class MonthEndRun:
    clients: Clients
    settings: Settings
    tally: Tally
    step: Step
    result: MonthEnd
    clock: SimClock
    _pending: dict[str, _Pending] = field(default_factory=dict)

    def _note(self, step: str, text: str) -> None:
        self.result.steps.append((step, text))
        self.step(step)

    async def _op(self, method: object, request: object, caller: str = OPERATOR) -> object:
        return await self.clients.call(method, request, caller)  # type: ignore[arg-type]

    def _today(self) -> date:
        return self.clock.china_now().date()

    async def period(self, period: str) -> None:
        """The month-end clearing of treatment month ``period``, to SETTLED."""
        started = time.perf_counter()
        self.result.periods.append(period)
        self.result.cleared_on[period] = self._today()
        await self._wait_for_ledger(period)
        c = self.clients.clearing
        closed = await self._op(c.ClosePeriod, clearing_pb2.ClosePeriodRequest(period=period))
        self._note(
            "close",
            f"{period} closed on {self._today()} (cut-off); {closed.period.event_count} events",  # type: ignore[attr-defined]
        )
        generated = await self._op(
            c.GenerateStatements, clearing_pb2.GenerateStatementsRequest(period=period)
        )
        again = await self._op(
            c.GenerateStatements, clearing_pb2.GenerateStatementsRequest(period=period)
        )
        self.result.regenerated_changed[period] = int(again.changed_count)  # type: ignore[attr-defined]
        self._note(
            "generate",
            f"{period}: {generated.statement_count} statements; regenerated: "  # type: ignore[attr-defined]
            f"{again.changed_count} changed",  # type: ignore[attr-defined]
        )
        delivered = await self._op(
            c.DeliverStatements, clearing_pb2.DeliverStatementsRequest(period=period)
        )
        self._note(
            "deliver",
            f"{period}: {delivered.delivered_count} statements delivered to both parties",  # type: ignore[attr-defined]
        )
        views = await self._statements(period)
        await self._carried_in(period, views)
        await self._applications(period)
        await self._confirm_and_dispute(period, views)
        netted = await self._op(c.NetPeriod, clearing_pb2.NetPeriodRequest(period=period))
        self._note("net", f"{period}: {netted.instruction_count} payment instructions")  # type: ignore[attr-defined]
        await self._positions(period)
        await self._pay(period)
        final = await self._op(c.GetPeriod, clearing_pb2.GetPeriodRequest(period=period))
        view = final.period  # type: ignore[attr-defined]
        state = enum_name(clearing_pb2.PeriodState, view.state, "PERIOD_STATE_")
        self.result.period_states[period] = state
        self.result.late_events[period] = int(view.late_event_count)
        self._note("settle", f"period {period} is {state}")
        await self._advance(period)
        await self._reconcile(period)
        seconds = time.perf_counter() - started
        self.result.seconds_by_period[period] = seconds
        self.result.seconds += seconds

    async def _wait_for_ledger(self, period: str) -> None:
        """Settlement events travel outbox → broker → clearing inbox; close a period only
        once every event the settlement service committed for it is in the ledger."""
        started = time.perf_counter()
        # The ledger holds one entry per event and cleared fund: events of cross-pool
        # settlements with at least one non-zero fund amount.
        records = [
            s
            for s in self.tally.settlements
            if s.clr_ym == period and s.cross_pool and any(s.amounts[f] for f in CLEARED_FUNDS)
        ]
        expected = (len(records), sum(s.cleared_fen for s in records))
        deadline = time.monotonic() + INGEST_TIMEOUT_S
        seen = (-1, 0)
        while time.monotonic() < deadline:
            reply = await self._op(
                self.clients.clearing.GetPeriod, clearing_pb2.GetPeriodRequest(period=period)
            )
            view = reply.period  # type: ignore[attr-defined]
            seen = (int(view.event_count), int(view.cleared_fen))
            if seen == expected:
                break
            await asyncio.sleep(0.2)
        else:
            self.tally.error(
                "ledger incomplete at cut-off",
                f"{period}: {seen[0]} events / {seen[1]} fen, expected {expected[0]} / {expected[1]}",
            )
        seconds = time.perf_counter() - started
        self.result.ingest_seconds += seconds
        self._note("ledger", f"{period}: every settlement event is in the ledger ({seconds:.1f} s)")

    # -- statements ---------------------------------------------------------------------------

    async def _statements(self, period: str) -> list[StatementView]:
        views = await list_statements(self.clients, period)
        self.result.statements.extend(views)
        return views

    async def statement_lines(
        self, statement_id: str
    ) -> tuple[list[clearing_pb2.StatementLine], list[clearing_pb2.Adjustment]]:
        """Every line and adjustment of one statement, paged."""
        lines: list[clearing_pb2.StatementLine] = []
        adjustments: list[clearing_pb2.Adjustment] = []
        async for reply in every_page(
            lambda page: self._op(
                self.clients.clearing.GetStatement,
                clearing_pb2.GetStatementRequest(statement_id=statement_id, page=page),
            )
        ):
            lines.extend(reply.lines)
            if not adjustments:
                adjustments.extend(reply.adjustments)
        return lines, adjustments

    async def _carried_in(self, period: str, views: list[StatementView]) -> None:
        """The adjustments on this period's statements: lines decided after an earlier
        period's dispute, carried here."""
        count = total = 0
        for view in views:
            if not view.adjustment_count:
                continue
            reply = await self._op(
                self.clients.clearing.GetStatement,
                clearing_pb2.GetStatementRequest(
                    statement_id=view.statement_id, page=common_pb2.PageRequest(page_size=1)
                ),
            )
            for a in reply.adjustments:  # type: ignore[attr-defined]
                self.result.carried_in.append(
                    record_from(
                        CarriedIn,
                        a,
                        getattr,
                        period=period,
                        statement_id=view.statement_id,
                        outcome=enum_name(
                            clearing_pb2.DisputeOutcome, a.outcome, "DISPUTE_OUTCOME_"
                        ),
                    )
                )
                count += 1
                total += int(a.total_fen)
        if count:
            self._note(
                "carried in",
                f"{period}: {count} adjustments from earlier disputes on its statements "
                f"({total / 100:,.2f} yuan)",
            )

    async def _confirm_and_dispute(self, period: str, views: list[StatementView]) -> None:
        target = _dispute_target(views)
        confirmations = 0
        for view in views:
            for party, caller in (
                (clearing_pb2.PARTY_TREATMENT, view.treatment_pool),
                (clearing_pb2.PARTY_INSURED, view.insured_pool),
            ):
                if (
                    target is not None
                    and view.statement_id == target.statement_id
                    and (party == clearing_pb2.PARTY_INSURED)
                ):
                    await self._dispute(period, view)
                    continue
                try:
                    await self._op(
                        self.clients.clearing.ConfirmStatement,
                        clearing_pb2.ConfirmStatementRequest(statement_id=view.statement_id),
                        caller,
                    )
                    confirmations += 1
                except grpc.aio.AioRpcError as error:
                    self.tally.error(
                        f"ConfirmStatement {error.code().name} {reason_of(error) or ''}",
                        error.details() or "",
                    )
        self._note("confirm", f"{period}: {confirmations} confirmations by the pool agencies")

    async def _dispute(self, period: str, view: StatementView) -> None:
        lines, _ = await self.statement_lines(view.statement_id)
        settled = [x for x in lines if x.kind == clearing_pb2.LINE_KIND_SETTLED]
        # The largest charges are the ones a post-audit (事后审核) questions first; amounts
        # and hospitals are the same run after run, setl ids and exact times need not be.
        settled.sort(
            key=lambda x: (
                -x.total_fen,
                x.hospital_code,
                tuple((a.fund_type, a.amount_fen) for a in x.amounts),
                x.settle_time.seconds,
            )
        )
        chosen = settled[:MAX_DISPUTED_LINES]
        if not chosen:
            return
        reply = await self._op(
            self.clients.clearing.DisputeStatement,
            clearing_pb2.DisputeStatementRequest(
                statement_id=view.statement_id,
                party=clearing_pb2.PARTY_INSURED,
                setl_ids=[x.setl_id for x in chosen],
                reason="post-audit: charges above the usual for the diagnosis (事后审核)",
            ),
            view.insured_pool,
        )
        self._note(
            "dispute",
            f"{view.insured_pool} disputes {reply.disputed_line_count} lines of {view.statement_id}",  # type: ignore[attr-defined]
        )
        same_province = view.insured_pool[:2] == view.treatment_pool[:2]
        resolver = view.insured_pool[:2] if same_province else NATIONAL_CENTRE
        # The clearing centre closes the dispute for this period without deciding the lines
        # yet: the undisputed part is netted now, the lines are decided after review.
        await self._op(
            self.clients.clearing.ResolveDispute,
            clearing_pb2.ResolveDisputeRequest(statement_id=view.statement_id),
            resolver,
        )
        for line in chosen:
            self.result.disputes.append(
                DisputeView(
                    period=period,
                    statement_id=view.statement_id,
                    setl_id=line.setl_id,
                    disputed_fen=int(line.total_fen),
                    raised_on=self._today(),
                )
            )
        self._pending[period] = _Pending(view, chosen, resolver)
        self._note(
            "resolve",
            f"{resolver} closed the dispute for {period}: the undisputed part is netted, "
            f"the {len(chosen)} lines are decided after review",
        )

    async def decide(self, period: str) -> None:
        """The clearing centre decides the lines disputed at ``period``'s month-end: each
        is carried as an adjustment into the earliest period not yet generated."""
        pending = self._pending.pop(period, None)
        if pending is None:
            return
        outcomes = (
            clearing_pb2.DISPUTE_OUTCOME_UPHELD,
            clearing_pb2.DISPUTE_OUTCOME_REJECTED,
            clearing_pb2.DISPUTE_OUTCOME_AMENDED,
        )
        decisions = []
        for line, outcome in zip(pending.lines, outcomes, strict=False):
            decision = clearing_pb2.LineDecision(
                setl_id=line.setl_id,
                outcome=outcome,
                note="decided by the clearing centre after review",
            )
            if outcome == clearing_pb2.DISPUTE_OUTCOME_AMENDED:
                decision.amended_amounts.extend(
                    clearing_pb2.FundAmount(fund_type=a.fund_type, amount_fen=a.amount_fen // 2)
                    for a in line.amounts
                    if a.amount_fen // 2 > 0
                )
            decisions.append(decision)
        resolved = await self._op(
            self.clients.clearing.ResolveDispute,
            clearing_pb2.ResolveDisputeRequest(
                statement_id=pending.view.statement_id, decisions=decisions
            ),
            pending.resolver,
        )
        decided: dict[str, clearing_pb2.Adjustment] = {
            a.setl_id: a
            for a in resolved.adjustments  # type: ignore[attr-defined]
        }
        targets = set()
        for index, d in enumerate(self.result.disputes):
            adjustment = decided.get(d.setl_id)
            if d.statement_id != pending.view.statement_id or adjustment is None:
                continue
            targets.add(adjustment.target_period)
            self.result.disputes[index] = replace(
                d,
                outcome=enum_name(
                    clearing_pb2.DisputeOutcome, adjustment.outcome, "DISPUTE_OUTCOME_"
                ),
                decided_on=self._today(),
                target_period=adjustment.target_period,
                carried_fen=int(adjustment.total_fen),
            )
        self._note(
            "decide",
            f"{pending.resolver} decided the {len(decisions)} lines disputed in {period} on "
            f"{self._today()}: carried into {', '.join(sorted(targets)) or '—'}",
        )

    # -- hospitals' applications (3203) and reconciliation (3201) ------------------------------

    async def _applications(self, period: str) -> None:
        by_hospital: dict[str, dict[str, int]] = defaultdict(dict)
        for s in self.tally.settlements:
            if s.cross_pool and s.clr_ym == period and s.cleared_fen != 0:
                by_hospital[s.hospital][s.setl_id] = s.cleared_fen
        matched = 0
        for hospital in sorted(by_hospital):
            items = [
                clearing_pb2.ApplicationItem(setl_id=k, fund_amount_fen=v)
                for k, v in sorted(by_hospital[hospital].items())
            ]
            try:
                reply = await self._op(
                    self.clients.clearing.SubmitClearingApplication,
                    clearing_pb2.SubmitClearingApplicationRequest(
                        hospital_code=hospital, period=period, items=items
                    ),
                    hospital,
                )
                outcome = "matched" if reply.matched else "differences"  # type: ignore[attr-defined]
                self.result.applications[outcome] += 1
                matched += outcome == "matched"
            except grpc.aio.AioRpcError as error:
                self.tally.error(
                    f"SubmitClearingApplication {error.code().name} {reason_of(error) or ''}",
                    error.details() or "",
                )
        self._note(
            "apply",
            f"{period}: {len(by_hospital)} hospital clearing applications (3203), "
            f"{matched} matched the ledger",
        )

    async def _reconcile(self, period: str) -> None:
        """3201: every hospital's totals for the month's settlement days against the
        service's (settlements are dated when they commit, on the simulated calendar)."""
        first, last = month_window(period)
        totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for s in self.tally.settlements:
            if not first <= s.sim_day <= last:
                continue
            row = totals[s.hospital]
            row[0] += s.medfee_fen
            row[1] += s.fund_pay_fen
            row[2] += s.amounts[FundType.ACCT.value]
            row[3] += -1 if s.reversal else 1
        stamp = self.clock.china_now().strftime("%Y%m%d%H%M%S")
        for hospital, (medfee, fund, acct, count) in sorted(totals.items()):
            try:
                reply = await self.clients.call(
                    self.clients.settlement.ReconcileTotals,
                    settlement_pb2.ReconcileTotalsRequest(
                        header=settlement_pb2.RequestHeader(
                            msgid=f"{hospital}{stamp}9001",
                            mdtrtarea_admvs=hospital[1:7],
                            opter_type=settlement_pb2.OPERATOR_TYPE_CLERK,
                        ),
                        stmt_begndate=first.isoformat(),
                        stmt_enddate=last.isoformat(),
                        totals=settlement_pb2.Totals(
                            medfee_sumamt_fen=medfee,
                            fund_pay_sumamt_fen=fund,
                            acct_pay_fen=acct,
                            fixmedins_setl_cnt=count,
                        ),
                    ),
                    hospital,
                )
                match = reply.stmt_rslt == settlement_pb2.RECONCILE_RESULT_MATCH
                self.result.reconciliations["MATCH" if match else "MISMATCH"] += 1
            except grpc.aio.AioRpcError as error:
                self.tally.error(
                    f"ReconcileTotals {error.code().name} {reason_of(error) or ''}",
                    error.details() or "",
                )

    # -- netting and payments ------------------------------------------------------------------

    async def _positions(self, period: str) -> None:
        reply = await self._op(
            self.clients.clearing.GetNetPositions,
            clearing_pb2.GetNetPositionsRequest(period=period),
        )
        for level in reply.levels:  # type: ignore[attr-defined]
            self.result.net_levels.append(
                record_from(
                    NetLevelView,
                    level,
                    getattr,
                    leg=enum_name(clearing_pb2.NetLeg, level.leg, "NET_LEG_"),
                    positions=tuple(
                        (p.party, p.receivable_fen, p.payable_fen, p.net_fen)
                        for p in level.positions
                    ),
                    cells=tuple((c.payer, c.receiver, c.amount_fen) for c in level.cells),
                    period=period,
                )
            )

    async def _pay(self, period: str) -> None:
        instructions = []
        async for reply in every_page(
            lambda page: self._op(
                self.clients.clearing.ListPaymentInstructions,
                clearing_pb2.ListPaymentInstructionsRequest(period=period, page=page),
            )
        ):
            instructions.extend(reply.instructions)
        instructions.sort(key=lambda i: (i.leg, i.scope, i.payer, i.payee))
        paid = 0
        for index, instruction in enumerate(instructions):
            leg = enum_name(clearing_pb2.NetLeg, instruction.leg, "NET_LEG_")
            caller = NATIONAL_CENTRE if leg == "NATIONAL" else instruction.scope
            try:
                await self._op(
                    self.clients.clearing.RecordPayment,
                    clearing_pb2.RecordPaymentRequest(
                        instruction_id=instruction.instruction_id,
                        amount_fen=instruction.amount_fen,
                        payment_reference=f"SIM{period}{index + 1:05d}",
                    ),
                    caller,
                )
                paid += 1
                state = "PAID"
            except grpc.aio.AioRpcError as error:
                state = "PENDING"
                self.tally.error(
                    f"RecordPayment {error.code().name} {reason_of(error) or ''}",
                    error.details() or "",
                )
            self.result.instructions.append(
                (
                    period,
                    leg,
                    instruction.scope,
                    instruction.payer,
                    instruction.payee,
                    instruction.amount_fen,
                    state,
                )
            )
        self._note("pay", f"{period}: {paid} of {len(instructions)} payments recorded")

    # -- advance funds --------------------------------------------------------------------------

    async def _advance(self, period: str) -> None:
        async for reply in every_page(
            lambda page: self._op(
                self.clients.clearing.GetAdvanceFunds,
                clearing_pb2.GetAdvanceFundsRequest(period=period, page=page),
            )
        ):
            for a in reply.advance_funds:
                self.result.advance.append(
                    record_from(
                        AdvanceView,
                        a,
                        getattr,
                        period=period,
                        alerts=tuple(int(t) for t in a.alerted_thresholds_bp),
                    )
                )

    async def resize_advances(self, cleared: str, for_period: str) -> None:
        """After ``cleared``'s month-end: every pair's advance is sized again from its
        actual payments in the months cleared so far (SizeFromHistory, as of
        ``for_period``); a pair that paid nothing keeps its modeled size."""
        trailing = min(len(self.result.periods), RESIZE_TRAILING_MONTHS_MAX)
        sized = kept = 0
        for a in [x for x in self.result.advance if x.period == cleared]:
            try:
                reply = await self._op(
                    self.clients.clearing.SetAdvanceFund,
                    clearing_pb2.SetAdvanceFundRequest(
                        insured_pool=a.insured_pool,
                        treatment_pool=a.treatment_pool,
                        from_history=clearing_pb2.SizeFromHistory(
                            as_of_period=for_period, trailing_months=trailing
                        ),
                        note=f"simulation: sized from the payments cleared up to {cleared}",
                    ),
                )
            except grpc.aio.AioRpcError as error:
                if reason_of(error) != "NO_HISTORY":
                    self.tally.error(
                        f"SetAdvanceFund (from history) {error.code().name} "
                        f"{reason_of(error) or ''}",
                        error.details() or "",
                    )
                    continue
                kept += 1
                new_fen, was_kept = a.advance_fen, True
                trailing_fen: tuple[int, ...] = ()
            else:
                sized += 1
                new_fen = int(reply.advance_fund.advance_fen)  # type: ignore[attr-defined]
                trailing_fen = tuple(int(m) for m in reply.trailing_monthly_fen)  # type: ignore[attr-defined]
                was_kept = False
            self.result.resizes.append(
                Resize(
                    for_period,
                    a.insured_pool,
                    a.treatment_pool,
                    a.advance_fen,
                    new_fen,
                    trailing_fen,
                    kept=was_kept,
                )
            )
        self._note(
            "advance funds",
            f"for {for_period}: {sized} sized from the payments of the last {trailing} "
            f"month(s), {kept} kept (no payments)",
        )


def _dispute_target(views: list[StatementView]) -> StatementView | None:
    """The statement one region disputes: Guangzhou's largest as payer, else the largest."""
    candidates = [v for v in views if v.settlement_count >= 2 and v.net_fen > 0]
    if not candidates:
        return None
    guangzhou = [v for v in candidates if v.insured_pool == "440100"]
    pool = guangzhou or candidates
    return max(pool, key=lambda v: (v.net_fen, v.insured_pool, v.treatment_pool))
