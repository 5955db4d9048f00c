"""Field violations in Chinese: the zh-CN ``localized_message`` of each BadRequest
FieldViolation (``shared.grpc_errors``), what a hospital's staff or an insured person
reads on a page.

A violation reads ``<field label>：<description>``. The label comes from ``ZH_FIELDS``
(indices such as ``feedetail[3]`` dropped; else the last path segment's label; else the
field path as sent). The description comes from ``ZH_DESCRIPTIONS`` (exact English text),
then ``ZH_PATTERNS`` (texts carrying a number or a code), else a Chinese sentence that
keeps the English text in brackets, so every violation has a Chinese reading.
"""

from __future__ import annotations

import re
from typing import Final

ZH_FIELDS: Final = {
    "category": "备案类别",
    "start_date": "开始日期",
    "end_date": "结束日期",
    "destination": "就医地",
    "destination.pool_code": "就医地统筹区代码",
    "destination.province_code": "就医省份代码",
    "commitment_accepted": "个人承诺",
    "referral": "转诊信息",
    "referral.referring_hospital_code": "转出医院编码",
    "referral.hospital_code": "转入医院编码",
    "referral.diagnosis_code": "诊断编码",
    "referral.diagnosis_name": "诊断名称",
    "psn_no": "个人编号",
    "channel": "办理渠道",
    "channel_request_id": "请求编号",
    "filing_id": "备案编号",
    "reason": "变更原因",
    "page.page_size": "每页条数",
    "page.page_token": "翻页标记",
    "insured_pool": "参保地统筹区代码",
    "treatment_pool": "就医地统筹区代码",
    "treatment_date": "就诊日期",
    "name": "姓名",
    "sex": "性别",
    "birth_date": "出生日期",
    "documents": "证件",
    "documents.type": "证件类型",
    "documents.number": "证件号码",
    "insutype": "险种类型",
    "person_type": "人员类别",
    "acct_balance_fen": "个人账户余额",
    "valid_from_date": "有效期开始日期",
    "valid_until_date": "有效期结束日期",
    "mdtrt_id": "就诊ID",
    "msgid": "报文ID",
    "header": "报文头",
    "feedetail": "费用明细",
    "medfee_sumamt_fen": "医疗费总额",
    "begntime": "开始时间",
    "body": "请求正文",
}

ZH_DESCRIPTIONS: Final = {
    "is before start_date": "早于开始日期",
    "is required (YYYY-MM-DD)": "必须填写（年-月-日）",
    "not a date in the form YYYY-MM-DD": "不是“年-月-日”格式的日期",
    "not a valid calendar date": "不是有效的日期",
    "unknown pool code": "统筹区代码不存在",
    "unknown province": "省份代码不存在",
    "set exactly one of pool_code and province_code": "统筹区代码与省份代码须填写且只填写其一",
    "is the insured pool: treatment there needs no filing": "是参保地，在参保地就医无需备案",
    "a region-level pool is not a place of treatment": "地市级统筹区代码不能作为就医地",
    "required for a REFERRAL filing": "转诊备案必须填写",
    "only REFERRAL filings carry referral details": "只有转诊备案需要填写转诊信息",
    "a long-term filing is valid until cancelled: leave end_date empty": (
        "长期备案在取消前一直有效，请勿填写结束日期"
    ),
    "a long-term filing is valid until cancelled: it has no end date": (
        "长期备案在取消前一直有效，没有结束日期"
    ),
    "not a 12-character hospital code": "不是12位医疗机构编码",
    "not a designated hospital": "不是定点医疗机构",
    "not a hospital in the destination": "不是就医地的医疗机构",
    "must be a hospital of the insured pool": "须为参保地的医疗机构",
    "unknown or unset filing category": "请选择备案类别",
    "is already the filing's destination": "与备案现有的就医地相同，无需变更",
    "a new destination needs referral details naming a hospital there": (
        "变更就医地须同时填写该地医疗机构的转诊信息"
    ),
    "is in the past: cancel the filing instead": "已是过去的日期；如不再需要，请取消备案",
    "nothing to change: set destination, end_date or referral": (
        "没有需要变更的内容：请填写就医地、结束日期或转诊信息"
    ),
    "is in the future": "不能晚于今天",
    "must not be negative": "不能为负数",
    "not a token this service issued": "不是本服务签发的翻页标记",
    "contains control characters": "含有控制字符",
    "must start with insured_pool": "须以参保地统筹区代码开头",
    "required without a resident ID or permit": "没有居民身份证或居住证时必须填写",
    "310 (employee) or 390 (resident)": "须为 310（职工）或 390（居民）",
    "IN_SERVICE or RETIRED": "须为在职或退休",
    "only employees (310) have a personal account": "只有职工医保（310）有个人账户",
    "unknown document type": "证件类型不存在",
    "unknown or unset document type": "请选择证件类型",
    "a person holds at most one document of each type": "每种证件只能登记一份",
    "not a known pool or province code": "不是已知的统筹区或省份代码",
    "before any filing policy took effect": "早于任何备案政策的生效日期",
    "before valid_from_date": "早于有效期开始日期",
    "a person number is the 6-digit pool code and 4–24 digits or A–Z": (
        "个人编号由6位统筹区代码加4至24位数字或大写字母组成"
    ),
    "not valid UTF-8": "不是有效的 UTF-8 文本",
}

ZH_PATTERNS: Final = (
    (re.compile(r"a temporary filing lasts at most (\d+) months"), "临时外出就医备案最长 {0} 个月"),
    (
        re.compile(r"a temporary filing is valid at least (\d+) months"),
        "临时外出就医备案至少 {0} 个月",
    ),
    (re.compile(r"larger than (\d+) bytes"), "超过 {0} 字节"),
    (re.compile(r"1–(\d+) characters"), "须为 1 至 {0} 个字符"),
    (re.compile(r"must be 0–(\d+) fen"), "须为 0 至 {0} 分"),
    (re.compile(r"before (\d{4})"), "早于 {0} 年"),
    (
        re.compile(r"1–(\d+) identity documents, one of each type"),
        "须登记 1 至 {0} 份证件，每种一份",
    ),
    (re.compile(r"unknown or unset (.+)"), "未填写或取值不存在（{0}）"),
)


def zh_label(field: str) -> str:
    """The field as a person reads it."""
    plain = re.sub(r"\[\d+\]", "", field)
    if plain in ZH_FIELDS:
        return ZH_FIELDS[plain]
    last = plain.rsplit(".", 1)[-1]
    return ZH_FIELDS.get(last, field)


def zh_description(description: str) -> str:
    if description in ZH_DESCRIPTIONS:
        return ZH_DESCRIPTIONS[description]
    for pattern, template in ZH_PATTERNS:
        found = pattern.fullmatch(description)
        if found:
            return template.format(*found.groups())
    return f"填写有误（{description}）"


def zh_violation(field: str, description: str) -> str:
    """``<label>：<description>`` in Chinese."""
    return f"{zh_label(field)}：{zh_description(description)}"
