"""Multilateral netting per clearing level, and hub-and-spoke payment instructions.

Sign convention: a net position is receivable − payable, so positive = the party
receives, negative = it pays. A statement's net amount is owed by its insured pool
(payer) to its treatment pool (receiver).

Levels:
- PROVINCIAL: inside each province, every pool nets its same-province statements; net
  payers pay the provincial centre, which pays the net receivers.
- NATIONAL: provinces net their cross-province statements; net paying provinces pay the
  national centre, which pays the net receiving provinces. A province is represented by
  its provincial centre, and its party code here is the 2-digit province code.
- ALLOCATION: each province passes its national result down to its pools: each pool's
  share is its own net over cross-province statements, which sums exactly to the
  province's net, so no proportional rounding is ever needed.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from services.clearing.domain.limits import MAX_STATEMENTS_PER_RUN, check_count
from services.clearing.domain.periods import Period
from services.clearing.domain.pools import (
    NATIONAL_HUB,
    NATIONAL_SCOPE,
    ClearingLevel,
    clearing_level,
    province_of,
    provincial_hub,
)
from services.clearing.domain.statements import OfPair, Statement
from shared.errors import FailedPrecondition, InvalidArgument


@dataclass(frozen=True)
class StatementTotal(OfPair):
    """A statement as netting sees it: its pair and its (confirmed) net amount, without
    its lines; what the store keeps as each statement's summary."""

    net_fen: int

    @property
    def level(self) -> ClearingLevel:
        level = clearing_level(self.insured_pool, self.treatment_pool)
        if level is None:
            raise InvalidArgument("pair", f"pool {self.insured_pool} with itself is not cleared")
        return level


# What netting reads of a statement: a Statement, or just its totals. Only the pair, the
# level and the net amount are read.
Nettable = Statement | StatementTotal


class InstructionLeg(StrEnum):
    PROVINCIAL = "PROVINCIAL"  # pools ↔ provincial centre, same-province clearing
    NATIONAL = "NATIONAL"  # provinces ↔ national centre
    ALLOCATION = "ALLOCATION"  # pools ↔ provincial centre, the province's national result


def hub_of(leg: InstructionLeg, scope: str) -> str:
    """The centre a leg's payments pass through: the national centre for the national leg,
    else the centre of the scope's province."""
    return NATIONAL_HUB if leg is InstructionLeg.NATIONAL else provincial_hub(scope)


@dataclass(frozen=True)
class NetPosition:
    party: str
    receivable_fen: int
    payable_fen: int

    @property
    def net_fen(self) -> int:
        """Positive: the party receives this much; negative: it pays."""
        return self.receivable_fen - self.payable_fen


Cell = tuple[str, str, int]  # (payer, receiver, amount owed in fen)


def _pair_of(cell: Cell) -> tuple[str, str]:
    return cell[0], cell[1]


@dataclass(frozen=True)
class NetMatrix:
    """Who owes whom at one level and scope: rows are payers, columns receivers."""

    level: ClearingLevel
    scope: str  # a province code at PROVINCIAL level, NATIONAL_SCOPE at national level
    parties: tuple[str, ...]
    cells: tuple[Cell, ...]  # sorted by (payer, receiver), one cell a pair
    positions: tuple[NetPosition, ...]

    def __post_init__(self) -> None:
        assert sum(p.net_fen for p in self.positions) == 0, "net positions must sum to zero"
        assert tuple(p.party for p in self.positions) == self.parties
        pairs = [_pair_of(cell) for cell in self.cells]
        assert pairs == sorted(set(pairs)), "cells must be sorted, one a pair"

    def amount_fen(self, payer: str, receiver: str) -> int:
        index = bisect.bisect_left(self.cells, (payer, receiver), key=_pair_of)
        if index < len(self.cells) and _pair_of(self.cells[index]) == (payer, receiver):
            return self.cells[index][2]
        return 0

    def position_of(self, party: str) -> NetPosition:
        for position in self.positions:
            if position.party == party:
                return position
        raise KeyError(party)


@dataclass(frozen=True)
class PaymentInstruction:
    instruction_id: str
    period: Period
    leg: InstructionLeg
    scope: str
    payer: str
    payee: str
    amount_fen: int

    def __post_init__(self) -> None:
        assert self.amount_fen > 0
        assert self.payer != self.payee


@dataclass(frozen=True)
class LevelNetting:
    leg: InstructionLeg
    matrix: NetMatrix
    instructions: tuple[PaymentInstruction, ...]

    @property
    def hub(self) -> str:
        return hub_of(self.leg, self.matrix.scope)

    def __post_init__(self) -> None:
        hub_in_fen = sum(i.amount_fen for i in self.instructions if i.payee == self.hub)
        hub_out_fen = sum(i.amount_fen for i in self.instructions if i.payer == self.hub)
        assert hub_in_fen == hub_out_fen, "hub in ≠ hub out"


@dataclass(frozen=True)
class ProvinceAllocation:
    """How one province's national net position is passed down to its pools."""

    province: str
    province_net_fen: int
    pool_positions: tuple[NetPosition, ...]
    instructions: tuple[PaymentInstruction, ...]

    def __post_init__(self) -> None:
        assert sum(p.net_fen for p in self.pool_positions) == self.province_net_fen


@dataclass(frozen=True)
class NettingResult:
    period: Period
    provincial: tuple[LevelNetting, ...]  # one per province with same-province statements
    national: LevelNetting
    allocations: tuple[ProvinceAllocation, ...]  # one per province in national clearing

    def instructions(self) -> tuple[PaymentInstruction, ...]:
        """Every payment of the period: provincial, then national, then allocations."""
        provincial = [i for level in self.provincial for i in level.instructions]
        allocated = [i for a in self.allocations for i in a.instructions]
        return (*provincial, *self.national.instructions, *allocated)

    def matrix_for(self, level: ClearingLevel, scope: str) -> NetMatrix:
        if level is ClearingLevel.NATIONAL:
            return self.national.matrix
        for netting in self.provincial:
            if netting.matrix.scope == scope:
                return netting.matrix
        raise KeyError(scope)


def net_period(period: Period, statements: Iterable[Nettable]) -> NettingResult:
    """Net the confirmed statements of one period at every level.

    Pass the confirmed parts only: disputed lines must already have been split off (or
    StatementTotal figures net of them). Only pairs, levels and net amounts are read.
    """
    statement_list = _checked(period, statements)
    provincial = tuple(
        _provincial_netting(period, province, group)
        for province, group in _provincial_groups(statement_list)
    )
    national_statements = [s for s in statement_list if s.level is ClearingLevel.NATIONAL]
    national_matrix = build_matrix(ClearingLevel.NATIONAL, NATIONAL_SCOPE, national_statements)
    national = _level_netting(period, InstructionLeg.NATIONAL, national_matrix)
    allocations = tuple(
        _allocation(period, position, national_statements) for position in national_matrix.positions
    )
    _check_centre_balances(national, allocations)
    return NettingResult(period, provincial, national, allocations)


def build_matrix(level: ClearingLevel, scope: str, statements: Sequence[Nettable]) -> NetMatrix:
    """Cells and positions for one level and scope; parties are pools or provinces."""
    cells_fen: dict[tuple[str, str], int] = defaultdict(int)
    for statement in statements:
        assert statement.level is level
        cells_fen[_parties_of(statement)] += statement.net_fen
    parties = sorted({party for pair in cells_fen for party in pair})
    receivable: dict[str, int] = defaultdict(int)
    payable: dict[str, int] = defaultdict(int)
    for (payer, receiver), amount_fen in cells_fen.items():
        payable[payer] += amount_fen
        receivable[receiver] += amount_fen
    return NetMatrix(
        level=level,
        scope=scope,
        parties=tuple(parties),
        cells=tuple(sorted((payer, receiver, fen) for (payer, receiver), fen in cells_fen.items())),
        positions=tuple(NetPosition(p, receivable[p], payable[p]) for p in parties),
    )


def _level_netting(period: Period, leg: InstructionLeg, matrix: NetMatrix) -> LevelNetting:
    """Net payers pay the hub, then the hub pays net receivers; each sorted by party.

    Only valid for positions that sum to zero, so that the hub ends with nothing.
    """
    assert sum(p.net_fen for p in matrix.positions) == 0, "hub would not balance"
    hub = hub_of(leg, matrix.scope)
    instructions = _spokes(period, leg, matrix.scope, hub, matrix.positions)
    return LevelNetting(leg=leg, matrix=matrix, instructions=instructions)


def _spokes(
    period: Period,
    leg: InstructionLeg,
    scope: str,
    hub: str,
    positions: Sequence[NetPosition],
) -> tuple[PaymentInstruction, ...]:
    pay_in = [
        _instruction(period, leg, scope, p.party, hub, -p.net_fen)
        for p in positions
        if p.net_fen < 0
    ]
    pay_out = [
        _instruction(period, leg, scope, hub, p.party, p.net_fen)
        for p in positions
        if p.net_fen > 0
    ]
    return (*sorted(pay_in, key=_by_payer), *sorted(pay_out, key=_by_payee))


def _checked(period: Period, statements: Iterable[Nettable]) -> list[Nettable]:
    statement_list = list(statements)
    check_count("statements", len(statement_list), MAX_STATEMENTS_PER_RUN)
    pairs = [s.pair for s in statement_list]
    if len(set(pairs)) != len(pairs):
        raise FailedPrecondition("DUPLICATE_STATEMENT", "a pool pair has two statements")
    for statement in statement_list:
        if statement.period != period:
            raise InvalidArgument(
                "statements", f"{statement.statement_id} is not a statement of period {period}"
            )
    return sorted(statement_list, key=lambda s: s.pair)


def _provincial_groups(statements: Sequence[Nettable]) -> list[tuple[str, list[Nettable]]]:
    groups: dict[str, list[Nettable]] = defaultdict(list)
    for statement in statements:
        if statement.level is ClearingLevel.PROVINCIAL:
            groups[province_of(statement.insured_pool)].append(statement)
    return sorted(groups.items())


def _provincial_netting(
    period: Period, province: str, statements: Sequence[Nettable]
) -> LevelNetting:
    matrix = build_matrix(ClearingLevel.PROVINCIAL, province, statements)
    return _level_netting(period, InstructionLeg.PROVINCIAL, matrix)


def _allocation(
    period: Period, province_position: NetPosition, national_statements: Sequence[Nettable]
) -> ProvinceAllocation:
    province = province_position.party
    receivable: dict[str, int] = defaultdict(int)
    payable: dict[str, int] = defaultdict(int)
    for statement in national_statements:
        if province_of(statement.treatment_pool) == province:
            receivable[statement.treatment_pool] += statement.net_fen
        if province_of(statement.insured_pool) == province:
            payable[statement.insured_pool] += statement.net_fen
    pools = sorted(receivable.keys() | payable.keys())
    positions = tuple(NetPosition(p, receivable[p], payable[p]) for p in pools)
    assert sum(p.net_fen for p in positions) == province_position.net_fen, "allocation ≠ province"
    hub = provincial_hub(province)
    return ProvinceAllocation(
        province=province,
        province_net_fen=province_position.net_fen,
        pool_positions=positions,
        instructions=_spokes(period, InstructionLeg.ALLOCATION, province, hub, positions),
    )


def _check_centre_balances(
    national: LevelNetting, allocations: Sequence[ProvinceAllocation]
) -> None:
    """Each provincial centre ends the national leg with nothing: what its pools pay in,
    net of what it pays them, is exactly what it pays to (or gets from) the national centre."""
    for allocation in allocations:
        hub = provincial_hub(allocation.province)
        from_pools_fen = sum(i.amount_fen for i in allocation.instructions if i.payee == hub)
        to_pools_fen = sum(i.amount_fen for i in allocation.instructions if i.payer == hub)
        to_national_fen = sum(
            i.amount_fen for i in national.instructions if i.payer == allocation.province
        )
        from_national_fen = sum(
            i.amount_fen for i in national.instructions if i.payee == allocation.province
        )
        assert from_pools_fen - to_pools_fen == to_national_fen - from_national_fen


def _parties_of(statement: Nettable) -> tuple[str, str]:
    if statement.level is ClearingLevel.NATIONAL:
        return (province_of(statement.insured_pool), province_of(statement.treatment_pool))
    return statement.pair


def instruction_id_of(
    period: Period, leg: InstructionLeg, scope: str, payer: str, payee: str
) -> str:
    return f"{period}-{leg.value}-{scope}-{payer}-{payee}"


def parse_instruction_id(instruction_id: str) -> tuple[Period, InstructionLeg, str] | None:
    """(period, leg, scope) an instruction id names, or None for text that is none.

    Only the shape is read (payer and payee are not: a hub's code has a dash in it);
    whether such an instruction exists is the store's to say.
    """
    parts = instruction_id.split("-", 3)
    if len(parts) != 4 or not parts[2] or not parts[3]:
        return None
    try:
        period = Period.parse(parts[0])
        leg = InstructionLeg(parts[1])
    except (InvalidArgument, ValueError):
        return None
    return period, leg, parts[2]


def _instruction(
    period: Period, leg: InstructionLeg, scope: str, payer: str, payee: str, amount_fen: int
) -> PaymentInstruction:
    return PaymentInstruction(
        instruction_id=instruction_id_of(period, leg, scope, payer, payee),
        period=period,
        leg=leg,
        scope=scope,
        payer=payer,
        payee=payee,
        amount_fen=amount_fen,
    )


def _by_payer(instruction: PaymentInstruction) -> str:
    return instruction.payer


def _by_payee(instruction: PaymentInstruction) -> str:
    return instruction.payee
