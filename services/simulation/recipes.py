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
from dataclasses import dataclass
from functools import cache

from services.settlement.domain.catalogue import Catalogue, CatalogueItem
from services.settlement.domain.codes import ChronicDisease
from services.settlement.domain.seed import load_catalogues

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


_CONSULT = P("110200001")
_CONSULT_SENIOR = P("110200002", p=30)
_WARD_DAILY = (
    P("110900001", 1, 1, per_day=True),
    P("120100003", 1, 1, per_day=True),
    P("110200006", 1, 1, per_day=True),
    P("250101015", 1, 3),
    P("250101016", 1, 1),
    P("250305001", 1, 2),
    P("250307001", 1, 2),
    P("250310001", 1, 2, p=60),
    P("120400001", 1, 2, per_day=True),
    P("X12008", 1, 2, per_day=True),
    P("C0101010010001", 1, 2, per_day=True),
    P("C0101040010001", 1, 2),
    P("C0101010020001", 2, 6),
    P("260000001", 1, 1, p=40),
)
_SURGERY = (
    P("330100005"),
    P("C0308020010001"),
    P("X04004", 2, 6),
    P("X12009", 2, 4),
    P("X12010", 2, 4),
    P("120600001", 1, 1, p=50),
    P("C0101020010001", 1, 1, p=50),
)

# -- ordinary outpatient (普通门诊) ------------------------------------------------------

OUTPATIENT: tuple[Recipe, ...] = (
    Recipe(
        "resp",
        "upper respiratory infection",
        (
            _CONSULT,
            P("250101015", p=70),
            P("250403001", p=40),
            P("X04001", 12, 24, p=45),
            P("X04008", 3, 6, p=30),
            P("X12001", 6, 12, p=50),
            P("Z01003", 12, 24, p=45),
            P("Z01012", 6, 10, p=30),
            P("X06004", 1, 1, p=25),
            P("X12005", 20, 40, p=15),
        ),
    ),
    Recipe(
        "gastro",
        "gastritis or enteritis",
        (
            _CONSULT,
            _CONSULT_SENIOR,
            P("X05001", 14, 28, p=60),
            P("X05004", 6, 9, p=40),
            P("X05005", 12, 24, p=40),
            P("X05003", 12, 24, p=25),
            P("Z01013", 6, 10, p=35),
            P("220301001", p=25),
            P("310901001", p=8),
        ),
    ),
    Recipe(
        "msk",
        "neck, back or joint pain",
        (
            _CONSULT,
            P("X10007", 14, 28, p=40),
            P("X10006", 14, 28, p=30),
            P("340200001", 2, 5, p=35),
            P("430000001", 2, 6, p=35),
            P("440000002", 2, 5, p=30),
            P("450000006", 1, 4, p=20),
            # Zhuang/Yao medicine techniques, paid in Guangxi (壮瑶医技法)
            P("480000001", 2, 6, p=40),
            P("480000002", 1, 4, p=25),
            P("480000008", 2, 4, p=20),
            P("480000015", 1, 3, p=15),
            P("Z45003", 10, 20, p=20),
            # Lingnan techniques, paid in Guangdong
            P("440000101", 1, 4, p=30),
            P("440000102", 1, 3, p=20),
            P("Z01008", 1, 1, p=20),
            P("210102015", p=25),
        ),
    ),
    Recipe(
        "bp_check",
        "blood pressure and lipids review",
        (
            _CONSULT,
            P("X02001", 14, 28, p=60),
            P("X03001", 14, 28, p=40),
            P("X03003", 30, 30, p=40),
            P("250303001", p=50),
            P("250302001", p=50),
            P("310701001", p=40),
            P("Z01001", 1, 1, p=20),
            P("X12016", 30, 60, p=15),
        ),
    ),
    Recipe(
        "injury",
        "minor injury",
        (
            P("110200005"),
            P("120500001", 1, 3),
            P("Z01007", 10, 20, p=50),
            P("X12002", 10, 20, p=40),
            P("C0101030020001", 1, 2, p=40),
            P("C0101030010001", 5, 10, p=50),
            P("210102015", p=30),
            P("Z45001", 12, 24, p=20),
            P("C0310010010001", 1, 2, p=10),
        ),
    ),
    Recipe(
        "women",
        "gynaecology",
        (
            _CONSULT,
            P("270300003", p=40),
            P("210103001", p=20),
            P("Z01011", 18, 36, p=40),
            P("X13004", 21, 28, p=20),
        ),
        sex="2",
        min_age=18,
    ),
    Recipe(
        "men",
        "urology",
        (
            _CONSULT,
            P("250404010", p=60),
            P("X13001", 14, 28, p=60),
            P("X13002", 14, 28, p=30),
            P("220301001", p=30),
        ),
        sex="1",
        min_age=45,
    ),
    Recipe(
        "child",
        "paediatric fever",
        (
            _CONSULT,
            P("250101015", p=80),
            P("X12003", 1, 1, p=60),
            P("X04015", 1, 2, p=40),
            P("X12004", 6, 12, p=40),
            P("X06006", 7, 14, p=20),
            P("480000017", 1, 2, p=15),
        ),
        max_age=12,
    ),
    Recipe(
        "dental",
        "dental care",
        (_CONSULT, P("310512001"), P("X12012", 1, 1, p=40)),
    ),
    Recipe(
        "imaging",
        "diagnostic imaging",
        (
            _CONSULT_SENIOR,
            _CONSULT,
            P("210300001", 1, 2, p=50),
            P("210400001", p=30),
            P("220301001", p=40),
            P("250404001", p=20),
        ),
    ),
)

# -- chronic/special outpatient (门诊慢特病), by disease code ----------------------------

CHRONIC: dict[str, Recipe] = {
    "M03900": Recipe(
        "M03900",
        "hypertension",
        (
            _CONSULT,
            P("X02001", 28, 56),
            P("X02003", 28, 28, p=50),
            P("X02004", 28, 28, p=30),
            P("X02013", 28, 28, p=20),
            P("X02010", 28, 28, p=20),
            P("310701001", p=30),
            P("250310001", p=20),
        ),
    ),
    "M01600": Recipe(
        "M01600",
        "diabetes",
        (
            _CONSULT,
            P("X01001", 112, 168),
            P("X01005", 2, 4, p=40),
            P("C0307010010001", 30, 60, p=40),
            P("X01010", 1, 2, p=10),
            P("X01009", 28, 28, p=25),
            P("250302003", p=40),
            P("250302001", p=60),
            P("C0307010020001", 50, 100, p=30),
        ),
    ),
    "M00503": Recipe(
        "M00503",
        "outpatient radio/chemotherapy",
        (
            P("110200003"),
            P("X11003", 2, 3, p=40),
            P("X11011", 1, 2, p=20),
            P("X11002", 84, 84, p=25),
            P("X11005", 28, 28, p=20),
            P("X11001", 2, 3, p=15),
            P("120400010", p=60),
            P("240300001", 3, 5, p=25),
            P("X11008", 6, 12, p=50),
            P("250101015"),
            P("250404001", p=30),
            P("X12008", 1, 2, p=60),
        ),
    ),
    "M07803": Recipe(
        "M07803",
        "uraemia haemodialysis",
        (
            P("311000006"),
            P("C0306010010001"),
            P("C0306010020001"),
            P("X07001", 1, 1, p=40),
            P("X07002", 1, 1, p=20),
            P("X07003", 42, 42, p=15),
            P("250307001", p=20),
        ),
    ),
    "M07804": Recipe(
        "M07804",
        "uraemia peritoneal dialysis",
        (
            P("311000013", 28, 31),
            P("X07001", 1, 1, p=40),
            P("X07002", 1, 1, p=20),
            P("X07003", 42, 42, p=15),
            P("250307001", p=20),
        ),
    ),
    "M08300": Recipe(
        "M08300",
        "anti-rejection after transplant",
        (
            _CONSULT_SENIOR,
            _CONSULT,
            P("X08001", 60, 120),
            P("X08002", 60, 120, p=70),
            P("250307001"),
            P("250101015"),
            P("Z01020", 30, 60, p=30),
        ),
    ),
    "M05300": Recipe(
        "M05300",
        "COPD",
        (
            _CONSULT,
            P("X06001", 1, 1),
            P("X06002", 1, 1, p=50),
            P("X06008", 28, 56, p=30),
            P("310602001", p=20),
        ),
    ),
    "M06900": Recipe(
        "M06900",
        "rheumatoid arthritis",
        (
            _CONSULT,
            P("X10001", 12, 16),
            P("X10002", 28, 28, p=50),
            P("X10004", 1, 2, p=25),
            P("250403001", p=60),
        ),
    ),
    "M04600": Recipe(
        "M04600",
        "coronary heart disease",
        (
            _CONSULT,
            P("X03001", 28, 28),
            P("X03004", 28, 28, p=60),
            P("X03003", 30, 30, p=70),
            P("X03006", 28, 28, p=40),
            P("Z01017", 84, 84, p=25),
            P("310701001", p=40),
        ),
    ),
    "M00201": Recipe(
        "M00201",
        "viral hepatitis",
        (
            _CONSULT,
            P("X09001", 28, 90),
            P("X09002", 28, 28, p=20),
            P("250305001"),
            P("250403055", p=30),
        ),
    ),
    "M07200": Recipe(
        "M07200",
        "ankylosing spondylitis",
        (
            _CONSULT,
            P("X10006", 28, 56),
            P("X10008", 1, 2, p=30),
            P("250403001", p=50),
        ),
    ),
}

# -- inpatient (住院) --------------------------------------------------------------------

INPATIENT: tuple[Recipe, ...] = (
    Recipe(
        "pneumonia",
        "community-acquired pneumonia",
        (
            *_WARD_DAILY,
            P("250403001", 1, 3),
            P("250401001", 1, 2, p=60),
            P("210102015", 1, 2),
            P("X04004", 1, 2, per_day=True, p=60),
            P("X04005", 2, 2, per_day=True, p=30),
            P("X04009", 1, 3, per_day=True, p=8),
            P("X06004", 1, 2),
            P("120800001", 4, 8, per_day=True, p=50),
            P("Z01015", 6, 12, p=30),
        ),
        los_days=(5, 10),
    ),
    Recipe(
        "appendicitis",
        "appendectomy",
        (*_WARD_DAILY, *_SURGERY, P("331003001"), P("X04012", 6, 18), P("220301001")),
        los_days=(3, 6),
    ),
    Recipe(
        "gallstones",
        "laparoscopic cholecystectomy",
        (
            *_WARD_DAILY,
            *_SURGERY,
            P("331005002"),
            P("220301001"),
            P("C0305010010001", p=40),
            P("X05002", 2, 4),
        ),
        los_days=(3, 6),
    ),
    Recipe(
        "pci",
        "acute coronary syndrome with stent",
        (
            *_WARD_DAILY,
            P("110900004", 1, 2),
            P("320600001"),
            P("320600004"),
            P("C0302010010001", 1, 2),
            P("C0302010020001", 1, 2),
            P("120900001", 1, 1, per_day=True),
            P("X03005", 14, 28, p=60),
            P("X03004", 14, 28, p=40),
            P("X03001", 14, 28),
            P("X03017", 1, 2),
            P("X03016", 4, 8, p=60),
            P("220600004"),
            P("310701001", 1, 3),
        ),
        los_days=(4, 8),
        min_age=35,
    ),
    Recipe(
        "hip",
        "total hip arthroplasty",
        (
            *_WARD_DAILY,
            *_SURGERY,
            P("330900001"),
            P("C0303010010001"),
            P("X03016", 6, 10),
            P("210102015", 1, 2),
            P("340200001", 3, 6),
            P("X12011", 1, 3, p=30),
        ),
        los_days=(9, 14),
        min_age=55,
    ),
    Recipe(
        "knee",
        "total knee arthroplasty",
        (
            *_WARD_DAILY,
            *_SURGERY,
            P("330900002"),
            P("C0303010020001"),
            P("X03016", 6, 10),
            P("340200001", 3, 6),
        ),
        los_days=(8, 12),
        min_age=55,
    ),
    Recipe(
        "caesarean",
        "caesarean delivery",
        (
            *_WARD_DAILY,
            P("330100003"),
            P("331300001"),
            P("X13009", 1, 2),
            P("X04004", 2, 4),
            P("120600001"),
            P("X12010", 2, 4),
        ),
        los_days=(3, 5),
        sex="2",
        min_age=20,
        max_age=42,
    ),
    Recipe(
        "turp",
        "benign prostatic hyperplasia (TURP)",
        (
            *_WARD_DAILY,
            P("330100003"),
            P("331101001"),
            P("120600001", 1, 2),
            P("X13001", 14, 28),
            P("250404010"),
        ),
        los_days=(4, 7),
        sex="1",
        min_age=55,
    ),
    Recipe(
        "cataract",
        "cataract surgery",
        (
            P("110900001", 1, 1, per_day=True),
            P("120100004", 1, 1, per_day=True),
            P("330400001"),
            P("C0304010010001"),
            P("250101015"),
            P("X12012", 1, 1),
        ),
        los_days=(1, 3),
        min_age=50,
    ),
    Recipe(
        "stroke",
        "ischaemic stroke",
        (
            *_WARD_DAILY,
            P("120100002", 1, 1, per_day=True),
            P("210300001", 1, 2),
            P("210400001", 1, 1, p=70),
            P("X14008", 3, 6, per_day=True),
            P("X03001", 14, 28),
            P("X03004", 14, 28),
            P("Z01006", 1, 3, p=30),
            P("340200001", 3, 8),
            P("480000001", 3, 8, p=50),
            P("480000013", 2, 5, p=30),
            P("440000101", 2, 6, p=30),
            P("430000001", 3, 8, p=40),
        ),
        los_days=(8, 14),
        min_age=45,
    ),
    Recipe(
        "copd",
        "COPD exacerbation",
        (
            *_WARD_DAILY,
            P("X06002", 1, 2),
            P("X06008", 14, 28),
            P("X04005", 2, 2, per_day=True, p=50),
            P("120800001", 6, 12, per_day=True),
            P("210300001", p=50),
            P("310602001", p=50),
        ),
        los_days=(6, 11),
        min_age=45,
    ),
    Recipe(
        "fracture",
        "fracture fixation",
        (
            *_WARD_DAILY,
            *_SURGERY,
            P("C0303020010001"),
            P("210102015", 2, 3),
            P("210300001", p=50),
            P("Z01008", 1, 2, p=40),
            P("480000011", 2, 4, p=40),
        ),
        los_days=(6, 11),
        min_age=16,
    ),
    Recipe(
        "spine",
        "lumbar disc herniation",
        (
            *_WARD_DAILY,
            *_SURGERY,
            P("330600001"),
            P("C0303030010001", p=50),
            P("210400001"),
            P("340200001", 2, 5),
        ),
        los_days=(7, 12),
        min_age=25,
    ),
    Recipe(
        "hernia",
        "inguinal hernia repair",
        (*_WARD_DAILY, *_SURGERY, P("331004001"), P("C0309010010001")),
        los_days=(2, 4),
        min_age=18,
    ),
    Recipe(
        "cancer_chemo",
        "cancer chemotherapy admission",
        (
            *_WARD_DAILY,
            P("X11001", 2, 4, p=50),
            P("X11003", 2, 3, p=50),
            P("X11006", 1, 1, p=15),
            P("X11007", 2, 2, p=25),
            P("120400010", 1, 2),
            P("210300002", p=60),
            P("230600001", p=10),
            P("250404001"),
            P("X11008", 6, 12),
            P("X12011", 1, 2, p=25),
        ),
        los_days=(3, 6),
        min_age=30,
    ),
    Recipe(
        "breast",
        "breast cancer surgery",
        (
            *_WARD_DAILY,
            *_SURGERY,
            P("331500001"),
            P("210103001"),
            P("250404001"),
            P("C0305010010001", p=30),
        ),
        los_days=(6, 10),
        sex="2",
        min_age=30,
    ),
    Recipe(
        "cabg",
        "coronary artery bypass grafting",
        (
            *_WARD_DAILY,
            *_SURGERY,
            P("110900004", 2, 4),
            P("120100001", 2, 3),
            P("330803001"),
            P("C0308010010001"),
            P("X12011", 3, 6),
            P("X04010", 4, 8, p=40),
            P("220600004", 1, 2),
        ),
        los_days=(12, 18),
        min_age=45,
    ),
    Recipe(
        "ortho_fall",
        "head injury after a fall",
        (
            *_WARD_DAILY,
            *_SURGERY,
            P("110900004", 1, 3),
            P("330201001"),
            P("210300001", 2, 3),
            P("X12013", 2, 4),
        ),
        los_days=(8, 14),
        min_age=16,
    ),
)

INPATIENT += (
    Recipe(
        "cancer_targeted",
        "HER2-positive breast cancer, targeted therapy course",
        (
            *_WARD_DAILY,
            P("X11006", 5, 8),
            P("X11001", 3, 4),
            P("X11007", 2, 2, p=40),
            P("120400010", 2, 4),
            P("230600001", p=60),
            P("210300002"),
            P("X11008", 12, 18),
            P("X12011", 2, 4),
        ),
        los_days=(6, 10),
        min_age=30,
    ),
    Recipe(
        "transplant",
        "kidney transplantation",
        (
            *_WARD_DAILY,
            *_SURGERY,
            P("331100002"),
            P("110900004", 3, 6),
            P("120100001", 3, 6),
            P("C0308010010001"),
            P("X08001", 60, 120),
            P("X08002", 60, 120),
            P("X12011", 6, 12),
            P("X04009", 2, 3, per_day=True, p=60),
            P("X04010", 8, 16, p=50),
            P("210300002", 1, 2),
        ),
        los_days=(16, 24),
        min_age=18,
        max_age=65,
    ),
    Recipe(
        "sepsis",
        "septic shock in intensive care",
        (
            *_WARD_DAILY,
            P("110900004", 1, 1, per_day=True),
            P("120100001", 1, 1, per_day=True),
            P("X04009", 3, 3, per_day=True),
            P("X04010", 2, 2, per_day=True),
            P("X12011", 1, 1, per_day=True),
            P("C0308010010001"),
            P("250401001", 3, 6),
            P("210300001", 1, 3),
        ),
        los_days=(8, 16),
        min_age=16,
    ),
)

INPATIENT_BY_KEY = {r.key: r for r in INPATIENT}
# Every chronic/special disease settled cross-province has a recipe, under its code.
assert set(CHRONIC) == {d.value for d in ChronicDisease}, sorted(CHRONIC)
EMERGENCY_INPATIENT = (
    "appendicitis",
    "pci",
    "stroke",
    "fracture",
    "pneumonia",
    "ortho_fall",
    "sepsis",
)
REFERRAL_INPATIENT = (
    "cancer_chemo",
    "cancer_targeted",
    "transplant",
    "pci",
    "cabg",
    "breast",
    "spine",
    "hip",
    "stroke",
)
COMMON_INPATIENT = (
    "pneumonia",
    "appendicitis",
    "gallstones",
    "pci",
    "hip",
    "knee",
    "caesarean",
    "turp",
    "cataract",
    "stroke",
    "copd",
    "fracture",
    "spine",
    "hernia",
)


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
