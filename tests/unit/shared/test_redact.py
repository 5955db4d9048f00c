from __future__ import annotations

from datetime import date

import pytest

from shared.identity import make_residence_permit, make_resident_id
from shared.redact import (
    MAX_DEPTH,
    MAX_TEXT_CHARS,
    SENSITIVE_ID_KEYS,
    SENSITIVE_NAME_KEYS,
    SENSITIVE_PHONE_KEYS,
    redact_mapping,
    redact_text,
    redact_value,
)

RESIDENT_ID = make_resident_id("450103", date(1962, 5, 17), 123)
MO_PERMIT = make_residence_permit("820000", date(1988, 12, 1), 32)
MSGID = "H45010000001" + "20261122103000" + "0001"


def test_log_line_masks_id_and_phone_but_keeps_msgid() -> None:
    line = (
        f"settle msgid={MSGID} insuplc_admdvs=450100 mdtrtarea_admvs=440100 "
        f"certno={RESIDENT_ID} tel=13812345678 medfee_sumamt=1234567 hospital=H44010000001"
    )
    redacted = redact_text(line)
    assert RESIDENT_ID not in redacted
    assert "13812345678" not in redacted
    assert "certno=4501**********123X" in redacted
    assert "tel=138****5678" in redacted
    for kept in (MSGID, "450100", "440100", "1234567", "H44010000001"):
        assert kept in redacted


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            f"身份证{RESIDENT_ID}已登记", "身份证4501**********123X已登记", id="id-in-chinese"
        ),
        pytest.param(f"id {RESIDENT_ID.lower()}", "id 4501**********123x", id="id-lower-x"),
        pytest.param(f"permit={MO_PERMIT}.", "permit=8200**********0327.", id="macau-permit"),
        pytest.param("回乡证H12345678", "回乡证H1*****78", id="home-return-8"),
        pytest.param("M1234567801 ok", "M1*******01 ok", id="home-return-10"),
        pytest.param("call 13812345678", "call 138****5678", id="mobile"),
        pytest.param("call +8613812345678", "call +86138****5678", id="mobile-plus86"),
        pytest.param("call +86 13812345678", "call +86138****5678", id="mobile-plus86-space"),
        pytest.param("hk +852 9123 4567;", "hk +852****4567;", id="hong-kong"),
        pytest.param("mo +85366123456", "mo +853****3456", id="macau"),
        pytest.param(f"[{RESIDENT_ID}]", "[4501**********123X]", id="bracketed"),
        pytest.param(
            f"ID{RESIDENT_ID}ok", "ID4501**********123Xok", id="valid-id-glued-to-letters"
        ),
    ],
)
def test_redact_text_masks(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(MSGID, id="msgid-30"),
        pytest.param(f"msgid:{MSGID}", id="msgid-prefixed"),
        pytest.param("H45010000001", id="hospital-code"),
        pytest.param("P44030000001", id="pharmacy-code"),
        pytest.param("pool 450100 to 440100", id="pool-codes"),
        pytest.param("amount_fen=123456789 ratio_bp=8500", id="amounts"),
        pytest.param("20261122103000", id="timestamp-14"),
        pytest.param("1732243800000", id="epoch-ms-13"),
        pytest.param("setlym=202611", id="period"),
        pytest.param("4501031962051712345678", id="22-digit-token"),
        pytest.param("550e8400-e29b-41d4-a716-446655440000", id="uuid"),
        pytest.param("ICD C34.900, 2 x 15.50 yuan", id="diagnosis-and-prices"),
        pytest.param("setl_id=S202611221030000001", id="letter-plus-18-digit-serial"),
        pytest.param(
            f"T{RESIDENT_ID[:-1]}{'0' if RESIDENT_ID[-1] != '0' else '1'}", id="glued-invalid"
        ),
    ],
)
def test_redact_text_leaves_ordinary_tokens(text: str) -> None:
    assert redact_text(text) == text


def test_redact_text_cuts_huge_text() -> None:
    redacted = redact_text("a" * (MAX_TEXT_CHARS + 10))
    assert redacted.endswith("[10 characters cut]")


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        pytest.param("psn_name", "张三丰", "张**", id="psn-name"),
        pytest.param("patient_name", "Chan Tai-man", "C*** ***-***", id="patient-latin"),
        pytest.param("Name", "李四", "李*", id="key-case-insensitive"),
        pytest.param("certno", RESIDENT_ID, "4501**********123X", id="certno"),
        pytest.param("document_number", "H12345678", "H1*****78", id="document-number"),
        pytest.param("psn_cert_no", MO_PERMIT, "8200**********0327", id="psn-cert-no"),
        pytest.param("phone", "+852 9123 4567", "+852****4567", id="phone-hk"),
        pytest.param("tel", 13812345678, "138****5678", id="phone-as-int"),
        pytest.param("ec_token", "ec_4501aZ-9kLmNoPqRsT", "***", id="secret"),
        pytest.param("event", f"filed by {RESIDENT_ID}", "filed by 4501**********123X", id="free"),
        pytest.param("msgid", MSGID, MSGID, id="msgid-untouched"),
        pytest.param("amount_fen", 1234567, 1234567, id="int-untouched"),
        pytest.param("ok", True, True, id="bool-untouched"),
        pytest.param("nothing", None, None, id="none-untouched"),
    ],
)
def test_redact_value(key: str, value: object, expected: object) -> None:
    assert redact_value(key, value) == expected


def test_redact_value_walks_containers() -> None:
    event = {
        "person": {"psn_name": "王五", "certno": RESIDENT_ID, "phones": ["13812345678"]},
        "msgid": MSGID,
    }
    assert redact_mapping(event) == {
        "person": {"psn_name": "王*", "certno": "4501**********123X", "phones": ["138****5678"]},
        "msgid": MSGID,
    }


def test_redact_value_replaces_what_is_nested_too_deep() -> None:
    nested: object = RESIDENT_ID
    for _ in range(MAX_DEPTH + 2):
        nested = {"inner": nested}
    assert RESIDENT_ID not in repr(redact_value("outer", nested))


def test_key_sets_cover_the_national_interface_names() -> None:
    assert {"name", "psn_name", "full_name", "person_name", "patient_name"} <= SENSITIVE_NAME_KEYS
    assert {"certno", "id_number", "document_number", "psn_cert_no"} <= SENSITIVE_ID_KEYS
    assert {"phone", "mobile", "tel"} <= SENSITIVE_PHONE_KEYS
