"""When and where the simulated persons are treated, and how and when they file: the
monthly calendar, encounter drafts by visit type, their msgids and the filing plans.
Every draw takes the plan's one ``random.Random`` in a fixed order."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from services.simulation import recipes
from services.simulation.cohorts import (
    CHANNEL_CALLER,
    DIAGNOSES,
    HOSPITALS_BY_POOL,
    Shape,
    draw_channel,
    pick_hospital,
)
from services.simulation.plan import (
    ADMIT_MSGID_STEP_S,
    ADMIT_MSGIDS,
    FILING_TIMING,
    LATER_MSGIDS,
    MAX_ENCOUNTERS_PER_PERSON_MONTH,
    SETTLE_MSGID_STEP_S,
    SETTLE_MSGIDS,
    Encounter,
    FilingPlan,
    FilingTiming,
    MsgidBook,
    Visit,
)
from services.simulation.recipes import Recipe
from shared.reference import get_pool

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
class Calendar:
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


def _day_visit(
    rng: random.Random,
    day: date,
    pool: str,
    visit: Visit,
    recipe: Recipe,
    disease: str | None,
    minutes: tuple[int, int],
) -> _EncounterDraft:
    """A visit within ``day`` (not an emergency), lasting ``minutes`` (a range)."""
    start = _visit_time(rng, day, False)
    end = start + timedelta(minutes=rng.randint(*minutes))
    return _EncounterDraft(pool, visit, recipe, disease, False, start, end)


def _inpatient_draft(
    rng: random.Random, cal: Calendar, pool: str, recipe: Recipe, emergency: bool
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


def draft_encounters(
    rng: random.Random,
    shape: Shape,
    person_sex: str,
    age: int,
    chronic: str | None,
    cal: Calendar,
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
            if home and shape.insured_pool in HOSPITALS_BY_POOL
            else rng.choice(shape.treatment_pools)
        )
        if not _overlaps(day, stays):
            drafts.append(_day_visit(rng, day, pool, Visit.OUTPATIENT, recipe, None, (15, 90)))
    if chronic is not None and not shape.emergency and shape.filing != "REFERRAL":
        for _ in range(_chronic_sessions(rng, chronic, shape.heavy)):
            day = cal.day(rng)
            if not _overlaps(day, stays):
                recipe = recipes.CHRONIC[chronic]
                drafts.append(_day_visit(rng, day, main, Visit.CHRONIC, recipe, chronic, (30, 240)))
    drafts.sort(key=lambda d: (d.start, d.visit.value))
    return drafts[:MAX_ENCOUNTERS_PER_PERSON_MONTH]


def _later_time(rng: random.Random, settled: datetime, last_day: date) -> datetime:
    """A reversal or correction 1–3 days after the settlement, in the same month (the
    hospital's daily reconciliation finds it); the same evening on the month's last day."""
    day = min(settled.date() + timedelta(days=rng.randint(1, 3)), last_day)
    if day == settled.date():
        return settled + timedelta(minutes=rng.randint(30, 90))
    return datetime.combine(day, time(9 + rng.randrange(7), rng.randrange(60), rng.randrange(60)))


def plan_encounters(
    rng: random.Random,
    book: MsgidBook,
    drafts: list[_EncounterDraft],
    person: tuple[str, int, str, int],  # sex, age, insutype, personal-account balance
    first_seq: int,
    month: str,
    cal: Calendar,
) -> list[Encounter]:
    sex, age, insutype, acct_balance_fen = person
    out: list[Encounter] = []
    for offset, d in enumerate(drafts):
        hospital = pick_hospital(rng, d.pool, d.visit)
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


def plan_filing(
    rng: random.Random,
    shape: Shape,
    psn_no: str,
    run: Calendar,
    encounters: Sequence[Encounter],
) -> FilingPlan | None:
    if shape.filing is None:
        return None
    main = shape.treatment_pools[0]
    channel = draw_channel(rng)
    caller = CHANNEL_CALLER[channel]
    long_term = shape.filing in _LONG_TERM
    away = [e for e in encounters if e.treatment_pool != shape.insured_pool]
    timing, start, submit_at = _submission(
        rng, long_term, shape.filing == "REFERRAL", run.first_day, away
    )
    referral = None
    if shape.filing == "REFERRAL":
        from_hospital = (
            pick_hospital(rng, shape.insured_pool, Visit.INPATIENT)
            if shape.insured_pool in HOSPITALS_BY_POOL
            else ""
        )
        to_hospital = next(
            (e.hospital for e in encounters if e.treatment_pool == main),
            pick_hospital(rng, main, Visit.INPATIENT),
        )
        icd, name = DIAGNOSES[rng.randrange(len(DIAGNOSES))]
        referral = (from_hospital, to_hospital, icd, name)
        if from_hospital and rng.randrange(100) < 50:
            channel, caller = "COUNTER", from_hospital  # filed by the referring hospital (2501)
    if timing in (FilingTiming.DURING_STAY, FilingTiming.AFTER_REFUSAL):
        channel, caller = "COUNTER", CHANNEL_CALLER["COUNTER"]  # 补办 at the counter
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
