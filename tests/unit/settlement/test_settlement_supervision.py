"""Pre-settlement warnings: duplicates, restrictions, quantity limits."""

from __future__ import annotations

from datetime import date

import pytest

from services.settlement.domain import supervision as sv
from services.settlement.domain.codes import ChronicDisease, Sex, VisitType
from services.settlement.domain.supervision import supervise_request

from .builders import GX_CATALOGUE, TREATMENT_DATE, line, request


def _codes(warnings: tuple[sv.SupervisionWarning, ...]) -> list[tuple[str, int]]:
    return [(w.code, w.line_no) for w in warnings]


def test_clean_bill_has_no_warnings() -> None:
    req = request([line(1, "A1", 100), line(2, "B1", 100), line(3, "A1", 100, 20_000)])
    assert supervise_request(req, GX_CATALOGUE) == ()


def test_duplicate_lines_point_at_the_first() -> None:
    req = request(
        [
            line(1, "A1", 100),
            line(2, "A1", 100),  # duplicate of 1
            line(3, "A1", 100, fee_date=date(2026, 3, 16)),  # other day: fine
            line(4, "A1", 101),  # other price: fine
            line(5, "A1", 100),  # duplicate of 1 again
        ]
    )
    warnings = supervise_request(req, GX_CATALOGUE)
    assert _codes(warnings) == [(sv.DUPLICATE_FEE_LINE, 2), (sv.DUPLICATE_FEE_LINE, 5)]
    assert "repeats line 1" in warnings[0].message


@pytest.mark.parametrize(
    ("code", "kwargs", "expected"),
    [
        ("IP", {"visit": VisitType.ORDINARY_OUTPATIENT}, sv.RESTRICTION_INPATIENT_ONLY),
        ("MALE", {"sex": Sex.FEMALE}, sv.RESTRICTION_SEX),
        ("ADULT", {"age_years": 17}, sv.RESTRICTION_AGE),
        ("CHILD", {"age_years": 15}, sv.RESTRICTION_AGE),
        (
            "DM",
            {"visit": VisitType.CHRONIC_OUTPATIENT, "disease": ChronicDisease.HYPERTENSION},
            sv.RESTRICTION_CHRONIC_DISEASE,
        ),
        ("DM", {"visit": VisitType.ORDINARY_OUTPATIENT}, sv.RESTRICTION_CHRONIC_DISEASE),
    ],
    ids=[
        "inpatient-only-in-outpatient",
        "male-item-for-female",
        "adult-item-at-17",
        "child-item-at-15",
        "diabetes-item-for-hypertension",
        "diabetes-item-in-ordinary-outpatient",
    ],
)
def test_restriction_breached(code: str, kwargs: dict[str, object], expected: str) -> None:
    req = request([line(1, "A1", 100), line(2, code, 100)], **kwargs)  # type: ignore[arg-type]
    assert _codes(supervise_request(req, GX_CATALOGUE)) == [(expected, 2)]


@pytest.mark.parametrize(
    ("code", "kwargs"),
    [
        ("IP", {}),
        ("MALE", {"sex": Sex.MALE}),
        ("ADULT", {"age_years": 18}),
        ("CHILD", {"age_years": 14}),
        ("DM", {"visit": VisitType.CHRONIC_OUTPATIENT, "disease": ChronicDisease.DIABETES}),
        ("DM", {}),  # inpatient care is not limited by the outpatient disease list
    ],
    ids=[
        "inpatient-only-for-inpatient",
        "male-item-for-male",
        "adult-item-at-18",
        "child-item-at-14",
        "diabetes-item-for-diabetes",
        "diabetes-item-inpatient",
    ],
)
def test_restriction_met(code: str, kwargs: dict[str, object]) -> None:
    req = request([line(1, code, 100)], **kwargs)  # type: ignore[arg-type]
    assert supervise_request(req, GX_CATALOGUE) == ()


def test_quantity_over_limit_warns_once_where_crossed() -> None:
    # limit 3 units per bill: 2 + 1 = 3 is fine, the 1.5 more crosses, later lines stay quiet
    req = request(
        [
            line(1, "QTY", 100, 20_000),
            line(2, "QTY", 100, 10_000, fee_date=date(2026, 3, 16)),
            line(3, "QTY", 100, 15_000),
            line(4, "QTY", 100, 10_000, fee_date=date(2026, 3, 17)),
        ]
    )
    warnings = supervise_request(req, GX_CATALOGUE)
    assert _codes(warnings) == [(sv.QUANTITY_OVER_LIMIT, 3)]
    assert "4.5 次 on this bill, limit 3" in warnings[0].message


def test_unknown_items_are_left_to_settlement() -> None:
    req = request([line(1, "NOPE", 100), line(2, "NOPE", 100)])
    assert _codes(supervise_request(req, GX_CATALOGUE)) == [(sv.DUPLICATE_FEE_LINE, 2)]


def test_admitted_elsewhere_is_an_encounter_warning() -> None:
    warning = sv.admitted_elsewhere("H45010000001", TREATMENT_DATE)
    assert (warning.code, warning.line_no) == ("ADMITTED_ELSEWHERE", 0)
    assert warning.to_dict()["code"] == sv.ADMITTED_ELSEWHERE


def test_codes_are_stable_upper_snake() -> None:
    assert all(code.isupper() and " " not in code for code in sv.ALL_CODES)
    assert len(set(sv.ALL_CODES)) == len(sv.ALL_CODES)
