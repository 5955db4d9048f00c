"""The month-end run as state machines: for a period, a statement, a payment instruction.

Period: OPEN → CLOSED → GENERATED → DELIVERED → NETTED → SETTLED.
  There is no CLOSING state: the fence is decided in the transaction that records each
  event, so closing is one atomic step and needs no grace window. Parties confirm or
  dispute between DELIVERED and NETTED.
Statement: GENERATED → DELIVERED → CONFIRMED (both parties confirmed)
                                  → DISPUTED (either party disputed) → RESOLVED.
  RESOLVED means the dispute is settled for this period: the confirmed part stands and
  the disputed lines have left it, to come back as adjustments once decided.
Instruction: PENDING → PAID.

Idempotency: an action whose effect is already in place returns the same state flagged
no_op, so a retried command is harmless. Any other step not in the table is refused with
FailedPrecondition('ILLEGAL_TRANSITION').
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Generic, TypeVar

from shared.errors import FailedPrecondition, InvalidArgument

S = TypeVar("S")


@dataclass(frozen=True)
class Transition(Generic[S]):
    state: S
    no_op: bool


class PeriodState(StrEnum):
    OPEN = "OPEN"
    CLOSED = "CLOSED"
    GENERATED = "GENERATED"
    DELIVERED = "DELIVERED"
    NETTED = "NETTED"
    SETTLED = "SETTLED"


class PeriodAction(StrEnum):
    CLOSE = "CLOSE"
    GENERATE = "GENERATE"
    DELIVER = "DELIVER"
    NET = "NET"
    SETTLE = "SETTLE"


class StatementState(StrEnum):
    GENERATED = "GENERATED"
    DELIVERED = "DELIVERED"
    CONFIRMED = "CONFIRMED"
    DISPUTED = "DISPUTED"
    RESOLVED = "RESOLVED"


class StatementAction(StrEnum):
    DELIVER = "DELIVER"
    CONFIRM = "CONFIRM"
    DISPUTE = "DISPUTE"
    RESOLVE = "RESOLVE"


class Party(StrEnum):
    INSURED = "INSURED"  # the insured pool's agency: it pays
    TREATMENT = "TREATMENT"  # the treatment pool's agency: it receives


class InstructionState(StrEnum):
    PENDING = "PENDING"
    PAID = "PAID"


_PERIOD_ORDER = tuple(PeriodState)
_PERIOD_STEP = {
    PeriodAction.CLOSE: (PeriodState.OPEN, PeriodState.CLOSED),
    PeriodAction.GENERATE: (PeriodState.CLOSED, PeriodState.GENERATED),
    PeriodAction.DELIVER: (PeriodState.GENERATED, PeriodState.DELIVERED),
    PeriodAction.NET: (PeriodState.DELIVERED, PeriodState.NETTED),
    PeriodAction.SETTLE: (PeriodState.NETTED, PeriodState.SETTLED),
}
FINAL_STATEMENT_STATES = frozenset({StatementState.CONFIRMED, StatementState.RESOLVED})


def accepts_events(state: PeriodState) -> bool:
    """Only an open period takes new events; any other lands them in a later period."""
    return state is PeriodState.OPEN


def regenerates(state: PeriodState) -> bool:
    """GENERATE on a GENERATED period builds its statements again from the same cut-off.

    Until delivery nobody has seen them, so rebuilding is harmless (and gives the same
    bytes); once delivered the parties hold them, and GENERATE is a plain no-op.
    """
    return state is PeriodState.GENERATED


def transition_period(
    state: PeriodState,
    action: PeriodAction,
    *,
    statement_states: Collection[StatementState] | None = None,
    instruction_states: Collection[InstructionState] | None = None,
) -> Transition[PeriodState]:
    """Advance a period by one step.

    DELIVER needs every statement delivered, NET every statement CONFIRMED or RESOLVED,
    SETTLE every payment instruction PAID; those steps require the states to be passed.
    """
    source, target = _PERIOD_STEP[action]
    if _PERIOD_ORDER.index(state) >= _PERIOD_ORDER.index(target):
        return Transition(state, no_op=True)
    if state is not source:
        raise _illegal(f"period cannot {action.value} while {state.value}")
    _check_period_guard(action, statement_states, instruction_states)
    return Transition(target, no_op=False)


def _check_period_guard(
    action: PeriodAction,
    statement_states: Collection[StatementState] | None,
    instruction_states: Collection[InstructionState] | None,
) -> None:
    if action is PeriodAction.DELIVER:
        states = _required(statement_states, "statement_states", action)
        if StatementState.GENERATED in states:
            raise FailedPrecondition(
                "STATEMENTS_NOT_DELIVERED", "every statement must be delivered to both parties"
            )
    elif action is PeriodAction.NET:
        states = _required(statement_states, "statement_states", action)
        if not set(states) <= FINAL_STATEMENT_STATES:
            raise FailedPrecondition(
                "STATEMENTS_NOT_FINAL",
                "every statement must be CONFIRMED, or DISPUTED and then RESOLVED",
            )
    elif action is PeriodAction.SETTLE:
        paid = _required(instruction_states, "instruction_states", action)
        if not set(paid) <= {InstructionState.PAID}:
            raise FailedPrecondition(
                "INSTRUCTIONS_NOT_PAID", "every payment instruction must be PAID"
            )


def _required(states: Collection[S] | None, field_name: str, action: PeriodAction) -> Collection[S]:
    # A missing list must not pass a guard as "nothing outstanding".
    if states is None:
        raise InvalidArgument(field_name, f"required to {action.value} a period")
    return states


@dataclass(frozen=True)
class StatementStatus:
    state: StatementState = StatementState.GENERATED
    confirmed_by: frozenset[Party] = frozenset()
    disputed_by: frozenset[Party] = frozenset()

    def __post_init__(self) -> None:
        assert not self.confirmed_by & self.disputed_by, "a party cannot both confirm and dispute"
        both = frozenset(Party)
        assert (self.state is StatementState.CONFIRMED) == (self.confirmed_by == both)
        disputed_states = {StatementState.DISPUTED, StatementState.RESOLVED}
        assert (self.state in disputed_states) == bool(self.disputed_by)


def transition_statement(
    status: StatementStatus, action: StatementAction, party: Party | None = None
) -> Transition[StatementStatus]:
    """Advance a statement; CONFIRM and DISPUTE name the party acting, the others none."""
    needs_party = action in (StatementAction.CONFIRM, StatementAction.DISPUTE)
    if needs_party != (party is not None):
        raise InvalidArgument("party", f"{'required' if needs_party else 'not taken'} for {action}")
    if action is StatementAction.DELIVER:
        return _deliver(status)
    if action is StatementAction.RESOLVE:
        return _resolve(status)
    assert party is not None
    if action is StatementAction.CONFIRM:
        return _confirm(status, party)
    return _dispute(status, party)


def _deliver(status: StatementStatus) -> Transition[StatementStatus]:
    if status.state is not StatementState.GENERATED:
        return Transition(status, no_op=True)
    return Transition(replace(status, state=StatementState.DELIVERED), no_op=False)


def _resolve(status: StatementStatus) -> Transition[StatementStatus]:
    if status.state is StatementState.RESOLVED:
        return Transition(status, no_op=True)
    if status.state is not StatementState.DISPUTED:
        raise _illegal(f"only a disputed statement can be resolved, not {status.state.value}")
    return Transition(replace(status, state=StatementState.RESOLVED), no_op=False)


def _confirm(status: StatementStatus, party: Party) -> Transition[StatementStatus]:
    if party in status.confirmed_by:
        return Transition(status, no_op=True)
    if status.state is not StatementState.DELIVERED:
        raise _illegal(f"{party.value} cannot confirm a statement that is {status.state.value}")
    confirmed_by = status.confirmed_by | {party}
    state = StatementState.CONFIRMED if confirmed_by == frozenset(Party) else status.state
    return Transition(replace(status, state=state, confirmed_by=confirmed_by), no_op=False)


def _dispute(status: StatementStatus, party: Party) -> Transition[StatementStatus]:
    if party in status.disputed_by:
        return Transition(status, no_op=True)
    if party in status.confirmed_by:
        raise _illegal(f"{party.value} already confirmed this statement")
    if status.state not in (StatementState.DELIVERED, StatementState.DISPUTED):
        raise _illegal(f"{party.value} cannot dispute a statement that is {status.state.value}")
    disputed = replace(
        status, state=StatementState.DISPUTED, disputed_by=status.disputed_by | {party}
    )
    return Transition(disputed, no_op=False)


def accepts_disputed_lines(state: StatementState) -> bool:
    """Lines may be disputed while the statement is delivered or already under dispute.

    A party that disputes again names more lines of the same dispute; once the dispute is
    resolved for the period, the statement is final and takes no further disputed lines.
    """
    return state in (StatementState.DELIVERED, StatementState.DISPUTED)


def transition_instruction(state: InstructionState) -> Transition[InstructionState]:
    """Record a payment as made; recording it again is a no-op."""
    if state is InstructionState.PAID:
        return Transition(state, no_op=True)
    return Transition(InstructionState.PAID, no_op=False)


def _illegal(message: str) -> FailedPrecondition:
    return FailedPrecondition("ILLEGAL_TRANSITION", message)
