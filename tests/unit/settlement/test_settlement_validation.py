"""Bad input gets a domain error naming the field or the rule, never a half result."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from services.settlement.domain.bill import MAX_LINES_PER_BILL, FeeLine
from services.settlement.domain.codes import ChronicDisease, VisitType
from services.settlement.domain.engine import settle
from shared.errors import FailedPrecondition, InvalidArgument

from .builders import GUANGZHOU, GX_CATALOGUE, NANNING, TREATMENT_DATE, line, policy_for, request

GX_POLICY = policy_for(NANNING)


def _fields(exc: InvalidArgument) -> set[str]:
    return {v.field for v in exc.violations}


@pytest.mark.parametrize(
    ("bad_line", "field"),
    [
        (FeeLine(1, "A1", TREATMENT_DATE, 10_000, 1_000, 999), "fee_lines[1].amount_fen"),
        (FeeLine(1, "A1", TREATMENT_DATE, 0, 1_000, 0), "fee_lines[1].quantity_e4"),
        (FeeLine(1, "A1", TREATMENT_DATE, 10_000, 0, 0), "fee_lines[1].unit_price_fen"),
        (FeeLine(1, "A1", TREATMENT_DATE, 10_000, -5, -5), "fee_lines[1].unit_price_fen"),
        (FeeLine(1, "A1", TREATMENT_DATE, 1, 1, 0), "fee_lines[1].amount_fen"),
        (FeeLine(1, "", TREATMENT_DATE, 10_000, 100, 100), "fee_lines[1].item_code"),
        (FeeLine(0, "A1", TREATMENT_DATE, 10_000, 100, 100), "fee_lines[1].line_no"),
        (FeeLine(7, "A1", TREATMENT_DATE, 10_000, 100, 100), "fee_lines[1].line_no"),  # repeats 7
        (
            FeeLine(1, "A1", TREATMENT_DATE, 200_000_000, 100, 2_000_000),
            "fee_lines[1].quantity_e4",
        ),
    ],
    ids=[
        "amount-not-price-times-quantity",
        "zero-quantity",
        "zero-price",
        "negative-price",
        "amount-rounds-to-zero",
        "empty-code",
        "line-no-zero",
        "line-no-repeated",
        "quantity-over-limit",
    ],
)
def test_bad_fee_line_names_its_field(bad_line: FeeLine, field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        settle(request([line(7, "A1", 100), bad_line]), GX_CATALOGUE, GX_POLICY)
    assert field in _fields(err.value)


def test_amount_is_price_times_quantity_rounded_half_up() -> None:
    # 0.3333 × 1.50 = 0.499995 → 0.50
    ok = FeeLine(1, "A1", TREATMENT_DATE, 3_333, 150, 50)
    assert settle(request([ok]), GX_CATALOGUE, GX_POLICY).medfee_sumamt_fen == 50


def test_unknown_item_code_is_invalid_argument() -> None:
    with pytest.raises(InvalidArgument) as err:
        settle(request([line(1, "A1", 100), line(2, "NOPE", 100)]), GX_CATALOGUE, GX_POLICY)
    assert _fields(err.value) == {"fee_lines[1].item_code"}


def test_every_bad_field_is_reported_at_once() -> None:
    lines = [FeeLine(1, "A1", TREATMENT_DATE, 0, 0, 1), FeeLine(2, "A1", TREATMENT_DATE, 1, 0, 5)]
    with pytest.raises(InvalidArgument) as err:
        settle(request(lines), GX_CATALOGUE, GX_POLICY)
    assert {
        "fee_lines[0].quantity_e4",
        "fee_lines[0].unit_price_fen",
        "fee_lines[1].unit_price_fen",
    } <= _fields(err.value)


def test_line_count_is_limited() -> None:
    lines = [line(i + 1, "A1", 100) for i in range(MAX_LINES_PER_BILL + 1)]
    with pytest.raises(InvalidArgument) as err:
        settle(request(lines), GX_CATALOGUE, GX_POLICY)
    assert _fields(err.value) == {"fee_lines"}
    with pytest.raises(InvalidArgument):
        settle(request([]), GX_CATALOGUE, GX_POLICY)
    assert settle(request(lines[:-1]), GX_CATALOGUE, GX_POLICY).medfee_sumamt_fen == 200_000


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"visit": VisitType.CHRONIC_OUTPATIENT}, "encounter.chronic_disease"),
        ({"disease": ChronicDisease.DIABETES}, "encounter.chronic_disease"),
        ({"reduction_bp": -1}, "encounter.ratio_reduction_bp"),
        ({"reduction_bp": 10_001}, "encounter.ratio_reduction_bp"),
        ({"age_years": 151}, "person.age_years"),
        ({"insured": "45010"}, "person.insured_pool_code"),
        ({"treatment": "ABCDEF"}, "encounter.treatment_pool_code"),
        ({"balance_fen": -1}, "account.balance_fen"),
    ],
    ids=[
        "chronic-without-disease",
        "disease-on-inpatient",
        "negative-reduction",
        "reduction-over-100pct",
        "age-over-limit",
        "short-pool-code",
        "bad-treatment-pool",
        "negative-balance",
    ],
)
def test_bad_context_names_its_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        settle(request([line(1, "A1", 100)], **kwargs), GX_CATALOGUE, GX_POLICY)  # type: ignore[arg-type]
    assert field in _fields(err.value)


def test_catalogue_must_be_the_treatment_province() -> None:
    with pytest.raises(FailedPrecondition) as err:
        settle(request([line(1, "A1", 100)], treatment=GUANGZHOU), GX_CATALOGUE, GX_POLICY)
    assert err.value.reason == "CATALOGUE_PROVINCE_MISMATCH"


def test_policy_must_cover_the_insured_pool() -> None:
    with pytest.raises(FailedPrecondition) as err:
        settle(request([line(1, "A1", 100)], insured=GUANGZHOU), GX_CATALOGUE, GX_POLICY)
    assert err.value.reason == "POLICY_POOL_MISMATCH"


def test_versions_must_be_in_effect() -> None:
    later_policy = dataclasses.replace(GX_POLICY, effective_date=date(2027, 1, 1))
    with pytest.raises(FailedPrecondition) as err:
        settle(request([line(1, "A1", 100)]), GX_CATALOGUE, later_policy)
    assert err.value.reason == "POLICY_NOT_IN_EFFECT"
    later_catalogue = dataclasses.replace(GX_CATALOGUE, effective_date=date(2027, 1, 1))
    with pytest.raises(FailedPrecondition) as err:
        settle(request([line(1, "A1", 100)]), later_catalogue, GX_POLICY)
    assert err.value.reason == "CATALOGUE_NOT_IN_EFFECT"


def test_chronic_disease_must_be_covered() -> None:
    employee = dataclasses.replace(
        GX_POLICY.employee,
        chronic=dataclasses.replace(
            GX_POLICY.employee.chronic, diseases=(ChronicDisease.DIABETES,)
        ),
    )
    narrow = dataclasses.replace(GX_POLICY, employee=employee)
    req = request(
        [line(1, "A1", 100)],
        visit=VisitType.CHRONIC_OUTPATIENT,
        disease=ChronicDisease.COPD,
    )
    with pytest.raises(FailedPrecondition) as err:
        settle(req, GX_CATALOGUE, narrow)
    assert err.value.reason == "CHRONIC_DISEASE_NOT_COVERED"
