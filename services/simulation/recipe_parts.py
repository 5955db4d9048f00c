"""The shape of a fee-line recipe: its parts (catalogue item, quantity range, presence),
the recipe itself and the priced fee line it bills."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

QUANTITY_SCALE_E4 = 10_000
MAX_LINES_PER_VISIT = 80


@dataclass(frozen=True)
class Part:
    """One recipe line: ``lo``–``hi`` units (times the length of stay if ``per_day``),
    present with probability ``p_pct`` percent."""

    code: str
    lo: int = 1
    hi: int = 1
    per_day: bool = False
    p_pct: int = 100


@dataclass(frozen=True)
class Recipe:
    key: str
    label: str
    parts: tuple[Part, ...]
    los_days: tuple[int, int] = (0, 0)  # inpatient length of stay range
    sex: str | None = None  # "1" male / "2" female only
    min_age: int = 0
    max_age: int = 150


@dataclass(frozen=True)
class FeeLine:
    line_no: int
    item_code: str
    item_name: str
    quantity_e4: int
    unit_price_fen: int

    @property
    def amount_fen(self) -> int:
        # Quantities are whole units here, so the amount is exact.
        return self.unit_price_fen * self.quantity_e4 // QUANTITY_SCALE_E4


def parts(text: str) -> tuple[Part, ...]:
    """Comma-separated parts in their written form (see ``recipes``)."""
    return tuple(_part(written.strip()) for written in text.split(",") if written.strip())


def recipes(text: str, groups: Mapping[str, tuple[Part, ...]] | None = None) -> tuple[Recipe, ...]:
    """Recipes from their written table. A recipe is a header line ``key | label`` (with a
    third column of conditions: ``stay LO-HI`` days, ``sex 1``/``sex 2``, ``age LO+`` or
    ``age LO-HI``) followed by indented lines of comma-separated parts. A part is
    ``CODE [N | LO-HI] [/day] [pNN]``: one unit unless a quantity is given, per day of the
    stay with ``/day``, present with probability NN percent; ``*name`` stands for the
    parts of a named group. ``#`` starts a comment."""
    groups = groups or {}
    found: list[Recipe] = []
    head: list[str] | None = None
    body: list[Part] = []

    def close() -> None:
        if head is not None:
            found.append(_recipe(head, tuple(body)))

    for raw in text.splitlines():
        raw = raw.partition("#")[0].rstrip()
        if not raw.strip():
            continue
        if not raw[0].isspace():
            close()
            head, body = [c.strip() for c in raw.split("|")], []
            continue
        if head is None:
            raise ValueError(f"recipe parts before any recipe: {raw!r}")
        for written in raw.split(","):
            written = written.strip()
            if written.startswith("*"):
                body.extend(groups[written[1:]])
            elif written:
                body.append(_part(written))
    close()
    return tuple(found)


def _range(written: str) -> tuple[int, int]:
    lo, _, hi = written.partition("-")
    return int(lo), int(hi or lo)


def _part(written: str) -> Part:
    code, *rest = written.split()
    lo = hi = 1
    per_day = False
    p = 100
    for token in rest:
        if token == "/day":
            per_day = True
        elif token.startswith("p"):
            p = int(token[1:])
        else:
            lo, hi = _range(token)
    return Part(code, lo, hi, per_day, p)


def _recipe(head: list[str], parts: tuple[Part, ...]) -> Recipe:
    if len(head) not in (2, 3):
        raise ValueError(f"a recipe header is 'key | label [| conditions]': {head!r}")
    conditions: dict[str, Any] = {}
    for written in head[2].split(",") if len(head) == 3 else ():
        name, value = written.split()
        if name == "stay":
            conditions["los_days"] = _range(value)
        elif name == "sex":
            conditions["sex"] = value
        elif name == "age" and value.endswith("+"):
            conditions["min_age"] = int(value[:-1])
        elif name == "age":
            conditions["min_age"], conditions["max_age"] = _range(value)
        else:
            raise ValueError(f"unknown recipe condition {written!r}")
    return Recipe(head[0], head[1], parts, **conditions)
