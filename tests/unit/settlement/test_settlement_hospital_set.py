"""The rules of 2202, 2403, 2404, 2405 and the headroom of 5206, without a database."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.settlement.domain.accumulations import (
    Accumulations,
    CapUsage,
    annual_usage,
    apply_delta,
    exceeded_caps,
)
from services.settlement.domain.codes import ChronicDisease, Insutype, VisitType
from services.settlement.domain.encounter import (
    EncounterState,
    check_admission_date,
    require_admission_cancellable,
    require_admission_changeable,
    require_discharge_cancellable,
    require_registration_cancellable,
    settle_request,
)
from services.settlement.domain.engine import settle
from shared.errors import FailedPrecondition, InvalidArgument

from .builders import GX_CATALOGUE, NANNING, TREATMENT_DATE, line, policy_for
from .test_settlement_service_rules import encounter

INPATIENT = {"visit_type": VisitType.INPATIENT}
SETTLED = {"state": EncounterState.SETTLED, "setl_id": "S1"}
CANCELLED = {"state": EncounterState.CANCELLED}


def _reason(check: object, *args: object) -> str:
    with pytest.raises(FailedPrecondition) as info:
        check(*args)  # type: ignore[operator]
    return info.value.reason


def test_a_registration_is_cancelled_with_its_lines_unless_a_settlement_stands() -> None:
    require_registration_cancellable(encounter(line_count=3))
    assert _reason(require_registration_cancellable, encounter(**SETTLED)) == (
        "ENCOUNTER_ALREADY_SETTLED"
    )
    assert _reason(require_registration_cancellable, encounter(**CANCELLED)) == (
        "ENCOUNTER_CANCELLED"
    )
    assert _reason(require_registration_cancellable, encounter(**INPATIENT)) == (
        "NOT_AN_OUTPATIENT_ENCOUNTER"
    )


def test_an_admission_is_cancelled_only_bare() -> None:
    require_admission_cancellable(encounter(**INPATIENT))
    cases = {
        "NOT_AN_INPATIENT_ENCOUNTER": encounter(),
        "ENCOUNTER_ALREADY_SETTLED": encounter(**INPATIENT, **SETTLED),
        "ENCOUNTER_CANCELLED": encounter(**INPATIENT, **CANCELLED),
        "FEE_LINES_STANDING": encounter(**INPATIENT, line_count=1),
        "ALREADY_DISCHARGED": encounter(**INPATIENT, discharge_date=TREATMENT_DATE),
    }
    for reason, e in cases.items():
        assert _reason(require_admission_cancellable, e) == reason


def test_a_discharge_is_withdrawn_only_while_no_settlement_stands() -> None:
    discharged = {**INPATIENT, "discharge_date": TREATMENT_DATE}
    require_discharge_cancellable(encounter(**discharged))
    require_discharge_cancellable(encounter(**discharged, line_count=2))
    assert _reason(require_discharge_cancellable, encounter(**discharged, **SETTLED)) == (
        "ENCOUNTER_ALREADY_SETTLED"
    )
    assert _reason(require_discharge_cancellable, encounter(**INPATIENT)) == "NOT_DISCHARGED"
    assert _reason(require_discharge_cancellable, encounter(**discharged, **CANCELLED)) == (
        "ENCOUNTER_CANCELLED"
    )


def test_an_admission_changes_before_settlement_and_keeps_its_lines_and_discharge() -> None:
    stay = encounter(**INPATIENT, discharge_date=TREATMENT_DATE + timedelta(days=5))
    require_admission_changeable(stay)
    assert _reason(require_admission_changeable, encounter(**INPATIENT, **SETTLED)) == (
        "ENCOUNTER_ALREADY_SETTLED"
    )
    assert _reason(require_admission_changeable, encounter()) == "NOT_AN_INPATIENT_ENCOUNTER"
    check_admission_date(stay, TREATMENT_DATE - timedelta(days=3), TREATMENT_DATE)
    check_admission_date(stay, TREATMENT_DATE + timedelta(days=1), None)
    with pytest.raises(InvalidArgument):
        check_admission_date(stay, TREATMENT_DATE + timedelta(days=6), None)
    assert (
        _reason(check_admission_date, stay, TREATMENT_DATE + timedelta(days=2), TREATMENT_DATE)
        == "FEE_LINES_BEFORE_ADMISSION"
    )


def test_headroom_is_each_cap_of_the_policy_less_what_was_used() -> None:
    policy = policy_for(NANNING)
    benefits = policy.benefits(Insutype.EMPLOYEE)
    empty = annual_usage(Accumulations(), policy, Insutype.EMPLOYEE)
    assert empty.outpatient_deductible == CapUsage(0, benefits.outpatient.annual_deductible_fen)
    assert empty.hifp_basic.left_fen == benefits.basic.annual_cap_fen
    assert [d for d, _ in empty.chronic] == sorted(benefits.chronic.diseases)

    request = settle_request(
        encounter(line_count=1),
        [line(1, "A1", 1500), line(2, "A1", 35_000)],
        Accumulations(),
        acct_opted_in=True,
    )
    result = settle(request, GX_CATALOGUE, policy)
    acc = apply_delta(Accumulations(), result.delta)
    used = annual_usage(acc, policy, Insutype.EMPLOYEE)
    assert used.outpatient_deductible.used_fen == result.act_pay_dedc_fen
    assert used.hifp_outpatient.used_fen == result.hifp_pay_fen
    assert used.hifp_outpatient.left_fen == benefits.outpatient.annual_cap_fen - result.hifp_pay_fen
    assert used.acct_paid_fen == result.acct_pay_fen

    over = Accumulations(
        hifp_basic_paid_fen=benefits.basic.annual_cap_fen + 1,
        chronic_hifp_paid_fen={ChronicDisease.HYPERTENSION: 5},
    )
    usage = annual_usage(over, policy, Insutype.EMPLOYEE)
    assert usage.hifp_basic.left_fen == 0  # never below zero
    assert exceeded_caps(over, policy, Insutype.EMPLOYEE) == ["hifp_basic_paid_fen"]
    assert dict(usage.chronic)[ChronicDisease.HYPERTENSION].used_fen == 5
