"""Treatment-side catalogue (就医地目录) and the classification of fee lines.

Every fee line is judged by the catalogue of the province where the patient is treated,
whatever pool insures them. A line's amount splits into four parts that always sum to it:

* ``fulamt_ownpay_fen`` — fully self-paid: class C (丙类), or a restriction the patient
  or visit does not meet (限定支付范围);
* ``overlmt_selfpay_fen`` — the part of the price above the item's price limit;
* ``preselfpay_fen`` — class B (乙类) advance self-pay share of what is left;
* ``inscp_fen`` — in policy scope, the base for every fund.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from shared.errors import InvalidArgument, NotFound, Violations
from shared.money import BP_PER_UNIT, apply_bp

from .bill import (
    ITEM_CODE_PATTERN,
    MAX_QUANTITY_E4,
    MAX_UNIT_PRICE_FEN,
    QUANTITY_SCALE_E4,
    FeeLine,
    line_amount_fen,
)
from .codes import ChronicDisease, Sex, VisitType
from .parsing import date_field, enum_field, int_field, opt_int

MAX_CATALOGUE_ITEMS = 100_000
MAX_NAME_CHARS = 200
MAX_AGE_YEARS = 150
PROVINCE_CODE_PATTERN = re.compile(r"^[1-9][0-9]$")
VERSION_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")


class ItemKind(StrEnum):
    DRUG = "DRUG"  # 药品
    SERVICE = "SERVICE"  # 医疗服务项目
    MATERIAL = "MATERIAL"  # 医用耗材


class ItemClass(StrEnum):
    A = "A"  # 甲类: fully in scope
    B = "B"  # 乙类: advance self-pay share first
    C = "C"  # 丙类: fully self-paid


class Breach(StrEnum):
    """A restriction of a catalogue item that this use of it does not meet."""

    INPATIENT_ONLY = "RESTRICTION_INPATIENT_ONLY"
    SEX = "RESTRICTION_SEX"
    AGE = "RESTRICTION_AGE"
    CHRONIC_DISEASE = "RESTRICTION_CHRONIC_DISEASE"


class SelfPayReason(StrEnum):
    """Why a whole line is fully self-paid."""

    CLASS_C = "CLASS_C"
    RESTRICTION_INPATIENT_ONLY = Breach.INPATIENT_ONLY.value
    RESTRICTION_SEX = Breach.SEX.value
    RESTRICTION_AGE = Breach.AGE.value
    RESTRICTION_CHRONIC_DISEASE = Breach.CHRONIC_DISEASE.value


@dataclass(frozen=True)
class Restrictions:
    """Limits on when the fund pays for an item (限定支付范围); empty means none."""

    inpatient_only: bool = False
    # The item is paid in outpatient care only for these chronic/special diseases; an
    # inpatient stay is not restricted by it (the ward decides the drug).
    chronic_diseases: tuple[ChronicDisease, ...] = ()
    sex: Sex | None = None
    min_age_years: int | None = None
    max_age_years: int | None = None
    # A warning for the auditor, not a split: post-audit decides about the excess.
    max_quantity_e4_per_bill: int | None = None


@dataclass(frozen=True)
class UseContext:
    """Who uses an item and in which kind of visit: what restrictions are checked against."""

    visit_type: VisitType
    sex: Sex
    age_years: int
    chronic_disease: ChronicDisease | None


@dataclass(frozen=True)
class CatalogueItem:
    code: str
    name_zh: str
    name_en: str
    kind: ItemKind
    item_class: ItemClass
    unit: str
    price_limit_fen: int | None = None
    restrictions: Restrictions = Restrictions()
    # Typical charge for the item (modeled), for simulations and plausibility checks;
    # the split never uses it.
    reference_price_fen: int | None = None

    def to_dict(self) -> dict[str, Any]:
        r = self.restrictions
        return {
            "code": self.code,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "kind": self.kind.value,
            "item_class": self.item_class.value,
            "unit": self.unit,
            "reference_price_fen": self.reference_price_fen,
            "price_limit_fen": self.price_limit_fen,
            "inpatient_only": r.inpatient_only,
            "chronic_diseases": [d.value for d in r.chronic_diseases],
            "sex": r.sex.value if r.sex else None,
            "min_age_years": r.min_age_years,
            "max_age_years": r.max_age_years,
            "max_quantity_e4_per_bill": r.max_quantity_e4_per_bill,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], prefix: str = "item") -> CatalogueItem:
        """Build and validate an item; errors name the field as ``{prefix}.{key}``."""
        errors = Violations()
        item = _item_from_dict(raw, prefix, errors)
        errors.raise_if_any()
        assert item is not None
        return item


@dataclass(frozen=True)
class LineSplit:
    """How one fee line was classified; the four parts sum to ``amount_fen``."""

    line_no: int
    item_code: str
    item_class: ItemClass
    amount_fen: int
    fulamt_ownpay_fen: int
    overlmt_selfpay_fen: int
    preselfpay_fen: int
    inscp_fen: int
    selfpay_reason: SelfPayReason | None

    def __post_init__(self) -> None:
        parts = (
            self.fulamt_ownpay_fen,
            self.overlmt_selfpay_fen,
            self.preselfpay_fen,
            self.inscp_fen,
        )
        assert min(parts) >= 0 and sum(parts) == self.amount_fen, self

    def to_dict(self) -> dict[str, Any]:
        return {
            "line_no": self.line_no,
            "item_code": self.item_code,
            "item_class": self.item_class.value,
            "amount_fen": self.amount_fen,
            "fulamt_ownpay_fen": self.fulamt_ownpay_fen,
            "overlmt_selfpay_fen": self.overlmt_selfpay_fen,
            "preselfpay_fen": self.preselfpay_fen,
            "inscp_fen": self.inscp_fen,
            "selfpay_reason": self.selfpay_reason.value if self.selfpay_reason else None,
        }


@dataclass(frozen=True)
class Catalogue:
    """One version of one province's catalogue."""

    province_code: str
    version_id: str
    effective_date: date
    class_b_preselfpay_bp: int
    items: tuple[CatalogueItem, ...]
    _by_code: dict[str, CatalogueItem] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        assert PROVINCE_CODE_PATTERN.match(self.province_code), self.province_code
        assert 0 <= self.class_b_preselfpay_bp <= BP_PER_UNIT
        assert len(self.items) <= MAX_CATALOGUE_ITEMS
        for item in self.items:
            self._by_code[item.code] = item
        assert len(self._by_code) == len(self.items), "duplicate item codes"

    def lookup(self, code: str) -> CatalogueItem | None:
        return self._by_code.get(code)

    def require(self, code: str, field_name: str) -> CatalogueItem:
        item = self._by_code.get(code)
        if item is None:
            raise InvalidArgument(
                field_name,
                f"item {code!r} is not in catalogue {self.version_id} "
                f"of province {self.province_code}",
            )
        return item

    def to_dict(self) -> dict[str, Any]:
        return {
            "province_code": self.province_code,
            "version_id": self.version_id,
            "effective_date": self.effective_date.isoformat(),
            "class_b_preselfpay_bp": self.class_b_preselfpay_bp,
            "items": [item.to_dict() for item in self.items],
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Catalogue:
        errors = Violations()
        province_code = str(raw.get("province_code", ""))
        version_id = str(raw.get("version_id", ""))
        errors.check(
            bool(PROVINCE_CODE_PATTERN.match(province_code)), "province_code", "two digits"
        )
        errors.check(
            bool(VERSION_ID_PATTERN.match(version_id)), "version_id", "1..40 letters/digits/._-"
        )
        effective = date_field(raw.get("effective_date"), "effective_date", errors)
        share_bp = int_field(
            raw.get("class_b_preselfpay_bp"), "class_b_preselfpay_bp", 0, BP_PER_UNIT, errors
        )
        raw_items = raw.get("items")
        items = _items_from_list(raw_items, errors)
        errors.raise_if_any()
        assert effective is not None and share_bp is not None
        return cls(province_code, version_id, effective, share_bp, items)


def select_catalogue(
    catalogues: Sequence[Catalogue], province_code: str, on_date: date
) -> Catalogue:
    """The latest version for the province that is in effect on ``on_date``."""
    candidates = [
        c for c in catalogues if c.province_code == province_code and c.effective_date <= on_date
    ]
    if not candidates:
        raise NotFound(f"no catalogue for province {province_code} in effect on {on_date}")
    return max(candidates, key=lambda c: (c.effective_date, c.version_id))


def restriction_breaches(item: CatalogueItem, use: UseContext) -> tuple[Breach, ...]:
    """Every restriction of ``item`` that this use breaks, in a fixed order."""
    r = item.restrictions
    breaches: list[Breach] = []
    if r.inpatient_only and use.visit_type is not VisitType.INPATIENT:
        breaches.append(Breach.INPATIENT_ONLY)
    if r.sex is not None and use.sex is not r.sex:
        breaches.append(Breach.SEX)
    too_young = r.min_age_years is not None and use.age_years < r.min_age_years
    too_old = r.max_age_years is not None and use.age_years > r.max_age_years
    if too_young or too_old:
        breaches.append(Breach.AGE)
    if r.chronic_diseases and _chronic_mismatch(r.chronic_diseases, use):
        breaches.append(Breach.CHRONIC_DISEASE)
    return tuple(breaches)


def _chronic_mismatch(allowed: tuple[ChronicDisease, ...], use: UseContext) -> bool:
    if use.visit_type is VisitType.INPATIENT:
        return False
    return use.chronic_disease is None or use.chronic_disease not in allowed


def classify_line(catalogue: Catalogue, line: FeeLine, prefix: str, use: UseContext) -> LineSplit:
    """Split one validated fee line; an unknown code is ``InvalidArgument({prefix}.item_code)``."""
    item = catalogue.require(line.item_code, f"{prefix}.item_code")
    reason = _selfpay_reason(item, use)
    # A fully self-paid line has nothing in scope: no price limit or class B share applies.
    fulamt_fen = line.amount_fen if reason is not None else 0
    allowed_fen = _within_price_limit_fen(item, line) if reason is None else 0
    pre_fen = 0
    if item.item_class is ItemClass.B:
        pre_fen = apply_bp(allowed_fen, catalogue.class_b_preselfpay_bp)
    return LineSplit(
        line_no=line.line_no,
        item_code=line.item_code,
        item_class=item.item_class,
        amount_fen=line.amount_fen,
        fulamt_ownpay_fen=fulamt_fen,
        overlmt_selfpay_fen=line.amount_fen - fulamt_fen - allowed_fen,
        preselfpay_fen=pre_fen,
        inscp_fen=allowed_fen - pre_fen,
        selfpay_reason=reason,
    )


def _selfpay_reason(item: CatalogueItem, use: UseContext) -> SelfPayReason | None:
    if item.item_class is ItemClass.C:
        return SelfPayReason.CLASS_C
    breaches = restriction_breaches(item, use)
    return SelfPayReason(breaches[0].value) if breaches else None


def _within_price_limit_fen(item: CatalogueItem, line: FeeLine) -> int:
    """The part of the amount at or under the price limit."""
    limit_fen = item.price_limit_fen
    if limit_fen is None or line.unit_price_fen <= limit_fen:
        return line.amount_fen
    allowed_fen = line_amount_fen(limit_fen, line.quantity_e4)
    assert 0 <= allowed_fen <= line.amount_fen
    return allowed_fen


# --- parsing -----------------------------------------------------------------------


def _items_from_list(raw_items: object, errors: Violations) -> tuple[CatalogueItem, ...]:
    if not isinstance(raw_items, list) or not 0 < len(raw_items) <= MAX_CATALOGUE_ITEMS:
        errors.add("items", f"a list of 1..{MAX_CATALOGUE_ITEMS} items")
        return ()
    items: list[CatalogueItem] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_items):
        prefix = f"items[{index}]"
        if not isinstance(raw, Mapping):
            errors.add(prefix, "an object")
            continue
        item = _item_from_dict(raw, prefix, errors)
        if item is None:
            continue
        errors.check(item.code not in seen, f"{prefix}.code", f"duplicate code {item.code!r}")
        seen.add(item.code)
        items.append(item)
    return tuple(items)


def _item_from_dict(
    raw: Mapping[str, Any], prefix: str, errors: Violations
) -> CatalogueItem | None:
    before = len(errors.items)
    code = str(raw.get("code", ""))
    errors.check(bool(ITEM_CODE_PATTERN.match(code)), f"{prefix}.code", "1..50 letters/digits/._-")
    name_zh = str(raw.get("name_zh", "")).strip()
    errors.check(0 < len(name_zh) <= MAX_NAME_CHARS, f"{prefix}.name_zh", "1..200 characters")
    name_en = str(raw.get("name_en") or "").strip()
    unit = str(raw.get("unit") or "").strip()
    kind = enum_field(ItemKind, raw.get("kind"), f"{prefix}.kind", errors)
    item_class = enum_field(ItemClass, raw.get("item_class"), f"{prefix}.item_class", errors)
    price_limit = opt_int(
        raw.get("price_limit_fen"), f"{prefix}.price_limit_fen", 1, MAX_UNIT_PRICE_FEN, errors
    )
    reference_price = opt_int(
        raw.get("reference_price_fen"),
        f"{prefix}.reference_price_fen",
        1,
        MAX_UNIT_PRICE_FEN,
        errors,
    )
    restrictions = _restrictions_from_dict(raw, prefix, errors)
    if len(errors.items) > before:
        return None
    assert kind is not None and item_class is not None and restrictions is not None
    return CatalogueItem(
        code, name_zh, name_en, kind, item_class, unit, price_limit, restrictions, reference_price
    )


def _restrictions_from_dict(
    raw: Mapping[str, Any], prefix: str, errors: Violations
) -> Restrictions | None:
    before = len(errors.items)
    inpatient_only = raw.get("inpatient_only") or False
    errors.check(isinstance(inpatient_only, bool), f"{prefix}.inpatient_only", "true or false")
    raw_diseases = raw.get("chronic_diseases") or []
    if not isinstance(raw_diseases, list | tuple):
        errors.add(f"{prefix}.chronic_diseases", "a list of chronic/special disease codes")
        raw_diseases = []
    diseases: list[ChronicDisease] = []
    for code in raw_diseases:
        disease = enum_field(ChronicDisease, code, f"{prefix}.chronic_diseases", errors)
        if disease is not None:
            diseases.append(disease)
    sex_raw = raw.get("sex")
    sex = None if sex_raw is None else enum_field(Sex, sex_raw, f"{prefix}.sex", errors)
    min_age = opt_int(raw.get("min_age_years"), f"{prefix}.min_age_years", 0, MAX_AGE_YEARS, errors)
    max_age = opt_int(raw.get("max_age_years"), f"{prefix}.max_age_years", 0, MAX_AGE_YEARS, errors)
    if min_age is not None and max_age is not None:
        errors.check(min_age <= max_age, f"{prefix}.max_age_years", "must be ≥ min_age_years")
    max_qty = opt_int(
        raw.get("max_quantity_e4_per_bill"),
        f"{prefix}.max_quantity_e4_per_bill",
        QUANTITY_SCALE_E4 // 100,
        MAX_QUANTITY_E4,
        errors,
    )
    if len(errors.items) > before:
        return None
    return Restrictions(bool(inpatient_only), tuple(diseases), sex, min_age, max_age, max_qty)
