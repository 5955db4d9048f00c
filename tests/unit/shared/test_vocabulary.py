"""The national code sets and the one parser of the platform's date/time strings."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from services.settlement.domain.codes import (
    CHRONIC_DISEASE_NAME_ZH,
    ChronicDisease,
    Insutype,
    VisitType,
)
from shared import vocabulary
from shared.clock import CHINA_TZ
from shared.errors import InvalidArgument, Violations
from shared.vocabulary import (
    DICTIONARIES,
    LEGACY_CHRONIC_ALIASES,
    chronic_disease_code,
    national_chronic_code,
    parse_national_date,
    parse_national_datetime,
    pick_code,
    read_national_date,
)


def test_every_dictionary_has_unique_codes_and_chinese_names() -> None:
    assert set(DICTIONARIES) >= {"insutype", "med_type", "psn_cert_type", "gend", "opsp_dise_code"}
    for name, entries in DICTIONARIES.items():
        codes = [e.code for e in entries]
        assert len(codes) == len(set(codes)), name
        assert all(e.name_zh and not e.name_zh.isascii() for e in entries), name


def test_the_codes_the_brief_names() -> None:
    assert vocabulary.name_of("insutype", "310") == "职工基本医疗保险"
    assert vocabulary.name_of("insutype", "390") == "城乡居民基本医疗保险"
    assert vocabulary.name_of("med_type", "11") == "普通门诊"
    assert vocabulary.name_of("med_type", "14") == "门诊慢特病"
    assert vocabulary.name_of("med_type", "21") == "普通住院"
    assert vocabulary.name_of("med_type", "41") == "定点药店购药"
    assert vocabulary.name_of("psn_cert_type", "01") == "居民身份证（户口簿）"
    assert vocabulary.name_of("gend", "2") == "女"
    assert vocabulary.name_of("med_type", "99") is None


def test_settlement_enums_are_the_national_codes() -> None:
    assert {d.value for d in ChronicDisease} == vocabulary.CHRONIC_DISEASE_CODES
    assert ChronicDisease.HYPERTENSION == "M03900"
    assert ChronicDisease.DIABETES == "M01600"
    assert ChronicDisease.URAEMIA_DIALYSIS == "M07803"
    assert ChronicDisease.URAEMIA_PERITONEAL_DIALYSIS == "M07804"
    assert CHRONIC_DISEASE_NAME_ZH[ChronicDisease.DIABETES] == "糖尿病"
    assert Insutype.EMPLOYEE == "310" and VisitType.CHRONIC_OUTPATIENT == "14"


def test_legacy_aliases_map_to_national_codes_only_at_the_edge() -> None:
    assert set(LEGACY_CHRONIC_ALIASES) == {f"MT{n:02d}" for n in range(1, 11)}
    assert set(LEGACY_CHRONIC_ALIASES.values()) <= vocabulary.CHRONIC_DISEASE_CODES
    assert national_chronic_code("MT02") == "M01600"
    assert national_chronic_code("M01600") == "M01600"
    assert national_chronic_code("MT11") is None
    assert national_chronic_code("m01600") is None
    with pytest.raises(InvalidArgument) as raised:
        chronic_disease_code("X99", "dise_codg")
    assert raised.value.violations[0].field == "dise_codg"
    assert "1309" in raised.value.violations[0].description


def test_pick_code_enum_string_or_both_agreeing() -> None:
    def pick(enum_code: str | None, text: str) -> tuple[str | None, list[str]]:
        v = Violations()
        found = pick_code(
            v,
            dictionary="insutype",
            enum_field="insutype",
            enum_code=enum_code,
            code_field="insutype_code",
            code_text=text,
            allowed=frozenset({"310", "390"}),
        )
        return found, [i.field for i in v.items]

    assert pick("310", "") == ("310", [])
    assert pick(None, "390") == ("390", [])
    assert pick("310", "310") == ("310", [])
    assert pick(None, "") == (None, [])
    assert pick("310", "390") == (None, ["insutype", "insutype_code"])
    assert pick(None, "31O") == (None, ["insutype_code"])
    assert pick(None, "510") == (None, ["insutype_code"])  # a national code not settled here
    assert pick("<7>", "") == (None, ["insutype"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-06-15 08:30:00", datetime(2026, 6, 15, 8, 30, tzinfo=CHINA_TZ)),
        ("2026-06-15", datetime(2026, 6, 15, tzinfo=CHINA_TZ)),
        ("2026-06-15T08:30:00", datetime(2026, 6, 15, 8, 30, tzinfo=CHINA_TZ)),
        ("2026-06-15T08:30:00+08:00", datetime(2026, 6, 15, 8, 30, tzinfo=CHINA_TZ)),
        # An offset is converted to China time: 20:30 UTC on the 14th is the 15th in China.
        ("2026-06-14T20:30:00Z", datetime(2026, 6, 15, 4, 30, tzinfo=CHINA_TZ)),
        ("2026-06-14T20:30:00.123-02:00", datetime(2026, 6, 15, 6, 30, 0, 123000, CHINA_TZ)),
    ],
)
def test_accepted_formats(text: str, expected: datetime) -> None:
    parsed = parse_national_datetime(text, "begntime")
    assert parsed == expected
    assert parsed.utcoffset() == expected.utcoffset()


def test_the_date_is_the_china_day() -> None:
    assert parse_national_date("2026-06-14T20:30:00Z", "begntime") == date(2026, 6, 15)
    assert parse_national_date("2026-12-31 23:59:59", "begntime") == date(2026, 12, 31)


@pytest.mark.parametrize(
    "text",
    [
        "",
        " 2026-06-15",
        "2026-06-15 ",
        "20260615",
        "2026/06/15",
        "15/06/2026",
        "2026-6-15",
        "2026-06-15 8:30:00",
        "2026-06-15 08:30",
        "2026-06-15T08:30",
        "2026-06-15T08:30:00+0800",
        "2026-06-15T08:30:00 +08:00",
        "2026-06-15\n",
        "2026-06-15\x00",
        "２０２６-06-15",  # full-width digits
        "٢٠٢٦-06-15",  # Arabic-Indic digits: int() would take them
        "2026-02-30",
        "2026-13-01",
        "2026-06-15 24:00:00",
        "2026-06-15T23:59:60",
        "0000-01-01",
        "9999-12-31T23:59:59-12:00",  # China time is past the year 9999
        "2026-06-15" + "0" * 1000,
        "Mon, 15 Jun 2026 08:30:00 GMT",
        "2026-06-15T08:30:00+99:00",
        "null",
    ],
)
def test_hostile_strings_are_refused_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        parse_national_datetime(text, "feedetail[3].fee_ocur_time")
    assert [v.field for v in raised.value.violations] == ["feedetail[3].fee_ocur_time"]


def test_read_national_date_records_instead_of_raising() -> None:
    v = Violations()
    assert read_national_date("2026-06-15", "endtime", v) == date(2026, 6, 15)
    assert read_national_date("tomorrow", "endtime", v) is None
    assert [i.field for i in v.items] == ["endtime"]
    assert "yyyy-MM-dd HH:mm:ss" in v.items[0].description
