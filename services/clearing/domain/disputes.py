"""Disputes: split a statement into its confirmed part and the lines a party disputes.

Exactly the named lines leave the statement; everything else (including adjustments,
which are themselves the settled outcome of an earlier dispute) stays and is netted this
period. A disputed line comes back later as an adjustment once its dispute is resolved.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from services.clearing.domain.events import FundType
from services.clearing.domain.limits import MAX_DISPUTED_LINES, MAX_REASON_CHARS, check_count
from services.clearing.domain.lines import (
    Adjustment,
    DisputedLine,
    DisputeOutcome,
    FundAmount,
    StatementLine,
    fund_amounts,
)
from services.clearing.domain.statements import Statement, make_statement
from shared.errors import InvalidArgument


def split_disputed(
    statement: Statement, disputed_setl_ids: Collection[str], reason: str = ""
) -> tuple[Statement, tuple[DisputedLine, ...]]:
    """(confirmed part, disputed lines). Every line whose setl_id is named moves; no other.

    Naming a settlement id that is not on the statement is refused: a dispute must be
    about what the party was actually sent.
    """
    check_count("disputed lines", len(disputed_setl_ids), MAX_DISPUTED_LINES)
    _check_text(reason, "reason")
    named = frozenset(disputed_setl_ids)
    unknown = named - {x.setl_id for x in statement.lines}
    if unknown:
        raise InvalidArgument(
            "disputed_setl_ids",
            f"not on statement {statement.statement_id}: {sorted(unknown)[:10]}",
        )
    kept = [x for x in statement.lines if x.setl_id not in named]
    moved = tuple(
        DisputedLine(statement.period, statement.insured_pool, statement.treatment_pool, x, reason)
        for x in statement.lines
        if x.setl_id in named
    )
    confirmed = make_statement(statement.period, statement.pair, kept, statement.adjustments)
    assert confirmed.net_fen + sum(d.line.total_fen for d in moved) == statement.net_fen
    assert len(kept) + len(moved) == len(statement.lines)
    return confirmed, moved


def dispute_whole(statement: Statement, reason: str) -> tuple[Statement, tuple[DisputedLine, ...]]:
    """A dispute of the whole statement: every line moves; carried adjustments stay."""
    return split_disputed(statement, {x.setl_id for x in statement.lines}, reason)


def resolve_disputed_line(
    disputed: DisputedLine,
    outcome: DisputeOutcome,
    amended_fen: Mapping[FundType, int] | None = None,
    note: str = "",
) -> Adjustment:
    """The adjustment a resolved dispute carries into a later period's statement.

    Which period is the caller's: the earliest one still to be generated.

    REJECTED carries the line unchanged, UPHELD carries nothing (the line is shown, with
    zero amounts, so the resolution stays traceable), AMENDED carries the reduced amounts.
    """
    _check_text(note, "note")
    if (outcome is DisputeOutcome.AMENDED) != (amended_fen is not None):
        raise InvalidArgument("amended_fen", "given exactly when the outcome is AMENDED")
    return Adjustment(
        origin_period=disputed.period,
        insured_pool=disputed.insured_pool,
        treatment_pool=disputed.treatment_pool,
        line=disputed.line,
        outcome=outcome,
        amounts=_carried_amounts(disputed.line, outcome, amended_fen),
        note=note,
    )


def _carried_amounts(
    line: StatementLine, outcome: DisputeOutcome, amended_fen: Mapping[FundType, int] | None
) -> tuple[FundAmount, ...]:
    """The line's own amounts if rejected, none if upheld, the amended ones if amended."""
    if outcome is DisputeOutcome.REJECTED:
        return line.amounts
    if outcome is DisputeOutcome.UPHELD:
        return ()
    assert amended_fen is not None
    return fund_amounts(amended_fen)


def _check_text(text: str, field_name: str) -> None:
    if len(text) > MAX_REASON_CHARS:
        raise InvalidArgument(field_name, f"at most {MAX_REASON_CHARS} characters")
