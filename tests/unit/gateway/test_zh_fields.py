"""Every field violation has a Chinese reading, carried in its zh-CN localized_message."""

from __future__ import annotations

import re

from google.rpc import error_details_pb2

from shared.errors import FieldViolation, InvalidArgument
from shared.grpc_errors import LOCALE_ZH, to_status
from shared.zh_fields import zh_violation

HAN = re.compile(r"[\u4e00-\u9fff]")


def test_uncommon_violations_read_in_chinese() -> None:
    assert zh_violation("end_date", "a temporary filing lasts at most 6 months") == (
        "结束日期：临时外出就医备案最长 6 个月"
    )
    assert zh_violation(
        "documents[1].type", "a person holds at most one document of each type"
    ) == ("证件类型：每种证件只能登记一份")
    # A description no table knows still reads in Chinese, keeping the service's words.
    unknown = zh_violation("feedetail[3].hilist_code", "not in the catalogue version in force")
    assert unknown.startswith("feedetail[3].hilist_code：填写有误（") and HAN.search(unknown)


def test_each_violation_of_a_status_carries_its_chinese_text() -> None:
    error = InvalidArgument.of(
        [
            FieldViolation("destination", "is already the filing's destination"),
            FieldViolation("end_date", "is in the past: cancel the filing instead"),
        ]
    )
    _code, status = to_status(error, "req-1")
    bad = error_details_pb2.BadRequest()
    assert any(detail.Unpack(bad) for detail in status.details)
    assert [
        (v.localized_message.locale, v.localized_message.message) for v in bad.field_violations
    ] == [
        (LOCALE_ZH, "就医地：与备案现有的就医地相同，无需变更"),
        (LOCALE_ZH, "结束日期：已是过去的日期；如不再需要，请取消备案"),
    ]
