"""Builders for settlement tests: a hand-made catalogue, fee lines and requests."""

from __future__ import annotations

from datetime import date

from services.settlement.domain.accumulations import Accumulations
from services.settlement.domain.bill import FeeLine, line_amount_fen
from services.settlement.domain.catalogue import (
    Catalogue,
    CatalogueItem,
    ItemClass,
    ItemKind,
    Restrictions,
)
from services.settlement.domain.codes import (
    AssistanceCategory,
    ChronicDisease,
    HospitalLevel,
    Insutype,
    PersonType,
    Sex,
    VisitType,
)
from services.settlement.domain.engine import (
    AccountContext,
    EncounterContext,
    PersonContext,
    SettleRequest,
)
from services.settlement.domain.policy import BenefitPolicy
from services.settlement.domain.seed import load_policies

TREATMENT_DATE = date(2026, 3, 15)
NANNING = "450100"
GUANGZHOU = "440100"


def _item(
    code: str,
    item_class: ItemClass,
    price_limit_fen: int | None = None,
    restrictions: Restrictions = Restrictions(),
) -> CatalogueItem:
    return CatalogueItem(
        code=code,
        name_zh=f"测试项目{code}",
        name_en=f"test item {code}",
        kind=ItemKind.SERVICE,
        item_class=item_class,
        unit="次",
        price_limit_fen=price_limit_fen,
        restrictions=restrictions,
    )


TEST_ITEMS = (
    _item("A1", ItemClass.A),
    _item("B1", ItemClass.B),
    _item("C1", ItemClass.C),
    _item("LIM", ItemClass.A, price_limit_fen=50_000),
    _item("BLIM", ItemClass.B, price_limit_fen=70_000),
    _item("IP", ItemClass.A, restrictions=Restrictions(inpatient_only=True)),
    _item("MALE", ItemClass.A, restrictions=Restrictions(sex=Sex.MALE)),
    _item("ADULT", ItemClass.B, restrictions=Restrictions(min_age_years=18)),
    _item("CHILD", ItemClass.B, restrictions=Restrictions(max_age_years=14)),
    _item(
        "DM", ItemClass.B, restrictions=Restrictions(chronic_diseases=(ChronicDisease.DIABETES,))
    ),
    _item("QTY", ItemClass.A, restrictions=Restrictions(max_quantity_e4_per_bill=30_000)),
)


def make_catalogue(province_code: str = "45") -> Catalogue:
    share_bp = 1000 if province_code == "45" else 500
    return Catalogue(province_code, f"TEST-{province_code}", date(2026, 1, 1), share_bp, TEST_ITEMS)


GX_CATALOGUE = make_catalogue("45")
GD_CATALOGUE = make_catalogue("44")


def policy_for(pool_code: str) -> BenefitPolicy:
    return next(p for p in load_policies() if p.covers(pool_code))


def line(
    line_no: int,
    code: str,
    unit_price_fen: int,
    quantity_e4: int = 10_000,
    fee_date: date = TREATMENT_DATE,
) -> FeeLine:
    return FeeLine(
        line_no,
        code,
        fee_date,
        quantity_e4,
        unit_price_fen,
        line_amount_fen(unit_price_fen, quantity_e4),
    )


def request(
    lines: list[FeeLine],
    *,
    insutype: Insutype = Insutype.EMPLOYEE,
    person_type: PersonType = PersonType.IN_SERVICE,
    visit: VisitType = VisitType.INPATIENT,
    level: HospitalLevel = HospitalLevel.LEVEL_3,
    reduction_bp: int = 0,
    disease: ChronicDisease | None = None,
    insured: str = NANNING,
    treatment: str = NANNING,
    maf: AssistanceCategory | None = None,
    sex: Sex = Sex.FEMALE,
    age_years: int = 45,
    acc: Accumulations | None = None,
    balance_fen: int = 0,
    opted_in: bool = False,
) -> SettleRequest:
    return SettleRequest(
        person=PersonContext(insured, insutype, person_type, sex, age_years, maf),
        encounter=EncounterContext(treatment, visit, level, TREATMENT_DATE, reduction_bp, disease),
        fee_lines=tuple(lines),
        accumulations=acc or Accumulations(),
        account=AccountContext(balance_fen, opted_in),
    )
