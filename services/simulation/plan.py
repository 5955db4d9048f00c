"""The plan's vocabulary: scales, visits, filings, encounters, persons and their steps,
the run's months and the hospitals' msgids. Pure data and date arithmetic; the plan itself
is drawn in ``scenario``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from functools import cache
from typing import Final

from services.settlement.domain.seed import load_catalogues, load_policies
from services.simulation.recipes import FeeLine

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
