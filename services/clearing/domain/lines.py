"""Statement lines, disputed lines and the adjustments a resolved dispute carries forward.

A line is one settlement or reversal on a statement, with its cleared amount per fund.
A disputed line leaves its period's netting; once the dispute is resolved, an adjustment
carries the resolved amounts into a later period's statement for the same pool pair.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from services.clearing.domain.events import FUND_ORDER, EventKind, FundType
from services.clearing.domain.limits import MAX_REASON_CHARS
from services.clearing.domain.periods import SHANGHAI, Period
from services.clearing.domain.pools import institution_kind_of
from shared.errors import InvalidArgument
from shared.reference.institutions import InstitutionKind


@dataclass(frozen=True)
class FundAmount:
    fund: FundType
    amount_fen: int


def fund_amounts(amounts: Mapping[FundType, int]) -> tuple[FundAmount, ...]:
    """Non-zero amounts in the fixed fund order: one canonical form per set of amounts."""
    return tuple(FundAmount(f, amounts[f]) for f in FUND_ORDER if amounts.get(f, 0) != 0)


def amounts_total_fen(amounts: Iterable[FundAmount]) -> int:
    return sum(a.amount_fen for a in amounts)


def _check_amounts_form(amounts: tuple[FundAmount, ...], sign: int) -> None:
    funds = [a.fund for a in amounts]
    assert funds == [f for f in FUND_ORDER if f in funds], "amounts out of fund order"
    assert all(sign * a.amount_fen > 0 for a in amounts), "amount zero or of the wrong sign"


class WithAmounts:
    """What a line and an adjustment share: their amounts, non-zero, in fund order."""

    amounts: tuple[FundAmount, ...]

    @property
    def total_fen(self) -> int:
        return amounts_total_fen(self.amounts)

    def amount_of(self, fund: FundType) -> int:
        return next((a.amount_fen for a in self.amounts if a.fund is fund), 0)

    def amounts_by_fund(self) -> dict[str, int]:
        """The canonical form of the amounts: fund → fen."""
        return {a.fund.value: a.amount_fen for a in self.amounts}


@dataclass(frozen=True)
class StatementLine(WithAmounts):
    """One settlement (positive amounts) or reversal (negative amounts) on a statement."""

    setl_id: str
    kind: EventKind
    reversed_setl_id: str | None
    event_id: str
    hospital_code: str
    event_period: Period
    late: bool
    settle_time: datetime
    amounts: tuple[FundAmount, ...]

    def __post_init__(self) -> None:
        assert self.amounts, "a line clears at least one fund"
        _check_amounts_form(self.amounts, 1 if self.kind is EventKind.SETTLED else -1)

    @property
    def institution_kind(self) -> InstitutionKind:
        """Hospital or pharmacy: where the settlement happened."""
        return institution_kind_of(self.hospital_code)

    def sort_key(self) -> tuple[datetime, str, str]:
        return (self.settle_time, self.setl_id, self.kind.value)

    @property
    def settle_time_text(self) -> str:
        # One instant, one spelling: the same settlement stamped in another zone must
        # serialise to the same bytes.
        return self.settle_time.astimezone(SHANGHAI).isoformat()

    def to_canonical(self) -> dict[str, Any]:
        return {
            "setl_id": self.setl_id,
            "kind": self.kind.value,
            "reversed_setl_id": self.reversed_setl_id,
            "event_id": self.event_id,
            "hospital_code": self.hospital_code,
            "event_period": str(self.event_period),
            "late": self.late,
            "settle_time": self.settle_time_text,
            "amounts_fen": self.amounts_by_fund(),
            "total_fen": self.total_fen,
        }


@dataclass(frozen=True)
class DisputedLine:
    """A line taken out of its statement's netting until the dispute is resolved."""

    period: Period
    insured_pool: str
    treatment_pool: str
    line: StatementLine
    reason: str


class DisputeOutcome(StrEnum):
    REJECTED = "REJECTED"  # the line stands as generated
    UPHELD = "UPHELD"  # the disputing party was right: nothing is owed for the line
    AMENDED = "AMENDED"  # the line stands with reduced amounts


@dataclass(frozen=True)
class Adjustment(WithAmounts):
    """A resolved disputed line, cleared in a later period than the one it was disputed in."""

    origin_period: Period
    insured_pool: str
    treatment_pool: str
    line: StatementLine
    outcome: DisputeOutcome
    amounts: tuple[FundAmount, ...]
    note: str

    def __post_init__(self) -> None:
        _check_outcome_amounts(self.line, self.outcome, self.amounts)
        if len(self.note) > MAX_REASON_CHARS:
            raise InvalidArgument("note", f"at most {MAX_REASON_CHARS} characters")

    def sort_key(self) -> tuple[Period, str, str]:
        return (self.origin_period, self.line.setl_id, self.line.kind.value)

    def to_canonical(self) -> dict[str, Any]:
        return {
            "origin_period": str(self.origin_period),
            "outcome": self.outcome.value,
            "note": self.note,
            "line": self.line.to_canonical(),
            "amounts_fen": self.amounts_by_fund(),
            "total_fen": self.total_fen,
        }


def _check_outcome_amounts(
    line: StatementLine, outcome: DisputeOutcome, amounts: tuple[FundAmount, ...]
) -> None:
    """A resolution may keep a line, void it, or reduce it — never enlarge or re-sign it."""
    if outcome is DisputeOutcome.REJECTED and amounts != line.amounts:
        raise InvalidArgument("amounts", "a rejected dispute carries the line's own amounts")
    if outcome is DisputeOutcome.UPHELD and amounts:
        raise InvalidArgument("amounts", "an upheld dispute carries no amounts")
    sign = 1 if line.kind is EventKind.SETTLED else -1
    for amount in amounts:
        original_fen = line.amount_of(amount.fund)
        if not 0 < sign * amount.amount_fen <= sign * original_fen:
            raise InvalidArgument(
                f"amounts.{amount.fund.value}",
                f"{amount.amount_fen} is not within the line's {original_fen} (same sign)",
            )
    _check_amounts_form(amounts, sign)
