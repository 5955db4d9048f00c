"""Code lists shared by the catalogue, the policy and the engine.

Where the national medical-insurance platform has a code, the enum value is that code
(insutype 310/390, med_type 11/14/21/41, gender 1/2, the chronic/special-disease codes
M03900 …), so the gRPC layer can pass values through unchanged. The code sets and their
Chinese names live in :mod:`shared.vocabulary` (the one vocabulary of every service),
and so do the enums of insurance type, person type, sex, medical type, assistance
category and fund, re-exported here; the chronic diseases' enum is checked against it at
import. The project's former private disease codes ``MT01`` … ``MT10`` are accepted at the gRPC edge
only (``shared.vocabulary.LEGACY_CHRONIC_ALIASES``).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum, StrEnum
from typing import ClassVar, Final

from shared import vocabulary

# The shared vocabulary's, re-exported: one definition for every service.
Insutype = vocabulary.Insutype
PersonType = vocabulary.PersonType
Relation = vocabulary.Relation
Sex = vocabulary.Sex  # ``gend``: an item's sex restriction, an encounter's patient
VisitType = vocabulary.VisitType  # ``med_type`` of the encounter
AssistanceCategory = vocabulary.AssistanceCategory
# The medical-assistance (医疗救助) categories the engine pays for, each with its ratio in
# the policy: every category but NONE (a person without assistance has none).
ASSISTED_CATEGORIES: Final[tuple[AssistanceCategory, ...]] = tuple(
    c for c in AssistanceCategory if c is not AssistanceCategory.NONE
)
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


class HospitalLevel(IntEnum):
    LEVEL_1 = 1  # 一级
    LEVEL_2 = 2  # 二级
    LEVEL_3 = 3  # 三级


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
