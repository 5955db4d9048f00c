"""Designated-pharmacy purchases in the policy and the engine: the modeled switch that
admits pharmacies to ordinary-outpatient pooling (门诊统筹进药店), and what an ordinary
purchase (med_type 41) takes from each payer with it on and off; the dual channel."""

from __future__ import annotations

from typing import Any

import pytest

from services.settlement.domain.accumulations import Accumulations
from services.settlement.domain.codes import (
    AssistanceCategory,
    ChronicDisease,
    FundType,
    Insutype,
    VisitType,
)
from services.settlement.domain.engine import settle
from services.settlement.domain.pharmacy import (
    NOT_DUAL_CHANNEL,
    dual_channel_pharmacies,
    require_dual_channel,
)
from services.settlement.domain.policy import BenefitPolicy
from services.settlement.domain.seed import load_policies
from shared.errors import FailedPrecondition, InvalidArgument
from shared.reference import InstitutionKind, get_institution

from .builders import GD_CATALOGUE, GUANGZHOU, NANNING, line, policy_for, request

SHENZHEN = "440300"


def test_seed_policies_admit_pharmacies_in_guangdong_only() -> None:
    by_id = {p.policy_id: p for p in load_policies()}
    assert not by_id["GX"].pharmacy.outpatient_pooling
    assert by_id["GD_GBA"].pharmacy.outpatient_pooling
    assert by_id["GD_OTHER"].pharmacy.outpatient_pooling
    for policy in by_id.values():
        assert policy.pharmacy.source.modeled and "门诊统筹进药店" in policy.pharmacy.source.note


def test_a_policy_without_the_switch_keeps_pharmacies_out() -> None:
    raw: dict[str, Any] = policy_for(GUANGZHOU).to_dict()
    assert raw["pharmacy"]["outpatient_pooling"] is True
    assert BenefitPolicy.from_dict(raw) == policy_for(GUANGZHOU)  # round trip
    del raw["pharmacy"]
    assert not BenefitPolicy.from_dict(raw).pharmacy.outpatient_pooling


def test_a_bad_switch_is_named() -> None:
    raw = policy_for(GUANGZHOU).to_dict()
    raw["pharmacy"]["outpatient_pooling"] = "yes"
    with pytest.raises(InvalidArgument) as info:
        BenefitPolicy.from_dict(raw)
    assert [v.field for v in info.value.violations] == ["pharmacy.outpatient_pooling"]


def test_not_pooled_purchase_is_account_then_cash() -> None:
    # Nanning (Guangxi: off) buys 300.00 of class A and 100.00 of class B in Guangzhou.
    lines = [line(1, "A1", 30_000), line(2, "B1", 10_000)]
    r = settle(
        request(
            lines,
            visit=VisitType.PHARMACY_PURCHASE,
            insured=NANNING,
            treatment=GUANGZHOU,
            maf=AssistanceCategory.MINIMUM_LIVING,  # assistance pays nothing outside pooling either
            balance_fen=25_000,
            opted_in=True,
        ),
        GD_CATALOGUE,
        policy_for(NANNING),
    )
    # in scope 300.00 + 95.00 (5 % advance self-pay 5.00); no fund pays.
    assert (r.medfee_sumamt_fen, r.preselfpay_amt_fen, r.inscp_scp_amt_fen) == (40_000, 500, 39_500)
    assert (r.hifp_pay_fen, r.maf_pay_fen, r.fund_pay_sumamt_fen, r.act_pay_dedc_fen) == (
        0,
        0,
        0,
        0,
    )
    assert (r.acct_pay_fen, r.psn_cash_pay_fen, r.balc_fen) == (25_000, 15_000, 0)
    assert r.med_type is VisitType.PHARMACY_PURCHASE
    assert [d.fund_pay_type for d in r.details] == [FundType.HIFP, FundType.ACCT]
    assert "does not admit pharmacies" in r.details[0].setl_proc_info
    assert r.delta.acct_paid_fen == 25_000
    assert r.delta.hifp_outpatient_paid_fen == r.delta.outpatient_deductible_used_fen == 0


def test_pooled_purchase_shares_the_outpatient_deductible_ratio_and_cap() -> None:
    # Guangzhou (GD_GBA: on) employee buys 300.00 of class A in Shenzhen.
    lines = [line(1, "A1", 30_000)]
    policy = policy_for(GUANGZHOU)
    kw: dict[str, Any] = {
        "visit": VisitType.PHARMACY_PURCHASE,
        "insured": GUANGZHOU,
        "treatment": SHENZHEN,
        "balance_fen": 5_000,
        "opted_in": True,
    }
    r = settle(request(lines, **kw), GD_CATALOGUE, policy)
    # deductible 100.00, then (300.00 − 100.00) × 60 % = 120.00; account 50.00, cash 130.00.
    assert (r.act_pay_dedc_fen, r.hifp_pay_fen, r.pool_prop_selfpay_bp) == (10_000, 12_000, 6_000)
    assert (r.acct_pay_fen, r.psn_cash_pay_fen) == (5_000, 13_000)
    assert r.delta.outpatient_deductible_used_fen == 10_000
    assert r.delta.hifp_outpatient_paid_fen == 12_000 and r.delta.hifp_basic_paid_fen == 0

    # The deductible met and the cap nearly used at a hospital count for the pharmacy.
    used = Accumulations(
        outpatient_deductible_used_fen=10_000,
        hifp_outpatient_paid_fen=policy.employee.outpatient.annual_cap_fen - 7_000,
    )
    r = settle(request(lines, acc=used, **kw), GD_CATALOGUE, policy)
    assert (r.act_pay_dedc_fen, r.hifp_pay_fen) == (0, 7_000)  # 180.00 computed, 70.00 left

    # The same bill as an ordinary outpatient visit moves the same counters.
    visit = settle(
        request(lines, **{**kw, "visit": VisitType.ORDINARY_OUTPATIENT}), GD_CATALOGUE, policy
    )
    purchase = settle(request(lines, **kw), GD_CATALOGUE, policy)
    assert visit.delta == purchase.delta and visit.hifp_pay_fen == purchase.hifp_pay_fen


def test_resident_not_pooled_pays_cash() -> None:
    r = settle(
        request(
            [line(1, "A1", 8_000)],
            insutype=Insutype.RESIDENT,
            visit=VisitType.PHARMACY_PURCHASE,
            treatment=GUANGZHOU,
            opted_in=True,
            balance_fen=0,
        ),
        GD_CATALOGUE,
        policy_for(NANNING),
    )
    assert (r.fund_pay_sumamt_fen, r.acct_pay_fen, r.psn_cash_pay_fen) == (0, 0, 8_000)


def test_dual_channel_pharmacies_are_designated_pharmacies() -> None:
    codes = dual_channel_pharmacies()
    assert codes
    for code in codes:
        assert get_institution(code).kind is InstitutionKind.PHARMACY
    require_dual_channel("P44010000002", None)  # an ordinary purchase: any pharmacy
    require_dual_channel(sorted(codes)[0], ChronicDisease.HYPERTENSION)
    with pytest.raises(FailedPrecondition) as info:
        require_dual_channel("P44010000002", ChronicDisease.HYPERTENSION)
    assert info.value.reason == NOT_DUAL_CHANNEL
