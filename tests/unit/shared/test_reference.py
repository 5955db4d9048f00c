from __future__ import annotations

from collections import Counter

import pytest

from shared.reference import (
    ZONE_BQF,
    ZONE_GBA,
    InstitutionKind,
    Relation,
    UnknownCode,
    get_hospital,
    get_institution,
    get_pool,
    get_province,
    get_zone,
    hospitals,
    in_zone,
    institutions,
    is_pool,
    is_province,
    pharmacies,
    pool_of_institution_code,
    pools,
    pools_in_province,
    province_of,
    relation,
)

GBA_CITIES = {
    "440100",
    "440300",
    "440400",
    "440600",
    "440700",
    "441200",
    "441300",
    "441900",
    "442000",
}


def test_pool_counts_per_province() -> None:
    assert len(pools_in_province("45")) == 15  # region level + 14 cities
    assert len(pools_in_province("44")) == 21
    assert len(pools()) == 36


@pytest.mark.parametrize(
    ("code", "name_zh", "name_en", "province", "gba"),
    [
        pytest.param("450100", "南宁市", "Nanning", "45", False, id="nanning"),
        pytest.param("450600", "防城港市", "Fangchenggang", "45", False, id="fangchenggang"),
        pytest.param("440100", "广州市", "Guangzhou", "44", True, id="guangzhou"),
        pytest.param("440400", "珠海市", "Zhuhai", "44", True, id="zhuhai"),
        pytest.param("440200", "韶关市", "Shaoguan", "44", False, id="shaoguan"),
        pytest.param("445300", "云浮市", "Yunfu", "44", False, id="yunfu"),
    ],
)
def test_pool_attributes(code: str, name_zh: str, name_en: str, province: str, gba: bool) -> None:
    pool = get_pool(code)
    assert (pool.name_zh, pool.name_en, pool.province_code, pool.gba) == (
        name_zh,
        name_en,
        province,
        gba,
    )
    assert province_of(code) == province


def test_region_level_pool() -> None:
    assert get_pool("450000").region_level
    assert not get_pool("450100").region_level


def test_gba_flag_matches_zone() -> None:
    assert {p.code for p in pools() if p.gba} == GBA_CITIES == get_zone(ZONE_GBA).pool_codes


def test_bqf_zone() -> None:
    assert get_zone(ZONE_BQF).pool_codes == {"450500", "450600", "450700"}
    assert in_zone(ZONE_BQF, "450500", "450700")
    assert not in_zone(ZONE_BQF, "450500", "450100")
    assert not in_zone(ZONE_BQF)


@pytest.mark.parametrize(
    ("insured", "treatment", "expected"),
    [
        pytest.param("450100", "450100", Relation.LOCAL, id="local"),
        pytest.param("450100", "450500", Relation.IN_PROVINCE, id="gx-in-province"),
        pytest.param("440300", "440100", Relation.IN_PROVINCE, id="gd-in-province"),
        pytest.param("450000", "450100", Relation.IN_PROVINCE, id="region-level-to-nanning"),
        pytest.param("450100", "440100", Relation.CROSS_PROVINCE, id="nanning-to-guangzhou"),
        pytest.param("440400", "450100", Relation.CROSS_PROVINCE, id="zhuhai-to-nanning"),
    ],
)
def test_relation(insured: str, treatment: str, expected: Relation) -> None:
    assert relation(insured, treatment) is expected


@pytest.mark.parametrize(
    ("call", "kind"),
    [
        pytest.param(lambda: get_pool("430100"), "pool", id="pool"),
        pytest.param(lambda: relation("450100", "999999"), "pool", id="relation"),
        pytest.param(lambda: get_province("99"), "province", id="province"),
        pytest.param(lambda: get_zone("NOPE"), "zone", id="zone"),
        pytest.param(lambda: get_institution("H45010099999"), "institution", id="institution"),
        pytest.param(lambda: get_hospital("P45010000001"), "hospital", id="pharmacy-as-hospital"),
    ],
)
def test_unknown_codes_raise_typed_error(call: object, kind: str) -> None:
    assert callable(call)
    with pytest.raises(UnknownCode) as exc:
        call()
    assert exc.value.kind == kind
    assert isinstance(exc.value, KeyError)
    assert kind in str(exc.value)


def test_provinces_include_those_without_pools() -> None:
    assert get_province("43").name_zh == "湖南省"
    assert get_province("45").name_en == "Guangxi"
    assert is_province("44") and not is_province("81")
    assert not is_pool("430100")


def test_institution_sample_shape() -> None:
    all_codes = [i.code for i in institutions()]
    assert 45 <= len(all_codes) <= 100
    assert len(set(all_codes)) == len(all_codes)
    assert 3 <= len(pharmacies()) <= 5
    for institution in institutions():
        assert len(institution.code) == 12
        assert pool_of_institution_code(institution.code) == institution.pool_code
        assert is_pool(institution.pool_code) and not get_pool(institution.pool_code).region_level
    assert {h.level for h in hospitals()} == {1, 2, 3}
    assert all(p.kind is InstitutionKind.PHARMACY and p.level is None for p in pharmacies())


def test_hospital_coverage_of_key_cities() -> None:
    per_pool = Counter(h.pool_code for h in hospitals())
    for pool_code in ("450100", "450500", "450700", "450600", "440100"):
        assert per_pool[pool_code] >= 3, pool_code
    for pool_code in GBA_CITIES:
        assert per_pool[pool_code] >= 1, pool_code
    assert get_hospital("H45010000001").name_zh == "广西医科大学第一附属医院"
    assert get_hospital("H44010000001").name_zh == "中山大学附属第一医院"


def test_pool_of_malformed_institution_code() -> None:
    with pytest.raises(ValueError, match="institution code"):
        pool_of_institution_code("H4501")
