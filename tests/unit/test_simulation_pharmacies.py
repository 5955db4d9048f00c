"""The simulated month's pharmacy purchases: drawn from the seed alone (the same plan
gives the same purchases), by long-term filers at pharmacies of the city they live in,
on days of the treatment months their filing covers; chronic drugs only for a certified
disease at a dual-channel pharmacy."""

from __future__ import annotations

from collections import Counter

from services.settlement.domain.pharmacy import dual_channel_pharmacies
from services.simulation.pharmacies import BUYING_COHORTS, plan_purchases, purchase_steps
from services.simulation.scenario import StepKind, build_plan

SEED, MONTH, PERSONS = 20261, "202606", 300


def test_purchases_repeat_for_a_seed_and_fit_the_filings() -> None:
    plan = build_plan(SEED, MONTH, 1, PERSONS)
    purchases = plan_purchases(plan)
    assert purchases == plan_purchases(build_plan(SEED, MONTH, 1, PERSONS))
    assert len(purchases) > 50
    persons = {p.index: p for p in plan.persons}
    for x in purchases:
        p = persons[x.person]
        f = p.filing
        assert f is not None and p.cohort in BUYING_COHORTS
        assert x.pharmacy[1:7] != p.insured_pool, "cross-region relative to the insured pool"
        assert x.pharmacy[1:7] == f.destination_pool or x.pharmacy[1:3] == f.destination_province
        assert f"{x.at:%Y%m}" == MONTH and x.at.date() >= f.start_date
        assert len(set(x.msgids)) == 3 and all(m.startswith(x.pharmacy) for m in x.msgids)
        if x.disease is not None:
            assert x.disease == p.chronic and x.pharmacy in dual_channel_pharmacies()
            assert p.certify_at is not None and p.certify_at < x.at
    kinds = Counter(x.disease is not None for x in purchases)
    assert kinds[True] > 0 and kinds[False] > 0
    cities = {x.pharmacy[1:7] for x in purchases}
    assert {"440100", "440300", "450500"} <= cities
    steps = purchase_steps(purchases)
    assert [s.kind for s in steps] == [StepKind.PURCHASE] * len(purchases)
    assert all(purchases[s.encounter].at == s.at for s in steps)


def test_a_different_seed_draws_other_purchases() -> None:
    a = plan_purchases(build_plan(SEED, MONTH, 1, PERSONS))
    b = plan_purchases(build_plan(SEED + 1, MONTH, 1, PERSONS))
    assert a != b
