"""Property tests: whatever the bill, person and year so far, the books balance.

Bills are drawn from the shipped Guangxi and Guangdong catalogues and priced anywhere from
one fen to 20,000 yuan a unit, so every restriction, price limit and class is exercised.
"""

from __future__ import annotations

from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.settlement.domain.accumulations import (
    AccumulationDelta,
    Accumulations,
    apply_delta,
    exceeded_caps,
    reverse_delta,
)
from services.settlement.domain.bill import FeeLine, line_amount_fen
from services.settlement.domain.catalogue import select_catalogue
from services.settlement.domain.codes import (
    ASSISTED_CATEGORIES,
    ChronicDisease,
    HospitalLevel,
    Insutype,
    PersonType,
    Sex,
    VisitType,
)
from services.settlement.domain.engine import (
    AccountContext,
    EncounterContext,
    PersonContext,
    SettlementResult,
    SettleRequest,
    settle,
)
from services.settlement.domain.policy import select_policy
from services.settlement.domain.seed import load_catalogues, load_policies

ON = date(2026, 5, 20)
CATALOGUES = {p: select_catalogue(load_catalogues(), p, ON) for p in ("45", "44")}
CODES = {p: [item.code for item in c.items] for p, c in CATALOGUES.items()}
POOLS = ["450100", "450500", "451000", "440100", "440300", "440200", "445200"]
PROPERTY_SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def fee_lines(draw: st.DrawFn, province: str) -> tuple[FeeLine, ...]:
    count = draw(st.integers(1, 8))
    lines = []
    for line_no in range(1, count + 1):
        code = draw(st.sampled_from(CODES[province]))
        price_fen = draw(st.one_of(st.integers(1, 5_000), st.integers(1, 2_000_000)))
        quantity_e4 = draw(st.one_of(st.integers(1, 100_000), st.sampled_from([10_000, 20_000])))
        amount_fen = line_amount_fen(price_fen, quantity_e4)
        if amount_fen == 0:  # a line must carry at least one fen
            quantity_e4, amount_fen = 10_000, price_fen
        fee_date = draw(st.sampled_from([ON, date(2026, 5, 21)]))
        lines.append(FeeLine(line_no, code, fee_date, quantity_e4, price_fen, amount_fen))
    return tuple(lines)


def _fen(high: int) -> st.SearchStrategy[int]:
    return st.one_of(st.just(0), st.integers(0, high))


@st.composite
def accumulations(draw: st.DrawFn) -> Accumulations:
    """Anything from an empty year to one past every cap (a policy lowered mid-year)."""
    return Accumulations(
        outpatient_deductible_used_fen=draw(_fen(12_000)),
        hifp_basic_paid_fen=draw(_fen(16_000_000)),
        hifp_outpatient_paid_fen=draw(_fen(210_000)),
        chronic_hifp_paid_fen=draw(
            st.dictionaries(st.sampled_from(list(ChronicDisease)), _fen(2_100_000), max_size=3)
        ),
        hifob_paid_fen=draw(_fen(41_000_000)),
        hifmi_paid_fen=draw(_fen(41_000_000)),
        hifmi_selfpay_base_fen=draw(_fen(30_000_000)),
        maf_paid_fen=draw(_fen(6_100_000)),
        acct_paid_fen=draw(_fen(1_000_000)),
    )


@st.composite
def people(draw: st.DrawFn) -> PersonContext:
    return PersonContext(
        draw(st.sampled_from(POOLS)),
        draw(st.sampled_from(list(Insutype))),
        draw(st.sampled_from(list(PersonType))),
        draw(st.sampled_from(list(Sex))),
        draw(st.integers(0, 100)),
        draw(st.none() | st.sampled_from(list(ASSISTED_CATEGORIES))),
    )


@st.composite
def bills(
    draw: st.DrawFn, person: PersonContext, acc: Accumulations | None = None
) -> SettleRequest:
    """A bill for ``person`` at a random hospital; random accumulations unless given."""
    treatment = draw(st.sampled_from(POOLS))
    visit = draw(st.sampled_from(list(VisitType)))
    is_chronic = visit is VisitType.CHRONIC_OUTPATIENT
    disease = draw(st.sampled_from(list(ChronicDisease))) if is_chronic else None
    reduction_bp = draw(st.one_of(st.sampled_from([0, 1000, 2000]), st.integers(0, 10_000)))
    level = draw(st.sampled_from(list(HospitalLevel)))
    encounter = EncounterContext(treatment, visit, level, ON, reduction_bp, disease)
    account = AccountContext(draw(_fen(2_000_000)), draw(st.booleans()))
    lines = draw(fee_lines(treatment[:2]))
    return SettleRequest(person, encounter, lines, acc or draw(accumulations()), account)


def settle_requests() -> st.SearchStrategy[SettleRequest]:
    return people().flatmap(bills)


def _settle(req: SettleRequest) -> SettlementResult:
    catalogue = CATALOGUES[req.encounter.treatment_pool_code[:2]]
    policy = select_policy(load_policies(), req.person.insured_pool_code, ON)
    return settle(req, catalogue, policy)


@PROPERTY_SETTINGS
@given(settle_requests())
def test_parts_sum_exactly_and_none_is_negative(req: SettleRequest) -> None:
    r = _settle(req)
    fen_fields = {k: v for k, v in vars(r).items() if k.endswith("_fen")}
    assert all(v >= 0 for v in fen_fields.values()), fen_fields
    assert r.medfee_sumamt_fen == sum(line.amount_fen for line in req.fee_lines)
    assert r.medfee_sumamt_fen == (
        r.fulamt_ownpay_amt_fen + r.overlmt_selfpay_fen + r.preselfpay_amt_fen + r.inscp_scp_amt_fen
    )
    funds = r.hifp_pay_fen + r.hifob_pay_fen + r.hifmi_pay_fen + r.maf_pay_fen
    assert r.fund_pay_sumamt_fen == funds <= r.inscp_scp_amt_fen
    assert r.medfee_sumamt_fen == r.fund_pay_sumamt_fen + r.psn_part_amt_fen
    assert r.psn_part_amt_fen == r.acct_pay_fen + r.psn_cash_pay_fen
    assert r.acct_pay_fen <= req.account.balance_fen
    assert r.balc_fen == req.account.balance_fen - r.acct_pay_fen
    assert 0 <= r.pool_prop_selfpay_bp <= 9500
    for split in r.lines:
        parts = (
            split.fulamt_ownpay_fen,
            split.overlmt_selfpay_fen,
            split.preselfpay_fen,
            split.inscp_fen,
        )
        assert min(parts) >= 0 and sum(parts) == split.amount_fen
    if req.person.insutype is Insutype.RESIDENT:
        assert r.hifob_pay_fen == 0 and r.acct_pay_fen == 0
    else:
        assert r.hifmi_pay_fen == 0
    if req.person.maf_category is None:
        assert r.maf_pay_fen == 0


@st.composite
def years(draw: st.DrawFn) -> list[SettleRequest]:
    """One person's bills over a year, each drawn with empty accumulations (replaced below)."""
    person = draw(people())
    return draw(st.lists(bills(person, Accumulations()), min_size=1, max_size=6))


@PROPERTY_SETTINGS
@given(years())
def test_a_year_of_bills_never_passes_a_cap(year: list[SettleRequest]) -> None:
    """Each bill starts from the accumulations the previous one left."""
    person = year[0].person
    policy = select_policy(load_policies(), person.insured_pool_code, ON)
    acc = Accumulations()
    for bill in year:
        result = _settle(SettleRequest(person, bill.encounter, bill.fee_lines, acc, bill.account))
        acc = apply_delta(acc, result.delta)
        assert exceeded_caps(acc, policy, person.insutype) == []


@PROPERTY_SETTINGS
@given(settle_requests())
def test_settle_then_reverse_restores_the_accumulations(req: SettleRequest) -> None:
    result = _settle(req)
    after = apply_delta(req.accumulations, result.delta)
    assert reverse_delta(after, result.delta) == req.accumulations
    assert AccumulationDelta.from_dict(result.delta.to_dict()) == result.delta


def _two_bills(person: PersonContext) -> st.SearchStrategy[tuple[SettleRequest, SettleRequest]]:
    return st.tuples(bills(person), bills(person, Accumulations()))


@PROPERTY_SETTINGS
@given(people().flatmap(_two_bills))
def test_reversal_out_of_order_restores_too(pair: tuple[SettleRequest, SettleRequest]) -> None:
    """Two settlements, the first reversed after the second: the second's delta remains."""
    first, second = pair
    d1 = _settle(first).delta
    after_first = apply_delta(first.accumulations, d1)
    d2 = _settle(
        SettleRequest(
            second.person, second.encounter, second.fee_lines, after_first, second.account
        )
    ).delta
    both = apply_delta(after_first, d2)
    assert reverse_delta(both, d1) == apply_delta(first.accumulations, d2)
