"""The institution registry's file reader, its effective dating, the catalogue change list
and the code sets of the downloads."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date

import pytest

from services.settlement import registry
from services.settlement.dictionaries import chronic_diseases, code_sets
from services.settlement.domain.catalogue import ItemClass, ItemKind
from services.settlement.domain.codes import CHRONIC_DISEASE_NAME_ZH, ChronicDisease
from services.settlement.domain.seed import load_catalogues
from services.settlement.institution_file import parse_institutions
from services.settlement.reference import Change, catalogue_changes, selfpay_share_bp
from shared.errors import FailedPrecondition, InvalidArgument
from shared.reference import InstitutionKind, UnknownCode, hospitals

DAY = date(2026, 7, 1)
HEADER = "code,name_zh,pool_code,kind,level,designated_from,designated_until\n"


def fields(error: InvalidArgument) -> list[str]:
    return [v.field for v in error.violations]


def test_a_good_csv_gives_rows_effective_on_the_load_date() -> None:
    rows = parse_institutions(
        HEADER
        + "H45010000090,南宁市第九十人民医院,450100,HOSPITAL,2,,\n"
        + "P45010000090,南宁市测试大药房,450100,PHARMACY,,2026-08-01,2027-12-31\n",
        "csv",
        DAY,
    )
    assert [(r.code, r.level, r.effective_date) for r in rows] == [
        ("H45010000090", 2, DAY),
        ("P45010000090", None, DAY),
    ]
    assert rows[0].designated_from == DAY and rows[0].designated_until is None
    assert rows[1].designated_from == date(2026, 8, 1)


def test_the_shipped_file_reads_as_a_load_file() -> None:
    from shared.reference._files import read_text

    rows = parse_institutions(read_text("institutions.csv"), "csv", DAY)
    assert len(rows) == len(registry.shipped_rows())


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("H45010000090,南宁医院,450100,HOSPITAL,4,,", "line 2, column level"),
        ("H45010000090,南宁医院,450100,HOSPITAL,,,", "line 2, column level"),
        ("P45010000090,南宁药房,450100,PHARMACY,1,,", "line 2, column level"),
        ("H4501000009,南宁医院,450100,HOSPITAL,2,,", "line 2, column code"),
        ("P45010000090,南宁医院,450100,HOSPITAL,2,,", "line 2, column code"),
        ("H45010000090,南宁医院,440100,HOSPITAL,2,,", "line 2, column pool_code"),
        ("H45000000090,区本级医院,450000,HOSPITAL,2,,", "line 2, column pool_code"),
        ("H45010000090,,450100,HOSPITAL,2,,", "line 2, column name_zh"),
        ("H45010000090,南宁医院,450100,CLINIC,2,,", "line 2, column kind"),
        ("H45010000090,南宁医院,450100,HOSPITAL,2,2026-13-01,", "line 2, column designated_from"),
        (
            "H45010000090,南宁医院,450100,HOSPITAL,2,2026-07-01,2026-06-30",
            "line 2, column designated_until",
        ),
    ],
)
def test_a_bad_row_is_named_by_line_and_column(line: str, field: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_institutions(HEADER + line + "\n", "csv", DAY)
    assert field in fields(info.value)


def test_every_bad_row_is_named_and_a_repeat_too() -> None:
    text = (
        HEADER
        + "H45010000090,南宁医院,450100,HOSPITAL,2,,\n"
        + "H45010000091,南宁医院,450100,HOSPITAL,9,,\n"
        + "H45010000090,南宁医院,450100,HOSPITAL,2,,\n"
    )
    with pytest.raises(InvalidArgument) as info:
        parse_institutions(text, "csv", DAY)
    assert fields(info.value) == ["line 3, column level", "line 4, column code"]


def test_a_wrong_header_is_refused() -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_institutions("code,name,pool_code,kind,level\n", "csv", DAY)
    assert fields(info.value) == ["line 1 (header)"]


def test_json_rows_are_named_by_index() -> None:
    body = {
        "institutions": [
            {"code": "H45010000090", "name_zh": "南宁医院", "pool_code": "450100",
             "kind": "HOSPITAL", "level": 2},
            {"code": "H45010000091", "name_zh": "南宁医院", "pool_code": "450100",
             "kind": "HOSPITAL", "level": None},
        ]
    }  # fmt: skip
    with pytest.raises(InvalidArgument) as info:
        parse_institutions(json.dumps(body), "json", DAY)
    assert fields(info.value) == ["institutions[1].level"]
    body["institutions"].pop()
    assert parse_institutions(json.dumps(body), "json", DAY)[0].level == 2
    with pytest.raises(InvalidArgument):
        parse_institutions("{", "json", DAY)
    with pytest.raises(InvalidArgument):
        parse_institutions("", "xml", DAY)


def test_the_row_in_effect_on_a_day_decides_level_and_designation() -> None:
    text = HEADER + "H45010000090,南宁医院,450100,HOSPITAL,2,2026-07-01,\n"
    first = parse_institutions(text, "csv", date(2026, 7, 1))
    upgraded = parse_institutions(text.replace(",2,2026", ",3,2026"), "csv", date(2027, 1, 1))
    withdrawn = parse_institutions(
        text.replace("2026-07-01,", "2026-07-01,2027-06-30"), "csv", date(2027, 6, 1)
    )
    withdrawn = [replace(withdrawn[0], level=3)]
    reg = registry.Registry([*first, *upgraded, *withdrawn])
    code = "H45010000090"
    with pytest.raises(UnknownCode):
        reg.institution_at(code, date(2026, 6, 30))
    assert reg.institution_at(code, date(2026, 7, 1)).level == 2
    assert reg.institution_at(code, date(2026, 12, 31)).level == 2
    assert reg.institution_at(code, date(2027, 1, 1)).level == 3
    assert reg.institution_at(code, date(2027, 6, 30)).designated_until == date(2027, 6, 30)
    with pytest.raises(UnknownCode):
        reg.institution_at(code, date(2027, 7, 1))
    assert [i.code for i in reg.query(date(2026, 8, 1), pool_code="450100")] == [code]
    assert reg.query(date(2027, 8, 1), pool_code="450100") == []


def test_the_module_answers_from_the_shipped_sample_until_a_registry_is_installed() -> None:
    # A settlement service started earlier in this process may have left its registry.
    earlier = registry.install(None)
    try:
        _answers_from_the_shipped_sample()
    finally:
        registry.install(earlier)


def _answers_from_the_shipped_sample() -> None:
    assert registry.installed() is None
    assert registry.hospital_at("H45010000001", DAY).level == 3
    with pytest.raises(UnknownCode):
        registry.hospital_at("P45010000001", DAY)  # a pharmacy is not a hospital
    with pytest.raises(FailedPrecondition) as info:
        registry.hospital_level_at("H45010000001", date(2019, 12, 31))
    assert info.value.reason == "INSTITUTION_NOT_DESIGNATED"
    installed = registry.Registry()
    assert registry.install(installed) is None
    try:
        with pytest.raises(UnknownCode):
            registry.institution_at("H45010000001", DAY)
    finally:
        registry.install(None)


@pytest.mark.parametrize("pool", ["450100", "440100", "440300"])
def test_the_sample_has_every_hospital_level_in_the_three_main_pools(pool: str) -> None:
    assert {h.level for h in hospitals() if h.pool_code == pool} == {1, 2, 3}


def test_the_catalogue_change_list() -> None:
    base = next(c for c in load_catalogues() if c.province_code == "45")
    full = catalogue_changes(base, None, None)
    assert len(full) == len(base.items)
    assert {change for change, _ in full} == {Change.ADDED}
    assert [i.code for _, i in full] == sorted(i.code for i in base.items)
    drugs = catalogue_changes(base, None, ItemKind.DRUG)
    assert drugs and all(i.kind is ItemKind.DRUG for _, i in drugs)
    assert catalogue_changes(base, base, None) == ()

    changed, removed = base.items[0], base.items[1]
    repriced = replace(changed, price_limit_fen=(changed.price_limit_fen or 0) + 100)
    new_item = replace(changed, code="X99999", name_zh="新增测试药品")
    items = (repriced, *base.items[2:], new_item)
    newer = replace(base, version_id="GX-TEST", items=items)
    diff = catalogue_changes(newer, base, None)
    assert [(change, i.code) for change, i in diff] == sorted(
        [(Change.CHANGED, changed.code), (Change.REMOVED, removed.code), (Change.ADDED, "X99999")],
        key=lambda e: e[1],
    )


def test_the_advance_self_pay_share_follows_the_class() -> None:
    base = next(c for c in load_catalogues() if c.province_code == "45")
    by_class = {i.item_class: i for i in base.items}
    assert selfpay_share_bp(by_class[ItemClass.A], base) == 0
    assert selfpay_share_bp(by_class[ItemClass.B], base) == base.class_b_preselfpay_bp
    assert selfpay_share_bp(by_class[ItemClass.C], base) == 10_000


def test_code_sets_cover_every_enum_and_the_disease_list() -> None:
    sets = code_sets()
    for name in ("insutype", "med_type", "gender", "gend", "chronic_disease", "hosp_lv"):
        assert sets[name], name
    # The national sets are whole (320, 330, … too); the two the engine settles are in them.
    assert {"310": "职工基本医疗保险", "390": "城乡居民基本医疗保险"}.items() <= dict(
        sets["insutype"]
    ).items()
    assert dict(chronic_diseases()) == {d.value: n for d, n in CHRONIC_DISEASE_NAME_ZH.items()}
    assert {c for c, _ in sets["chronic_disease"]} == {d.value for d in ChronicDisease}
    assert {v for v, _ in sets["fixmedins_type"]} == {k.value for k in InstitutionKind}
