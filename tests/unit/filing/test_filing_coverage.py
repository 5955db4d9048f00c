from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest

from services.filing.domain import (
    SEED_POLICY,
    ChangeReason,
    Channel,
    Coverage,
    CoverageBasis,
    Destination,
    Filing,
    FilingCategory,
    FilingChange,
    FilingRequest,
    FilingSubmission,
    ReasonCode,
    Visit,
    VisitType,
    decide_coverage,
    validate_cancel,
    validate_change,
    validate_submission,
)
from shared.errors import InvalidArgument
from shared.identity import DocumentType, make_residence_permit, validate_document
from shared.reference import Relation

TODAY = date(2026, 11, 22)
NANNING, LIUZHOU, BEIHAI, FANGCHENGGANG, QINZHOU = "450100", "450200", "450500", "450600", "450700"
GUANGZHOU, SHENZHEN, ZHUHAI = "440100", "440300", "440400"

NANNING_TO_GZ_TEMPORARY = Filing(
    filing_id="F-TMP",
    insured_pool=NANNING,
    destination=Destination.of_pool(GUANGZHOU),
    category=FilingCategory.OTHER_TEMPORARY,
    channel=Channel.APP,
    valid_from=date(2026, 11, 1),
    valid_until=date(2027, 4, 30),
    submitted_on=date(2026, 11, 1),
)
NANNING_TO_GD_LONG_TERM = replace(
    NANNING_TO_GZ_TEMPORARY,
    filing_id="F-LT",
    destination=Destination.of_province("44"),
    category=FilingCategory.RETIREE_RESETTLED,
    valid_from=date(2026, 6, 1),
    valid_until=None,
    submitted_on=date(2026, 6, 1),
)


def decide(
    *,
    treatment_pool: str = GUANGZHOU,
    treatment_date: date = TODAY,
    visit_type: VisitType = VisitType.INPATIENT,
    emergency: bool = False,
    **overrides: Any,
) -> Coverage:
    """decide_coverage with defaults: the visit's fields by name, the other arguments as
    ``overrides``."""
    visit = Visit(
        treatment_pool=treatment_pool,
        treatment_date=treatment_date,
        visit_type=visit_type,
        emergency=emergency,
    )
    args: dict[str, Any] = {
        "insured_pool": NANNING,
        "filings": [],
        "policy": SEED_POLICY,
        "today": TODAY,
        **overrides,
    }
    return decide_coverage(visit=visit, **args)


def summary(c: Coverage) -> tuple[object, ...]:
    return (c.allowed, c.basis, c.reason_code, c.ratio_reduction_bp, c.local_ratio, c.filing_id)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param(
            {"treatment_pool": NANNING},
            (True, CoverageBasis.LOCAL, None, 0, True, None),
            id="local",
        ),
        pytest.param(
            {"insured_pool": BEIHAI, "treatment_pool": QINZHOU},
            (True, CoverageBasis.EXEMPT_BQF, None, 0, True, None),
            id="bqf-beihai-in-qinzhou",
        ),
        pytest.param(
            {"insured_pool": FANGCHENGGANG, "treatment_pool": BEIHAI},
            (True, CoverageBasis.EXEMPT_BQF, None, 0, True, None),
            id="bqf-fangchenggang-in-beihai",
        ),
        pytest.param(
            {
                "insured_pool": BEIHAI,
                "treatment_pool": QINZHOU,
                "policy": replace(SEED_POLICY, bqf_zone_exempt=False),
            },
            (False, None, ReasonCode.FILING_REQUIRED, 0, False, None),
            id="bqf-switched-off",
        ),
        pytest.param(
            {"insured_pool": BEIHAI, "treatment_pool": NANNING},
            (False, None, ReasonCode.FILING_REQUIRED, 0, False, None),
            id="beihai-in-nanning-not-exempt",
        ),
        pytest.param(
            {"treatment_pool": LIUZHOU},
            (False, None, ReasonCode.FILING_REQUIRED, 0, False, None),
            id="guangxi-in-province-needs-filing",
        ),
        pytest.param(
            {"insured_pool": SHENZHEN, "treatment_pool": GUANGZHOU},
            (True, CoverageBasis.EXEMPT_GD_IN_PROVINCE, None, 0, False, None),
            id="gd-in-province-exempt",
        ),
        pytest.param(
            {
                "insured_pool": SHENZHEN,
                "treatment_pool": GUANGZHOU,
                "policy": replace(SEED_POLICY, gd_in_province_exempt=False),
            },
            (False, None, ReasonCode.FILING_REQUIRED, 0, False, None),
            id="gd-switched-off",
        ),
        pytest.param(
            {},
            (False, None, ReasonCode.FILING_REQUIRED, 0, False, None),
            id="nanning-in-guangzhou-without-filing",
        ),
        pytest.param(
            {"emergency": True},
            (True, CoverageBasis.EMERGENCY, None, 1000, False, None),
            id="emergency-counts-as-filed",
        ),
        pytest.param(
            {"emergency": True, "visit_type": VisitType.ORDINARY_OUTPATIENT},
            (True, CoverageBasis.EMERGENCY, None, 1000, False, None),
            id="emergency-outpatient",
        ),
        pytest.param(
            {"emergency": True, "visit_type": VisitType.CHRONIC_OUTPATIENT},
            (False, None, ReasonCode.FILING_REQUIRED, 0, False, None),
            id="emergency-flag-not-for-chronic-care",
        ),
        pytest.param(
            {"filings": [NANNING_TO_GZ_TEMPORARY]},
            (True, CoverageBasis.FILING, None, 2000, False, "F-TMP"),
            id="temporary-filing",
        ),
        pytest.param(
            {"filings": [NANNING_TO_GZ_TEMPORARY], "emergency": True},
            (True, CoverageBasis.EMERGENCY, None, 1000, False, None),
            id="emergency-cheaper-than-other-temporary",
        ),
        pytest.param(
            {"filings": [NANNING_TO_GZ_TEMPORARY, NANNING_TO_GD_LONG_TERM]},
            (True, CoverageBasis.FILING, None, 0, False, "F-LT"),
            id="long-term-preferred",
        ),
        pytest.param(
            {"filings": [NANNING_TO_GD_LONG_TERM], "treatment_pool": SHENZHEN},
            (True, CoverageBasis.FILING, None, 0, False, "F-LT"),
            id="province-destination-covers-shenzhen",
        ),
        pytest.param(
            {"filings": [NANNING_TO_GD_LONG_TERM], "treatment_pool": NANNING},
            (True, CoverageBasis.LOCAL, None, 0, True, None),
            id="long-term-filer-back-home",
        ),
        pytest.param(
            {"filings": [NANNING_TO_GZ_TEMPORARY], "treatment_pool": SHENZHEN},
            (False, None, ReasonCode.FILING_REQUIRED, 0, False, None),
            id="filing-for-another-city",
        ),
        pytest.param(
            {"filings": [replace(NANNING_TO_GZ_TEMPORARY, insured_pool=LIUZHOU)]},
            (False, None, ReasonCode.FILING_REQUIRED, 0, False, None),
            id="filing-of-former-insured-pool-ignored",
        ),
        pytest.param(
            {"filings": [NANNING_TO_GZ_TEMPORARY], "treatment_date": date(2026, 10, 31)},
            (False, None, ReasonCode.FILING_NOT_VALID_ON_DATE, 0, False, "F-TMP"),
            id="before-validity",
        ),
        pytest.param(
            {
                "filings": [NANNING_TO_GZ_TEMPORARY],
                "treatment_date": date(2027, 5, 1),
                "today": date(2027, 5, 2),
            },
            (False, None, ReasonCode.FILING_NOT_VALID_ON_DATE, 0, False, "F-TMP"),
            id="after-validity",
        ),
    ],
)
def test_coverage(overrides: dict[str, Any], expected: tuple[object, ...]) -> None:
    assert summary(decide(**overrides)) == expected


@pytest.mark.parametrize(
    ("insured", "treatment", "relation"),
    [
        pytest.param(NANNING, NANNING, Relation.LOCAL, id="local"),
        pytest.param(BEIHAI, QINZHOU, Relation.IN_PROVINCE, id="bqf-is-in-province"),
        pytest.param(SHENZHEN, GUANGZHOU, Relation.IN_PROVINCE, id="gd-in-province"),
        pytest.param(NANNING, GUANGZHOU, Relation.CROSS_PROVINCE, id="cross-province"),
    ],
)
def test_coverage_reports_relation(insured: str, treatment: str, relation: Relation) -> None:
    assert decide(insured_pool=insured, treatment_pool=treatment).relation is relation


def test_nanning_patient_in_guangzhou_refused_then_allowed_after_filing() -> None:
    refused = decide()
    assert not refused.allowed
    assert refused.reason_code is ReasonCode.FILING_REQUIRED
    filing = validate_submission(
        FilingSubmission(
            request=FilingRequest(
                destination=Destination.of_pool(GUANGZHOU),
                category=FilingCategory.LONG_TERM_RESIDENT,
                start_date=TODAY,
                end_date=None,
                commitment_accepted=True,
            ),
            insured_pool=NANNING,
            channel=Channel.WEB,
            submitted_on=TODAY,
        ),
        SEED_POLICY,
    ).to_filing("F-1")
    allowed = decide(filings=[filing])
    assert summary(allowed) == (True, CoverageBasis.FILING, None, 0, False, "F-1")
    assert allowed.category is FilingCategory.LONG_TERM_RESIDENT


def test_retroactive_filing_before_discharge() -> None:
    admitted = date(2026, 11, 2)
    filing = validate_submission(
        FilingSubmission(
            request=FilingRequest(
                destination=Destination.of_pool(GUANGZHOU),
                category=FilingCategory.EMERGENCY,
                start_date=admitted,
                end_date=None,
                commitment_accepted=True,
            ),
            insured_pool=NANNING,
            channel=Channel.APP,
            submitted_on=TODAY,
        ),
        SEED_POLICY,
    ).to_filing("F-RETRO")
    coverage = decide(treatment_date=admitted, filings=[filing])
    assert summary(coverage) == (
        True,
        CoverageBasis.RETROACTIVE_FILING,
        None,
        1000,
        False,
        "F-RETRO",
    )
    # A filing the system does not know of yet (submitted after "today") does not count.
    assert not decide(
        treatment_date=admitted, filings=[filing], today=TODAY - timedelta(days=1)
    ).allowed


def test_cancelled_filing_covers_until_the_day_before() -> None:
    cancelled = validate_cancel(
        NANNING_TO_GZ_TEMPORARY, ChangeReason.PERSONAL_REQUEST, TODAY, SEED_POLICY
    )
    before = decide(filings=[cancelled], treatment_date=TODAY - timedelta(days=1))
    assert before.allowed and before.basis is CoverageBasis.FILING
    after = decide(filings=[cancelled])
    assert summary(after) == (False, None, ReasonCode.FILING_CANCELLED, 0, False, "F-TMP")


def test_superseded_version_still_judges_earlier_treatment() -> None:
    change = FilingChange(
        ChangeReason.RESETTLEMENT_PLACE_CHANGED, destination=Destination.of_pool(SHENZHEN)
    )
    long_term_gz = replace(NANNING_TO_GD_LONG_TERM, destination=Destination.of_pool(GUANGZHOU))
    outcome = validate_change(long_term_gz, change, TODAY, SEED_POLICY)
    assert outcome.superseded is not None
    history = [outcome.superseded, outcome.amended]
    earlier = decide(filings=history, treatment_date=TODAY - timedelta(days=1))
    assert earlier.allowed and earlier.basis is CoverageBasis.FILING
    assert decide(filings=history).reason_code is ReasonCode.FILING_NOT_VALID_ON_DATE
    assert decide(filings=history, treatment_pool=SHENZHEN).allowed


def test_smallest_reduction_among_temporary_filings() -> None:
    emergency = replace(
        NANNING_TO_GZ_TEMPORARY, filing_id="F-EMG", category=FilingCategory.EMERGENCY
    )
    coverage = decide(filings=[NANNING_TO_GZ_TEMPORARY, emergency])
    assert (coverage.filing_id, coverage.ratio_reduction_bp) == ("F-EMG", 1000)


def test_filing_named_over_gd_exemption_on_a_tie() -> None:
    shenzhen_long_term = replace(
        NANNING_TO_GD_LONG_TERM, insured_pool=SHENZHEN, destination=Destination.of_pool(GUANGZHOU)
    )
    coverage = decide(insured_pool=SHENZHEN, filings=[shenzhen_long_term])
    assert coverage.basis is CoverageBasis.FILING


def test_macau_resident_insured_in_zhuhai_treated_in_nanning() -> None:
    permit = make_residence_permit("820000", date(1985, 6, 1), 12)
    validate_document(DocumentType.MO_RESIDENCE_PERMIT, permit)
    assert (
        decide(insured_pool=ZHUHAI, treatment_pool=NANNING).reason_code
        is ReasonCode.FILING_REQUIRED
    )
    filing = validate_submission(
        FilingSubmission(
            request=FilingRequest(
                destination=Destination.of_pool(NANNING),
                category=FilingCategory.OTHER_TEMPORARY,
                start_date=TODAY,
                end_date=date(2027, 2, 28),
                commitment_accepted=True,
            ),
            insured_pool=ZHUHAI,
            channel=Channel.MINI_PROGRAM,
            submitted_on=TODAY,
        ),
        SEED_POLICY,
    ).to_filing("F-MO")
    coverage = decide(insured_pool=ZHUHAI, treatment_pool=NANNING, filings=[filing])
    assert summary(coverage) == (True, CoverageBasis.FILING, None, 2000, False, "F-MO")
    assert coverage.relation is Relation.CROSS_PROVINCE


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        pytest.param({"insured_pool": "430100"}, ["insured_pool"], id="unknown-insured"),
        pytest.param({"treatment_pool": "999999"}, ["treatment_pool"], id="unknown-treatment"),
        pytest.param(
            {"treatment_date": TODAY + timedelta(days=1)}, ["treatment_date"], id="future"
        ),
    ],
)
def test_bad_query_names_the_field(overrides: dict[str, Any], fields: list[str]) -> None:
    with pytest.raises(InvalidArgument) as exc:
        decide(**overrides)
    assert [v.field for v in exc.value.violations] == fields


def test_filing_list_is_bounded() -> None:
    with pytest.raises(ValueError, match="filings"):
        decide(filings=[NANNING_TO_GZ_TEMPORARY] * 501)
