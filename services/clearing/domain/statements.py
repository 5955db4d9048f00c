"""Monthly statements: what one insured pool owes one treatment pool for a period.

A statement is derived only from ledger entries and carried adjustments, with no clock
and no randomness, and serialises canonically: regenerating a period on the same
cut-off yields byte-identical statements, which the digest makes cheap to check.

A period can hold millions of lines, so month-end generation never holds a whole
statement: ``StatementBuilder`` takes one pair's lines one at a time, in canonical order,
keeping only counters, and ``canonical_head`` / ``canonical_line`` / ``canonical_tail``
spell the same bytes as ``Statement.to_canonical_bytes`` piece by piece.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import operator
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
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
from services.clearing.domain.pools import (
    INSTITUTION_KINDS,
    ClearingLevel,
    clearing_level,
    is_pool_code,
)
from shared.errors import FailedPrecondition, InvalidArgument
from shared.reference.institutions import InstitutionKind

STATEMENT_SCHEMA = "crossclear.clearing.statement/1"

PoolPair = tuple[str, str]  # (insured pool, treatment pool)
_ID_SEPARATOR = "-"


def statement_id_of(period: Period, insured_pool: str, treatment_pool: str) -> str:
    return f"{period}{_ID_SEPARATOR}{insured_pool}{_ID_SEPARATOR}{treatment_pool}"


def parse_statement_id(statement_id: str) -> tuple[Period, PoolPair] | None:
    """(period, pair) a statement id names, or None for text that is no statement id.

    Only the shape is read: whether such a statement exists is the store's to say.
    """
    parts = statement_id.split(_ID_SEPARATOR)
    if len(parts) != 3 or not all(is_pool_code(p) for p in parts[1:]) or parts[1] == parts[2]:
        return None
    try:
        period = Period.parse(parts[0])
    except InvalidArgument:
        return None
    return period, (parts[1], parts[2])


@dataclass(frozen=True)
class OfPair:
    """The statement id and the pair of a value naming a period and two pools (a
    statement, its summary, its total)."""

    period: Period
    insured_pool: str
    treatment_pool: str

    @property
    def statement_id(self) -> str:
        return statement_id_of(self.period, self.insured_pool, self.treatment_pool)

    @property
    def pair(self) -> PoolPair:
        return (self.insured_pool, self.treatment_pool)


def _fields_in_order(summary: Any, **given: Any) -> dict[str, Any]:
    """A summary's canonical form: each field under its name, in declaration order, the
    value ``given`` for those that are not plain numbers."""
    return {
        f.name: given[f.name] if f.name in given else getattr(summary, f.name)
        for f in dataclasses.fields(summary)
    }


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
        return _fields_in_order(self, fund=self.fund.value)


@dataclass(frozen=True)
class InstitutionSummary:
    """The part of a statement settled at one kind of institution (hospitals, pharmacies):
    its lines, the adjustments carried for them, and their figures per fund. Over the
    kinds, counts and amounts add up to the statement's. Derived from the lines' codes,
    it is not part of the canonical bytes, which hold those codes already."""

    kind: InstitutionKind
    settlement_count: int
    reversal_count: int
    late_count: int
    adjustment_count: int
    funds: tuple[FundSummary, ...]
    net_fen: int

    def __post_init__(self) -> None:
        assert self.net_fen == sum(f.net_fen for f in self.funds)

    @property
    def line_count(self) -> int:
        return self.settlement_count + self.reversal_count

    def to_canonical(self) -> dict[str, Any]:
        return _fields_in_order(
            self, kind=self.kind.value, funds=[f.to_canonical() for f in self.funds]
        )


def summarise_institutions(
    lines: Iterable[StatementLine], adjustments: Sequence[Adjustment]
) -> tuple[InstitutionSummary, ...]:
    """One summary per institution kind, in INSTITUTION_KINDS order (zeros included)."""
    tallies = {kind: _Tally() for kind in INSTITUTION_KINDS}
    for line in lines:
        tallies[line.institution_kind].add(line)
    return tuple(_institution_of(kind, tallies[kind], adjustments) for kind in INSTITUTION_KINDS)


def _institution_of(
    kind: InstitutionKind, tally: _Tally, adjustments: Sequence[Adjustment]
) -> InstitutionSummary:
    """A kind's summary from the tally of its lines and the adjustments carried for them."""
    carried = [a for a in adjustments if a.line.institution_kind is kind]
    funds = tally.funds(carried)
    return InstitutionSummary(
        kind=kind,
        settlement_count=tally.settlements,
        reversal_count=tally.reversals,
        late_count=tally.late,
        adjustment_count=len(carried),
        funds=funds,
        net_fen=sum(f.net_fen for f in funds),
    )


def _check_institutions(summary: StatementSummary) -> None:
    """Kinds add up to the statement: counts, and each fund's figures."""
    kinds = summary.institutions
    if not kinds:  # a placeholder, or a statement generated before kinds were kept
        return
    assert sum(k.settlement_count for k in kinds) == summary.settlement_count
    assert sum(k.reversal_count for k in kinds) == summary.reversal_count
    assert sum(k.late_count for k in kinds) == summary.late_count
    assert sum(k.adjustment_count for k in kinds) == len(summary.adjustments)
    assert sum(k.net_fen for k in kinds) == summary.net_fen
    for index, fund in enumerate(summary.funds):
        parts = [k.funds[index] for k in kinds]
        assert all(p.fund is fund.fund for p in parts)
        assert sum(p.net_fen for p in parts) == fund.net_fen


@dataclass(frozen=True)
class Statement(OfPair):
    """Positive net_fen: the insured pool owes the treatment pool that much."""

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

    def summary(self) -> StatementSummary:
        """Everything but the lines (what generation keeps while streaming them)."""
        return StatementSummary(
            period=self.period,
            insured_pool=self.insured_pool,
            treatment_pool=self.treatment_pool,
            level=self.level,
            adjustments=self.adjustments,
            funds=self.funds,
            settlement_count=_count_kind(self.lines, EventKind.SETTLED),
            reversal_count=_count_kind(self.lines, EventKind.REVERSED),
            late_count=sum(1 for x in self.lines if x.late),
            net_fen=self.net_fen,
            institutions=summarise_institutions(self.lines, self.adjustments),
        )

    def to_canonical(self) -> dict[str, Any]:
        return {
            **self.summary().canonical_fields(),
            _LINES_KEY: [x.to_canonical() for x in self.lines],
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


# What a line says of its event: every field of a line but its amounts, named alike on
# each ledger entry of the event.
_LINE_EVENT_FIELDS = tuple(f.name for f in dataclasses.fields(StatementLine) if f.name != "amounts")
# What the entries of one event must agree on: its pair and everything its line says of it.
_event_fields = operator.attrgetter("insured_pool", "treatment_pool", *_LINE_EVENT_FIELDS)


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


@dataclass(frozen=True)
class StatementSummary(OfPair):
    """A statement without its lines: its pair, adjustments, per-fund figures and counts.

    In the canonical bytes everything here comes before or after the lines (keys sort
    around "lines"), so a statement can be written as head, lines, tail.
    """

    level: ClearingLevel
    adjustments: tuple[Adjustment, ...]
    funds: tuple[FundSummary, ...]
    settlement_count: int
    reversal_count: int
    late_count: int
    net_fen: int
    # Per institution kind (not in the canonical bytes); empty for a placeholder.
    institutions: tuple[InstitutionSummary, ...] = ()

    def __post_init__(self) -> None:
        assert clearing_level(self.insured_pool, self.treatment_pool) is self.level
        assert self.net_fen == sum(f.net_fen for f in self.funds)
        assert 0 <= self.late_count <= self.line_count
        _check_institutions(self)

    @property
    def line_count(self) -> int:
        return self.settlement_count + self.reversal_count

    def canonical_fields(self) -> dict[str, Any]:
        """Statement.to_canonical() but for its "lines"."""
        return {
            "schema": STATEMENT_SCHEMA,
            "statement_id": self.statement_id,
            "period": str(self.period),
            "insured_pool": self.insured_pool,
            "treatment_pool": self.treatment_pool,
            "level": self.level.value,
            "settlement_count": self.settlement_count,
            "reversal_count": self.reversal_count,
            "late_count": self.late_count,
            "adjustment_count": len(self.adjustments),
            "net_fen": self.net_fen,
            "funds": [f.to_canonical() for f in self.funds],
            "adjustments": [a.to_canonical() for a in self.adjustments],
        }


_LINES_KEY = "lines"


def _canonical_json(value: Any) -> str:
    """The one JSON spelling of canonical bytes: sorted keys, no whitespace, raw UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_head(summary: StatementSummary) -> bytes:
    """The canonical bytes up to the first line: the fields sorting before "lines", then
    the opening of the lines array."""
    fields = summary.canonical_fields()
    before = _canonical_json({k: v for k, v in fields.items() if k < _LINES_KEY})
    opening = before[:-1] + ("," if before != "{}" else "")
    return f'{opening}"{_LINES_KEY}":['.encode()


def canonical_line(line: StatementLine, *, first: bool) -> bytes:
    """One line's bytes in the lines array (after a comma unless it is the first)."""
    text = _canonical_json(line.to_canonical())
    return (text if first else "," + text).encode()


def canonical_tail(summary: StatementSummary) -> bytes:
    """The canonical bytes after the last line: the array's end, the fields after "lines"."""
    fields = summary.canonical_fields()
    after = _canonical_json({k: v for k, v in fields.items() if k > _LINES_KEY})
    return ("]" + ("," if after != "{}" else "") + after[1:]).encode()


def canonical_chunks(summary: StatementSummary, lines: Iterable[StatementLine]) -> Iterator[bytes]:
    """head, each line, tail: joined, exactly Statement.to_canonical_bytes()."""
    yield canonical_head(summary)
    for index, line in enumerate(lines):
        yield canonical_line(line, first=index == 0)
    yield canonical_tail(summary)


class _Tally:
    """Counters of lines taken one at a time: settlements, reversals, late lines, and per
    fund (in FUND_ORDER) the settled, reversed and late counts and amounts."""

    def __init__(self) -> None:
        self.settlements = 0
        self.reversals = 0
        self.late = 0
        self._counts = {figure: [0] * len(FUND_ORDER) for figure in _FIGURES}
        self._fen = {figure: [0] * len(FUND_ORDER) for figure in _FIGURES}

    def add(self, line: StatementLine) -> None:
        settled = line.kind is EventKind.SETTLED
        if settled:
            self.settlements += 1
        else:
            self.reversals += 1
        figures = ["settled" if settled else "reversed"]
        if line.late:
            self.late += 1
            figures.append("late")
        for amount in line.amounts:
            index = _FUND_INDEX[amount.fund]
            for figure in figures:
                self._counts[figure][index] += 1
                self._fen[figure][index] += amount.amount_fen

    def funds(self, adjustments: Sequence[Adjustment]) -> tuple[FundSummary, ...]:
        return tuple(
            self._fund_summary(index, fund, adjustments) for index, fund in enumerate(FUND_ORDER)
        )

    def _fund_summary(
        self, index: int, fund: FundType, adjustments: Sequence[Adjustment]
    ) -> FundSummary:
        adjusted = [a.amount_of(fund) for a in adjustments]
        settled_fen = self._fen["settled"][index]
        reversed_fen = self._fen["reversed"][index]
        return FundSummary(
            fund=fund,
            settled_count=self._counts["settled"][index],
            settled_fen=settled_fen,
            reversed_count=self._counts["reversed"][index],
            reversed_fen=reversed_fen,
            adjustment_count=_count_nonzero(adjusted),
            adjustment_fen=sum(adjusted),
            late_count=self._counts["late"][index],
            late_fen=self._fen["late"][index],
            net_fen=settled_fen + reversed_fen + sum(adjusted),
        )


class StatementBuilder:
    """One pair's statement summary from its lines, taken one at a time in canonical order.

    Keeps counters, never the lines, so a pair of any size is summarised in constant
    memory. The lines must come sorted by StatementLine.sort_key and be unique per
    (setl_id, kind) — one per settlement and one per reversal, as the ledger's
    uniqueness makes them; an equal or lower key than the previous line is refused. The
    result equals make_statement(...).summary() for the same lines and adjustments.
    """

    def __init__(self, period: Period, pair: PoolPair, adjustments: Iterable[Adjustment]) -> None:
        level = clearing_level(*pair)
        if level is None:
            raise InvalidArgument("pair", f"pool {pair[0]} with itself is local and not cleared")
        self._period = period
        self._pair = pair
        self._level = level
        self._adjustments = _checked_adjustments(period, pair, adjustments)
        self._last_key: tuple[Any, ...] | None = None
        self._total = _Tally()
        self._by_kind = {kind: _Tally() for kind in INSTITUTION_KINDS}

    @property
    def pair(self) -> PoolPair:
        return self._pair

    @property
    def line_count(self) -> int:
        return self._total.settlements + self._total.reversals

    def add(self, line: StatementLine) -> None:
        key = line.sort_key()
        if self._last_key is not None and key <= self._last_key:
            if key == self._last_key:
                raise FailedPrecondition(
                    "DUPLICATE_LINE",
                    f"{line.kind.value} {line.setl_id} appears twice for "
                    f"{self._pair[0]}→{self._pair[1]}",
                )
            raise AssertionError(f"line {line.setl_id} out of canonical order")
        self._last_key = key
        check_count("lines on one statement", self.line_count + 1, MAX_LINES_PER_STATEMENT)
        self._total.add(line)
        self._by_kind[line.institution_kind].add(line)

    def summary(self) -> StatementSummary:
        funds = self._total.funds(self._adjustments)
        return StatementSummary(
            period=self._period,
            insured_pool=self._pair[0],
            treatment_pool=self._pair[1],
            level=self._level,
            adjustments=self._adjustments,
            funds=funds,
            settlement_count=self._total.settlements,
            reversal_count=self._total.reversals,
            late_count=self._total.late,
            net_fen=sum(f.net_fen for f in funds),
            institutions=tuple(
                _institution_of(kind, self._by_kind[kind], self._adjustments)
                for kind in INSTITUTION_KINDS
            ),
        )


_FIGURES = ("settled", "reversed", "late")
_FUND_INDEX = {fund: index for index, fund in enumerate(FUND_ORDER)}


def _checked_adjustments(
    period: Period, pair: PoolPair, adjustments: Iterable[Adjustment]
) -> tuple[Adjustment, ...]:
    """One pair's adjustments in canonical order, with build_statements' checks."""
    found = list(adjustments)
    check_count("adjustments", len(found), MAX_ADJUSTMENTS_PER_RUN)
    for adjustment in found:
        assert (adjustment.insured_pool, adjustment.treatment_pool) == pair
    by_pair = _adjustments_by_pair(period, found)
    return tuple(sorted(by_pair.get(pair, ()), key=Adjustment.sort_key))


def statements_digest(digests: Iterable[tuple[str, str]]) -> str:
    """One sha256 over (statement id, digest) pairs in id order: a whole period's output.

    Equal for two generations exactly when every statement is byte-identical.
    """
    pairs = sorted(digests)
    assert len({statement_id for statement_id, _ in pairs}) == len(pairs), "ids repeat"
    text = "".join(f"{statement_id} {digest}\n" for statement_id, digest in pairs)
    return hashlib.sha256(text.encode("ascii")).hexdigest()
