"""The simulated months as a plan: who is insured where, who filed how and when, who is
treated where and on which day.

Pure: everything comes from one ``random.Random(seed)`` drawn in a fixed order, so a seed,
a first month and a number of months give the same plan on every machine, whatever the
date of the run. The plan carries every hospital msgid in advance (hospital code +
simulated timestamp + a 4-digit sequence) and the simulated instant of every step, so
the traffic that executes it sends the same requests run after run.

Cohorts (shares are **modeled**, chosen to exercise every rule, not measured):

- locals treated in their own pool (not cleared), in Guangxi and in Guangdong;
- 北钦防 insured treated in a neighbouring 北钦防 city (no filing, local ratios);
- Guangdong insured treated in another Guangdong city (no filing: modeled switch);
- Hong Kong and Macau residents insured in Greater Bay Area cities (residence permits,
  home-return permits);
- retirees resettled in Beihai (long-term filing) from Guangdong and Guangxi cities;
- workers stationed in the other province (long-term filing);
- Guangxi families living in Guangdong (long-term filing for the whole province);
- dialysis and cancer patients living in the other province (long-term filing) with
  heavy bills every month: their per-disease annual cap binds in a later month;
- referrals: Guangxi cities to Nanning, Guangxi to Guangzhou (temporary filing, often
  filed by the referring hospital at its insurance office);
- other temporary trips (temporary filing);
- travellers with an emergency and no filing (emergency counts as filed);
- people treated elsewhere without a filing: refused, then either filing afterwards at
  the counter (补办) so the hospital settles again, or paying in full.

Everyone with a long-term place (locals, neighbours, residents elsewhere, long-term
filers) is treated every month; a trip (referral, temporary trip, emergency, treatment
without filing) happens in one month of the run.

When filings are made (**modeled**, ``FILING_TIMING``): long-term filers mostly filed
months before the first month (the run's clock starts that early and the filing service
sees them filed on those days); the others filed a few days before their first visit.
Temporary filers mostly filed 1–14 days before travelling; a minority filed late, at the
counter after the treatment had begun (补办): an inpatient during the stay, whose stay is
then covered retroactively (RETROACTIVE_FILING), an outpatient after the hospital's
refusal, the same day.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from functools import cache
from typing import Final

from services.settlement.domain.seed import load_catalogues, load_policies
from services.simulation import recipes
from services.simulation.recipes import FeeLine, Recipe
from shared.identity import make_home_return_permit, make_residence_permit, make_resident_id
from shared.reference import ZONE_BQF, get_pool, hospitals, in_zone

MSGID_CHARS = 30
MAX_SEQ_PER_SECOND = 9_999
MAX_ENCOUNTERS_PER_PERSON_MONTH = 24
MAX_MONTHS = 12
ADMIT_MSGIDS = 4  # query, admit, and retries of those
SETTLE_MSGIDS = 20  # upload, pre-settle, settle, reversal, correction, discharge, re-runs
LATER_MSGIDS = 8  # a later day's correction or reversal, and the settlement again
ADMIT_MSGID_STEP_S = 20
SETTLE_MSGID_STEP_S = 7
# The latest msgid stamp of a step lies this far after the step's instant.
MSGID_SPAN: Final = timedelta(seconds=SETTLE_MSGIDS * SETTLE_MSGID_STEP_S)

# Whatever today is, the default run simulates these months: the fingerprint of a seed
# never depends on the date of the run.
DEFAULT_FIRST_MONTH: Final = "202606"
# Month-end clearing of a treatment month runs on this day of the next month; the
# clearing centre decides the lines disputed at that month-end on the later day.
MONTH_END_DAY: Final = 5
DISPUTE_DECISION_DAY: Final = 15
OPERATOR_HOUR: Final = 8  # operators' steps start at 08:00 China time
UNCERTIFIED_CHRONIC_PERSONS: Final = 3  # modeled: chronic patients their pool never certified
RUN_START_HOUR: Final = 7  # the services' clocks start at 07:00 of the run's first day


class Scale(StrEnum):
    small = "small"
    medium = "medium"
    large = "large"


PERSONS_OF_SCALE = {Scale.small: 300, Scale.medium: 1_500, Scale.large: 6_000}
CONCURRENCY_OF_SCALE = {Scale.small: 24, Scale.medium: 32, Scale.large: 32}


class Visit(StrEnum):
    OUTPATIENT = "11"  # 普通门诊
    CHRONIC = "14"  # 门诊慢特病
    INPATIENT = "21"  # 住院


class Refusal(StrEnum):
    """What a patient without a filing does after the hospital's refusal."""

    FILE_AFTERWARDS = "FILE_AFTERWARDS"  # 补办 at the counter, then settle again
    PAY_IN_FULL = "PAY_IN_FULL"  # pays the whole bill, claims it at home later


class FilingTiming(StrEnum):
    """When a planned filing is submitted."""

    BEFORE_RUN = "BEFORE_RUN"  # long-term, months before the first month
    BEFORE_FIRST_VISIT = "BEFORE_FIRST_VISIT"  # long-term, newly moved
    BEFORE_TRAVEL = "BEFORE_TRAVEL"  # temporary, 1–14 days before travelling
    DURING_STAY = "DURING_STAY"  # temporary, 补办 at the counter before discharge
    AFTER_REFUSAL = "AFTER_REFUSAL"  # temporary, 补办 at the counter after a refusal


# Filing timing shares and windows (modeled: chosen to look like a real population, in
# which most people file before they travel, not measured). With the cohort weights this
# makes about 9 % of all filings late ones, made at the counter after the treatment began
# (补办): the temporary filers' late share plus the unfiled who file afterwards.
@dataclass(frozen=True)
class FilingTimingModel:
    long_term_filed_before_run_pct: int = 85
    long_term_before_run_days: tuple[int, int] = (20, 170)
    long_term_new_days_before_first_visit: tuple[int, int] = (3, 30)
    temporary_late_pct: int = 8
    temporary_days_before_travel: tuple[int, int] = (1, 14)
    referral_days_before_admission: tuple[int, int] = (1, 7)
    unfiled_file_afterwards_pct: int = 50


FILING_TIMING: Final = FilingTimingModel()


# -- plan records ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    doc_type: str  # shared.identity.DocumentType value
    number: str


@dataclass(frozen=True)
class FilingPlan:
    category: str  # filing proto FilingCategory name without prefix, e.g. RETIREE_RESETTLED
    channel: str  # APP / MINI_PROGRAM / WEB / COUNTER
    caller: str  # who submits: channel-app …, the pool agency, or the referring hospital
    request_id: str
    destination_pool: str | None
    destination_province: str | None
    start_date: date
    end_date: date | None
    timing: FilingTiming
    # When it is submitted (China wall time); None: only after a refusal (AFTER_REFUSAL).
    submit_at: datetime | None
    referral: tuple[str, str, str, str] | None = None  # from, to, ICD-10, diagnosis
    # A change after submission: ("END_DATE", new end) or ("PROVINCE", province code).
    change: tuple[str, str] | None = None
    change_at: datetime | None = None
    change_request_id: str = ""
    cancel_at: datetime | None = None  # back home for good: the filing is cancelled
    cancel_request_id: str = ""


@dataclass(frozen=True)
class Encounter:
    seq: int  # order within the person
    month: str  # the treatment month YYYYMM
    hospital: str
    treatment_pool: str
    visit: Visit
    recipe: str
    disease: str | None  # national disease code (M03900 …) for a chronic visit
    emergency: bool
    start: datetime  # visit or admission time (Asia/Shanghai wall time)
    end: datetime  # settlement time (discharge for inpatients)
    lines: tuple[FeeLine, ...]
    admit_msgids: tuple[str, ...]
    settle_msgids: tuple[str, ...]
    use_account: bool = False  # the patient opts to pay from the personal account
    retry_settle: bool = False  # the hospital resends Settle with the same msgid
    reverse: bool = False  # settled, reversed (2208/2305) on a later day, settled again
    correct: bool = False  # the Settle response was "lost": 2601 on a later day, settle again
    query_by_voucher: bool = False  # the patient shows the e-voucher QR code
    later_at: datetime | None = None  # when the reversal or correction happens
    later_msgids: tuple[str, ...] = ()

    @property
    def amount_fen(self) -> int:
        return sum(line.amount_fen for line in self.lines)

    @property
    def los_days(self) -> int:
        return (self.end.date() - self.start.date()).days


@dataclass(frozen=True)
class PersonPlan:
    index: int
    cohort: str
    psn_no: str
    name: str
    phone: str
    insured_pool: str
    insutype: str  # "310" employee / "390" resident
    person_type: str  # IN_SERVICE / RETIRED
    assistance: (
        str  # NONE / DESTITUTE / MINIMUM_LIVING / LOW_INCOME_MARGINAL / POVERTY_RETURN_MONITORED
    )
    sex: str  # "1" male / "2" female
    birth_date: date
    documents: tuple[Document, ...]
    acct_balance_fen: int
    chronic: str | None
    filing: FilingPlan | None
    refusal: Refusal | None
    encounters: tuple[Encounter, ...]
    # When the insured pool's agency certifies the person's chronic disease (资格认定);
    # None: not certified (no chronic visits, or one of the few left uncertified).
    certify_at: datetime | None = None

    def age_on(self, day: date) -> int:
        years = day.year - self.birth_date.year
        return years - ((day.month, day.day) < (self.birth_date.month, self.birth_date.day))


class StepKind(StrEnum):
    """What a person (or their hospital) does at one simulated instant."""

    CERTIFY = "CERTIFY"  # the insured pool's agency certifies the chronic disease
    FILE = "FILE"  # the planned filing is submitted
    CHANGE = "CHANGE"  # the filing is changed
    ADMIT = "ADMIT"  # inpatient: identify (1101) and admit (2401)
    SETTLE = (
        "SETTLE"  # outpatient: 1101, 2201, upload, settle; inpatient: upload, discharge, settle
    )
    LATER = "LATER"  # a later day: reversal or correction (2601), then settled again
    CANCEL = "CANCEL"  # the filing is cancelled
    PURCHASE = "PURCHASE"  # a pharmacy purchase (simulation/pharmacies.py); encounter = its index


_STEP_ORDER = {kind: rank for rank, kind in enumerate(StepKind)}


@dataclass(frozen=True)
class Step:
    at: datetime  # China wall time (naive)
    person: int  # PersonPlan.index
    kind: StepKind
    encounter: int = -1  # index into the person's encounters

    @property
    def key(self) -> tuple[datetime, int, int, int]:
        return (self.at, self.person, _STEP_ORDER[self.kind], self.encounter)


@dataclass(frozen=True)
class Plan:
    seed: int
    months: tuple[str, ...]  # YYYYMM, the treatment months in order
    first_day: date  # first treatment day
    last_day: date  # last treatment day
    run_start: datetime  # China wall time: the services' clocks start here
    persons: tuple[PersonPlan, ...]

    @property
    def month(self) -> str:
        return self.months[0]

    @property
    def encounter_count(self) -> int:
        return sum(len(p.encounters) for p in self.persons)

    def encounters_in(self, month: str) -> int:
        return sum(1 for p in self.persons for e in p.encounters if e.month == month)

    def steps(self) -> list[Step]:
        """Every person's steps, in time order (a person's own steps in their order)."""
        out = [s for p in self.persons for s in person_steps(p)]
        out.sort(key=lambda s: s.key)
        return out


def person_steps(p: PersonPlan) -> list[Step]:
    steps: list[Step] = []
    if p.certify_at is not None:
        steps.append(Step(p.certify_at, p.index, StepKind.CERTIFY))
    f = p.filing
    if f is not None:
        if f.submit_at is not None:
            steps.append(Step(f.submit_at, p.index, StepKind.FILE))
        if f.change is not None and f.change_at is not None:
            steps.append(Step(f.change_at, p.index, StepKind.CHANGE))
        if f.cancel_at is not None:
            steps.append(Step(f.cancel_at, p.index, StepKind.CANCEL))
    for i, e in enumerate(p.encounters):
        if e.visit is Visit.INPATIENT:
            steps.append(Step(e.start, p.index, StepKind.ADMIT, i))
        steps.append(Step(e.end, p.index, StepKind.SETTLE, i))
        if e.later_at is not None:
            steps.append(Step(e.later_at, p.index, StepKind.LATER, i))
    steps.sort(key=lambda s: s.key)
    return steps


# -- months ----------------------------------------------------------------------------------


def parse_month(month: str) -> date:
    if len(month) != 6 or not month.isdigit() or not 1 <= int(month[4:]) <= 12:
        raise ValueError(f"month must be YYYYMM, got {month!r}")
    return date(int(month[:4]), int(month[4:]), 1)


def month_of(day: date) -> str:
    return f"{day.year:04d}{day.month:02d}"


def next_month(month: str) -> str:
    first = parse_month(month)
    return month_of(date(first.year + first.month // 12, first.month % 12 + 1, 1))


def month_window(month: str) -> tuple[date, date]:
    """First and last day of ``month``."""
    first = parse_month(month)
    return first, parse_month(next_month(month)) - timedelta(days=1)


def run_months(first_month: str, months: int) -> tuple[str, ...]:
    if not 1 <= months <= MAX_MONTHS:
        raise ValueError(f"months must be 1..{MAX_MONTHS}, got {months}")
    out = [first_month]
    for _ in range(months - 1):
        out.append(next_month(out[-1]))
    return tuple(out)


@cache
def earliest_month() -> str:
    """The first month every shipped catalogue and benefit policy is in force."""
    catalogue_start: dict[str, date] = {}
    for c in load_catalogues():
        catalogue_start[c.province_code] = min(
            c.effective_date, catalogue_start.get(c.province_code, c.effective_date)
        )
    policy_start: dict[str, date] = {}
    for p in load_policies():
        policy_start[p.policy_id] = min(
            p.effective_date, policy_start.get(p.policy_id, p.effective_date)
        )
    day = max([*catalogue_start.values(), *policy_start.values()])
    return month_of(day) if day.day == 1 else next_month(month_of(day))


def check_months(first_month: str, months: int) -> tuple[str, ...]:
    """The run's treatment months, or ValueError saying why not."""
    chosen = run_months(first_month, months)
    parse_month(first_month)
    if first_month < earliest_month():
        raise ValueError(
            f"month {first_month} is before the shipped catalogues and benefit policies take "
            f"effect ({earliest_month()})"
        )
    return chosen


def month_end_at(month: str) -> datetime:
    """When the month-end clearing of treatment month ``month`` runs (China wall time)."""
    first = parse_month(next_month(month))
    return datetime.combine(first.replace(day=MONTH_END_DAY), time(OPERATOR_HOUR))


def decision_at(month: str) -> datetime:
    """When the lines disputed at ``month``'s month-end are decided (China wall time)."""
    first = parse_month(next_month(month))
    return datetime.combine(first.replace(day=DISPUTE_DECISION_DAY), time(OPERATOR_HOUR))


# -- msgids -----------------------------------------------------------------------------------


@dataclass
class MsgidBook:
    """Hands out msgids: hospital code + yyyyMMddHHmmss + 4-digit sequence, unique."""

    _next: dict[tuple[str, str], int] = field(default_factory=dict)

    def take(self, hospital: str, when: datetime) -> str:
        stamp = when.strftime("%Y%m%d%H%M%S")
        key = (hospital, stamp)
        seq = self._next.get(key, 1)
        if seq > MAX_SEQ_PER_SECOND:
            raise ValueError(f"more than {MAX_SEQ_PER_SECOND} msgids in one second at {hospital}")
        self._next[key] = seq + 1
        msgid = f"{hospital}{stamp}{seq:04d}"
        assert len(msgid) == MSGID_CHARS, msgid
        return msgid

    def block(self, hospital: str, start: datetime, count: int, step_s: int) -> tuple[str, ...]:
        return tuple(
            self.take(hospital, start + timedelta(seconds=i * step_s)) for i in range(count)
        )


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
_DIAGNOSES = (
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
_CHANNEL_CALLER = {
    "APP": "channel-app",
    "MINI_PROGRAM": "channel-mini-program",
    "WEB": "channel-web",
    "COUNTER": "channel-counter",
}


def _weighted(rng: random.Random, table: dict[str, int] | Sequence[tuple[str, int]]) -> str:
    items = list(table.items()) if isinstance(table, dict) else list(table)
    return rng.choices([k for k, _ in items], weights=[w for _, w in items], k=1)[0]


def _hospitals_by_pool() -> dict[str, list[tuple[str, int]]]:
    out: dict[str, list[tuple[str, int]]] = {}
    for h in hospitals():
        out.setdefault(h.pool_code, []).append((h.code, h.level or 1))
    for rows in out.values():
        rows.sort()
    return out


_HOSPITALS = _hospitals_by_pool()


def _pick_hospital(rng: random.Random, pool: str, visit: Visit) -> str:
    rows = _HOSPITALS[pool]
    if visit is Visit.INPATIENT or visit is Visit.CHRONIC:
        weights = [{1: 1, 2: 5, 3: 10}[level] for _, level in rows]
    else:
        weights = [{1: 8, 2: 5, 3: 6}[level] for _, level in rows]
    return rng.choices([code for code, _ in rows], weights=weights, k=1)[0]


def _pool_with_hospitals(rng: random.Random, table: dict[str, int]) -> str:
    return _weighted(rng, {p: w for p, w in table.items() if p in _HOSPITALS})


# -- cohorts -----------------------------------------------------------------------------------

_COHORTS: tuple[tuple[str, int], ...] = (
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
    weights = dict(_COHORTS)
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
class _Shape:
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


def _shape(rng: random.Random, cohort: str) -> _Shape:
    employee = rng.randrange(100) < 45
    insutype = "310" if employee else "390"
    if cohort == "local_gx":
        pool = _pool_with_hospitals(rng, _GX_WEIGHTED)
        return _Shape(pool, (pool,), 0, insutype, False, (1, 85), "MAINLAND", None, None, (3, 8), 8)
    if cohort == "local_gd":
        pool = _pool_with_hospitals(rng, _GD_WEIGHTED)
        return _Shape(pool, (pool,), 0, insutype, False, (1, 85), "MAINLAND", None, None, (3, 8), 8)
    if cohort == "bqf":
        home = rng.choice(_BQF)
        away = rng.choice([p for p in _BQF if p != home])
        return _Shape(
            home, (away,), 30, insutype, False, (5, 80), "MAINLAND", None, None, (3, 7), 12
        )
    if cohort == "gd_in_province":
        home = _weighted(rng, {p: w for p, w in _GD_WEIGHTED.items() if p not in ("440100",)})
        away = rng.choice(("440100", "440100", "440300"))
        return _Shape(
            home, (away,), 20, insutype, False, (5, 85), "MAINLAND", None, None, (3, 6), 20
        )
    if cohort == "hkmo_gba":
        home = rng.choice(("440300", "440300", "440400", "440100", "442000"))
        away = rng.choice([p for p in _GBA_TREATMENT if p != home])
        docs = "HK" if rng.randrange(100) < 70 else "MO"
        return _Shape(home, (home, away), 0, insutype, False, (20, 75), docs, None, None, (3, 7), 8)
    if cohort == "retiree_beihai":
        home = rng.choice(("440100", "440100", "440300", "440600", "450200", "450100", "450300"))
        return _Shape(
            home,
            ("450500",),
            0,
            "310",
            True,
            (60, 88),
            "MAINLAND",
            "RETIREE_RESETTLED",
            "POOL",
            (3, 7),
            14,
        )
    if cohort == "stationed":
        if rng.randrange(100) < 60:
            home = rng.choice(("450100", "450100", "450200"))
            away = rng.choice(("440100", "440300", "441900"))
        else:
            home = rng.choice(("440100", "440300"))
            away = rng.choice(("450100", "450700"))
        return _Shape(
            home,
            (away,),
            0,
            "310",
            False,
            (24, 58),
            "MAINLAND",
            "STATIONED_WORKER",
            "POOL",
            (2, 6),
            6,
        )
    if cohort == "long_term_resident":
        home = rng.choice(("450900", "450800", "451000", "450100", "451200"))
        places = rng.sample(("441900", "440600", "440300", "440100", "442000"), 2)
        return _Shape(
            home,
            tuple(places),
            0,
            insutype,
            False,
            (1, 70),
            "MAINLAND",
            "LONG_TERM_RESIDENT",
            "PROVINCE",
            (3, 7),
            8,
        )
    if cohort == "gx_referral":
        home = rng.choice(_GX_REFERRING)
        return _Shape(
            home,
            ("450100",),
            0,
            insutype,
            False,
            (20, 85),
            "MAINLAND",
            "REFERRAL",
            "POOL",
            (0, 1),
            85,
        )
    if cohort == "cross_referral":
        home = rng.choice(("450100", "450200", "450300", "450900", "451000", "450500"))
        return _Shape(
            home,
            ("440100",),
            0,
            insutype,
            False,
            (25, 85),
            "MAINLAND",
            "REFERRAL",
            "POOL",
            (0, 1),
            90,
        )
    if cohort == "temporary":
        if rng.randrange(100) < 50:
            home, away = rng.choice(("440100", "440300", "440600")), rng.choice(_GX_TOURISM)
        else:
            home, away = rng.choice(("450100", "450200", "450900")), rng.choice(_GBA_TREATMENT)
        return _Shape(
            home,
            (away,),
            0,
            insutype,
            False,
            (10, 80),
            "MAINLAND",
            "OTHER_TEMPORARY",
            "POOL",
            (1, 4),
            10,
        )
    if cohort == "emergency":
        if rng.randrange(100) < 60:
            home, away = rng.choice(("440100", "440300", "441900")), rng.choice(_GX_TOURISM)
        else:
            home, away = rng.choice(("450200", "450300", "451000")), rng.choice(_GBA_TREATMENT)
        return _Shape(
            home,
            (away,),
            0,
            insutype,
            False,
            (8, 85),
            "MAINLAND",
            None,
            None,
            (1, 1),
            55,
            emergency=True,
        )
    if cohort == "chronic_away":
        # Guangxi insured living in a Greater Bay Area city, or Guangdong retirees in Guangxi.
        if rng.randrange(100) < 60:
            home = rng.choice(("450900", "450800", "451000", "450100", "450300"))
            return _Shape(
                home,
                (rng.choice(("440100", "440300", "441900", "440600")),),
                0,
                insutype,
                False,
                (40, 80),
                "MAINLAND",
                "LONG_TERM_RESIDENT",
                "PROVINCE",
                (1, 2),
                8,
                heavy=True,
            )
        home = rng.choice(("440100", "440300", "440600"))
        return _Shape(
            home,
            (rng.choice(("450500", "450100")),),
            0,
            "310",
            True,
            (60, 80),
            "MAINLAND",
            "RETIREE_RESETTLED",
            "POOL",
            (1, 2),
            8,
            heavy=True,
        )
    assert cohort == "unfiled", cohort
    if rng.randrange(100) < 65:
        home = rng.choice(("450200", "450300", "450900", "451200", "450800"))
        away = rng.choice(("440100", "440300", "441900"))
    else:
        home = rng.choice(("451000", "451200", "450800", "451400"))
        away = "450100"
    return _Shape(home, (away,), 0, insutype, False, (18, 80), "MAINLAND", None, None, (1, 2), 60)


# -- persons --------------------------------------------------------------------------------------


def _birth(rng: random.Random, age_range: tuple[int, int], first_day: date) -> date:
    age = rng.randint(*age_range)
    day_of_year = rng.randint(1, 365)
    birth = date(first_day.year - age - 1, 1, 1) + timedelta(days=day_of_year - 1)
    return birth


def _documents(
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


def _name(rng: random.Random, kind: str) -> str:
    if kind == "MAINLAND":
        given = "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2, 2))))
        return rng.choice(_SURNAMES) + given
    return f"{rng.choice(_HK_SURNAMES)} {rng.choice(_HK_GIVEN)}"


def _phone(rng: random.Random, kind: str) -> str:
    if kind == "HK":
        return f"+852{rng.randint(50_000_000, 99_999_999)}"
    if kind == "MO":
        return f"+853{rng.randint(60_000_000, 69_999_999)}"
    return f"1{rng.choice('3456789')}{rng.randint(0, 999_999_999):09d}"


def _assistance(rng: random.Random, insutype: str, pool: str) -> str:
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


def _chronic(rng: random.Random, age: int) -> str | None:
    roll = rng.randrange(100)
    edge = 0
    for disease, old_pct, young_pct in _CHRONIC_BY_AGE:
        edge += old_pct if age >= 45 else young_pct
        if roll < edge:
            return disease
    return None


def _channel(rng: random.Random) -> str:
    return _weighted(rng, _ONLINE_CHANNELS)


# -- dates and encounters ----------------------------------------------------------------------------

# A trip happens in one month of the run; everyone else is treated every month.
_TRIP_COHORTS = frozenset({"gx_referral", "cross_referral", "temporary", "emergency", "unfiled"})
_LONG_TERM = frozenset({"RETIREE_RESETTLED", "STATIONED_WORKER", "LONG_TERM_RESIDENT"})
# Emergencies arrive until 21:00, so every step of a day, and the reversal or correction
# that may follow it the same evening, is done before 23:00: nothing spills into the next
# day (or the next clearing period).
_EMERGENCY_MINUTES = 21 * 60


def _visit_time(rng: random.Random, day: date, emergency: bool) -> datetime:
    minute = rng.randrange(_EMERGENCY_MINUTES) if emergency else rng.randrange(8 * 60, 17 * 60 + 30)
    return datetime.combine(day, time(minute // 60, minute % 60, rng.randrange(60)))


def _daytime(rng: random.Random, day: date, first_hour: int = 8, last_hour: int = 21) -> datetime:
    return datetime.combine(
        day, time(rng.randint(first_hour, last_hour), rng.randrange(60), rng.randrange(60))
    )


@dataclass
class _Calendar:
    first_day: date
    last_day: date

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    def day(self, rng: random.Random) -> date:
        return self.first_day + timedelta(days=rng.randrange(self.days))


def _overlaps(day: date, stays: list[tuple[date, date]]) -> bool:
    return any(start <= day <= end for start, end in stays)


@dataclass
class _EncounterDraft:
    pool: str
    visit: Visit
    recipe: Recipe
    disease: str | None
    emergency: bool
    start: datetime
    end: datetime


def _inpatient_draft(
    rng: random.Random, cal: _Calendar, pool: str, recipe: Recipe, emergency: bool
) -> _EncounterDraft:
    lo, hi = recipe.los_days
    los = max(1, min(rng.randint(lo, hi), cal.days - 1))
    admit_day = cal.first_day + timedelta(days=rng.randrange(max(cal.days - los, 1)))
    discharge_day = min(admit_day + timedelta(days=los), cal.last_day)
    start = _visit_time(rng, admit_day, emergency)
    end = datetime.combine(discharge_day, time(9 + rng.randrange(3), rng.randrange(60)))
    if end <= start:
        end = start + timedelta(hours=4)
    return _EncounterDraft(pool, Visit.INPATIENT, recipe, None, emergency, start, end)


def _chronic_sessions(rng: random.Random, chronic: str, heavy: bool) -> int:
    if heavy:  # dialysis three times a week; chemotherapy every week or so
        return rng.randint(12, 13) if chronic == "M07803" else rng.randint(3, 4)
    return rng.randint(8, 13) if chronic == "M07803" else rng.randint(2, 4)


def _drafts(
    rng: random.Random,
    shape: _Shape,
    person_sex: str,
    age: int,
    chronic: str | None,
    cal: _Calendar,
) -> list[_EncounterDraft]:
    drafts: list[_EncounterDraft] = []
    stays: list[tuple[date, date]] = []
    main = shape.treatment_pools[0]
    if rng.randrange(100) < shape.inpatient_pct:
        pool = main
        keys: tuple[str, ...]
        if shape.emergency:
            keys = recipes.EMERGENCY_INPATIENT
        elif shape.filing == "REFERRAL":
            keys = recipes.REFERRAL_INPATIENT
        else:
            keys = recipes.COMMON_INPATIENT
        options = [k for k in keys if recipes.fits(recipes.INPATIENT_BY_KEY[k], person_sex, age)]
        if chronic == "M00503" and not shape.emergency:
            options = ["cancer_chemo", *options]
        if options:
            recipe = recipes.INPATIENT_BY_KEY[options[rng.randrange(len(options))]]
            draft = _inpatient_draft(rng, cal, pool, recipe, shape.emergency)
            drafts.append(draft)
            stays.append((draft.start.date(), draft.end.date()))
    if shape.emergency and not drafts:
        day = cal.day(rng)
        recipe = next(r for r in recipes.OUTPATIENT if r.key == "injury")
        start = _visit_time(rng, day, True)
        drafts.append(
            _EncounterDraft(
                main, Visit.OUTPATIENT, recipe, None, True, start, start + timedelta(minutes=40)
            )
        )
    outpatient = rng.randint(*shape.outpatient_visits) if not shape.emergency else 0
    fitting = [r for r in recipes.OUTPATIENT if recipes.fits(r, person_sex, age)]
    for _ in range(outpatient):
        day = cal.day(rng)
        recipe = fitting[rng.randrange(len(fitting))]
        home = rng.randrange(100) < shape.home_share_pct
        pool = (
            shape.insured_pool
            if home and shape.insured_pool in _HOSPITALS
            else rng.choice(shape.treatment_pools)
        )
        if _overlaps(day, stays):
            continue
        start = _visit_time(rng, day, False)
        drafts.append(
            _EncounterDraft(
                pool,
                Visit.OUTPATIENT,
                recipe,
                None,
                False,
                start,
                start + timedelta(minutes=rng.randint(15, 90)),
            )
        )
    if chronic is not None and not shape.emergency and shape.filing != "REFERRAL":
        for _ in range(_chronic_sessions(rng, chronic, shape.heavy)):
            day = cal.day(rng)
            if _overlaps(day, stays):
                continue
            start = _visit_time(rng, day, False)
            drafts.append(
                _EncounterDraft(
                    main,
                    Visit.CHRONIC,
                    recipes.CHRONIC[chronic],
                    chronic,
                    False,
                    start,
                    start + timedelta(minutes=rng.randint(30, 240)),
                )
            )
    drafts.sort(key=lambda d: (d.start, d.visit.value))
    return drafts[:MAX_ENCOUNTERS_PER_PERSON_MONTH]


def _later_time(rng: random.Random, settled: datetime, last_day: date) -> datetime:
    """A reversal or correction 1–3 days after the settlement, in the same month (the
    hospital's daily reconciliation finds it); the same evening on the month's last day."""
    day = min(settled.date() + timedelta(days=rng.randint(1, 3)), last_day)
    if day == settled.date():
        return settled + timedelta(minutes=rng.randint(30, 90))
    return datetime.combine(day, time(9 + rng.randrange(7), rng.randrange(60), rng.randrange(60)))


def _encounters(
    rng: random.Random,
    book: MsgidBook,
    drafts: list[_EncounterDraft],
    person: tuple[str, int, str, int],  # sex, age, insutype, personal-account balance
    first_seq: int,
    month: str,
    cal: _Calendar,
) -> list[Encounter]:
    sex, age, insutype, acct_balance_fen = person
    out: list[Encounter] = []
    for offset, d in enumerate(drafts):
        hospital = _pick_hospital(rng, d.pool, d.visit)
        province = get_pool(d.pool).province_code
        los = (d.end.date() - d.start.date()).days
        over_quantity = rng.randrange(100) < 2
        lines = recipes.bill(
            d.recipe, province, rng, sex=sex, age=age, los_days=los, over_quantity=over_quantity
        )
        if not lines:
            continue
        roll = rng.randrange(1000)
        use_account = (
            insutype == "310"
            and acct_balance_fen > 0
            and d.visit is not Visit.INPATIENT
            and rng.randrange(100) < 60
        )
        reverse = 40 <= roll < 70
        correct = 70 <= roll < 90
        later_at = _later_time(rng, d.end, cal.last_day) if reverse or correct else None
        out.append(
            Encounter(
                seq=first_seq + offset,
                month=month,
                hospital=hospital,
                treatment_pool=d.pool,
                visit=d.visit,
                recipe=d.recipe.key,
                disease=d.disease,
                emergency=d.emergency,
                start=d.start,
                end=d.end,
                lines=lines,
                admit_msgids=book.block(hospital, d.start, ADMIT_MSGIDS, ADMIT_MSGID_STEP_S),
                settle_msgids=book.block(hospital, d.end, SETTLE_MSGIDS, SETTLE_MSGID_STEP_S),
                use_account=use_account,
                retry_settle=roll < 40,
                reverse=reverse,
                correct=correct,
                query_by_voucher=rng.randrange(100) < 50,
                later_at=later_at,
                later_msgids=(
                    book.block(hospital, later_at, LATER_MSGIDS, SETTLE_MSGID_STEP_S)
                    if later_at is not None
                    else ()
                ),
            )
        )
    return out


def _submission(
    rng: random.Random,
    long_term: bool,
    referral: bool,
    run_first_day: date,
    encounters: Sequence[Encounter],
) -> tuple[FilingTiming, date, datetime | None]:
    """When the filing is submitted, and the date it starts from."""
    first = min(encounters, key=lambda e: e.start, default=None)
    first_day = first.start.date() if first is not None else run_first_day
    roll = rng.randrange(100)
    if long_term:
        if roll < FILING_TIMING.long_term_filed_before_run_pct:
            lo, hi = FILING_TIMING.long_term_before_run_days
            day = run_first_day - timedelta(days=rng.randint(lo, hi))
            return FilingTiming.BEFORE_RUN, day, _daytime(rng, day)
        lo, hi = FILING_TIMING.long_term_new_days_before_first_visit
        day = first_day - timedelta(days=rng.randint(lo, hi))
        return FilingTiming.BEFORE_FIRST_VISIT, day, _daytime(rng, day)
    if roll < FILING_TIMING.temporary_late_pct and first is not None:
        if first.visit is Visit.INPATIENT:
            # 补办 before discharge: the stay is covered retroactively from admission.
            admitted, discharged = first.start.date(), first.end.date()
            if (discharged - admitted).days >= 2:
                day = admitted + timedelta(days=rng.randint(1, (discharged - admitted).days - 1))
                at = _daytime(rng, day, 10, 16)
            else:
                at = datetime.combine(discharged, time(8, rng.randrange(50), rng.randrange(60)))
            return FilingTiming.DURING_STAY, admitted, at
        return FilingTiming.AFTER_REFUSAL, first_day, None
    lo, hi = (
        FILING_TIMING.referral_days_before_admission
        if referral
        else FILING_TIMING.temporary_days_before_travel
    )
    day = first_day - timedelta(days=rng.randint(lo, hi))
    start = max(day, first_day - timedelta(days=rng.randint(0, 2)))
    return FilingTiming.BEFORE_TRAVEL, start, _daytime(rng, day)


def _filing(
    rng: random.Random,
    shape: _Shape,
    psn_no: str,
    run: _Calendar,
    encounters: Sequence[Encounter],
) -> FilingPlan | None:
    if shape.filing is None:
        return None
    main = shape.treatment_pools[0]
    channel = _channel(rng)
    caller = _CHANNEL_CALLER[channel]
    long_term = shape.filing in _LONG_TERM
    away = [e for e in encounters if e.treatment_pool != shape.insured_pool]
    timing, start, submit_at = _submission(
        rng, long_term, shape.filing == "REFERRAL", run.first_day, away
    )
    referral = None
    if shape.filing == "REFERRAL":
        from_hospital = (
            _pick_hospital(rng, shape.insured_pool, Visit.INPATIENT)
            if shape.insured_pool in _HOSPITALS
            else ""
        )
        to_hospital = next(
            (e.hospital for e in encounters if e.treatment_pool == main),
            _pick_hospital(rng, main, Visit.INPATIENT),
        )
        icd, name = _DIAGNOSES[rng.randrange(len(_DIAGNOSES))]
        referral = (from_hospital, to_hospital, icd, name)
        if from_hospital and rng.randrange(100) < 50:
            channel, caller = "COUNTER", from_hospital  # filed by the referring hospital (2501)
    if timing in (FilingTiming.DURING_STAY, FilingTiming.AFTER_REFUSAL):
        channel, caller = "COUNTER", _CHANNEL_CALLER["COUNTER"]  # 补办 at the counter
    end = None
    if not long_term:
        end = start + timedelta(days=rng.choice((30, 90, 200)))
    # Changes and cancellations come after the submission (or the refusal that leads to it).
    filed = submit_at or max((e.end for e in away), default=datetime.combine(start, time(12)))
    last = max((e.later_at or e.end for e in encounters), default=filed)
    change: tuple[str, str] | None = None
    change_at: datetime | None = None
    roll = rng.randrange(100)
    if not long_term and roll < 15:
        change = ("END_DATE", (start + timedelta(days=300)).isoformat())
        change_at = _daytime(rng, filed.date() + timedelta(days=rng.randint(3, 20)), 19, 21)
    elif shape.filing == "RETIREE_RESETTLED" and roll < 25 and shape.insured_pool[:2] != "45":
        # Moves within Guangxi: the filing now covers the whole region (安置地变更).
        change = ("PROVINCE", "45")
        day = max(run.day(rng), filed.date() + timedelta(days=1))
        change_at = _daytime(rng, day, 19, 21)
    cancel_at = None
    if not long_term and rng.randrange(100) < 12:
        day = max(last.date(), (change_at or filed).date()) + timedelta(days=rng.randint(1, 5))
        cancel_at = _daytime(rng, day, 19, 21)
    destination_pool = main if shape.destination == "POOL" else None
    destination_province = get_pool(main).province_code if shape.destination == "PROVINCE" else None
    return FilingPlan(
        category=shape.filing,
        channel=channel,
        caller=caller,
        request_id=f"SIM-{psn_no}-F1",
        destination_pool=destination_pool,
        destination_province=destination_province,
        start_date=start,
        end_date=end,
        timing=timing,
        submit_at=submit_at,
        referral=referral,
        change=change,
        change_at=change_at,
        change_request_id=f"SIM-{psn_no}-C1",
        cancel_at=cancel_at,
        cancel_request_id=f"SIM-{psn_no}-X1",
    )


def _person(
    rng: random.Random,
    book: MsgidBook,
    index: int,
    months: Sequence[str],
    cals: Sequence[_Calendar],
) -> PersonPlan:
    cohort = _weighted(rng, _COHORTS)
    shape = _shape(rng, cohort)
    first_day = cals[0].first_day
    sex = "1" if rng.randrange(2) else "2"
    birth = _birth(rng, shape.age_range, first_day)
    age = (
        first_day.year - birth.year - ((first_day.month, first_day.day) < (birth.month, birth.day))
    )
    insutype = shape.insutype
    if shape.retired and insutype != "310":
        insutype = "310"
    retired = shape.retired or (insutype == "310" and age >= 60)
    documents = _documents(rng, shape.documents, shape.insured_pool, birth, sex, index)
    name = _name(rng, shape.documents)
    phone = _phone(rng, shape.documents)
    assistance = _assistance(rng, insutype, shape.insured_pool)
    acct = 0
    if insutype == "310":
        acct = rng.randint(2_000, 6_000) * 100 if retired else rng.randint(800, 4_000) * 100
    chronic = _chronic(rng, age)
    if shape.heavy:
        chronic = "M07803" if rng.randrange(100) < 55 else "M00503"
    active = (rng.randrange(len(cals)),) if cohort in _TRIP_COHORTS else range(len(cals))
    encounters: list[Encounter] = []
    for m in active:
        drafts = _drafts(rng, shape, sex, age, chronic, cals[m])
        encounters += _encounters(
            rng, book, drafts, (sex, age, insutype, acct), len(encounters), months[m], cals[m]
        )
    psn_no = f"{shape.insured_pool}{index + 1:010d}"
    run = _Calendar(first_day, cals[-1].last_day)
    filing = _filing(rng, shape, psn_no, run, encounters)
    refusal = None
    if cohort == "unfiled":
        pct = FILING_TIMING.unfiled_file_afterwards_pct
        refusal = Refusal.FILE_AFTERWARDS if rng.randrange(100) < pct else Refusal.PAY_IN_FULL
    elif filing is not None and filing.timing is FilingTiming.AFTER_REFUSAL:
        refusal = Refusal.FILE_AFTERWARDS
    return PersonPlan(
        index=index,
        cohort=cohort,
        psn_no=psn_no,
        name=name,
        phone=phone,
        insured_pool=shape.insured_pool,
        insutype=insutype,
        person_type="RETIRED" if retired else "IN_SERVICE",
        assistance=assistance,
        sex=sex,
        birth_date=birth,
        documents=documents,
        acct_balance_fen=acct,
        chronic=chronic,
        filing=filing,
        refusal=refusal,
        encounters=tuple(encounters),
    )


def build_plan(seed: int, first_month: str, months: int, persons: int) -> Plan:
    """The whole run's plan for ``persons`` insured persons over ``months`` months."""
    if not 1 <= persons <= 100_000:
        raise ValueError("persons must be 1..100000")
    chosen = check_months(first_month, months)
    cals = [_Calendar(*month_window(m)) for m in chosen]
    rng = random.Random(seed)
    book = MsgidBook()
    people = tuple(_person(rng, book, i, chosen, cals) for i in range(persons))
    earliest = min(
        (s.at.date() for p in people for s in person_steps(p)), default=cals[0].first_day
    )
    start_day = min(earliest, cals[0].first_day - timedelta(days=1))
    run_start = datetime.combine(start_day, time(RUN_START_HOUR))
    return Plan(
        seed=seed,
        months=chosen,
        first_day=cals[0].first_day,
        last_day=cals[-1].last_day,
        run_start=run_start,
        persons=_with_certifications(people, run_start),
    )


def _needs_certification(p: PersonPlan) -> bool:
    return any(e.visit is Visit.CHRONIC for e in p.encounters)


def uncertified_chronic(people: Sequence[PersonPlan]) -> frozenset[int]:
    """The few chronic patients (modeled: UNCERTIFIED_CHRONIC_PERSONS) whose pool never
    certified their disease: the first by index with a chronic visit outside their pool
    and no planned filing afterwards, so the hospital's refusal leaves them paying (the
    dialysis and cancer patients living elsewhere are always certified)."""
    chosen = [
        p.index
        for p in people
        if _needs_certification(p)
        and p.refusal is None
        and p.cohort != "chronic_away"  # their heavy bills are what binds the caps
        and any(
            e.visit is Visit.CHRONIC and e.treatment_pool != p.insured_pool for e in p.encounters
        )
    ]
    return frozenset(chosen[:UNCERTIFIED_CHRONIC_PERSONS])


def _with_certifications(
    people: tuple[PersonPlan, ...], run_start: datetime
) -> tuple[PersonPlan, ...]:
    """Chronic patients are certified by their pool's agency on the run's first day (months
    before the first treatment month), one minute apart, after the persons are registered;
    a few are left uncertified."""
    left_out = uncertified_chronic(people)
    out: list[PersonPlan] = []
    for p in people:
        if _needs_certification(p) and p.index not in left_out:
            at = run_start + timedelta(hours=2, minutes=p.index % 600)
            p = replace(p, certify_at=at)
        out.append(p)
    return tuple(out)


def planned_retroactive(plan: Plan) -> tuple[int, int]:
    """(encounters the plan expects to be covered by a filing made after the treatment
    began, cross-region encounters): the stays of inpatients who filed during the stay,
    and the refused first stay of those treated without filing who then filed (补办)."""
    retroactive = cross = 0
    for p in plan.persons:
        away = [e for e in p.encounters if e.treatment_pool != p.insured_pool]
        cross += len(away)
        f = p.filing
        if f is not None and f.timing is FilingTiming.DURING_STAY and f.submit_at is not None:
            at = f.submit_at
            retroactive += sum(1 for e in away if e.start.date() < at.date() and at < e.end)
        if p.cohort == "unfiled" and p.refusal is Refusal.FILE_AFTERWARDS and away:
            first = min(away, key=lambda e: e.start)
            retroactive += first.visit is Visit.INPATIENT
    return retroactive, cross


def relation_of(insured_pool: str, treatment_pool: str) -> str:
    if insured_pool == treatment_pool:
        return "LOCAL"
    if insured_pool[:2] == treatment_pool[:2]:
        return "IN_PROVINCE"
    return "CROSS_PROVINCE"


def is_bqf_pair(insured_pool: str, treatment_pool: str) -> bool:
    return in_zone(ZONE_BQF, insured_pool, treatment_pool)
