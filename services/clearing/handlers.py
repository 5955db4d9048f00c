"""Clearing's use cases: one method per request, each one database transaction.

Every method takes the authenticated caller and plain or domain values, checks who may
do it (``access``), runs the domain's rules on what the store loads, writes the result,
and returns read models. Nothing here knows protobuf. Month-end steps are idempotent: a
step whose effect is already in place returns ``no_op=True`` and changes nothing; a step
the period's state does not allow is refused with the domain's FAILED_PRECONDITION.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog

from services.clearing import access, store
from services.clearing.config import ClearingSettings
from services.clearing.domain.advance import MAX_MONTHLY_FUND_FEN, size_advance
from services.clearing.domain.applications import (
    ApplicationItem,
    ClearingApplication,
    match_application_amounts,
)
from services.clearing.domain.disputes import resolve_disputed_line, split_disputed
from services.clearing.domain.events import EventKind, FundType
from services.clearing.domain.lifecycle import (
    InstructionState,
    Party,
    PeriodAction,
    PeriodState,
    StatementAction,
    StatementState,
    accepts_disputed_lines,
    regenerates,
    transition_instruction,
    transition_period,
    transition_statement,
)
from services.clearing.domain.limits import (
    MAX_DISPUTED_LINES,
    MAX_ID_CHARS,
    MAX_REASON_CHARS,
    MAX_TRAILING_MONTHS,
    check_count,
)
from services.clearing.domain.lines import DisputedLine, DisputeOutcome
from services.clearing.domain.netting import InstructionLeg, StatementTotal, net_period
from services.clearing.domain.periods import Period
from services.clearing.domain.pools import (
    NATIONAL_HUB,
    check_hospital_code,
    check_pool_code,
    provincial_hub,
)
from services.clearing.domain.statements import statements_digest
from services.clearing.generation import check_against_ledger, generate_statements
from services.clearing.messages import statement_issued_items
from shared import clock
from shared.auth import Caller
from shared.bus import enqueue_many
from shared.bus.outbox import ENQUEUE_BATCH_MAX
from shared.bus.pg import Conn, Pool
from shared.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)

log = structlog.get_logger(__name__)

DIFFERENCES_RETURNED_MAX = 1_000
ADJUSTMENTS_RETURNED_MAX = 1_000
CANONICAL_RETURNED_MAX_BYTES = 3 * 1024 * 1024
# Top-ups and advances set by hand: far above any pair's needs, below a unit error.
MAX_ADVANCE_FEN = 6 * MAX_MONTHLY_FUND_FEN
# Transaction-level advisory locks of this service ("cl" in ASCII).
_APPLICATION_LOCK_CLASS = 0x636C


# -- results ------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class StatementDetail:
    statement: store.StatementView
    lines: list[store.LineView]
    adjustments: list[store.AdjustmentView]
    adjustments_truncated: bool
    canonical: bytes


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


@dataclass(frozen=True)
class AdvanceResult:
    advance: store.AdvanceView
    no_op: bool = False
    trailing_monthly_fen: tuple[int, ...] = ()


@dataclass(frozen=True)
class SizeFromHistory:
    as_of: Period
    trailing_months: int | None
    months_cover: int | None


@dataclass(frozen=True)
class ApplicationResult:
    application: store.ApplicationView
    no_op: bool


def _check_text(value: str, field_name: str, *, required: bool, max_chars: int) -> str:
    if required and not value:
        raise InvalidArgument(field_name, "required")
    if len(value) > max_chars or not value.isprintable():
        raise InvalidArgument(field_name, f"at most {max_chars} printable characters")
    return value


def _check_application_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidArgument("application_id", "not an application id") from None


def _check_id(value: str, field_name: str) -> str:
    if not (1 <= len(value) <= MAX_ID_CHARS and value.isascii() and value.isprintable()):
        raise InvalidArgument(field_name, f"1..{MAX_ID_CHARS} printable ASCII characters")
    return value


class Clearing:
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
    async def _transaction(self, *, run_step: bool = False) -> AsyncIterator[Conn]:
        """One transaction; commits on success, rolls back on any error."""
        timeout_s = self._settings.rpc_db_timeout_s
        async with self._pool.acquire(timeout=timeout_s) as conn, conn.transaction():
            if run_step:
                # A month-end step on a large period is long, but never unbounded.
                seconds = int(self._settings.run_step_timeout_s)
                await conn.execute(f"SET LOCAL statement_timeout = '{seconds}s'")
            yield conn

    @property
    def thresholds_bp(self) -> tuple[int, ...]:
        return self._settings.advance_thresholds_bp

    @property
    def _run_timeout_s(self) -> float:
        return self._settings.run_step_timeout_s

    # -- periods --------------------------------------------------------------------------

    async def period(self, caller: Caller, period: Period) -> store.PeriodView:
        # Period states and counts carry no party's figures: any authenticated caller.
        del caller
        async with self._transaction() as conn:
            return await store.period_view(conn, period)

    async def close_period(self, caller: Caller, period: Period) -> PeriodStep:
        access.require_trusted(caller, "close a period")
        current = Period.from_datetime(self._now())
        if period > current:
            raise FailedPrecondition(
                "PERIOD_NOT_STARTED", f"period {period} has not started (it is {current})"
            )
        async with self._transaction() as conn:
            await store.ensure_periods(conn, [period])
            # FOR UPDATE waits for every ingestion transaction that locked the row (FOR KEY
            # SHARE) and makes later ones wait for this commit: the fence.
            state = await store.lock_period(conn, period, "UPDATE")
            assert state is not None
            step = transition_period(state, PeriodAction.CLOSE)
            if not step.no_op:
                await store.set_period_state(conn, period, step.state)
            await store.record_action(conn, period, "CLOSE", caller.code, no_op=step.no_op)
            view = await store.period_view(conn, period)
        log.info("period closed", period=str(period), no_op=step.no_op, caller=caller.code)
        return PeriodStep(view, step.no_op)

    async def generate(self, caller: Caller, period: Period) -> PeriodStep:
        access.require_trusted(caller, "generate statements")
        async with self._transaction(run_step=True) as conn:
            state = await store.lock_period(conn, period, "NO KEY UPDATE") or PeriodState.OPEN
            regenerate = regenerates(state)
            if not regenerate:
                step = transition_period(state, PeriodAction.GENERATE)
                if step.no_op:
                    await store.record_action(conn, period, "GENERATE", caller.code, no_op=True)
                    view = await store.period_view(conn, period)
                    return PeriodStep(view, True, count=view.statement_count)
            previous = await store.statement_digests(conn, period)
            # Pair by pair from a cursor, in bounded memory (generation.py).
            generated = await generate_statements(
                conn,
                period,
                batch_lines=self._settings.generate_batch_lines,
                timeout_s=self._run_timeout_s,
            )
            digests = generated.digests
            changed = sum(1 for k, v in digests.items() if previous.get(k) != v)
            changed += len(previous.keys() - digests.keys())
            await store.set_statements_digest(conn, period, statements_digest(digests.items()))
            if not regenerate:
                await store.set_period_state(conn, period, PeriodState.GENERATED)
            detail = f"statements={len(digests)} changed={changed}"
            await store.record_action(
                conn, period, "GENERATE", caller.code, no_op=False, detail=detail
            )
            view = await store.period_view(conn, period)
            check_against_ledger(
                generated,
                event_count=view.event_count,
                cleared_fen=view.cleared_fen,
                adjusted_fen=await store.adjusted_fen_into(conn, period),
            )
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
        async with self._transaction(run_step=True) as conn:
            state = await store.lock_period(conn, period, "NO KEY UPDATE") or PeriodState.OPEN
            if state is not PeriodState.GENERATED:
                # Raises for a period not generated yet; a no-op once delivered.
                step = transition_period(
                    state,
                    PeriodAction.DELIVER,
                    statement_states=await store.statement_states(conn, period),
                )
                assert step.no_op
                await store.record_action(conn, period, "DELIVER", caller.code, no_op=True)
                return PeriodStep(await store.period_view(conn, period), True)
            delivered = await store.mark_delivered(conn, period, self._run_timeout_s)
            issued_at = self._now()
            # Two messages per statement (one per party): built a batch at a time.
            per_batch = max(1, ENQUEUE_BATCH_MAX // 2)
            for start in range(0, len(delivered), per_batch):
                items = [
                    item
                    for v in delivered[start : start + per_batch]
                    for item in statement_issued_items(
                        self._namespace,
                        statement_id=v.statement_id,
                        period=v.period,
                        insured_pool=v.insured_pool,
                        treatment_pool=v.treatment_pool,
                        level=v.level,
                        funds=v.funds,
                        settlement_count=v.settlement_count,
                        net_fen=v.net_fen,
                        digest=v.digest,
                        issued_at=issued_at,
                    )
                ]
                for first in range(0, len(items), ENQUEUE_BATCH_MAX):
                    await enqueue_many(conn, items[first : first + ENQUEUE_BATCH_MAX])
            step = transition_period(
                state,
                PeriodAction.DELIVER,
                statement_states=await store.statement_states(conn, period),
            )
            await store.set_period_state(conn, period, step.state)
            await store.record_action(
                conn, period, "DELIVER", caller.code, no_op=False, detail=f"{len(delivered)}"
            )
            view = await store.period_view(conn, period)
        log.info("statements delivered", period=str(period), statements=len(delivered))
        return PeriodStep(view, False, count=len(delivered))

    async def net(self, caller: Caller, period: Period) -> PeriodStep:
        access.require_trusted(caller, "net a period")
        async with self._transaction(run_step=True) as conn:
            state = await store.lock_period(conn, period, "NO KEY UPDATE") or PeriodState.OPEN
            step = transition_period(
                state,
                PeriodAction.NET,
                statement_states=await store.statement_states(conn, period),
            )
            if step.no_op:
                await store.record_action(conn, period, "NET", caller.code, no_op=True)
                view = await store.period_view(conn, period)
                return PeriodStep(view, True, count=view.instruction_count)
            # Netting needs each statement's confirmed net amount, kept as a summary when
            # it was generated and disputed: no statement is loaded. The bytes still hash
            # to their digest and the disputed lines still add up, or nothing is netted.
            failing = await store.statements_failing_checks(conn, period, self._run_timeout_s)
            if failing:
                raise AssertionError(f"statements fail their checks, not netted: {failing}")
            confirmed = [
                StatementTotal(period, v.insured_pool, v.treatment_pool, v.confirmed_net_fen)
                for v in await store.all_statement_views(conn, period)
            ]
            result = net_period(period, confirmed)
            await store.save_netting(conn, result, self._run_timeout_s)
            await store.set_period_state(conn, period, PeriodState.NETTED)
            instructions = result.instructions()
            if not instructions:
                # Nothing to pay: every statement is final and every (no) instruction paid.
                settle = transition_period(
                    PeriodState.NETTED, PeriodAction.SETTLE, instruction_states=[]
                )
                await store.set_period_state(conn, period, settle.state)
            await store.record_action(
                conn, period, "NET", caller.code, no_op=False, detail=f"{len(instructions)}"
            )
            view = await store.period_view(conn, period)
        log.info("period netted", period=str(period), instructions=len(instructions))
        return PeriodStep(view, False, count=len(instructions))

    # -- statements -----------------------------------------------------------------------

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
        viewer = access.viewer_of(caller)
        async with self._transaction() as conn:
            return await store.statement_views(
                conn,
                period,
                pool=pool,
                state=state,
                viewer_pool=viewer.pool,
                viewer_province=viewer.centre,
                everything=viewer.everything,
                after=after,
                limit=limit,
            )

    async def _visible_statement(
        self, conn: Conn, caller: Caller, statement_id: str, *, lock: bool
    ) -> store.StatementView:
        view = await store.statement_view(conn, statement_id, lock=lock)
        if view is None:
            raise NotFound(f"statement {statement_id} not found")
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
        _check_id(statement_id, "statement_id")
        async with self._transaction() as conn:
            view = await self._visible_statement(conn, caller, statement_id, lock=False)
            lines = await store.line_views(
                conn, statement_id, after_line_no=after_line_no, limit=limit
            )
            adjustments = await store.adjustment_views(
                conn,
                target_period=Period.parse(view.period),
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
        _check_id(statement_id, "statement_id")
        async with self._transaction() as conn:
            view = await store.statement_view(conn, statement_id, lock=True)
            if view is None:
                raise NotFound(f"statement {statement_id} not found")
            acting = access.party_of(caller, view.insured_pool, view.treatment_pool, party)
            step = transition_statement(view.status, StatementAction.CONFIRM, acting)
            if not step.no_op:
                await store.set_statement_status(conn, statement_id, step.state)
            updated = await store.statement_view(conn, statement_id, lock=False)
        assert updated is not None
        log.info("statement confirmed", statement_id=statement_id, party=acting.value)
        return StatementStep(updated, step.no_op)

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
        _check_id(statement_id, "statement_id")
        _check_text(reason, "reason", required=True, max_chars=MAX_REASON_CHARS)
        if whole_statement == bool(setl_ids):
            raise InvalidArgument(
                "setl_ids", "name the disputed settlements, or set whole_statement (not both)"
            )
        check_count("disputed settlements", len(setl_ids), MAX_DISPUTED_LINES)
        async with self._transaction() as conn:
            view = await store.statement_view(conn, statement_id, lock=True)
            if view is None:
                raise NotFound(f"statement {statement_id} not found")
            acting = access.party_of(caller, view.insured_pool, view.treatment_pool, party)
            step = transition_statement(view.status, StatementAction.DISPUTE, acting)
            statement = await store.load_statement(conn, statement_id, self._run_timeout_s)
            named = {x.setl_id for x in statement.lines} if whole_statement else set(setl_ids)
            already = await store.disputed_setl_ids(conn, statement_id)
            if named - already and not accepts_disputed_lines(view.status.state):
                raise FailedPrecondition(
                    "DISPUTE_CLOSED",
                    f"statement {statement_id} is {view.status.state.value}: "
                    "it takes no more disputed lines",
                )
            # The domain names unknown settlement ids and checks what moves.
            confirmed, moved = split_disputed(statement, already | named, reason)
            newly = await store.mark_lines_disputed(
                conn, statement_id, named - already, acting, reason
            )
            await store.set_statement_status(
                conn,
                statement_id,
                step.state,
                disputed_fen=statement.net_fen - confirmed.net_fen,
                disputed_lines=len(moved),
            )
            updated = await store.statement_view(conn, statement_id, lock=False)
        assert updated is not None
        log.info("statement disputed", statement_id=statement_id, party=acting.value, lines=newly)
        return StatementStep(updated, step.no_op and newly == 0, disputed_line_count=newly)

    async def resolve(
        self, caller: Caller, statement_id: str, decisions: Sequence[Decision]
    ) -> Resolution:
        access.require_statement_resolver(caller, statement_id)
        _check_id(statement_id, "statement_id")
        check_count("decisions", len(decisions), MAX_DISPUTED_LINES)
        async with self._transaction() as conn:
            view = await store.statement_view(conn, statement_id, lock=True)
            if view is None:
                raise NotFound(f"statement {statement_id} not found")
            access.require_resolver(caller, view.insured_pool, view.treatment_pool)
            step = transition_statement(view.status, StatementAction.RESOLVE)
            decided = await self._decide(conn, caller, view, decisions)
            if not step.no_op:
                await store.set_statement_status(conn, statement_id, step.state)
            adjustments = await store.adjustment_views(
                conn, origin_statement_id=statement_id, limit=ADJUSTMENTS_RETURNED_MAX
            )
            undecided = view.disputed_lines - await store.decided_count(conn, statement_id)
            assert undecided >= 0
            updated = await store.statement_view(conn, statement_id, lock=False)
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
        origin = Period.parse(view.period)
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
            existing = await store.adjustment_of(conn, view.statement_id, line.setl_id, line.kind)
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

    # -- netting and payments -------------------------------------------------------------

    async def net_positions(
        self, caller: Caller, period: Period, leg: InstructionLeg | None, scope: str | None
    ) -> list[NetLevel]:
        viewer = access.viewer_of(caller)
        async with self._transaction() as conn:
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
            national_leg = level.leg is InstructionLeg.NATIONAL
            hub = NATIONAL_HUB if national_leg else provincial_hub(level.scope)
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
        viewer = access.viewer_of(caller)
        async with self._transaction() as conn:
            return await store.instruction_views(
                conn,
                period,
                party=party,
                state=state,
                visible_parties=None if viewer.everything else viewer.instruction_parties(),
                after_seq=after_seq,
                limit=limit,
            )

    async def record_payment(
        self, caller: Caller, instruction_id: str, amount_fen: int, reference: str
    ) -> PaymentStep:
        # Before anything is read: a hospital learns nothing of which instructions exist.
        access.require_instruction_recorder(caller, instruction_id)
        _check_id(instruction_id, "instruction_id")
        _check_id(reference, "payment_reference")
        async with self._transaction() as conn:
            period = await store.instruction_period(conn, instruction_id)
            if period is None:
                raise NotFound(f"payment instruction {instruction_id} not found")
            # Period first, then the instruction: the same order as every other step.
            state = await store.lock_period(conn, period, "NO KEY UPDATE")
            assert state is not None
            view = await store.lock_instruction(conn, instruction_id)
            assert view is not None
            instruction = view.instruction
            access.require_payment_recorder(caller, instruction.leg, instruction.scope)
            if amount_fen != instruction.amount_fen:
                raise InvalidArgument(
                    "amount_fen", f"the instruction is for {instruction.amount_fen} fen"
                )
            step = transition_instruction(view.state)
            if not step.no_op:
                await store.mark_paid(conn, instruction_id, reference, caller.code)
            states = await store.instruction_states(conn, period)
            if state is PeriodState.NETTED and set(states) == {InstructionState.PAID}:
                settle = transition_period(state, PeriodAction.SETTLE, instruction_states=states)
                await store.set_period_state(conn, period, settle.state)
                await store.record_action(conn, period, "SETTLE", caller.code, no_op=False)
                state = settle.state
            updated = await store.lock_instruction(conn, instruction_id)
        assert updated is not None
        log.info("payment recorded", instruction_id=instruction_id, no_op=step.no_op)
        return PaymentStep(updated, step.no_op, state)

    # -- advance funds --------------------------------------------------------------------

    async def advance_funds(
        self,
        caller: Caller,
        period: Period,
        *,
        insured_pool: str | None,
        treatment_pool: str | None,
        after: tuple[str, str] | None,
        limit: int,
    ) -> list[store.AdvanceView]:
        viewer = access.viewer_of(caller)
        async with self._transaction() as conn:
            return await store.advance_views(
                conn,
                period,
                insured_pool=insured_pool,
                treatment_pool=treatment_pool,
                viewer_pool=viewer.pool,
                viewer_province=viewer.centre,
                everything=viewer.everything,
                after=after,
                limit=limit,
            )

    @staticmethod
    def _check_pair(insured_pool: str, treatment_pool: str) -> None:
        check_pool_code(insured_pool, "insured_pool")
        check_pool_code(treatment_pool, "treatment_pool")
        if insured_pool == treatment_pool:
            raise InvalidArgument("treatment_pool", "a pool has no advance fund with itself")

    async def set_advance(
        self,
        caller: Caller,
        insured_pool: str,
        treatment_pool: str,
        *,
        amount_fen: int | None,
        from_history: SizeFromHistory | None,
        note: str,
    ) -> AdvanceResult:
        access.require_trusted(caller, "set advance funds")
        self._check_pair(insured_pool, treatment_pool)
        _check_text(note, "note", required=False, max_chars=MAX_REASON_CHARS)
        if (amount_fen is None) == (from_history is None):
            raise InvalidArgument("sizing", "give either amount_fen or from_history")
        if amount_fen is not None and not 0 <= amount_fen <= MAX_ADVANCE_FEN:
            raise InvalidArgument("amount_fen", f"0..{MAX_ADVANCE_FEN} fen")
        async with self._transaction() as conn:
            before = await store.lock_advance(conn, insured_pool, treatment_pool)
            trailing: tuple[int, ...] = ()
            if from_history is not None:
                trailing = await self._trailing(conn, insured_pool, treatment_pool, from_history)
                cover = from_history.months_cover or self._settings.advance_months_cover
                advance_fen = size_advance(trailing, cover)
            else:
                assert amount_fen is not None
                advance_fen = amount_fen
            await store.write_advance(
                conn,
                insured_pool,
                treatment_pool,
                advance_fen=advance_fen,
                change_fen=advance_fen - (before or 0),
                kind="SIZED" if from_history else "SET",
                caller=caller.code,
                note=note,
            )
            view = await self._advance_view(conn, insured_pool, treatment_pool)
        log.info(
            "advance fund set", insured=insured_pool, treatment=treatment_pool, fen=advance_fen
        )
        return AdvanceResult(view, trailing_monthly_fen=trailing)

    async def _trailing(
        self, conn: Conn, insured_pool: str, treatment_pool: str, sizing: SizeFromHistory
    ) -> tuple[int, ...]:
        months = sizing.trailing_months or self._settings.advance_trailing_months
        if not 1 <= months <= MAX_TRAILING_MONTHS:
            raise InvalidArgument("trailing_months", f"1..{MAX_TRAILING_MONTHS}")
        periods: list[Period] = []
        month = sizing.as_of
        for _ in range(months):
            month = month.previous()
            periods.append(month)
        periods.reverse()  # the months before as_of, oldest first
        monthly = await store.monthly_cleared_fen(conn, insured_pool, treatment_pool, periods)
        if not any(m > 0 for m in monthly):
            raise FailedPrecondition(
                "NO_HISTORY",
                f"no cleared payments {insured_pool}→{treatment_pool} in the {months} months "
                f"before {sizing.as_of}: set the advance as an amount",
            )
        # A month where reversals outweigh settlements paid nothing out: it counts as 0.
        return tuple(max(m, 0) for m in monthly)

    async def _advance_view(
        self, conn: Conn, insured_pool: str, treatment_pool: str
    ) -> store.AdvanceView:
        views = await store.advance_views(
            conn,
            Period.from_datetime(self._now()),
            insured_pool=insured_pool,
            treatment_pool=treatment_pool,
            viewer_pool=None,
            viewer_province=None,
            everything=True,
            after=None,
            limit=1,
        )
        assert len(views) == 1
        return views[0]

    async def top_up(
        self,
        caller: Caller,
        insured_pool: str,
        treatment_pool: str,
        *,
        top_up_id: str,
        amount_fen: int,
        note: str,
    ) -> AdvanceResult:
        access.require_trusted(caller, "top up advance funds")
        self._check_pair(insured_pool, treatment_pool)
        _check_id(top_up_id, "top_up_id")
        _check_text(note, "note", required=False, max_chars=MAX_REASON_CHARS)
        if not 0 < amount_fen <= MAX_ADVANCE_FEN:
            raise InvalidArgument("amount_fen", f"1..{MAX_ADVANCE_FEN} fen")
        async with self._transaction() as conn:
            before = await store.lock_advance(conn, insured_pool, treatment_pool)
            seen = await store.top_up_seen(conn, top_up_id)
            if seen is not None:
                if seen != (insured_pool, treatment_pool, amount_fen):
                    raise AlreadyExists(f"top-up {top_up_id} was recorded with other figures")
                view = await self._advance_view(conn, insured_pool, treatment_pool)
                return AdvanceResult(view, no_op=True)
            advance_fen = (before or 0) + amount_fen
            if advance_fen > MAX_ADVANCE_FEN:
                raise FailedPrecondition("ADVANCE_TOO_LARGE", f"above {MAX_ADVANCE_FEN} fen")
            await store.write_advance(
                conn,
                insured_pool,
                treatment_pool,
                advance_fen=advance_fen,
                change_fen=amount_fen,
                kind="TOP_UP",
                caller=caller.code,
                note=note,
                top_up_id=top_up_id,
            )
            view = await self._advance_view(conn, insured_pool, treatment_pool)
        return AdvanceResult(view)

    # -- hospitals' clearing applications (3203 / 3204) ------------------------------------

    async def submit_application(
        self,
        caller: Caller,
        hospital_code: str,
        period: Period,
        items: Sequence[ApplicationItem],
    ) -> ApplicationResult:
        access.require_institution(caller, hospital_code)
        check_hospital_code(hospital_code)
        application = ClearingApplication(hospital_code, period, tuple(items))
        digest = _items_digest(application)
        async with self._transaction() as conn:
            # One submission per hospital and month at a time, so two concurrent ones
            # cannot both find no active application.
            await conn.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                _APPLICATION_LOCK_CLASS,
                f"{hospital_code}/{period}",
            )
            active = await store.active_application(conn, hospital_code, period)
            if active is not None:
                existing = await store.application_view(
                    conn, active, differences_max=DIFFERENCES_RETURNED_MAX
                )
                assert existing is not None
                if existing.items_digest != digest:
                    raise FailedPrecondition(
                        "APPLICATION_ACTIVE",
                        f"application {active} for {period} is active: cancel it (3204) first",
                    )
                return ApplicationResult(existing, no_op=True)
            # Summed per settlement id in SQL: one figure per settlement, not every entry.
            ledger_fen = await store.hospital_ledger_fen(
                conn, hospital_code, period, self._run_timeout_s
            )
            differences = match_application_amounts(application, ledger_fen)
            application_id = await store.insert_application(
                conn,
                hospital_code=hospital_code,
                period=period,
                items_digest=digest,
                item_count=len(application.items),
                application_fen=sum(i.fund_amount_fen for i in application.items),
                ledger_item_count=len(ledger_fen),
                ledger_fen=sum(ledger_fen.values()),
                differences=differences,
                caller=caller.code,
            )
            view = await store.application_view(
                conn, application_id, differences_max=DIFFERENCES_RETURNED_MAX
            )
        assert view is not None
        log.info(
            "clearing application matched",
            hospital=hospital_code,
            period=str(period),
            differences=len(differences),
        )
        return ApplicationResult(view, no_op=False)

    async def cancel_application(
        self, caller: Caller, application_id: str, reason: str
    ) -> ApplicationResult:
        access.require_institution_kind(caller, "cancel clearing applications")
        application_id = _check_application_id(application_id)
        _check_text(reason, "reason", required=False, max_chars=MAX_REASON_CHARS)
        # An institution only ever finds its own applications: another's is refused in the
        # same words as one that does not exist (the id names no hospital).
        own = None if caller.is_trusted else caller.code
        async with self._transaction() as conn:
            view = await store.application_view(
                conn, application_id, differences_max=0, lock=True, hospital_code=own
            )
            if view is None:
                if own is not None:
                    raise access.institution_application_denied(caller, application_id)
                raise NotFound(f"clearing application {application_id} not found")
            access.require_institution(caller, view.hospital_code)
            if view.state == "CANCELLED":
                return ApplicationResult(view, no_op=True)
            await store.cancel_application(conn, application_id, reason)
            updated = await store.application_view(conn, application_id, differences_max=0)
        assert updated is not None
        return ApplicationResult(updated, no_op=False)


def _items_digest(application: ClearingApplication) -> str:
    """The same items in any order give the same digest: a repeated submission matches."""
    text = "".join(
        f"{item.setl_id}\t{item.fund_amount_fen}\n"
        for item in sorted(application.items, key=lambda i: i.setl_id)
    )
    return hashlib.sha256(text.encode()).hexdigest()
