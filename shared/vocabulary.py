"""National code sets of the medical-insurance platform, as data, and its time formats.

One vocabulary for every service: the code sets a hospital information system (HIS)
already speaks — insurance type (``insutype``), medical type (``med_type``), personal
certificate type (``psn_cert_type``), medical certificate type (``mdtrt_cert_type``),
gender (``gend``) and the chronic/special outpatient diseases (``opsp_dise_code``, 门诊慢特
病病种) — each with its Chinese name, exposed as :data:`DICTIONARIES` for the dictionary
download (1901); and the one parser of the platform's date/time strings.

Sources and how far the codes are verified
------------------------------------------
* ``insutype``, ``med_type``, ``psn_cert_type``, ``mdtrt_cert_type``, ``gend``: the
  code tables (代码表) of the 国家医疗保障信息平台 定点医药机构接口规范 (National Healthcare
  Security Administration, interface specification for designated institutions, 2020–2021
  editions), as reproduced in HIS vendors' interface code. The official text itself was
  not found in the reference material searched, so these lists are transcribed, not
  verified against the issuer's document; only the codes this project settles (310/390;
  11/14/21/41; 01/02/03 of mdtrt_cert_type; gender 1/2) are relied on by the engine. The rarer ``psn_cert_type`` entries (09–17) are
  the least certain.
* Chronic/special-disease codes: the 医疗保障疾病诊断分类与代码 / 门诊慢特病病种代码 of the
  国家医疗保障信息业务编码标准 (NHSA). The ten diseases settled across provinces follow the
  pilot notice 《关于开展门诊慢特病相关治疗费用跨省直接结算试点工作的通知》 (国家医保局、
  财政部, 2021), as reported by Xinhua in 辽宁日报, 2021-09-16,
  http://epaper.lnd.com.cn/lnrbepaper/pc/con/202109/16/content_126984.html — which names
  the five pilot diseases (高血压, 糖尿病, 恶性肿瘤门诊放化疗, 尿毒症透析, 器官移植术后抗排
  异治疗) and says the codes and names are those of the national coding standard, but
  does not print the codes. Every one of the eleven codes below (M03900, M01600, M00503,
  M07803, M07804, M08300, M05300, M06900, M04600, M00201, M07200) appears with the same
  disease in a public HIS vendor's list of the national codes (a local 慢特病 code table in
  open-source HIS code); none could be checked against the national 门诊慢特病病种目录
  itself, which we could not find. They are therefore "corroborated, not verified": the
  names there are local wordings (e.g. M00503 恶性肿瘤放、化、介入或核素治疗, M07803 慢性肾
  功能不全（血透治疗）); the names below are the pilot notice's wording where it has one.
  shared/reference/README.md repeats this.

Legacy chronic codes
--------------------
Before the national codes were adopted the project used private codes ``MT01``…``MT10``.
They are accepted at the gRPC edge only, as aliases (:data:`LEGACY_CHRONIC_ALIASES`),
so hospital systems configured with them keep working; everything behind the edge —
catalogues, policies, certifications, accumulations, events — speaks the national code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from shared.clock import CHINA_TZ
from shared.errors import InvalidArgument, Violations
from shared.reference.geography import Relation as Relation  # re-exported


@dataclass(frozen=True)
class CodeEntry:
    code: str
    name_zh: str


def _entries(*pairs: tuple[str, str]) -> tuple[CodeEntry, ...]:
    return tuple(CodeEntry(code, name) for code, name in pairs)


# 险种类型 insutype. The platform defines more (e.g. 320 公务员医疗补助, 330 大额医疗费用
# 补助, 340 离休人员医疗保障, 510 生育保险); only the two basic schemes are settled here
# (``Insutype``).
INSUTYPE: Final = _entries(
    ("310", "职工基本医疗保险"),
    ("320", "公务员医疗补助"),
    ("330", "大额医疗费用补助"),
    ("340", "离休人员医疗保障"),
    ("390", "城乡居民基本医疗保险"),
    ("392", "城乡居民大病医疗保险"),
    ("510", "生育保险"),
)

# 医疗类别 med_type (the common ones; local extensions exist).
MED_TYPE: Final = _entries(
    ("11", "普通门诊"),
    ("12", "门诊挂号"),
    ("13", "急诊"),
    ("14", "门诊慢特病"),
    ("19", "门诊两病"),
    ("21", "普通住院"),
    ("22", "外伤住院"),
    ("24", "转外诊治住院"),
    ("41", "定点药店购药"),
    ("51", "生育门诊"),
    ("52", "生育住院"),
)

# 人员证件类型 psn_cert_type.
PSN_CERT_TYPE: Final = _entries(
    ("01", "居民身份证（户口簿）"),
    ("02", "中国人民解放军军官证"),
    ("03", "中国人民武装警察警官证"),
    ("04", "香港特区护照/港澳居民来往内地通行证"),
    ("05", "澳门特区护照/港澳居民来往内地通行证"),
    ("06", "台湾居民来往大陆通行证"),
    ("07", "外国人永久居留证"),
    ("08", "外国人护照"),
    ("09", "残疾人证"),
    ("10", "军烈属证明"),
    ("11", "外国人就业证"),
    ("12", "外国专家证"),
    ("13", "外国人常驻记者证"),
    ("14", "台港澳人员就业证"),
    ("15", "回国（来华）定居专家证"),
    ("16", "中国护照"),
    ("17", "港澳台居民居住证"),
    ("90", "社会保障卡"),
    ("99", "其他身份证件"),
)

# 就诊凭证类型 mdtrt_cert_type.
MDTRT_CERT_TYPE: Final = _entries(
    ("01", "医保电子凭证"),
    ("02", "居民身份证"),
    ("03", "社会保障卡"),
)

# 性别 gend (GB/T 2261.1).
GEND: Final = _entries(
    ("0", "未知的性别"),
    ("1", "男"),
    ("2", "女"),
    ("9", "未说明的性别"),
)

# 门诊慢特病病种 opsp_dise_code: the diseases settled across regions (see the docstring
# for how far each is verified).
CHRONIC_DISEASE: Final = _entries(
    ("M03900", "高血压"),
    ("M01600", "糖尿病"),
    ("M00503", "恶性肿瘤门诊放化疗"),
    ("M07803", "尿毒症透析（血液透析）"),
    ("M07804", "尿毒症透析（腹膜透析）"),
    ("M08300", "器官移植术后抗排异治疗"),
    ("M05300", "慢性阻塞性肺疾病"),
    ("M06900", "类风湿关节炎"),
    ("M04600", "冠心病"),
    ("M00201", "慢性乙型肝炎"),
    ("M07200", "强直性脊柱炎"),
)

# The project's former private codes → national code. Accepted at the gRPC edge only.
LEGACY_CHRONIC_ALIASES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "MT01": "M03900",
        "MT02": "M01600",
        "MT03": "M00503",
        "MT04": "M07803",  # dialysis: haemodialysis, the usual case (peritoneal: M07804)
        "MT05": "M08300",
        "MT06": "M05300",
        "MT07": "M06900",
        "MT08": "M04600",
        "MT09": "M00201",
        "MT10": "M07200",
    }
)

# name of set -> entries, for the dictionary download (1901).
DICTIONARIES: Final[Mapping[str, tuple[CodeEntry, ...]]] = MappingProxyType(
    {
        "insutype": INSUTYPE,
        "med_type": MED_TYPE,
        "psn_cert_type": PSN_CERT_TYPE,
        "mdtrt_cert_type": MDTRT_CERT_TYPE,
        "gend": GEND,
        "opsp_dise_code": CHRONIC_DISEASE,
    }
)

CHRONIC_DISEASE_CODES: Final = frozenset(e.code for e in CHRONIC_DISEASE)
CHRONIC_DISEASE_LIST_HINT: Final = (
    "a national chronic/special disease code (门诊慢特病病种代码, e.g. M03900); the valid "
    "codes come from the chronic-disease list download (1309)"
)


def name_of(dictionary: str, code: str) -> str | None:
    """The Chinese name of ``code`` in the named set, None when the code is not in it."""
    for entry in DICTIONARIES[dictionary]:
        if entry.code == code:
            return entry.name_zh
    return None


def national_chronic_code(code: str) -> str | None:
    """The national disease code for a code sent by a caller (legacy MTnn accepted)."""
    text = code.strip()
    if text in CHRONIC_DISEASE_CODES:
        return text
    return LEGACY_CHRONIC_ALIASES.get(text)


def chronic_disease_code(code: str, field: str) -> str:
    """The national disease code of ``code``; InvalidArgument naming ``field`` otherwise."""
    found = national_chronic_code(code)
    if found is None:
        raise InvalidArgument(field, f"{code[:20]!r} is not {CHRONIC_DISEASE_LIST_HINT}")
    return found


def pick_code(
    errors: Violations,
    *,
    dictionary: str,
    enum_field: str,
    enum_code: str | None,
    code_field: str,
    code_text: str,
    allowed: frozenset[str] | None = None,
) -> str | None:
    """The national code a caller gave either as our enum or as the national string.

    ``enum_code`` is the enum's national code (None when unspecified), ``code_text`` the
    string field (empty when not sent). Either may be given; both must then agree — a
    conflict names both fields. A string not in the set, or a code outside ``allowed``,
    is a violation naming the field it came from. None (after recording why) when no
    usable code was given; the caller decides whether absence is an error.
    """
    if code_text:
        if name_of(dictionary, code_text) is None:
            errors.add(code_field, f"{code_text[:12]!r} is not a national {dictionary} code")
            return None
        if enum_code is not None and enum_code != code_text:
            message = f"{enum_field} ({enum_code}) and {code_field} ({code_text}) disagree"
            errors.add(enum_field, message)
            errors.add(code_field, message)
            return None
        code, field = code_text, code_field
    elif enum_code is not None:
        code, field = enum_code, enum_field
    else:
        return None
    if name_of(dictionary, code) is None:
        errors.add(field, f"unknown value {code}")
        return None
    if allowed is not None and code not in allowed:
        names = ", ".join(f"{c} {name_of(dictionary, c)}" for c in sorted(allowed))
        errors.add(
            field, f"{code} {name_of(dictionary, code)} is not accepted here: one of {names}"
        )
        return None
    return code


# -- dates and times --------------------------------------------------------------------

MAX_DATETIME_CHARS: Final = 40
_NATIONAL_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_NATIONAL_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
# ISO 8601 with "T": seconds required, optional fraction, optional offset (Z or ±HH:MM).
_ISO_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})?"
)
ACCEPTED_FORMATS: Final = (
    '"yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd" or ISO 8601 "yyyy-MM-ddTHH:mm:ss[±hh:mm]"'
)


def parse_national_datetime(text: str, field: str) -> datetime:
    """A caller's time as an aware datetime in China time.

    Accepts exactly "yyyy-MM-dd HH:mm:ss" (China time), "yyyy-MM-dd" (midnight, China
    time) and ISO 8601 with "T" and seconds, with or without an offset (an offset is
    converted to China time; none means China time). Anything else — other separators,
    "20261122", surrounding blanks, non-ASCII digits, impossible dates — raises
    InvalidArgument naming ``field``.
    """
    bad = InvalidArgument(field, f"not a time in the form {ACCEPTED_FORMATS}")
    if not isinstance(text, str) or len(text) > MAX_DATETIME_CHARS or not text.isascii():
        raise bad
    try:
        if _NATIONAL_DATE.fullmatch(text):
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=CHINA_TZ)
        if _NATIONAL_DATETIME.fullmatch(text):
            return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA_TZ)
        if _ISO_DATETIME.fullmatch(text):
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                return parsed.replace(tzinfo=CHINA_TZ)
            return parsed.astimezone(CHINA_TZ)
    except (ValueError, OverflowError) as exc:
        raise InvalidArgument(field, f"not a real calendar date or time: {text!r}") from exc
    raise bad


def parse_national_date(text: str, field: str) -> date:
    """The China-time calendar day of a caller's date or time (formats as above)."""
    return parse_national_datetime(text, field).date()


def read_national_date(text: str, field: str, errors: Violations) -> date | None:
    """:func:`parse_national_date`, recording the violation in ``errors`` instead."""
    try:
        return parse_national_date(text, field)
    except InvalidArgument as exc:
        for violation in exc.violations:
            errors.add(violation.field, violation.description)
        return None


# -- the enums every service speaks ----------------------------------------------------
# One definition each; the services' domain modules take them from here (settlement's
# ``domain/codes.py`` re-exports), and ``shared.pb_enums`` maps them to the protos' enums.
# ``Relation`` (LOCAL / IN_PROVINCE / CROSS_PROVINCE) is defined beside the geography it
# is decided from (``shared.reference``) and re-exported here.


class Insutype(StrEnum):
    """National ``insutype``: the value is the national code (see ``INSUTYPE``)."""

    EMPLOYEE = "310"  # 职工基本医疗保险 (proto INSURANCE_TYPE_EMPLOYEE_BASIC)
    RESIDENT = "390"  # 城乡居民基本医疗保险 (proto INSURANCE_TYPE_RESIDENT_BASIC)


class VisitType(StrEnum):
    """National ``med_type`` of a visit (see ``MED_TYPE``): the value is the national code;
    the names are the protos' ``MedType``. The platform has more medical types; these are
    the ones settled across regions."""

    ORDINARY_OUTPATIENT = "11"  # 普通门诊
    CHRONIC_OUTPATIENT = "14"  # 门诊慢特病
    INPATIENT = "21"  # 普通住院
    PHARMACY_PURCHASE = "41"  # 定点药店购药 (an ordinary purchase; 双通道 drugs are "14")


class Sex(StrEnum):
    """National ``gend`` (see ``GEND``): the value is the national code. An insured person's
    record always has one of the two; 0 (unknown) and 9 (unstated) are not accepted."""

    MALE = "1"  # 男
    FEMALE = "2"  # 女


class PersonType(StrEnum):
    IN_SERVICE = "IN_SERVICE"  # 在职
    RETIRED = "RETIRED"  # 退休


class AssistanceCategory(StrEnum):
    """Medical-assistance (医疗救助) category of a person; named as in the public contract
    (the protos' ``AssistanceCategory``): 低保 is ``MINIMUM_LIVING``."""

    NONE = "NONE"
    DESTITUTE = "DESTITUTE"  # 特困供养
    MINIMUM_LIVING = "MINIMUM_LIVING"  # 最低生活保障 (低保)
    LOW_INCOME_MARGINAL = "LOW_INCOME_MARGINAL"  # 低保边缘
    POVERTY_RETURN_MONITORED = "POVERTY_RETURN_MONITORED"  # 防返贫监测


class NationalFundCode(StrEnum):
    """National fund payment type codes (``fund_pay_type``)."""

    EMPLOYEE_BASIC_POOL = "310100"
    EMPLOYEE_PERSONAL_ACCOUNT = "310200"
    CIVIL_SERVANT_SUBSIDY = "320100"
    EMPLOYEE_LARGE_AMOUNT = "330100"
    RESIDENT_BASIC = "390100"
    RESIDENT_CRITICAL_ILLNESS = "390200"
    MEDICAL_ASSISTANCE = "610100"


class FundType(StrEnum):
    """The funds a settlement pays from, named as in the national settlement result
    (setlinfo ``*_pay``); the order is the fixed order of statements and exports."""

    HIFP = "hifp"  # 基本医疗保险统筹基金 (basic pool fund)
    HIFOB = "hifob"  # 职工大额医疗费用补助 (employee large-amount subsidy)
    HIFMI = "hifmi"  # 居民大病保险 (resident critical-illness insurance)
    CVLSERV = "cvlserv"  # 公务员医疗补助 (civil-servant subsidy)
    MAF = "maf"  # 医疗救助 (medical assistance)
    ACCT = "acct"  # 个人账户 (personal account)

    def national_code(self, insutype: Insutype) -> NationalFundCode:
        """The national fund_pay_type code; the basic fund's code depends on insurance type."""
        if self is FundType.HIFP:
            return _BASIC_FUND_CODE[insutype]
        return _FUND_CODE[self]


_BASIC_FUND_CODE: Final = MappingProxyType(
    {
        Insutype.EMPLOYEE: NationalFundCode.EMPLOYEE_BASIC_POOL,
        Insutype.RESIDENT: NationalFundCode.RESIDENT_BASIC,
    }
)
_FUND_CODE: Final = MappingProxyType(
    {
        FundType.HIFOB: NationalFundCode.EMPLOYEE_LARGE_AMOUNT,
        FundType.HIFMI: NationalFundCode.RESIDENT_CRITICAL_ILLNESS,
        FundType.CVLSERV: NationalFundCode.CIVIL_SERVANT_SUBSIDY,
        FundType.MAF: NationalFundCode.MEDICAL_ASSISTANCE,
        FundType.ACCT: NationalFundCode.EMPLOYEE_PERSONAL_ACCOUNT,
    }
)
FUND_ORDER: Final[tuple[FundType, ...]] = tuple(FundType)
# The funds a settlement's fund_pay_sumamt is made of, in FUND_ORDER: every fund but the
# personal account, which is the patient's own money (part of psn_part_amt).
SETTLED_FUNDS: Final[tuple[FundType, ...]] = tuple(f for f in FUND_ORDER if f is not FundType.ACCT)
# The funds' names on statements and exports.
FUND_NAME_ZH: Final[Mapping[FundType, str]] = MappingProxyType(
    {
        FundType.HIFP: "统筹基金",
        FundType.HIFOB: "职工大额医疗费用补助",
        FundType.HIFMI: "居民大病保险",
        FundType.CVLSERV: "公务员医疗补助",
        FundType.MAF: "医疗救助",
        FundType.ACCT: "个人账户",
    }
)

assert {i.value for i in Insutype} <= {e.code for e in INSUTYPE}
assert {v.value for v in VisitType} <= {e.code for e in MED_TYPE}
assert {s.value for s in Sex} <= {e.code for e in GEND}
assert set(_FUND_CODE) == set(FundType) - {FundType.HIFP}
assert set(FUND_NAME_ZH) == set(FundType)
