"""What hospitals bill: fee-line recipes per kind of visit, priced from the catalogues.

Every recipe names catalogue item codes (the same code means the same item in both
provinces) with a quantity range; the lines are priced at the item's modeled reference
price in the treatment province's catalogue. Items a province does not list (the
Zhuang/Yao techniques outside Guangxi, Lingnan techniques outside Guangdong) and items
whose restrictions the patient cannot meet (sex, age) are left out, as a clinician would.
Quantities stay within each item's per-bill limit unless the visit is meant to draw a
supervision warning.
"""

from __future__ import annotations

import random
from functools import cache

from services.settlement.domain.catalogue import Catalogue, CatalogueItem
from services.settlement.domain.codes import ChronicDisease
from services.settlement.domain.seed import load_catalogues
from services.simulation.inpatient_recipes import (
    COMMON_INPATIENT,
    EMERGENCY_INPATIENT,
    INPATIENT,
    INPATIENT_BY_KEY,
    REFERRAL_INPATIENT,
)
from services.simulation.outpatient_recipes import CHRONIC, OUTPATIENT
from services.simulation.recipe_parts import (
    MAX_LINES_PER_VISIT,
    QUANTITY_SCALE_E4,
    FeeLine,
    Part,
    Recipe,
)

__all__ = [
    "CHRONIC",
    "COMMON_INPATIENT",
    "EMERGENCY_INPATIENT",
    "INPATIENT",
    "INPATIENT_BY_KEY",
    "MAX_LINES_PER_VISIT",
    "OUTPATIENT",
    "QUANTITY_SCALE_E4",
    "REFERRAL_INPATIENT",
    "FeeLine",
    "Part",
    "Recipe",
    "bill",
    "catalogue_of",
    "fits",
]

# Every chronic/special disease settled cross-province has a recipe, under its code.
assert set(CHRONIC) == {d.value for d in ChronicDisease}, sorted(CHRONIC)


@cache
def catalogue_of(province_code: str) -> Catalogue:
    """The newest shipped catalogue of the treatment province."""
    found = [c for c in load_catalogues() if c.province_code == province_code]
    if not found:
        raise ValueError(f"no catalogue ships for province {province_code}")
    return max(found, key=lambda c: c.effective_date)


def fits(recipe: Recipe, sex: str, age: int) -> bool:
    if recipe.sex is not None and recipe.sex != sex:
        return False
    return recipe.min_age <= age <= recipe.max_age


def _item_allowed(item: CatalogueItem, sex: str, age: int) -> bool:
    r = item.restrictions
    if r.sex is not None and r.sex.value != sex:
        return False
    if r.min_age_years is not None and age < r.min_age_years:
        return False
    return not (r.max_age_years is not None and age > r.max_age_years)


def _quantity(part: Part, rng: random.Random, los_days: int) -> int:
    units = rng.randint(part.lo, part.hi)
    return units * max(los_days, 1) if part.per_day else units


def bill(
    recipe: Recipe,
    province_code: str,
    rng: random.Random,
    *,
    sex: str,
    age: int,
    los_days: int = 0,
    over_quantity: bool = False,
) -> tuple[FeeLine, ...]:
    """Priced fee lines for one visit. ``over_quantity`` doubles the first capped line, so
    the visit draws a supervision warning (quantity above the per-bill limit)."""
    catalogue = catalogue_of(province_code)
    lines: list[FeeLine] = []
    breached = not over_quantity
    for part in recipe.parts:
        # Draw for every part, listed or not, so that a province's catalogue does not
        # shift the random stream of the visits that follow.
        present = rng.randrange(100) < part.p_pct
        units = _quantity(part, rng, los_days)
        item = catalogue.lookup(part.code)
        if not present or item is None or not _item_allowed(item, sex, age):
            continue
        quantity_e4 = units * QUANTITY_SCALE_E4
        cap = item.restrictions.max_quantity_e4_per_bill
        if cap is not None and cap > 0 and quantity_e4 > cap:
            quantity_e4 = max(QUANTITY_SCALE_E4, cap - cap % QUANTITY_SCALE_E4)
        if cap is not None and cap > 0 and not breached:
            quantity_e4 = cap + QUANTITY_SCALE_E4
            breached = True
        price = item.reference_price_fen or item.price_limit_fen or 100
        lines.append(FeeLine(len(lines) + 1, item.code, item.name_zh, quantity_e4, price))
        if len(lines) >= MAX_LINES_PER_VISIT:
            break
    return tuple(lines)
