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
from dataclasses import replace
from datetime import datetime, time, timedelta

from services.simulation.cohorts import (
    COHORTS,
    draw_assistance,
    draw_birth,
    draw_chronic,
    draw_documents,
    draw_name,
    draw_phone,
    draw_shape,
    modeled_late_filing_pct,
    weighted,
)
from services.simulation.encounters import (
    Calendar,
    draft_encounters,
    plan_encounters,
    plan_filing,
)
from services.simulation.plan import (
    CONCURRENCY_OF_SCALE,
    DEFAULT_FIRST_MONTH,
    FILING_TIMING,
    MSGID_SPAN,
    PERSONS_OF_SCALE,
    RUN_START_HOUR,
    UNCERTIFIED_CHRONIC_PERSONS,
    Encounter,
    FilingPlan,
    FilingTiming,
    MsgidBook,
    PersonPlan,
    Plan,
    Refusal,
    Scale,
    Step,
    StepKind,
    Visit,
    check_months,
    decision_at,
    month_end_at,
    month_of,
    month_window,
    next_month,
    person_steps,
)
from shared.reference import ZONE_BQF, in_zone

# The plan's vocabulary is defined in ``plan``; the rest of the tree imports it from here.
__all__ = [
    "CONCURRENCY_OF_SCALE",
    "DEFAULT_FIRST_MONTH",
    "FILING_TIMING",
    "MSGID_SPAN",
    "PERSONS_OF_SCALE",
    "Encounter",
    "FilingPlan",
    "FilingTiming",
    "MsgidBook",
    "PersonPlan",
    "Plan",
    "Refusal",
    "Scale",
    "Step",
    "StepKind",
    "Visit",
    "build_plan",
    "check_months",
    "decision_at",
    "is_bqf_pair",
    "modeled_late_filing_pct",
    "month_end_at",
    "month_of",
    "month_window",
    "next_month",
    "planned_retroactive",
    "relation_of",
    "uncertified_chronic",
]

# A trip happens in one month of the run; everyone else is treated every month.
_TRIP_COHORTS = frozenset({"gx_referral", "cross_referral", "temporary", "emergency", "unfiled"})


def _person(
    rng: random.Random,
    book: MsgidBook,
    index: int,
    months: Sequence[str],
    cals: Sequence[Calendar],
) -> PersonPlan:
    cohort = weighted(rng, COHORTS)
    shape = draw_shape(rng, cohort)
    first_day = cals[0].first_day
    sex = "1" if rng.randrange(2) else "2"
    birth = draw_birth(rng, shape.age_range, first_day)
    age = (
        first_day.year - birth.year - ((first_day.month, first_day.day) < (birth.month, birth.day))
    )
    insutype = shape.insutype
    if shape.retired and insutype != "310":
        insutype = "310"
    retired = shape.retired or (insutype == "310" and age >= 60)
    documents = draw_documents(rng, shape.documents, shape.insured_pool, birth, sex, index)
    name = draw_name(rng, shape.documents)
    phone = draw_phone(rng, shape.documents)
    assistance = draw_assistance(rng, insutype, shape.insured_pool)
    acct = 0
    if insutype == "310":
        acct = rng.randint(2_000, 6_000) * 100 if retired else rng.randint(800, 4_000) * 100
    chronic = draw_chronic(rng, age)
    if shape.heavy:
        chronic = "M07803" if rng.randrange(100) < 55 else "M00503"
    active = (rng.randrange(len(cals)),) if cohort in _TRIP_COHORTS else range(len(cals))
    encounters: list[Encounter] = []
    for m in active:
        drafts = draft_encounters(rng, shape, sex, age, chronic, cals[m])
        encounters += plan_encounters(
            rng, book, drafts, (sex, age, insutype, acct), len(encounters), months[m], cals[m]
        )
    psn_no = f"{shape.insured_pool}{index + 1:010d}"
    run = Calendar(first_day, cals[-1].last_day)
    filing = plan_filing(rng, shape, psn_no, run, encounters)
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
    cals = [Calendar(*month_window(m)) for m in chosen]
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
