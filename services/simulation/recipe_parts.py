"""The shape of a fee-line recipe: its parts (catalogue item, quantity range, presence),
the recipe itself and the priced fee line it bills."""

from __future__ import annotations

from dataclasses import dataclass

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


def P(code: str, lo: int = 1, hi: int = 1, per_day: bool = False, p: int = 100) -> Part:
    return Part(code, lo, hi, per_day, p)
