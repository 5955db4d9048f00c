"""Monthly statements: what one insured pool owes one treatment pool for a period.

A statement is derived only from ledger entries and carried adjustments, with no clock
and no randomness, and serialises canonically: regenerating a period on the same
cut-off yields byte-identical statements, which the digest makes cheap to check.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from services.clearing.domain.events import FUND_ORDER, EventKind, FundType
from services.clearing.domain.ledger import LedgerEntry
from services.clearing.domain.limits import (
    MAX_ADJUSTMENTS_PER_RUN,
    MAX_ENTRIES_PER_RUN,
    MAX_LINES_PER_STATEMENT,
    MAX_STATEMENTS_PER_RUN,
    check_count,
)
from services.clearing.domain.lines import Adjustment, StatementLine, fund_amounts
from services.clearing.domain.periods import Period
from services.clearing.domain.pools import ClearingLevel, clearing_level
from shared.errors import FailedPrecondition, InvalidArgument

STATEMENT_SCHEMA = "crossclear.clearing.statement/1"

PoolPair = tuple[str, str]  # (insured pool, treatment pool)


@dataclass(frozen=True)
class FundSummary:
    """One fund's figures on a statement; reversals and adjustments shown apart.

    Late figures are the part of settled + reversed that arrived after their own period
    closed; they are already included there, flagged, not added again.
    """

    fund: FundType
    settled_count: int
    settled_fen: int
    reversed_count: int
    reversed_fen: int
    adjustment_count: int
    adjustment_fen: int
    late_count: int
    late_fen: int
    net_fen: int

    def __post_init__(self) -> None:
        assert self.net_fen == self.settled_fen + self.reversed_fen + self.adjustment_fen

    def to_canonical(self) -> dict[str, Any]:
        return {
            "fund": self.fund.value,
            "settled_count": self.settled_count,
            "settled_fen": self.settled_fen,
            "reversed_count": self.reversed_count,
            "reversed_fen": self.reversed_fen,
            "adjustment_count": self.adjustment_count,
            "adjustment_fen": self.adjustment_fen,
            "late_count": self.late_count,
            "late_fen": self.late_fen,
            "net_fen": self.net_fen,
        }


@dataclass(frozen=True)
class Statement:
    """Positive net_fen: the insured pool owes the treatment pool that much."""

    period: Period
    insured_pool: str
    treatment_pool: str
    level: ClearingLevel
    lines: tuple[StatementLine, ...]
    adjustments: tuple[Adjustment, ...]
    funds: tuple[FundSummary, ...]
    net_fen: int

    def __post_init__(self) -> None:
        assert clearing_level(self.insured_pool, self.treatment_pool) is self.level
        assert list(self.lines) == sorted(self.lines, key=StatementLine.sort_key)
        assert list(self.adjustments) == sorted(self.adjustments, key=Adjustment.sort_key)
        assert len({(x.setl_id, x.kind) for x in self.lines}) == len(self.lines)
        assert self.funds == summarise(self.lines, self.adjustments)
        assert self.net_fen == sum(f.net_fen for f in self.funds)
        lines_fen = sum(x.total_fen for x in self.lines)
        assert self.net_fen == lines_fen + sum(a.total_fen for a in self.adjustments)

    @property
    def statement_id(self) -> str:
        return f"{self.period}-{self.insured_pool}-{self.treatment_pool}"

    @property
    def pair(self) -> PoolPair:
        return (self.insured_pool, self.treatment_pool)

    def to_canonical(self) -> dict[str, Any]:
        return {
            "schema": STATEMENT_SCHEMA,
            "statement_id": self.statement_id,
            "period": str(self.period),
            "insured_pool": self.insured_pool,
            "treatment_pool": self.treatment_pool,
            "level": self.level.value,
            "settlement_count": _count_kind(self.lines, EventKind.SETTLED),
            "reversal_count": _count_kind(self.lines, EventKind.REVERSED),
            "late_count": sum(1 for x in self.lines if x.late),
            "adjustment_count": len(self.adjustments),
            "net_fen": self.net_fen,
            "funds": [f.to_canonical() for f in self.funds],
            "lines": [x.to_canonical() for x in self.lines],
            "adjustments": [a.to_canonical() for a in self.adjustments],
        }

    def to_canonical_bytes(self) -> bytes:
        """Sorted keys, no whitespace, UTF-8, no generation time: stable across runs."""
        text = json.dumps(
            self.to_canonical(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        return text.encode("utf-8")

    def digest(self) -> str:
        """sha256 of the canonical bytes, hex."""
        return hashlib.sha256(self.to_canonical_bytes()).hexdigest()


def summarise(
    lines: Sequence[StatementLine], adjustments: Sequence[Adjustment]
) -> tuple[FundSummary, ...]:
    """Per-fund figures for every cleared fund, in the fixed fund order (zeros included)."""
    return tuple(_summarise_fund(fund, lines, adjustments) for fund in FUND_ORDER)


def _summarise_fund(
    fund: FundType, lines: Sequence[StatementLine], adjustments: Sequence[Adjustment]
) -> FundSummary:
    settled = [x.amount_of(fund) for x in lines if x.kind is EventKind.SETTLED]
    reversed_ = [x.amount_of(fund) for x in lines if x.kind is EventKind.REVERSED]
    late = [x.amount_of(fund) for x in lines if x.late]
    adjusted = [a.amount_of(fund) for a in adjustments]
    return FundSummary(
        fund=fund,
        settled_count=_count_nonzero(settled),
        settled_fen=sum(settled),
        reversed_count=_count_nonzero(reversed_),
        reversed_fen=sum(reversed_),
        adjustment_count=_count_nonzero(adjusted),
        adjustment_fen=sum(adjusted),
        late_count=_count_nonzero(late),
        late_fen=sum(late),
        net_fen=sum(settled) + sum(reversed_) + sum(adjusted),
    )


def _count_nonzero(amounts: Iterable[int]) -> int:
    return sum(1 for amount in amounts if amount != 0)


def _count_kind(lines: Iterable[StatementLine], kind: EventKind) -> int:
    return sum(1 for x in lines if x.kind is kind)


def make_statement(
    period: Period,
    pair: PoolPair,
    lines: Iterable[StatementLine],
    adjustments: Iterable[Adjustment],
) -> Statement:
    """A statement from its lines and adjustments, in canonical order, totals computed."""
    level = clearing_level(*pair)
    if level is None:
        raise InvalidArgument("pair", f"pool {pair[0]} with itself is local and not cleared")
    sorted_lines = tuple(sorted(lines, key=StatementLine.sort_key))
    sorted_adjustments = tuple(sorted(adjustments, key=Adjustment.sort_key))
    check_count("lines on one statement", len(sorted_lines), MAX_LINES_PER_STATEMENT)
    _check_unique_lines(pair, sorted_lines)
    funds = summarise(sorted_lines, sorted_adjustments)
    return Statement(
        period=period,
        insured_pool=pair[0],
        treatment_pool=pair[1],
        level=level,
        lines=sorted_lines,
        adjustments=sorted_adjustments,
        funds=funds,
        net_fen=sum(f.net_fen for f in funds),
    )


def build_statements(
    period: Period,
    entries: Iterable[LedgerEntry],
    adjustments: Iterable[Adjustment] = (),
) -> tuple[Statement, ...]:
    """One statement per (insured pool, treatment pool) with activity, sorted by the pair.

    Local entries are skipped defensively; entries of another period are refused, since
    the cut-off fence already decided where each one belongs.
    """
    entry_list = list(entries)
    adjustment_list = list(adjustments)
    check_count("ledger entries", len(entry_list), MAX_ENTRIES_PER_RUN)
    check_count("adjustments", len(adjustment_list), MAX_ADJUSTMENTS_PER_RUN)
    lines_by_pair = _lines_by_pair(period, entry_list)
    adjustments_by_pair = _adjustments_by_pair(period, adjustment_list)
    pairs = sorted(lines_by_pair.keys() | adjustments_by_pair.keys())
    check_count("statements", len(pairs), MAX_STATEMENTS_PER_RUN)
    statements = tuple(
        make_statement(period, pair, lines_by_pair.get(pair, ()), adjustments_by_pair.get(pair, ()))
        for pair in pairs
    )
    cleared_fen = sum(e.amount_fen for e in entry_list if e.insured_pool != e.treatment_pool)
    adjusted_fen = sum(a.total_fen for a in adjustment_list)
    assert sum(s.net_fen for s in statements) == cleared_fen + adjusted_fen
    return statements


def _lines_by_pair(
    period: Period, entries: Sequence[LedgerEntry]
) -> dict[PoolPair, list[StatementLine]]:
    by_event: dict[str, list[LedgerEntry]] = defaultdict(list)
    for entry in entries:
        if entry.period != period:
            raise InvalidArgument(
                "entries", f"entry of event {entry.event_id} belongs to period {entry.period}"
            )
        if entry.insured_pool != entry.treatment_pool:
            by_event[entry.event_id].append(entry)
    lines: dict[PoolPair, list[StatementLine]] = defaultdict(list)
    for event_id in sorted(by_event):
        group = by_event[event_id]
        lines[(group[0].insured_pool, group[0].treatment_pool)].append(_line_of(group))
    return lines


def _line_of(group: Sequence[LedgerEntry]) -> StatementLine:
    """One line from the entries of one event, which must agree on everything but the fund."""
    first = group[0]
    shared = {_event_fields(e) for e in group}
    if len(shared) != 1:
        raise FailedPrecondition(
            "INCONSISTENT_ENTRIES", f"entries of event {first.event_id} disagree on the event"
        )
    funds = [e.fund for e in group]
    if len(set(funds)) != len(funds):
        raise FailedPrecondition(
            "DUPLICATE_ENTRY", f"event {first.event_id} has two entries for one fund"
        )
    return StatementLine(
        setl_id=first.setl_id,
        kind=first.kind,
        reversed_setl_id=first.reversed_setl_id,
        event_id=first.event_id,
        hospital_code=first.hospital_code,
        event_period=first.event_period,
        late=first.late,
        settle_time=first.settle_time,
        amounts=fund_amounts({e.fund: e.amount_fen for e in group}),
    )


def _event_fields(entry: LedgerEntry) -> tuple[object, ...]:
    return (
        entry.insured_pool,
        entry.treatment_pool,
        entry.setl_id,
        entry.kind,
        entry.reversed_setl_id,
        entry.hospital_code,
        entry.event_period,
        entry.late,
        entry.settle_time,
    )


def _check_unique_lines(pair: PoolPair, lines: Sequence[StatementLine]) -> None:
    seen: set[tuple[str, EventKind]] = set()
    for line in lines:
        key = (line.setl_id, line.kind)
        if key in seen:
            raise FailedPrecondition(
                "DUPLICATE_LINE",
                f"{line.kind.value} {line.setl_id} appears twice for {pair[0]}→{pair[1]}",
            )
        seen.add(key)


def _adjustments_by_pair(
    period: Period, adjustments: Sequence[Adjustment]
) -> dict[PoolPair, list[Adjustment]]:
    by_pair: dict[PoolPair, list[Adjustment]] = defaultdict(list)
    seen: set[tuple[Period, str, EventKind]] = set()
    for adjustment in adjustments:
        if adjustment.origin_period >= period:
            raise InvalidArgument(
                "adjustments",
                f"{adjustment.line.setl_id} from {adjustment.origin_period} "
                f"cannot be carried into {period}",
            )
        key = (adjustment.origin_period, adjustment.line.setl_id, adjustment.line.kind)
        if key in seen:
            raise FailedPrecondition(
                "DUPLICATE_ADJUSTMENT", f"{adjustment.line.setl_id} is carried twice"
            )
        seen.add(key)
        by_pair[(adjustment.insured_pool, adjustment.treatment_pool)].append(adjustment)
    return by_pair


def statements_digest(digests: Iterable[tuple[str, str]]) -> str:
    """One sha256 over (statement id, digest) pairs in id order: a whole period's output.

    Equal for two generations exactly when every statement is byte-identical.
    """
    pairs = sorted(digests)
    assert len({statement_id for statement_id, _ in pairs}) == len(pairs), "ids repeat"
    text = "".join(f"{statement_id} {digest}\n" for statement_id, digest in pairs)
    return hashlib.sha256(text.encode("ascii")).hexdigest()
