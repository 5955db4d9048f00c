"""Shipped seed data: it loads, round-trips, matches the policy table, covers every pool."""

from __future__ import annotations

import json
from datetime import date

import pytest

from services.settlement.domain.catalogue import (
    Catalogue,
    CatalogueItem,
    ItemClass,
    ItemKind,
    select_catalogue,
)
from services.settlement.domain.codes import (
    AssistanceCategory,
    ChronicDisease,
    HospitalLevel,
    Insutype,
)
from services.settlement.domain.policy import BenefitPolicy, select_policy
from services.settlement.domain.seed import (
    load_catalogues,
    load_policies,
    parse_catalogue_csv,
    parse_policy_json,
)
from shared.errors import InvalidArgument, NotFound

ON = date(2026, 6, 1)
GX_POOLS = ["450000", *[f"45{i:02d}00" for i in range(1, 15)]]
GD_POOLS = [
    *[f"44{i:02d}00" for i in range(1, 10)],
    *[f"44{i:02d}00" for i in range(12, 21)],
    "445100",
    "445200",
    "445300",
]
GBA_POOLS = [
    "440100",
    "440300",
    "440400",
    "440600",
    "440700",
    "441200",
    "441300",
    "441900",
    "442000",
]


def _catalogue(province: str) -> Catalogue:
    return select_catalogue(load_catalogues(), province, ON)


def test_catalogues_hold_a_few_hundred_items() -> None:
    gx, gd = _catalogue("45"), _catalogue("44")
    assert 250 <= len(gx.items) <= 400 and 250 <= len(gd.items) <= 400
    for catalogue in (gx, gd):
        kinds = {item.kind for item in catalogue.items}
        classes = {item.item_class for item in catalogue.items}
        assert kinds == set(ItemKind) and classes == set(ItemClass)
    assert (gx.class_b_preselfpay_bp, gd.class_b_preselfpay_bp) == (1000, 500)


@pytest.mark.parametrize(
    ("code", "name_fragment"),
    [
        ("X01001", "二甲双胍"),
        ("X02001", "氨氯地平"),
        ("X01005", "甘精胰岛素"),
        ("X04001", "阿莫西林"),
        ("110900001", "床位费"),
        ("210300001", "CT"),
        ("250101015", "血常规"),
        ("311000006", "血液透析"),
    ],
)
def test_common_items_in_both_provinces(code: str, name_fragment: str) -> None:
    for province in ("45", "44"):
        item = _catalogue(province).lookup(code)
        assert item is not None and name_fragment in item.name_zh


def test_coronary_stent_at_its_volume_based_price() -> None:
    stent = _catalogue("45").lookup("C0302010010001")
    assert stent is not None and stent.kind is ItemKind.MATERIAL
    assert stent.price_limit_fen == 70_000
    assert stent.restrictions.inpatient_only


def test_zhuang_yao_techniques_only_in_guangxi() -> None:
    gx, gd = _catalogue("45"), _catalogue("44")
    zhuang_yao = [i for i in gx.items if i.name_zh.startswith(("壮医", "瑶医"))]
    assert len(zhuang_yao) == 17
    assert any(i.name_zh == "壮医药线点灸" for i in zhuang_yao)
    assert all(gd.lookup(i.code) is None for i in zhuang_yao)


def test_restrictions_are_loaded() -> None:
    gx = _catalogue("45")
    tacrolimus, tamsulosin, levofloxacin = (gx.lookup(c) for c in ("X08001", "X13001", "X04006"))
    assert tacrolimus and tacrolimus.restrictions.chronic_diseases == (
        ChronicDisease.TRANSPLANT_ANTI_REJECTION,
    )
    assert tamsulosin and tamsulosin.restrictions.sex is not None
    assert levofloxacin and levofloxacin.restrictions.min_age_years == 18


def test_catalogue_round_trips_through_dict_and_json() -> None:
    for catalogue in load_catalogues():
        assert Catalogue.from_dict(json.loads(json.dumps(catalogue.to_dict()))) == catalogue


def test_policy_round_trips_through_dict_and_json() -> None:
    for policy in load_policies():
        assert BenefitPolicy.from_dict(json.loads(json.dumps(policy.to_dict()))) == policy


def test_every_pool_has_exactly_one_policy() -> None:
    assert len(GX_POOLS) == 15 and len(GD_POOLS) == 21
    for pool in GX_POOLS + GD_POOLS:
        assert sum(p.covers(pool) for p in load_policies()) == 1, pool
    ids = {pool: select_policy(load_policies(), pool, ON).policy_id for pool in GX_POOLS + GD_POOLS}
    assert {ids[p] for p in GX_POOLS} == {"GX"}
    assert {ids[p] for p in GBA_POOLS} == {"GD_GBA"}
    assert {ids[p] for p in set(GD_POOLS) - set(GBA_POOLS)} == {"GD_OTHER"}


def test_policy_figures_match_the_reference_table() -> None:
    gx = select_policy(load_policies(), "450100", ON)
    gba = select_policy(load_policies(), "440100", ON)
    emp, res = gx.benefits(Insutype.EMPLOYEE), gx.benefits(Insutype.RESIDENT)
    assert emp.inpatient.deductible_fen_by_level == (20_000, 40_000, 80_000)
    assert res.inpatient.deductible_fen_by_level == (20_000, 50_000, 100_000)
    assert emp.inpatient.ratio_bp(HospitalLevel.LEVEL_3) == 8500
    assert res.inpatient.ratio_bp(HospitalLevel.LEVEL_1) == 8500
    assert (emp.basic.retiree_bonus_bp, emp.basic.ratio_ceiling_bp) == (500, 9500)
    assert (emp.basic.annual_cap_fen, res.basic.annual_cap_fen) == (12_000_000, 10_000_000)
    gba_caps = (gba.employee.basic.annual_cap_fen, gba.resident.basic.annual_cap_fen)
    assert gba_caps == (15_000_000, 12_000_000)
    assert (emp.outpatient.annual_deductible_fen, emp.outpatient.ratio_bp) == (10_000, 6000)
    assert (res.outpatient.annual_cap_fen, res.chronic.annual_cap_fen_per_disease) == (
        80_000,
        1_000_000,
    )
    assert set(emp.chronic.diseases) == set(ChronicDisease)
    assert (gx.hifob.ratio_bp, gx.hifob.annual_cap_fen) == (9000, 40_000_000)
    assert gx.hifmi.threshold_fen == 1_500_000 and gx.hifmi.annual_cap_fen == 40_000_000
    assert [(t.segment_upto_fen, t.ratio_bp) for t in gx.hifmi.tiers] == [
        (10_000_000, 6000),
        (None, 7000),
    ]
    assert gx.maf.ratio_bp_by_category[AssistanceCategory.MINIMUM_LIVING] == 7000
    assert gba.maf.ratio_bp_by_category[AssistanceCategory.MINIMUM_LIVING] == 8000
    assert gx.maf.annual_cap_fen == gba.maf.annual_cap_fen == 6_000_000


def test_figure_groups_say_whether_they_are_modeled() -> None:
    for policy in load_policies():
        raw = policy.to_dict()
        groups = [raw["hifob"], raw["hifmi"], raw["maf"]]
        groups += [raw[t][g] for t in ("employee", "resident") for g in raw[t]]
        assert all(isinstance(g["modeled"], bool) and g["note"] for g in groups)
    gx = select_policy(load_policies(), "450100", ON)
    assert gx.maf.source.modeled is False  # cap and key ratio come from the Guangxi plan


def test_selection_by_date() -> None:
    with pytest.raises(NotFound):
        select_policy(load_policies(), "450100", date(2025, 12, 31))
    with pytest.raises(NotFound):
        select_catalogue(load_catalogues(), "45", date(2025, 12, 31))
    with pytest.raises(NotFound):
        select_policy(load_policies(), "310100", ON)
    gx = select_policy(load_policies(), "450100", ON)
    newer = BenefitPolicy.from_dict(
        {**gx.to_dict(), "version_id": "GX-2026.07", "effective_date": "2026-07-01"}
    )
    versions = [*load_policies(), newer]
    assert select_policy(versions, "450100", date(2026, 6, 30)).version_id == "GX-2026.01"
    assert select_policy(versions, "450100", date(2026, 7, 1)).version_id == "GX-2026.07"


HEADER = {
    "province_code": "45",
    "version_id": "T-1",
    "effective_date": "2026-01-01",
    "class_b_preselfpay_bp": 1000,
}
CSV_HEAD = (
    "code,name_zh,name_en,kind,item_class,unit,reference_price_fen,price_limit_fen,"
    "inpatient_only,chronic_diseases,sex,min_age_years,max_age_years,max_quantity_e4_per_bill\n"
)


def test_csv_errors_name_the_line_and_column() -> None:
    text = (
        CSV_HEAD
        + "X1,药,drug,DRUG,A,片,10,,0,,,,,\n"
        + "X2,药,drug,DRUG,D,片,10,abc,2,MT99,3,,,\n"
        + "X1,药,drug,DRUG,A,片,10,,0,,,,,\n"
    )
    with pytest.raises(InvalidArgument) as err:
        parse_catalogue_csv(text, HEADER)
    fields = {v.field for v in err.value.violations}
    assert fields == {
        "rows[3].item_class",
        "rows[3].price_limit_fen",
        "rows[3].inpatient_only",
        "rows[3].chronic_diseases",
        "rows[3].sex",
        "rows[4].code",
    }


def test_csv_missing_column() -> None:
    with pytest.raises(InvalidArgument) as err:
        parse_catalogue_csv("code,name_zh\nX1,药\n", HEADER)
    assert err.value.violations[0].field == "columns"


def test_policy_errors_name_the_dotted_field() -> None:
    raw = load_policies()[0].to_dict()
    raw["employee"]["inpatient"]["ratio_bp_by_level"] = [9000, 12000, 8500]
    raw["hifmi"]["tiers"] = [
        {"segment_upto_fen": None, "ratio_bp": 6000},
        {"segment_upto_fen": None, "ratio_bp": 7000},
    ]
    raw["maf"]["ratio_bp_by_category"].pop("MINIMUM_LIVING")
    raw["pool_codes"].append("4501")
    with pytest.raises(InvalidArgument) as err:
        parse_policy_json(json.dumps(raw))
    fields = {v.field for v in err.value.violations}
    assert fields == {
        "employee.inpatient.ratio_bp_by_level[1]",
        "hifmi.tiers[0].segment_upto_fen",
        "maf.ratio_bp_by_category.MINIMUM_LIVING",
        "pool_codes[15]",
    }


def test_item_from_dict_validates() -> None:
    item = CatalogueItem.from_dict(
        {"code": "X1", "name_zh": "药", "kind": "DRUG", "item_class": "B", "unit": "片"}
    )
    assert item.item_class is ItemClass.B and item.price_limit_fen is None
    with pytest.raises(InvalidArgument) as err:
        CatalogueItem.from_dict(
            {
                "code": "X1",
                "name_zh": "药",
                "kind": "DRUG",
                "item_class": "B",
                "min_age_years": 60,
                "max_age_years": 18,
            }
        )
    assert err.value.violations[0].field == "item.max_age_years"
