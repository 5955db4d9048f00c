"""Reading a statement back from its canonical bytes.

The canonical bytes are the record of what was generated and delivered: the store keeps
them and nothing else as the statement's content, so a dispute, the netting and an export
all work from exactly what the parties were sent. Parsing rebuilds the statement through
the same constructor that generated it (every invariant checked again) and then insists
that it serialises back to the very same bytes: stored bytes that do not round-trip are
corrupt, and nothing is computed from them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.clearing.domain.events import EventKind, FundType
from services.clearing.domain.lines import (
    Adjustment,
    DisputeOutcome,
    StatementLine,
    fund_amounts,
)
from services.clearing.domain.periods import Period
from services.clearing.domain.statements import STATEMENT_SCHEMA, Statement, make_statement

MAX_CANONICAL_BYTES = 2 * 1024 * 1024 * 1024  # a statement at its line limit is ~1.5 GiB


class CorruptStatement(ValueError):
    """Stored canonical bytes that do not parse or do not round-trip."""


def _field(data: Mapping[str, Any], key: str, kind: type) -> Any:
    value = data.get(key)
    # bool is an int in Python: a count must not be read from a flag, nor the reverse.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise CorruptStatement(f"field {key!r}: expected {kind.__name__}, got {value!r}")
    return value


def _optional_text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise CorruptStatement(f"field {key!r}: expected text or null, got {value!r}")
    return value


def _amounts(data: Mapping[str, Any]) -> dict[FundType, int]:
    raw = _field(data, "amounts_fen", dict)
    amounts: dict[FundType, int] = {}
    for name, amount in raw.items():
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise CorruptStatement(f"amount of {name!r} is not an integer")
        amounts[FundType(name)] = amount
    return amounts


def line_from_canonical(data: Mapping[str, Any]) -> StatementLine:
    """The line whose to_canonical() is data."""
    line = StatementLine(
        setl_id=_field(data, "setl_id", str),
        kind=EventKind(_field(data, "kind", str)),
        reversed_setl_id=_optional_text(data, "reversed_setl_id"),
        event_id=_field(data, "event_id", str),
        hospital_code=_field(data, "hospital_code", str),
        event_period=Period.parse(_field(data, "event_period", str)),
        late=_field(data, "late", bool),
        settle_time=datetime.fromisoformat(_field(data, "settle_time", str)),
        amounts=fund_amounts(_amounts(data)),
    )
    if line.to_canonical() != dict(data):
        raise CorruptStatement(f"line {line.setl_id} does not round-trip")
    return line


def adjustment_from_canonical(
    data: Mapping[str, Any], insured_pool: str, treatment_pool: str
) -> Adjustment:
    """The adjustment whose to_canonical() is data; its pool pair is its statement's."""
    adjustment = Adjustment(
        origin_period=Period.parse(_field(data, "origin_period", str)),
        insured_pool=insured_pool,
        treatment_pool=treatment_pool,
        line=line_from_canonical(_field(data, "line", dict)),
        outcome=DisputeOutcome(_field(data, "outcome", str)),
        amounts=fund_amounts(_amounts(data)),
        note=_field(data, "note", str),
    )
    if adjustment.to_canonical() != dict(data):
        raise CorruptStatement(f"adjustment {adjustment.line.setl_id} does not round-trip")
    return adjustment


def statement_from_canonical(data: Mapping[str, Any]) -> Statement:
    """The statement whose to_canonical() is data, rebuilt and checked."""
    if data.get("schema") != STATEMENT_SCHEMA:
        raise CorruptStatement(f"unknown statement schema {data.get('schema')!r}")
    insured = _field(data, "insured_pool", str)
    treatment = _field(data, "treatment_pool", str)
    lines = [line_from_canonical(x) for x in _field(data, "lines", list)]
    adjustments = [
        adjustment_from_canonical(a, insured, treatment) for a in _field(data, "adjustments", list)
    ]
    period = Period.parse(_field(data, "period", str))
    statement = make_statement(period, (insured, treatment), lines, adjustments)
    if statement.to_canonical() != dict(data):
        raise CorruptStatement(f"statement {statement.statement_id} does not round-trip")
    return statement


def statement_from_bytes(canonical: bytes) -> Statement:
    """Parse stored canonical bytes; the result serialises to exactly these bytes."""
    if len(canonical) > MAX_CANONICAL_BYTES:
        raise CorruptStatement(f"{len(canonical)} bytes exceeds {MAX_CANONICAL_BYTES}")
    try:
        data = json.loads(canonical.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptStatement(f"not canonical JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise CorruptStatement("canonical statement is not an object")
    statement = statement_from_canonical(data)
    assert statement.to_canonical_bytes() == canonical, "canonical bytes must round-trip"
    return statement
