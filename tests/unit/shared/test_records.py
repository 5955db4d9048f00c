"""record_from: a dataclass from a row's same-named columns, the rest given."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from types import SimpleNamespace

import pytest

from shared.records import record_from


class Kind(Enum):
    SETTLED = "SETTLED"


@dataclass(frozen=True)
class Line:
    setl_id: str
    kind: Kind
    total_fen: int
    note: str = ""
    derived: int = field(default=0, init=False)


def test_columns_fill_the_fields_of_their_name_and_given_ones_win() -> None:
    row = {"setl_id": "S1", "kind": "SETTLED", "total_fen": 1234, "note": "n", "extra": 1}
    assert record_from(Line, row, kind=Kind(row["kind"])) == Line("S1", Kind.SETTLED, 1234, "n")


def test_a_missing_column_is_an_error_not_a_default() -> None:
    row = {"setl_id": "S1", "kind": "SETTLED", "total_fen": 1234}
    with pytest.raises(KeyError, match="note"):
        record_from(Line, row, kind=Kind.SETTLED)


def test_a_source_of_attributes_is_read_with_getattr() -> None:
    message = SimpleNamespace(setl_id="S1", kind=Kind.SETTLED, total_fen=1234, note="n")
    assert record_from(Line, message, getattr, total_fen=1) == Line("S1", Kind.SETTLED, 1, "n")
