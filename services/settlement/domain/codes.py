"""Code lists shared by the catalogue, the policy and the engine.

Where the national medical-insurance platform has a code, the enum value is that code
(insutype 310/390, med_type 11/14/21/41, gender 1/2), so the gRPC layer can pass values
through unchanged. The chronic/special-disease codes are modeled (``MT01`` … ``MT10``):
stable within this project, not the national disease codes.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Insutype(StrEnum):
    EMPLOYEE = "310"  # 职工基本医疗保险
    RESIDENT = "390"  # 城乡居民基本医疗保险


class PersonType(StrEnum):
    IN_SERVICE = "IN_SERVICE"  # 在职
    RETIRED = "RETIRED"  # 退休


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
    """Medical-assistance (医疗救助) categories that the engine pays for."""

    DESTITUTE = "DESTITUTE"  # 特困供养
    DIBAO = "DIBAO"  # 最低生活保障 (低保)
    LOW_INCOME_MARGINAL = "LOW_INCOME_MARGINAL"  # 低保边缘
    POVERTY_RETURN_MONITORED = "POVERTY_RETURN_MONITORED"  # 防返贫监测


class FundType(StrEnum):
    """``fund_pay_type`` of a ``setldetail`` row."""

    HIFP = "hifp"  # 基本医疗保险统筹基金
    HIFOB = "hifob"  # 职工大额医疗费用补助
    HIFMI = "hifmi"  # 居民大病保险
    MAF = "maf"  # 医疗救助
    ACCT = "acct"  # 个人账户


class ChronicDisease(StrEnum):
    """Chronic/special outpatient diseases settled cross-province. Codes are modeled."""

    HYPERTENSION = "MT01"
    DIABETES = "MT02"
    CANCER_RADIO_CHEMO = "MT03"
    URAEMIA_DIALYSIS = "MT04"
    TRANSPLANT_ANTI_REJECTION = "MT05"
    COPD = "MT06"
    RHEUMATOID_ARTHRITIS = "MT07"
    CORONARY_HEART_DISEASE = "MT08"
    VIRAL_HEPATITIS = "MT09"
    ANKYLOSING_SPONDYLITIS = "MT10"


CHRONIC_DISEASE_NAME_ZH: dict[ChronicDisease, str] = {
    ChronicDisease.HYPERTENSION: "高血压",
    ChronicDisease.DIABETES: "糖尿病",
    ChronicDisease.CANCER_RADIO_CHEMO: "恶性肿瘤门诊放化疗",
    ChronicDisease.URAEMIA_DIALYSIS: "尿毒症透析",
    ChronicDisease.TRANSPLANT_ANTI_REJECTION: "器官移植术后抗排异治疗",
    ChronicDisease.COPD: "慢性阻塞性肺疾病",
    ChronicDisease.RHEUMATOID_ARTHRITIS: "类风湿关节炎",
    ChronicDisease.CORONARY_HEART_DISEASE: "冠心病",
    ChronicDisease.VIRAL_HEPATITIS: "病毒性肝炎",
    ChronicDisease.ANKYLOSING_SPONDYLITIS: "强直性脊柱炎",
}
assert set(CHRONIC_DISEASE_NAME_ZH) == set(ChronicDisease)
