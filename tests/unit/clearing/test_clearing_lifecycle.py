from __future__ import annotations

import pytest

from services.clearing.domain.lifecycle import (
    InstructionState,
    Party,
    PeriodAction,
    PeriodState,
    StatementAction,
    StatementState,
    StatementStatus,
    accepts_disputed_lines,
    accepts_events,
    regenerates,
    transition_instruction,
    transition_period,
    transition_statement,
)
from shared.errors import FailedPrecondition, InvalidArgument

P = PeriodState
A = PeriodAction
S = StatementState
INSURED, TREATMENT = Party.INSURED, Party.TREATMENT
PAID, PENDING = InstructionState.PAID, InstructionState.PENDING


@pytest.mark.parametrize(
    ("state", "action", "target"),
    [
        pytest.param(P.OPEN, A.CLOSE, P.CLOSED, id="close"),
        pytest.param(P.CLOSED, A.GENERATE, P.GENERATED, id="generate"),
        pytest.param(P.GENERATED, A.DELIVER, P.DELIVERED, id="deliver"),
        pytest.param(P.DELIVERED, A.NET, P.NETTED, id="net"),
        pytest.param(P.NETTED, A.SETTLE, P.SETTLED, id="settle"),
    ],
)
def test_period_legal_steps(state: PeriodState, action: PeriodAction, target: PeriodState) -> None:
    step = transition_period(
        state, action, statement_states=[S.CONFIRMED], instruction_states=[PAID]
    )
    assert (step.state, step.no_op) == (target, False)
    again = transition_period(target, action)
    assert (again.state, again.no_op) == (target, True)


@pytest.mark.parametrize(
    ("state", "action"),
    [
        pytest.param(P.OPEN, A.GENERATE, id="generate-before-close"),
        pytest.param(P.OPEN, A.SETTLE, id="settle-open"),
        pytest.param(P.CLOSED, A.NET, id="net-before-delivery"),
        pytest.param(P.GENERATED, A.SETTLE, id="settle-before-net"),
    ],
)
def test_period_illegal_steps(state: PeriodState, action: PeriodAction) -> None:
    with pytest.raises(FailedPrecondition) as caught:
        transition_period(state, action, statement_states=[S.CONFIRMED], instruction_states=[])
    assert caught.value.reason == "ILLEGAL_TRANSITION"


@pytest.mark.parametrize(
    ("state", "action", "statement_states", "instruction_states", "reason"),
    [
        pytest.param(
            P.GENERATED,
            A.DELIVER,
            [S.DELIVERED, S.GENERATED],
            None,
            "STATEMENTS_NOT_DELIVERED",
            id="deliver-with-undelivered",
        ),
        pytest.param(
            P.DELIVERED,
            A.NET,
            [S.CONFIRMED, S.DISPUTED],
            None,
            "STATEMENTS_NOT_FINAL",
            id="net-with-open-dispute",
        ),
        pytest.param(
            P.DELIVERED,
            A.NET,
            [S.DELIVERED],
            None,
            "STATEMENTS_NOT_FINAL",
            id="net-unconfirmed",
        ),
        pytest.param(
            P.NETTED,
            A.SETTLE,
            None,
            [PAID, PENDING],
            "INSTRUCTIONS_NOT_PAID",
            id="settle-unpaid",
        ),
    ],
)
def test_period_guards(
    state: PeriodState,
    action: PeriodAction,
    statement_states: list[StatementState] | None,
    instruction_states: list[InstructionState] | None,
    reason: str,
) -> None:
    with pytest.raises(FailedPrecondition) as caught:
        transition_period(
            state,
            action,
            statement_states=statement_states,
            instruction_states=instruction_states,
        )
    assert caught.value.reason == reason


def test_period_guard_needs_the_states_passed() -> None:
    with pytest.raises(InvalidArgument):
        transition_period(P.DELIVERED, A.NET)


def test_net_and_settle_with_resolved_disputes_and_paid_instructions() -> None:
    final = [S.CONFIRMED, S.RESOLVED]
    assert transition_period(P.DELIVERED, A.NET, statement_states=final).state is P.NETTED
    assert transition_period(P.NETTED, A.SETTLE, instruction_states=[PAID]).state is P.SETTLED


def test_only_open_period_accepts_events() -> None:
    assert [s for s in PeriodState if accepts_events(s)] == [P.OPEN]


def _delivered() -> StatementStatus:
    return transition_statement(StatementStatus(), StatementAction.DELIVER).state


def _run(*steps: tuple[StatementAction, Party | None]) -> StatementStatus:
    status = _delivered()
    for action, party in steps:
        status = transition_statement(status, action, party).state
    return status


CONFIRM, DISPUTE, RESOLVE = (
    StatementAction.CONFIRM,
    StatementAction.DISPUTE,
    StatementAction.RESOLVE,
)


@pytest.mark.parametrize(
    ("steps", "state"),
    [
        pytest.param([], S.DELIVERED, id="delivered"),
        pytest.param([(CONFIRM, INSURED)], S.DELIVERED, id="one-side-confirmed"),
        pytest.param([(CONFIRM, INSURED), (CONFIRM, TREATMENT)], S.CONFIRMED, id="both-confirmed"),
        pytest.param([(DISPUTE, TREATMENT)], S.DISPUTED, id="treatment-disputes"),
        pytest.param(
            [(CONFIRM, INSURED), (DISPUTE, TREATMENT)], S.DISPUTED, id="confirm-then-other-disputes"
        ),
        pytest.param([(DISPUTE, INSURED), (DISPUTE, TREATMENT)], S.DISPUTED, id="both-dispute"),
        pytest.param([(DISPUTE, INSURED), (RESOLVE, None)], S.RESOLVED, id="resolved"),
    ],
)
def test_statement_legal_paths(
    steps: list[tuple[StatementAction, Party | None]], state: StatementState
) -> None:
    assert _run(*steps).state is state


@pytest.mark.parametrize(
    ("steps", "action", "party"),
    [
        pytest.param([], RESOLVE, None, id="resolve-undisputed"),
        pytest.param([(CONFIRM, INSURED)], DISPUTE, INSURED, id="dispute-after-own-confirm"),
        pytest.param([(DISPUTE, INSURED)], CONFIRM, TREATMENT, id="confirm-disputed"),
        pytest.param(
            [(CONFIRM, INSURED), (CONFIRM, TREATMENT)], DISPUTE, TREATMENT, id="dispute-confirmed"
        ),
        pytest.param(
            [(DISPUTE, INSURED), (RESOLVE, None)], DISPUTE, TREATMENT, id="dispute-resolved"
        ),
    ],
)
def test_statement_illegal_steps(
    steps: list[tuple[StatementAction, Party | None]], action: StatementAction, party: Party | None
) -> None:
    status = _run(*steps)
    with pytest.raises(FailedPrecondition) as caught:
        transition_statement(status, action, party)
    assert caught.value.reason == "ILLEGAL_TRANSITION"


def test_confirm_before_delivery_is_illegal() -> None:
    with pytest.raises(FailedPrecondition):
        transition_statement(StatementStatus(), CONFIRM, INSURED)


@pytest.mark.parametrize(
    ("steps", "action", "party"),
    [
        pytest.param([], StatementAction.DELIVER, None, id="deliver-twice"),
        pytest.param([(CONFIRM, INSURED)], CONFIRM, INSURED, id="confirm-twice"),
        pytest.param(
            [(CONFIRM, INSURED), (CONFIRM, TREATMENT)],
            CONFIRM,
            TREATMENT,
            id="confirm-after-confirmed",
        ),
        pytest.param([(DISPUTE, INSURED)], DISPUTE, INSURED, id="dispute-twice"),
        pytest.param([(DISPUTE, INSURED), (RESOLVE, None)], RESOLVE, None, id="resolve-twice"),
    ],
)
def test_statement_repeated_action_is_flagged_no_op(
    steps: list[tuple[StatementAction, Party | None]], action: StatementAction, party: Party | None
) -> None:
    status = _run(*steps)
    step = transition_statement(status, action, party)
    assert (step.state, step.no_op) == (status, True)


@pytest.mark.parametrize(
    ("action", "party"),
    [
        pytest.param(CONFIRM, None, id="confirm-without-party"),
        pytest.param(RESOLVE, INSURED, id="resolve-with-party"),
    ],
)
def test_party_named_exactly_when_needed(action: StatementAction, party: Party | None) -> None:
    with pytest.raises(InvalidArgument):
        transition_statement(_delivered(), action, party)


def test_instruction_paid_once() -> None:
    first = transition_instruction(InstructionState.PENDING)
    assert (first.state, first.no_op) == (InstructionState.PAID, False)
    again = transition_instruction(first.state)
    assert (again.state, again.no_op) == (InstructionState.PAID, True)


@pytest.mark.parametrize("state", list(PeriodState))
def test_only_a_generated_period_regenerates(state: PeriodState) -> None:
    assert regenerates(state) == (state is PeriodState.GENERATED)


@pytest.mark.parametrize("state", list(StatementState))
def test_disputed_lines_only_while_delivered_or_disputed(state: StatementState) -> None:
    open_states = {StatementState.DELIVERED, StatementState.DISPUTED}
    assert accepts_disputed_lines(state) == (state in open_states)
