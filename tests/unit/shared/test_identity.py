from __future__ import annotations

from datetime import date

import pytest

from shared.errors import InvalidArgument
from shared.identity import (
    DocumentType,
    birth_date_of,
    check_char,
    make_home_return_permit,
    make_residence_permit,
    make_resident_id,
    mask_document,
    mask_name,
    mask_phone,
    sex_of,
    validate_document,
)
from shared.vocabulary import Sex

# Computed once from the generator; the check characters are asserted independently below.
NANNING_MAN = make_resident_id("450103", date(1962, 5, 17), 123)  # odd sequence: male
GUANGZHOU_WOMAN = make_resident_id("440106", date(1990, 2, 28), 246)
LEAP_DAY = make_resident_id("450502", date(2000, 2, 29), 1)
HK_PERMIT = make_residence_permit("810000", date(1975, 8, 8), 7)
MO_PERMIT = make_residence_permit("820000", date(1988, 12, 1), 32)
TW_PERMIT = make_residence_permit(DocumentType.TW_RESIDENCE_PERMIT, date(1970, 1, 1), 555)


def _with_check(first17: str) -> str:
    return first17 + check_char(first17)


def _wrong_check(number: str) -> str:
    wrong = "0" if number[-1] != "0" else "1"
    return number[:-1] + wrong


def _field_and_text(exc: pytest.ExceptionInfo[InvalidArgument]) -> tuple[str, str]:
    violation = exc.value.violations[0]
    return violation.field, violation.description


@pytest.mark.parametrize(
    ("first17", "expected"),
    [
        pytest.param("11010519491231002", "X", id="gb11643-example-X"),
        pytest.param("44030819850101101", "1", id="shenzhen-1985"),
        pytest.param("45010319620517121", "3", id="nanning-1962"),
        pytest.param("44010619900228246", "7", id="guangzhou-1990"),
        pytest.param("45010319620517123", "X", id="nanning-X"),
    ],
)
def test_check_char_follows_mod_11_2(first17: str, expected: str) -> None:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    by_hand = "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11]
    assert by_hand == expected
    assert check_char(first17) == expected


@pytest.mark.parametrize(
    ("doc_type", "number", "normalised"),
    [
        pytest.param(DocumentType.RESIDENT_ID, NANNING_MAN, NANNING_MAN, id="resident-nanning"),
        pytest.param(DocumentType.RESIDENT_ID, GUANGZHOU_WOMAN, GUANGZHOU_WOMAN, id="resident-gz"),
        pytest.param(DocumentType.RESIDENT_ID, LEAP_DAY, LEAP_DAY, id="resident-leap-day"),
        pytest.param(
            DocumentType.RESIDENT_ID, "11010519491231002x", "11010519491231002X", id="lower-x"
        ),
        pytest.param(DocumentType.RESIDENT_ID, f"  {NANNING_MAN} ", NANNING_MAN, id="trimmed"),
        pytest.param(DocumentType.HK_RESIDENCE_PERMIT, HK_PERMIT, HK_PERMIT, id="hk-permit"),
        pytest.param(DocumentType.MO_RESIDENCE_PERMIT, MO_PERMIT, MO_PERMIT, id="macau-permit"),
        pytest.param(DocumentType.TW_RESIDENCE_PERMIT, TW_PERMIT, TW_PERMIT, id="tw-permit"),
        pytest.param(DocumentType.HK_MO_HOME_RETURN_PERMIT, "H12345678", "H12345678", id="hrp-hk"),
        pytest.param(DocumentType.HK_MO_HOME_RETURN_PERMIT, "m87654321", "M87654321", id="hrp-mo"),
        pytest.param(
            DocumentType.HK_MO_HOME_RETURN_PERMIT, "H1234567801", "H1234567801", id="hrp-old-10"
        ),
        pytest.param(
            DocumentType.E_VOUCHER,
            "ec_4501aZ-9kLmNoPqRsT",
            "ec_4501aZ-9kLmNoPqRsT",
            id="e-voucher-case-kept",
        ),
    ],
)
def test_valid_documents_are_normalised(
    doc_type: DocumentType, number: str, normalised: str
) -> None:
    assert validate_document(doc_type, number) == normalised


@pytest.mark.parametrize(
    ("doc_type", "number", "message_part"),
    [
        pytest.param(
            DocumentType.RESIDENT_ID, _wrong_check(NANNING_MAN), "check digit", id="check"
        ),
        pytest.param(DocumentType.RESIDENT_ID, NANNING_MAN[:17], "18 characters", id="short"),
        pytest.param(DocumentType.RESIDENT_ID, NANNING_MAN + "1", "18 characters", id="long"),
        pytest.param(DocumentType.RESIDENT_ID, "4501031962O517123X", "18 characters", id="letter"),
        pytest.param(
            DocumentType.RESIDENT_ID, _with_check("45010319900230123"), "birth date", id="feb-30"
        ),
        pytest.param(
            DocumentType.RESIDENT_ID, _with_check("45010319011301123"), "birth date", id="month-13"
        ),
        pytest.param(
            DocumentType.RESIDENT_ID, _with_check("45010318700101123"), "before 1890", id="too-old"
        ),
        pytest.param(
            DocumentType.RESIDENT_ID, _with_check("45010319990229123"), "birth date", id="not-leap"
        ),
        pytest.param(
            DocumentType.RESIDENT_ID, _with_check("99010319620517123"), "province", id="no-province"
        ),
        pytest.param(DocumentType.RESIDENT_ID, MO_PERMIT, "MO_RESIDENCE_PERMIT", id="permit-as-id"),
        pytest.param(DocumentType.HK_RESIDENCE_PERMIT, MO_PERMIT, "810000", id="wrong-permit"),
        pytest.param(DocumentType.MO_RESIDENCE_PERMIT, NANNING_MAN, "820000", id="id-as-permit"),
        pytest.param(
            DocumentType.MO_RESIDENCE_PERMIT, _wrong_check(MO_PERMIT), "check digit", id="mo-check"
        ),
        pytest.param(DocumentType.HK_MO_HOME_RETURN_PERMIT, "H1234567", "H or M", id="hrp-7"),
        pytest.param(DocumentType.HK_MO_HOME_RETURN_PERMIT, "T12345678", "H or M", id="hrp-T"),
        pytest.param(DocumentType.HK_MO_HOME_RETURN_PERMIT, "H123456789", "H or M", id="hrp-9"),
        pytest.param(DocumentType.E_VOUCHER, "short-token", "16–64", id="voucher-short"),
        pytest.param(DocumentType.E_VOUCHER, "a" * 15 + "!", "16–64", id="voucher-char"),
        pytest.param(DocumentType.E_VOUCHER, "a" * 65, "64", id="voucher-long"),
        pytest.param(DocumentType.RESIDENT_ID, "   ", "empty", id="blank"),
    ],
)
def test_invalid_documents_name_the_field(
    doc_type: DocumentType, number: str, message_part: str
) -> None:
    with pytest.raises(InvalidArgument) as exc:
        validate_document(doc_type, number, field="person.document.number")
    field, text = _field_and_text(exc)
    assert field == "person.document.number"
    assert message_part in text


def test_error_does_not_echo_the_number() -> None:
    with pytest.raises(InvalidArgument) as exc:
        validate_document(DocumentType.RESIDENT_ID, _wrong_check(NANNING_MAN))
    assert NANNING_MAN[:17] not in exc.value.message
    assert exc.value.violations[0].field == "identity.number"


def test_future_birth_date_rejected_when_today_given() -> None:
    number = make_resident_id("450103", date(2026, 12, 1), 11)
    assert validate_document(DocumentType.RESIDENT_ID, number) == number
    with pytest.raises(InvalidArgument, match="future"):
        validate_document(DocumentType.RESIDENT_ID, number, today=date(2026, 11, 22))


@pytest.mark.parametrize(
    ("number", "birth", "sex"),
    [
        pytest.param(NANNING_MAN, date(1962, 5, 17), Sex.MALE, id="resident-male"),
        pytest.param(GUANGZHOU_WOMAN, date(1990, 2, 28), Sex.FEMALE, id="resident-female"),
        pytest.param(LEAP_DAY, date(2000, 2, 29), Sex.MALE, id="leap-day"),
        pytest.param(MO_PERMIT, date(1988, 12, 1), Sex.FEMALE, id="macau-permit"),
        pytest.param(HK_PERMIT, date(1975, 8, 8), Sex.MALE, id="hk-permit"),
    ],
)
def test_birth_date_and_sex(number: str, birth: date, sex: Sex) -> None:
    assert birth_date_of(number) == birth
    assert sex_of(number) == sex


def test_birth_date_of_invalid_number_raises() -> None:
    with pytest.raises(InvalidArgument, match="check digit"):
        birth_date_of(_wrong_check(GUANGZHOU_WOMAN))


@pytest.mark.parametrize(
    ("call", "message_part"),
    [
        pytest.param(lambda: make_resident_id("4501", date(1990, 1, 1), 1), "6 digits", id="short"),
        pytest.param(
            lambda: make_resident_id("820000", date(1990, 1, 1), 1), "permit", id="permit"
        ),
        pytest.param(
            lambda: make_resident_id("990000", date(1990, 1, 1), 1), "province", id="prov"
        ),
        pytest.param(lambda: make_resident_id("450100", date(1990, 1, 1), 1000), "0–999", id="seq"),
        pytest.param(
            lambda: make_residence_permit("450100", date(1990, 1, 1), 1), "810000", id="pfx"
        ),
        pytest.param(lambda: make_home_return_permit("X", 1), "'H'", id="hrp-region"),
    ],
)
def test_generators_reject_bad_arguments(call: object, message_part: str) -> None:
    assert callable(call)
    with pytest.raises(ValueError, match=message_part):
        call()


def test_home_return_permit_generator() -> None:
    number = make_home_return_permit("M", 4321)
    assert number == "M00004321"
    assert validate_document(DocumentType.HK_MO_HOME_RETURN_PERMIT, number) == number


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        pytest.param("440106199002282467", "4401**********2467", id="resident-id"),
        pytest.param("820000198812010327", "8200**********0327", id="macau-permit"),
        pytest.param("H12345678", "H1*****78", id="home-return"),
        pytest.param("H1234567801", "H1*******01", id="home-return-old"),
        pytest.param("ec_4501aZ-9kLmNoPqRsT", "ec_4*************qRsT", id="e-voucher"),
        pytest.param("abc", "***", id="tiny"),
        pytest.param("", "", id="empty"),
    ],
)
def test_mask_document(number: str, masked: str) -> None:
    assert mask_document(number) == masked
    assert len(mask_document(number)) == len(number)


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        pytest.param("张三丰", "张**", id="three-chars"),
        pytest.param("李四", "李*", id="two-chars"),
        pytest.param("欧阳娜娜", "欧***", id="compound-surname"),
        pytest.param("买买提·艾力", "买**·**", id="middle-dot"),
        pytest.param("John Smith", "J*** *****", id="latin"),
        pytest.param("Chan Tai-man", "C*** ***-***", id="hk-latin"),
        pytest.param("王", "*", id="single"),
        pytest.param("", "", id="empty"),
    ],
)
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        pytest.param("13812345678", "138****5678", id="mainland"),
        pytest.param("+86 138 1234 5678", "+86138****5678", id="mainland-plus86"),
        pytest.param("+852 9123 4567", "+852****4567", id="hong-kong"),
        pytest.param("+85366123456", "+853****3456", id="macau"),
        pytest.param("0771-5356789", "*******6789", id="landline"),
        pytest.param("n/a", "***", id="not-a-number"),
    ],
)
def test_mask_phone(phone: str, masked: str) -> None:
    assert mask_phone(phone) == masked
