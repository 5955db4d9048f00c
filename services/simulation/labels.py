"""Chinese labels for the report a pooling-region officer reads: pool and province names
from the reference data, fund names from the clearing exports (``FUND_NAME_ZH``), and the
few code tables of the simulation (relations, visit types, coverage bases, refusals,
states). Each label is shown with its code in small type beside it.

A code missing from a table is shown as 未分类 (unclassified) with the code beside it,
never as a bare enum name; the simulation records no unset enum value (see
``hospital_flow.NOT_COVERED`` and ``hospital_flow._relation_name``).
"""

from __future__ import annotations

import html
from collections.abc import Mapping

from services.clearing.domain.events import FundType
from services.clearing.domain.exports import FUND_NAME_ZH
from shared.reference import get_pool, get_province, is_pool, is_province

UNCLASSIFIED = "未分类"

RELATION_ZH: Mapping[str, str] = {
    "LOCAL": "本地",
    "IN_PROVINCE": "省内异地",
    "CROSS_PROVINCE": "跨省异地",
}
VISIT_ZH: Mapping[str, str] = {
    "11": "普通门诊",
    "14": "门诊慢特病",
    "21": "住院",
    "41": "定点药店购药",
    "41/14": "药店慢特病用药（双通道）",
}
# Every payer of a settlement result: the funds as the clearing exports name them, and cash.
FUND_ZH: Mapping[str, str] = {
    **{fund.value: FUND_NAME_ZH[fund] for fund in FundType},
    "cash": "现金",
}
LEVEL_ZH: Mapping[str, str] = {
    "PROVINCIAL": "省内清算",
    "NATIONAL": "跨省清算",
    "ALLOCATION": "跨省清算分摊",
}
STATEMENT_STATE_ZH: Mapping[str, str] = {
    "GENERATED": "已生成",
    "DELIVERED": "已送达",
    "CONFIRMED": "已确认",
    "DISPUTED": "有争议",
    "RESOLVED": "争议已处理",
}
PERIOD_STATE_ZH: Mapping[str, str] = {
    "OPEN": "未截止",
    "CLOSED": "已截止",
    "GENERATED": "已出对账单",
    "DELIVERED": "已送达",
    "NETTED": "已轧差",
    "SETTLED": "已结清",
    "NOT CLEARED": "未清算",
}
OUTCOME_ZH: Mapping[str, str] = {
    "REJECTED": "争议驳回",
    "UPHELD": "争议成立",
    "AMENDED": "核减",
}
BASIS_ZH: Mapping[str, str] = {
    "LOCAL": "参保地就医",
    "FILING": "已备案",
    "RETROACTIVE_FILING": "补办备案",
    "EXEMPT_BQF": "北钦防免备案",
    "EXEMPT_GD_IN_PROVINCE": "广东省内免备案",
    "EMERGENCY": "急诊抢救视同备案",
    "REFUSED": "未备案，全额垫付",
    "NOT_COVERED": "登记时未备案",
}
REASON_ZH: Mapping[str, str] = {
    "FILING_REQUIRED": "未备案",
    "FILING_NOT_VALID_ON_DATE": "备案不在有效期内",
    "FILING_CANCELLED": "备案已撤销",
    "FILING_SUPERSEDED": "备案已变更",
    "FILING_EXPIRED": "备案已过期",
    "CHRONIC_DISEASE_NOT_CERTIFIED": "门诊慢特病资格未认定",
    "COVERAGE_REFUSED": "不予直接结算",
    "NO_REASON_CODE": "未注明原因",
    "DUPLICATE_FEE_LINE": "重复收费",
    "QUANTITY_OVER_LIMIT": "超数量",
    "ADMITTED_ELSEWHERE": "他院在院期间就诊",
    "RESTRICTION_INPATIENT_ONLY": "限住院使用",
    "RESTRICTION_SEX": "限性别",
    "RESTRICTION_AGE": "限年龄",
    "RESTRICTION_CHRONIC_DISEASE": "限门诊慢特病",
}
COHORT_ZH: Mapping[str, str] = {
    "local_gx": "广西本地就医",
    "local_gd": "广东本地就医",
    "bqf": "北钦防同城化",
    "gd_in_province": "广东省内异地",
    "hkmo_gba": "在大湾区参保的港澳居民",
    "retiree_beihai": "异地安置退休人员（北海）",
    "stationed": "异地长期驻外工作人员",
    "long_term_resident": "异地长期居住人员",
    "chronic_away": "异地居住的透析和肿瘤患者",
    "gx_referral": "转诊至南宁",
    "cross_referral": "转诊至广州",
    "temporary": "其他临时外出就医",
    "emergency": "急诊抢救（未备案）",
    "unfiled": "未备案就医",
}


def zh(table: Mapping[str, str], code: str) -> str:
    return table.get(code, UNCLASSIFIED)


def party_zh(code: str) -> str:
    """南宁市 for a pool, 广西壮族自治区 for a province, the clearing centres by name."""
    if is_pool(code):
        return get_pool(code).name_zh
    if is_province(code):
        return get_province(code).name_zh
    if code.startswith("CENTRE-") and is_province(code.removeprefix("CENTRE-")):
        return f"{get_province(code.removeprefix('CENTRE-')).name_zh}清算中心"
    if code == "NATIONAL":
        return "国家跨省清算"
    return UNCLASSIFIED


def html_label(name: str, code: str) -> str:
    """``name <small class="code">code</small>``, escaped."""
    return f'{html.escape(name)} <small class="code">{html.escape(code)}</small>'


def svg_label(name: str, code: str) -> str:
    """The same inside an SVG ``<text>``: the code as a smaller, grey ``<tspan>``."""
    return f'{html.escape(name)}<tspan class="code" dx="3">{html.escape(code)}</tspan>'


def party_html(code: str) -> str:
    return html_label(party_zh(code), code)


def party_svg(code: str) -> str:
    return svg_label(party_zh(code), code)


def party_text(code: str) -> str:
    """Plain text (tooltips): 南宁市 450100."""
    return f"{party_zh(code)} {code}"


def coded_html(table: Mapping[str, str], code: str) -> str:
    return html_label(zh(table, code), code)


def coded_svg(table: Mapping[str, str], code: str) -> str:
    return svg_label(zh(table, code), code)
