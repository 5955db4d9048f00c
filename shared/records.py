"""A read model from a database row (or a JSON object) whose columns carry its field names.

Stores mostly read a row into a dataclass column for column; what differs (enums, nested
values, a column named otherwise) the caller converts and gives::

    record_from(FundSummary, raw, fund=FundType(raw["fund"]))

Every field is either given or read from the column of the same name: a column missing
from the row raises ``KeyError`` instead of leaving a field at its default. A source whose
fields are attributes (a protobuf reply) is read with ``getattr`` instead::

    record_from(CarriedIn, reply_adjustment, getattr, period=period)

and a missing attribute raises ``AttributeError``.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

D = TypeVar("D", bound="DataclassInstance")


@functools.cache
def _field_names(cls: type[DataclassInstance]) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.init)


def record_from(
    cls: type[D],
    row: Any,
    read: Callable[[Any, str], Any] = operator.getitem,
    /,
    **given: Any,
) -> D:
    """``cls`` with ``given`` fields and every other field read from ``row``: as
    ``row[name]``, or as ``read(row, name)``."""
    values = {name: read(row, name) for name in _field_names(cls) if name not in given}
    return cls(**values, **given)
