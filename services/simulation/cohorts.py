"""Who the simulated insured persons are: the cohorts and their **modeled** shares, the
pools they are insured and treated in, and their names, documents, phones, assistance and
chronic diseases. Every draw takes the plan's one ``random.Random`` in a fixed order."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from services.simulation.plan import (
    FILING_TIMING,
    Document,
    Visit,
)
from shared.identity import make_home_return_permit, make_residence_permit, make_resident_id
from shared.reference import hospitals

# -- reference choices ---------------------------------------------------------------------------

_GX_WEIGHTED = {
    "450100": 30,
    "450200": 12,
    "450300": 10,
    "450400": 5,
    "450500": 6,
    "450600": 4,
    "450700": 6,
    "450800": 6,
    "450900": 8,
    "451000": 5,
    "451100": 3,
    "451200": 5,
    "451300": 3,
    "451400": 3,
}
_GD_WEIGHTED = {
    "440100": 30,
    "440300": 22,
    "440400": 5,
    "440600": 10,
    "440700": 4,
    "441200": 3,
    "441300": 5,
    "441900": 11,
    "442000": 4,
    "440200": 2,
    "440500": 3,
    "440800": 4,
    "440900": 3,
    "441400": 2,
    "441500": 1,
    "441600": 1,
    "441700": 1,
    "441800": 2,
    "445100": 1,
    "445200": 2,
    "445300": 1,
}
_BQF = ("450500", "450600", "450700")
_GBA_TREATMENT = ("440100", "440300", "440400", "440600", "441900", "442000", "441300")
_GX_REFERRING = ("450200", "450300", "450400", "450800", "450900", "451000", "451200", "451400")
_GX_TOURISM = ("450300", "450500", "450100", "450600")

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐韦覃蒙莫陆农黎"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华兰玲海燕志红春梅建国晓文斌婷宇浩琳"
_HK_SURNAMES = ("CHAN", "WONG", "LEUNG", "LAM", "CHEUNG", "LEE", "HO", "NG", "TANG", "LAU")
_HK_GIVEN = ("Tai Man", "Siu Ming", "Ka Yan", "Wing Sze", "Chi Keung", "Mei Ling", "Ho Yin")
DIAGNOSES = (
    ("C34.900", "肺恶性肿瘤"),
    ("I25.103", "冠状动脉粥样硬化性心脏病"),
    ("C50.900", "乳腺恶性肿瘤"),
    ("M51.202", "腰椎间盘突出"),
    ("I63.900", "脑梗死"),
    ("M16.900", "髋关节病"),
)
_CHRONIC_BY_AGE = (
    # disease, percent among those aged 45+, percent among the younger
    ("M03900", 22, 3),
    ("M01600", 12, 2),
    ("M04600", 5, 0),
    ("M05300", 3, 0),
    ("M00503", 2, 1),
    ("M07803", 2, 1),
    ("M00201", 2, 2),
    ("M06900", 1, 1),
    ("M08300", 1, 0),
    ("M07200", 0, 1),
)
_ONLINE_CHANNELS = (("APP", 55), ("MINI_PROGRAM", 25), ("WEB", 12), ("COUNTER", 8))
CHANNEL_CALLER = {
    "APP": "channel-app",
    "MINI_PROGRAM": "channel-mini-program",
    "WEB": "channel-web",
    "COUNTER": "channel-counter",
}


def weighted(rng: random.Random, table: dict[str, int] | Sequence[tuple[str, int]]) -> str:
    items = list(table.items()) if isinstance(table, dict) else list(table)
    return rng.choices([k for k, _ in items], weights=[w for _, w in items], k=1)[0]


def _hospitals_by_pool() -> dict[str, list[tuple[str, int]]]:
    out: dict[str, list[tuple[str, int]]] = {}
    for h in hospitals():
        out.setdefault(h.pool_code, []).append((h.code, h.level or 1))
    for rows in out.values():
        rows.sort()
    return out


HOSPITALS_BY_POOL = _hospitals_by_pool()


def pick_hospital(rng: random.Random, pool: str, visit: Visit) -> str:
    rows = HOSPITALS_BY_POOL[pool]
    if visit is Visit.INPATIENT or visit is Visit.CHRONIC:
        weights = [{1: 1, 2: 5, 3: 10}[level] for _, level in rows]
    else:
        weights = [{1: 8, 2: 5, 3: 6}[level] for _, level in rows]
    return rng.choices([code for code, _ in rows], weights=weights, k=1)[0]


def _pool_with_hospitals(rng: random.Random, table: dict[str, int]) -> str:
    return weighted(rng, {p: w for p, w in table.items() if p in HOSPITALS_BY_POOL})


# -- cohorts -----------------------------------------------------------------------------------

COHORTS: tuple[tuple[str, int], ...] = (
    ("local_gx", 14),
    ("local_gd", 14),
    ("bqf", 8),
    ("gd_in_province", 9),
    ("hkmo_gba", 5),
    ("retiree_beihai", 8),
    ("stationed", 6),
    ("long_term_resident", 6),
    ("chronic_away", 3),
    ("gx_referral", 8),
    ("cross_referral", 6),
    ("temporary", 4),
    ("emergency", 4),
    ("unfiled", 5),
)
_LONG_TERM_COHORTS = ("retiree_beihai", "stationed", "long_term_resident", "chronic_away")
_TEMPORARY_COHORTS = ("gx_referral", "cross_referral", "temporary")


def modeled_late_filing_pct() -> float:
    """The share of filings made late, at the counter after the treatment began (补办),
    that the cohort weights and ``FILING_TIMING`` model (expected value, percent)."""
    weights = dict(COHORTS)
    long_term = sum(weights[c] for c in _LONG_TERM_COHORTS)
    temporary = sum(weights[c] for c in _TEMPORARY_COHORTS)
    afterwards = weights["unfiled"] * FILING_TIMING.unfiled_file_afterwards_pct / 100
    late = temporary * FILING_TIMING.temporary_late_pct / 100 + afterwards
    return round(100 * late / (long_term + temporary + afterwards), 1)


COHORT_LABELS = {
    "local_gx": "Guangxi locals",
    "local_gd": "Guangdong locals",
    "bqf": "北钦防 neighbours",
    "gd_in_province": "Guangdong in-province",
    "hkmo_gba": "HK/Macau residents in GBA",
    "retiree_beihai": "retirees resettled in Beihai",
    "stationed": "stationed workers",
    "long_term_resident": "long-term residents elsewhere",
    "chronic_away": "dialysis and cancer patients living elsewhere",
    "gx_referral": "referrals to Nanning",
    "cross_referral": "referrals to Guangzhou",
    "temporary": "other temporary trips",
    "emergency": "emergencies without filing",
    "unfiled": "treated without filing",
}


@dataclass(frozen=True)
class Shape:
    """Where a person lives, is insured and is treated, before dates and bills."""

    insured_pool: str
    treatment_pools: tuple[str, ...]  # where this person's visits happen (first = main)
    home_share_pct: int  # share of ordinary visits back in the insured pool
    insutype: str
    retired: bool
    age_range: tuple[int, int]
    documents: str  # "MAINLAND", "HK", "MO"
    filing: str | None  # filing category, or None
    destination: str | None  # "POOL" or "PROVINCE"
    outpatient_visits: tuple[int, int]
    inpatient_pct: int
    emergency: bool = False
    heavy: bool = False  # a dialysis or cancer patient: heavy chronic bills every month


@dataclass(frozen=True)
class _Profile:
    """What a shape of a cohort holds whoever the person is (see ``Shape``)."""

    home_share_pct: int
    retired: bool
    age_range: tuple[int, int]
    filing: str | None
    destination: str | None
    outpatient_visits: tuple[int, int]
    inpatient_pct: int
    emergency: bool = False
    heavy: bool = False


_LONG_TERM = "LONG_TERM_RESIDENT"
_RESETTLED = "RETIREE_RESETTLED"
# fmt: off
_PROFILES: dict[str, _Profile] = {
    # cohort:            home %, retired, ages, filing category, destination, visits, inpatient %
    "local":              _Profile(0, False, (1, 85), None, None, (3, 8), 8),
    "bqf":                _Profile(30, False, (5, 80), None, None, (3, 7), 12),
    "gd_in_province":     _Profile(20, False, (5, 85), None, None, (3, 6), 20),
    "hkmo_gba":           _Profile(0, False, (20, 75), None, None, (3, 7), 8),
    "retiree_beihai":     _Profile(0, True, (60, 88), _RESETTLED, "POOL", (3, 7), 14),
    "stationed":          _Profile(0, False, (24, 58), "STATIONED_WORKER", "POOL", (2, 6), 6),
    "long_term_resident": _Profile(0, False, (1, 70), _LONG_TERM, "PROVINCE", (3, 7), 8),
    "gx_referral":        _Profile(0, False, (20, 85), "REFERRAL", "POOL", (0, 1), 85),
    "cross_referral":     _Profile(0, False, (25, 85), "REFERRAL", "POOL", (0, 1), 90),
    "temporary":          _Profile(0, False, (10, 80), "OTHER_TEMPORARY", "POOL", (1, 4), 10),
    "emergency":          _Profile(0, False, (8, 85), None, None, (1, 1), 55, emergency=True),
    "chronic_resident":   _Profile(0, False, (40, 80), _LONG_TERM, "PROVINCE", (1, 2), 8, heavy=True),
    "chronic_retiree":    _Profile(0, True, (60, 80), _RESETTLED, "POOL", (1, 2), 8, heavy=True),
    "unfiled":            _Profile(0, False, (18, 80), None, None, (1, 2), 60),
}
# fmt: on


def _shape(
    profile: str, home: str, places: tuple[str, ...], insutype: str, documents: str = "MAINLAND"
) -> Shape:
    p = _PROFILES[profile]
    return Shape(
        home,
        places,
        p.home_share_pct,
        insutype,
        p.retired,
        p.age_range,
        documents,
        p.filing,
        p.destination,
        p.outpatient_visits,
        p.inpatient_pct,
        emergency=p.emergency,
        heavy=p.heavy,
    )


def _trip(
    rng: random.Random, gd_pct: int, gd_homes: tuple[str, ...], gx_homes: tuple[str, ...]
) -> tuple[str, str]:
    """Home and destination of a trip: from Guangdong to a Guangxi tourist city
    (``gd_pct`` percent of trips), else from Guangxi to a Greater Bay Area city."""
    if rng.randrange(100) < gd_pct:
        return rng.choice(gd_homes), rng.choice(_GX_TOURISM)
    return rng.choice(gx_homes), rng.choice(_GBA_TREATMENT)


def draw_shape(rng: random.Random, cohort: str) -> Shape:
    employee = rng.randrange(100) < 45
    insutype = "310" if employee else "390"
    if cohort == "local_gx":
        pool = _pool_with_hospitals(rng, _GX_WEIGHTED)
        return _shape("local", pool, (pool,), insutype)
    if cohort == "local_gd":
        pool = _pool_with_hospitals(rng, _GD_WEIGHTED)
        return _shape("local", pool, (pool,), insutype)
    if cohort == "bqf":
        home = rng.choice(_BQF)
        away = rng.choice([p for p in _BQF if p != home])
        return _shape(cohort, home, (away,), insutype)
    if cohort == "gd_in_province":
        home = weighted(rng, {p: w for p, w in _GD_WEIGHTED.items() if p not in ("440100",)})
        away = rng.choice(("440100", "440100", "440300"))
        return _shape(cohort, home, (away,), insutype)
    if cohort == "hkmo_gba":
        home = rng.choice(("440300", "440300", "440400", "440100", "442000"))
        away = rng.choice([p for p in _GBA_TREATMENT if p != home])
        docs = "HK" if rng.randrange(100) < 70 else "MO"
        return _shape(cohort, home, (home, away), insutype, docs)
    if cohort == "retiree_beihai":
        home = rng.choice(("440100", "440100", "440300", "440600", "450200", "450100", "450300"))
        return _shape(cohort, home, ("450500",), "310")
    if cohort == "stationed":
        if rng.randrange(100) < 60:
            home = rng.choice(("450100", "450100", "450200"))
            away = rng.choice(("440100", "440300", "441900"))
        else:
            home = rng.choice(("440100", "440300"))
            away = rng.choice(("450100", "450700"))
        return _shape(cohort, home, (away,), "310")
    if cohort == "long_term_resident":
        home = rng.choice(("450900", "450800", "451000", "450100", "451200"))
        places = rng.sample(("441900", "440600", "440300", "440100", "442000"), 2)
        return _shape(cohort, home, tuple(places), insutype)
    if cohort == "gx_referral":
        home = rng.choice(_GX_REFERRING)
        return _shape(cohort, home, ("450100",), insutype)
    if cohort == "cross_referral":
        home = rng.choice(("450100", "450200", "450300", "450900", "451000", "450500"))
        return _shape(cohort, home, ("440100",), insutype)
    if cohort == "temporary":
        home, away = _trip(rng, 50, ("440100", "440300", "440600"), ("450100", "450200", "450900"))
        return _shape(cohort, home, (away,), insutype)
    if cohort == "emergency":
        home, away = _trip(rng, 60, ("440100", "440300", "441900"), ("450200", "450300", "451000"))
        return _shape(cohort, home, (away,), insutype)
    if cohort == "chronic_away":
        # Guangxi insured living in a Greater Bay Area city, or Guangdong retirees in Guangxi.
        if rng.randrange(100) < 60:
            home = rng.choice(("450900", "450800", "451000", "450100", "450300"))
            away = rng.choice(("440100", "440300", "441900", "440600"))
            return _shape("chronic_resident", home, (away,), insutype)
        home = rng.choice(("440100", "440300", "440600"))
        return _shape("chronic_retiree", home, (rng.choice(("450500", "450100")),), "310")
    assert cohort == "unfiled", cohort
    if rng.randrange(100) < 65:
        home = rng.choice(("450200", "450300", "450900", "451200", "450800"))
        away = rng.choice(("440100", "440300", "441900"))
    else:
        home = rng.choice(("451000", "451200", "450800", "451400"))
        away = "450100"
    return _shape(cohort, home, (away,), insutype)


# -- persons --------------------------------------------------------------------------------------


def draw_birth(rng: random.Random, age_range: tuple[int, int], first_day: date) -> date:
    age = rng.randint(*age_range)
    day_of_year = rng.randint(1, 365)
    birth = date(first_day.year - age - 1, 1, 1) + timedelta(days=day_of_year - 1)
    return birth


def draw_documents(
    rng: random.Random, kind: str, pool: str, birth: date, sex: str, index: int
) -> tuple[Document, ...]:
    # Unique per person: the county digits and the sequence both come from the index;
    # an odd sequence makes a male holder, an even one a female.
    seq3 = (index % 500) * 2 + (1 if sex == "1" else 0)
    county = f"{(index // 500) % 100:02d}"
    docs: list[Document] = []
    if kind == "MAINLAND":
        docs.append(Document("RESIDENT_ID", make_resident_id(pool[:4] + county, birth, seq3)))
    else:
        prefix = "810000" if kind == "HK" else "820000"
        permit_type = "HK_RESIDENCE_PERMIT" if kind == "HK" else "MO_RESIDENCE_PERMIT"
        docs.append(Document(permit_type, make_residence_permit(prefix, birth, seq3)))
        region = "H" if kind == "HK" else "M"
        docs.append(
            Document(
                "HK_MO_HOME_RETURN_PERMIT", make_home_return_permit(region, 10_000_000 + index)
            )
        )
    if rng.randrange(100) < 60:
        token = "".join(
            rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789")
            for _ in range(32)
        )
        docs.append(Document("E_VOUCHER", f"EV{token}"))
    return tuple(docs)


def draw_name(rng: random.Random, kind: str) -> str:
    if kind == "MAINLAND":
        given = "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2, 2))))
        return rng.choice(_SURNAMES) + given
    return f"{rng.choice(_HK_SURNAMES)} {rng.choice(_HK_GIVEN)}"


def draw_phone(rng: random.Random, kind: str) -> str:
    if kind == "HK":
        return f"+852{rng.randint(50_000_000, 99_999_999)}"
    if kind == "MO":
        return f"+853{rng.randint(60_000_000, 69_999_999)}"
    return f"1{rng.choice('3456789')}{rng.randint(0, 999_999_999):09d}"


def draw_assistance(rng: random.Random, insutype: str, pool: str) -> str:
    if insutype != "390":
        return "NONE"
    rural = pool in ("451000", "451200", "451100", "451300", "451400", "445200", "441400")
    roll = rng.randrange(1000)
    bands = (
        ("DESTITUTE", 12 if rural else 5),
        ("MINIMUM_LIVING", 50 if rural else 25),
        ("LOW_INCOME_MARGINAL", 15 if rural else 10),
        ("POVERTY_RETURN_MONITORED", 25 if rural else 8),
    )
    edge = 0
    for category, per_mille in bands:
        edge += per_mille
        if roll < edge:
            return category
    return "NONE"


def draw_chronic(rng: random.Random, age: int) -> str | None:
    roll = rng.randrange(100)
    edge = 0
    for disease, old_pct, young_pct in _CHRONIC_BY_AGE:
        edge += old_pct if age >= 45 else young_pct
        if roll < edge:
            return disease
    return None


def draw_channel(rng: random.Random) -> str:
    return weighted(rng, _ONLINE_CHANNELS)


# -- dates and encounters ----------------------------------------------------------------------------
