"""Code lists shared by the catalogue, the policy and the engine.

Where the national medical-insurance platform has a code, the enum value is that code
(insutype 310/390, med_type 11/14/21/41, gender 1/2, the chronic/special-disease codes
M03900 …), so the gRPC layer can pass values through unchanged. The code sets and their
Chinese names live in :mod:`shared.vocabulary` (the one vocabulary of every service);
the enums here are the subsets the engine settles, checked against it at import. The
project's former private disease codes ``MT01`` … ``MT10`` are accepted at the gRPC edge
only (``shared.vocabulary.LEGACY_CHRONIC_ALIASES``).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum, StrEnum
from types import MappingProxyType
from typing import ClassVar, Final

from shared import vocabulary

# The shared vocabulary's, re-exported: one definition for every service.
Insutype = vocabulary.Insutype
PersonType = vocabulary.PersonType
Relation = vocabulary.Relation
# ``fund_pay_type`` of a ``setldetail`` row and the keys of a settlement's fund amounts.
FundType = vocabulary.FundType


class ByFund:
    """Amounts kept in a map by fund, each also read by its national name
    ``<fund><FUND_SUFFIX>`` (``hifp_pay_fen``, ``maf_paid_fen``); a fund of ``FUNDS``
    absent from the map is 0."""

    FUNDS: ClassVar[tuple[vocabulary.FundType, ...]]
    FUND_SUFFIX: ClassVar[str]
    FUND_MAP: ClassVar[str]  # the attribute holding the map

    def fund_fen(self, fund: vocabulary.FundType) -> int:
        funds: Mapping[vocabulary.FundType, int] = getattr(self, self.FUND_MAP)
        return funds.get(fund, 0)

    def __getattr__(self, name: str) -> int:
        code = name.removesuffix(self.FUND_SUFFIX)
        fund = next((f for f in self.FUNDS if f.value == code), None)
        if code == name or fund is None:
            raise AttributeError(name)
        return self.fund_fen(fund)


class Sex(StrEnum):
    MALE = "1"
    FEMALE = "2"


class VisitType(StrEnum):
    """The national ``med_type`` of the encounter."""

    ORDINARY_OUTPATIENT = "11"  # 普通门诊
    CHRONIC_OUTPATIENT = "14"  # 门诊慢特病
    INPATIENT = "21"  # 普通住院
    PHARMACY_PURCHASE = "41"  # 定点药店购药 (an ordinary purchase; 双通道 drugs are "14")


class HospitalLevel(IntEnum):
    LEVEL_1 = 1  # 一级
    LEVEL_2 = 2  # 二级
    LEVEL_3 = 3  # 三级


class MafCategory(StrEnum):
    """Medical-assistance (医疗救助) categories that the engine pays for.

    The values are the engine's stored and policy spellings (``DIBAO``); the public name
    of each is the vocabulary's ``AssistanceCategory`` (``MAF_CATEGORY_OF`` is the one
    mapping from it: 低保 is ``MINIMUM_LIVING`` there).
    """

    DESTITUTE = "DESTITUTE"  # 特困供养
    DIBAO = "DIBAO"  # 最低生活保障 (低保)
    LOW_INCOME_MARGINAL = "LOW_INCOME_MARGINAL"  # 低保边缘
    POVERTY_RETURN_MONITORED = "POVERTY_RETURN_MONITORED"  # 防返贫监测


class ChronicDisease(StrEnum):
    """Chronic/special outpatient diseases settled cross-region, by their national code."""

    HYPERTENSION = "M03900"
    DIABETES = "M01600"
    CANCER_RADIO_CHEMO = "M00503"
    URAEMIA_DIALYSIS = "M07803"  # haemodialysis (血液透析)
    URAEMIA_PERITONEAL_DIALYSIS = "M07804"  # peritoneal dialysis (腹膜透析)
    TRANSPLANT_ANTI_REJECTION = "M08300"
    COPD = "M05300"
    RHEUMATOID_ARTHRITIS = "M06900"
    CORONARY_HEART_DISEASE = "M04600"
    VIRAL_HEPATITIS = "M00201"  # chronic hepatitis B (慢性乙型肝炎)
    ANKYLOSING_SPONDYLITIS = "M07200"


CHRONIC_DISEASE_NAME_ZH: dict[ChronicDisease, str] = {
    ChronicDisease(e.code): e.name_zh for e in vocabulary.CHRONIC_DISEASE
}
assert set(CHRONIC_DISEASE_NAME_ZH) == set(ChronicDisease)
assert {i.value for i in Insutype} <= {e.code for e in vocabulary.INSUTYPE}
assert {v.value for v in VisitType} <= {e.code for e in vocabulary.MED_TYPE}
assert {s.value for s in Sex} <= {e.code for e in vocabulary.GEND}

MAF_CATEGORY_OF: Final = MappingProxyType(
    {
        vocabulary.AssistanceCategory.DESTITUTE: MafCategory.DESTITUTE,
        vocabulary.AssistanceCategory.MINIMUM_LIVING: MafCategory.DIBAO,
        vocabulary.AssistanceCategory.LOW_INCOME_MARGINAL: MafCategory.LOW_INCOME_MARGINAL,
        vocabulary.AssistanceCategory.POVERTY_RETURN_MONITORED: (
            MafCategory.POVERTY_RETURN_MONITORED
        ),
    }
)
"""A person's assistance category → the engine's; ``NONE`` pays no assistance."""
assert set(MAF_CATEGORY_OF.values()) == set(MafCategory)
