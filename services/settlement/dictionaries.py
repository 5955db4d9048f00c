"""The code sets hospitals and pharmacies download (1309 disease list, 1901 dictionaries).

The national code sets come from :mod:`shared.vocabulary`, the others from the enums the
engine uses (``services.settlement.domain``), through two functions — ``chronic_diseases()`` and ``code_sets()`` — so that where the
codes come from can change in one place. Labels are the national Chinese terms.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import Enum
from functools import cache
from types import MappingProxyType
from typing import Final

from services.settlement.domain.catalogue import ItemClass, ItemKind
from services.settlement.domain.codes import (
    ASSISTED_CATEGORIES,
    AssistanceCategory,
    FundType,
    HospitalLevel,
    PersonType,
)
from shared import vocabulary
from shared.reference import InstitutionKind

Entry = tuple[str, str]  # (value, Chinese label)

MAX_DIC_TYPES_PER_REQUEST: Final = 50

# name -> (the members in their order, their labels)
_LABELS: Final[dict[str, tuple[Iterable[Enum], dict[Enum, str]]]] = {
    "psn_type": (PersonType, {PersonType.IN_SERVICE: "在职", PersonType.RETIRED: "退休"}),
    "hosp_lv": (
        HospitalLevel,
        {
            HospitalLevel.LEVEL_1: "一级",
            HospitalLevel.LEVEL_2: "二级",
            HospitalLevel.LEVEL_3: "三级",
        },
    ),
    # The funds' names are the vocabulary's, as on statements and exports.
    "fund_pay_type": (
        FundType,
        {f: vocabulary.FUND_NAME_ZH[vocabulary.FundType(f.value)] for f in FundType},
    ),
    # The categories assistance pays for (a person without assistance is no category).
    "maf_type": (
        ASSISTED_CATEGORIES,
        {
            AssistanceCategory.DESTITUTE: "特困供养人员",
            AssistanceCategory.MINIMUM_LIVING: "最低生活保障对象",
            AssistanceCategory.LOW_INCOME_MARGINAL: "低保边缘对象",
            AssistanceCategory.POVERTY_RETURN_MONITORED: "防返贫监测对象",
        },
    ),
    "list_type": (
        ItemKind,
        {ItemKind.DRUG: "药品", ItemKind.SERVICE: "医疗服务项目", ItemKind.MATERIAL: "医用耗材"},
    ),
    "chrgitm_lv": (ItemClass, {ItemClass.A: "甲类", ItemClass.B: "乙类", ItemClass.C: "丙类"}),
    "fixmedins_type": (
        InstitutionKind,
        {InstitutionKind.HOSPITAL: "定点医疗机构", InstitutionKind.PHARMACY: "定点零售药店"},
    ),
}
# The chronic-disease list is also a code set, under the name 1901 callers expect.
CHRONIC_DISEASE_DIC_TYPE: Final = "chronic_disease"
# Gender under its national dictionary name and the everyday one.
_ALIASES: Final = {"gender": "gend"}


def chronic_diseases() -> tuple[Entry, ...]:
    """The chronic/special outpatient diseases (1309): national code and Chinese name."""
    return tuple(sorted((e.code, e.name_zh) for e in vocabulary.CHRONIC_DISEASE))


@cache
def code_sets() -> Mapping[str, tuple[Entry, ...]]:
    """Every code set by name (1901): its values and Chinese labels."""
    sets: dict[str, tuple[Entry, ...]] = {}
    # The national code sets (insutype, med_type, psn_cert_type, gend, …) as the one
    # vocabulary has them; then the sets of this service's own enums.
    for name, entries in vocabulary.DICTIONARIES.items():
        sets[name] = tuple((e.code, e.name_zh) for e in entries)
    for name, (members, labels) in _LABELS.items():
        missing = [m for m in members if m not in labels]
        assert not missing, f"code set {name}: no label for {missing}"
        sets[name] = tuple((str(m.value), labels[m]) for m in members)
    sets[CHRONIC_DISEASE_DIC_TYPE] = chronic_diseases()
    for alias, name in _ALIASES.items():
        sets[alias] = sets[name]
    return MappingProxyType(dict(sorted(sets.items())))
