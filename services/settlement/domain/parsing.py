"""Field readers for seed and operator-supplied data (JSON objects, CSV rows).

Each reader records a violation naming the field instead of raising, so one load
reports every bad field of a file at once.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import TypeVar

from shared.errors import Violations
from shared.vocabulary import read_national_date

E = TypeVar("E", bound=StrEnum)


def enum_field(enum_type: type[E], value: object, name: str, errors: Violations) -> E | None:
    try:
        return enum_type(str(value))
    except ValueError:
        allowed = ", ".join(member.value for member in enum_type)
        errors.add(name, f"one of {allowed}; got {value!r}")
        return None


def int_field(value: object, name: str, low: int, high: int, errors: Violations) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        errors.add(name, f"an integer {low}..{high}; got {value!r}")
        return None
    return value


def opt_int(value: object, name: str, low: int, high: int, errors: Violations) -> int | None:
    if value is None:
        return None
    return int_field(value, name, low, high, errors)


def bool_field(value: object, name: str, errors: Violations) -> bool:
    if not isinstance(value, bool):
        errors.add(name, f"true or false; got {value!r}")
        return False
    return value


def date_field(value: object, name: str, errors: Violations) -> date | None:
    if not isinstance(value, str):
        errors.add(name, f"a date YYYY-MM-DD; got {value!r}")
        return None
    return read_national_date(value, name, errors)
