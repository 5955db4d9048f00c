"""Provinces, funding pools (统筹区) and zones, loaded once from the package's data files.

A pool is a 6-digit administrative code whose first two digits are its province. The
pools shipped are Guangxi's region-level pool and 14 city pools and Guangdong's 21 city
pools; provinces cover all 31 mainland provinces so that a filing may name a province
the project holds no pools for. Zones (北钦防, the Greater Bay Area) are named groups of
pools; the GBA flag of a pool is derived from the GBA zone, so membership lives in one
place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from types import MappingProxyType
from typing import Any

from shared.reference._files import read_csv, read_json

POOL_CODE_RE = re.compile(r"[1-9]\d{5}")
PROVINCE_CODE_RE = re.compile(r"[1-9]\d")
ZONE_CODE_RE = re.compile(r"[A-Z][A-Z0-9_]{1,15}")
MAX_POOLS_PER_ZONE = 100
_POOL_COLUMNS = ("code", "name_zh", "name_en", "province_code", "region_level")

ZONE_BQF = "BQF"  # 北钦防: Beihai, Qinzhou, Fangchenggang
ZONE_GBA = "GBA"  # Greater Bay Area, the nine mainland cities


class UnknownCode(KeyError):
    """A code that is not in the reference data; callers turn it into the right error."""

    def __init__(self, kind: str, code: str) -> None:
        super().__init__(code)
        self.kind = kind
        self.code = code

    def __str__(self) -> str:
        return f"unknown {self.kind} code {self.code!r}"


class Relation(StrEnum):
    """How a treatment pool stands to the insured pool."""

    LOCAL = "LOCAL"  # same pool: not cross-region at all
    IN_PROVINCE = "IN_PROVINCE"  # 省内异地
    CROSS_PROVINCE = "CROSS_PROVINCE"  # 跨省异地


@dataclass(frozen=True)
class Province:
    code: str
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class Pool:
    code: str
    name_zh: str
    name_en: str
    province_code: str
    gba: bool
    # The region-level pool (区本级) insures people but is not a place of treatment.
    region_level: bool


@dataclass(frozen=True)
class Zone:
    code: str
    name_zh: str
    name_en: str
    pool_codes: frozenset[str]


@dataclass(frozen=True)
class _Geography:
    provinces: MappingProxyType[str, Province]
    pools: MappingProxyType[str, Pool]
    zones: MappingProxyType[str, Zone]


def _parse_bool(text: str, where: str) -> bool:
    if text not in ("true", "false"):
        raise ValueError(f"{where}: expected true or false, got {text!r}")
    return text == "true"


def _load_provinces() -> dict[str, Province]:
    provinces: dict[str, Province] = {}
    for row in read_csv("provinces.csv", ("code", "name_zh", "name_en")):
        code = row["code"]
        if not PROVINCE_CODE_RE.fullmatch(code) or code in provinces:
            raise ValueError(f"provinces.csv: bad or repeated code {code!r}")
        provinces[code] = Province(code, row["name_zh"], row["name_en"])
    return provinces


def _load_zone(raw: Any, pools: set[str]) -> Zone:
    code = str(raw["code"])
    members = frozenset(str(p) for p in raw["pools"])
    if not ZONE_CODE_RE.fullmatch(code) or not 0 < len(members) <= MAX_POOLS_PER_ZONE:
        raise ValueError(f"zones.json: bad zone {code!r}")
    unknown = sorted(members - pools)
    if unknown:
        raise ValueError(f"zones.json: zone {code} names unknown pools {unknown}")
    return Zone(code, str(raw["name_zh"]), str(raw["name_en"]), members)


def _load_zones(pools: set[str]) -> dict[str, Zone]:
    zones: dict[str, Zone] = {}
    for raw in read_json("zones.json")["zones"]:
        zone = _load_zone(raw, pools)
        if zone.code in zones:
            raise ValueError(f"zones.json: zone {zone.code} repeated")
        zones[zone.code] = zone
    return zones


def _build_pools(
    rows: list[dict[str, str]], provinces: dict[str, Province], gba: frozenset[str]
) -> dict[str, Pool]:
    pools: dict[str, Pool] = {}
    for row in rows:
        code, province = row["code"], row["province_code"]
        if not POOL_CODE_RE.fullmatch(code) or code in pools:
            raise ValueError(f"pools.csv: bad or repeated code {code!r}")
        if province not in provinces or not code.startswith(province):
            raise ValueError(f"pools.csv: pool {code} has province {province!r}")
        region_level = _parse_bool(row["region_level"], f"pools.csv {code}")
        pools[code] = Pool(
            code, row["name_zh"], row["name_en"], province, code in gba, region_level
        )
    return pools


@cache
def _geography() -> _Geography:
    provinces = _load_provinces()
    pool_rows = read_csv("pools.csv", _POOL_COLUMNS)
    zones = _load_zones({row["code"] for row in pool_rows})
    gba = zones[ZONE_GBA].pool_codes if ZONE_GBA in zones else frozenset()
    pools = _build_pools(pool_rows, provinces, gba)
    return _Geography(MappingProxyType(provinces), MappingProxyType(pools), MappingProxyType(zones))


def provinces() -> tuple[Province, ...]:
    return tuple(_geography().provinces.values())


def get_province(code: str) -> Province:
    try:
        return _geography().provinces[code]
    except KeyError:
        raise UnknownCode("province", code) from None


def is_province(code: str) -> bool:
    return code in _geography().provinces


def pools() -> tuple[Pool, ...]:
    return tuple(_geography().pools.values())


def pools_in_province(province_code: str) -> tuple[Pool, ...]:
    return tuple(p for p in pools() if p.province_code == province_code)


def get_pool(code: str) -> Pool:
    try:
        return _geography().pools[code]
    except KeyError:
        raise UnknownCode("pool", code) from None


def is_pool(code: str) -> bool:
    return code in _geography().pools


def province_of(pool_code: str) -> str:
    """The province code ('45', '44', ...) of a known pool."""
    return get_pool(pool_code).province_code


def zones() -> tuple[Zone, ...]:
    return tuple(_geography().zones.values())


def get_zone(code: str) -> Zone:
    try:
        return _geography().zones[code]
    except KeyError:
        raise UnknownCode("zone", code) from None


def in_zone(zone_code: str, *pool_codes: str) -> bool:
    """True if every pool given belongs to the zone."""
    members = get_zone(zone_code).pool_codes
    return bool(pool_codes) and all(code in members for code in pool_codes)


def relation(insured_pool: str, treatment_pool: str) -> Relation:
    """LOCAL, IN_PROVINCE or CROSS_PROVINCE; raises UnknownCode for a pool not on file."""
    insured, treatment = get_pool(insured_pool), get_pool(treatment_pool)
    if insured.code == treatment.code:
        return Relation.LOCAL
    if insured.province_code == treatment.province_code:
        return Relation.IN_PROVINCE
    return Relation.CROSS_PROVINCE
