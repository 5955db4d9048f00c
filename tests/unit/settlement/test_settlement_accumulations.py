"""Annual accumulations: deltas apply and reverse exactly; caps are checked by name."""

from __future__ import annotations

import pytest

from services.settlement.domain.accumulations import (
    AccumulationDelta,
    Accumulations,
    apply_delta,
    exceeded_caps,
    reverse_delta,
)
from services.settlement.domain.codes import (
    ChronicDisease,
    HospitalLevel,
    Insutype,
    PersonType,
    VisitType,
)
from services.settlement.domain.policy import basic_ratio_bp

from .builders import NANNING, policy_for

MT02, MT06 = ChronicDisease.DIABETES, ChronicDisease.COPD


def test_apply_then_reverse_is_identity() -> None:
    acc = Accumulations(hifp_basic_paid_fen=100, chronic_hifp_paid_fen={MT02: 100})
    delta = AccumulationDelta(
        hifp_basic_paid_fen=50, chronic_hifp_paid_fen={MT06: 50}, acct_paid_fen=7
    )
    after = apply_delta(acc, delta)
    assert after.hifp_basic_paid_fen == 150 and after.acct_paid_fen == 7
    assert dict(after.chronic_hifp_paid_fen) == {MT02: 100, MT06: 50}
    assert reverse_delta(after, delta) == acc


def test_zero_entries_do_not_change_equality() -> None:
    assert Accumulations(chronic_hifp_paid_fen={MT02: 0}) == Accumulations()
    delta = AccumulationDelta(chronic_hifp_paid_fen={MT02: 30})
    assert reverse_delta(apply_delta(Accumulations(), delta), delta) == Accumulations()


def test_reversing_more_than_was_taken_is_a_bug() -> None:
    with pytest.raises(AssertionError):
        reverse_delta(Accumulations(maf_paid_fen=10), AccumulationDelta(maf_paid_fen=11))


def test_dict_round_trip() -> None:
    acc = Accumulations(hifmi_selfpay_base_fen=5, chronic_hifp_paid_fen={MT06: 9})
    plain = acc.to_dict()
    assert plain["chronic_hifp_paid_fen"] == {"M05300": 9}
    assert Accumulations.from_dict(plain) == acc
    assert Accumulations.from_dict({}) == Accumulations()


def test_exceeded_caps_names_the_counter() -> None:
    policy = policy_for(NANNING)
    at_caps = Accumulations(
        hifp_basic_paid_fen=12_000_000,
        hifob_paid_fen=40_000_000,
        chronic_hifp_paid_fen={MT02: 2_000_000},
    )
    assert exceeded_caps(at_caps, policy, Insutype.EMPLOYEE) == []
    over = Accumulations(maf_paid_fen=6_000_001, chronic_hifp_paid_fen={MT02: 2_000_001})
    assert exceeded_caps(over, policy, Insutype.EMPLOYEE) == [
        "maf_paid_fen",
        "chronic_hifp_paid_fen[M01600]",
    ]
    # residents' per-disease cap is 10,000.00
    assert exceeded_caps(over, policy, Insutype.RESIDENT)[-1] == "chronic_hifp_paid_fen[M01600]"


@pytest.mark.parametrize(
    ("insutype", "visit", "level", "person_type", "reduction_bp", "expected_bp"),
    [
        (Insutype.EMPLOYEE, VisitType.INPATIENT, 1, PersonType.IN_SERVICE, 0, 9000),
        (Insutype.EMPLOYEE, VisitType.INPATIENT, 1, PersonType.RETIRED, 0, 9500),
        (Insutype.EMPLOYEE, VisitType.INPATIENT, 2, PersonType.RETIRED, 0, 9300),
        (Insutype.EMPLOYEE, VisitType.INPATIENT, 2, PersonType.RETIRED, 2000, 7300),
        (Insutype.EMPLOYEE, VisitType.ORDINARY_OUTPATIENT, 3, PersonType.RETIRED, 0, 6500),
        (Insutype.EMPLOYEE, VisitType.CHRONIC_OUTPATIENT, 3, PersonType.RETIRED, 0, 8500),
        (Insutype.RESIDENT, VisitType.INPATIENT, 2, PersonType.RETIRED, 0, 7500),
        (Insutype.RESIDENT, VisitType.INPATIENT, 3, PersonType.IN_SERVICE, 7000, 0),
    ],
    ids=[
        "employee-l1",
        "retiree-l1-ceiling-95",
        "retiree-l2",
        "retiree-l2-other-temporary",
        "retiree-outpatient",
        "retiree-chronic",
        "resident-no-retiree-bonus",
        "reduction-floor-0",
    ],
)
def test_basic_ratio(
    insutype: Insutype,
    visit: VisitType,
    level: int,
    person_type: PersonType,
    reduction_bp: int,
    expected_bp: int,
) -> None:
    benefits = policy_for(NANNING).benefits(insutype)
    ratio = basic_ratio_bp(benefits, visit, HospitalLevel(level), person_type, reduction_bp)
    assert ratio == expected_bp
