from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest

from services.filing.domain import (
    SEED_POLICY,
    Channel,
    Destination,
    FilingCategory,
    FilingRequest,
    FilingStatus,
    FilingSubmission,
    NormalisedFiling,
    ReferralDetails,
    validate_submission,
)
from shared.errors import InvalidArgument
from shared.identity import DocumentType, make_residence_permit, validate_document

TODAY = date(2026, 11, 22)
NANNING, GUANGZHOU, ZHUHAI = "450100", "440100", "440400"
REFERRAL = ReferralDetails(
    referring_hospital_code="H45010000001",  # 广西医科大学第一附属医院, Nanning
    hospital_code="H44010000001",  # 中山大学附属第一医院, Guangzhou
    diagnosis_code="C34.900",
    diagnosis_name="肺恶性肿瘤",
)
BASE = FilingSubmission(
    request=FilingRequest(
        destination=Destination.of_pool(GUANGZHOU),
        category=FilingCategory.OTHER_TEMPORARY,
        start_date=TODAY,
        end_date=None,
        commitment_accepted=True,
    ),
    insured_pool=NANNING,
    channel=Channel.APP,
    submitted_on=TODAY,
)


def submit(
    *, insured_pool: str = BASE.insured_pool, channel: Channel = BASE.channel, **asked: Any
) -> NormalisedFiling:
    """BASE validated, with the submission's own fields and the request's (``asked``)
    changed."""
    request = replace(BASE.request, **asked)
    submission = replace(BASE, request=request, insured_pool=insured_pool, channel=channel)
    return validate_submission(submission, SEED_POLICY)


def violated_fields(**changes: Any) -> list[str]:
    with pytest.raises(InvalidArgument) as exc:
        submit(**changes)
    return [v.field for v in exc.value.violations]


@pytest.mark.parametrize(
    ("category", "label_zh", "valid_until", "reduction_bp"),
    [
        pytest.param(FilingCategory.RETIREE_RESETTLED, "异地安置退休", None, 0, id="retiree"),
        pytest.param(FilingCategory.LONG_TERM_RESIDENT, "异地长期居住", None, 0, id="resident"),
        pytest.param(FilingCategory.STATIONED_WORKER, "常驻异地工作", None, 0, id="worker"),
        pytest.param(FilingCategory.REFERRAL, "异地转诊", date(2027, 5, 21), 1000, id="referral"),
        pytest.param(
            FilingCategory.EMERGENCY, "异地急诊抢救", date(2027, 5, 21), 1000, id="emergency"
        ),
        pytest.param(
            FilingCategory.OTHER_TEMPORARY,
            "其他临时外出",
            date(2027, 5, 21),
            2000,
            id="other-temporary",
        ),
    ],
)
def test_every_category_can_be_filed(
    category: FilingCategory, label_zh: str, valid_until: date | None, reduction_bp: int
) -> None:
    referral = REFERRAL if category is FilingCategory.REFERRAL else None
    filing = submit(category=category, referral=referral)
    assert category.label_zh == label_zh
    assert category.is_long_term == (valid_until is None)
    assert (filing.valid_from, filing.valid_until) == (TODAY, valid_until)
    assert filing.ratio_reduction_bp == reduction_bp
    assert filing.policy_version == SEED_POLICY.version
    assert not filing.retroactive


@pytest.mark.parametrize(
    ("start", "end", "valid_until", "extended"),
    [
        pytest.param(date(2026, 11, 22), None, date(2027, 5, 21), False, id="no-end-min-6-months"),
        pytest.param(
            date(2026, 11, 22), date(2026, 12, 31), date(2027, 5, 21), True, id="short-extended"
        ),
        pytest.param(
            date(2026, 11, 22), date(2027, 5, 21), date(2027, 5, 21), False, id="exactly-min"
        ),
        pytest.param(
            date(2026, 11, 22), date(2027, 9, 30), date(2027, 9, 30), False, id="longer-kept"
        ),
        pytest.param(
            date(2026, 11, 22), date(2027, 11, 21), date(2027, 11, 21), False, id="exactly-max"
        ),
        pytest.param(date(2026, 8, 31), None, date(2027, 2, 27), False, id="month-end-clamped"),
    ],
)
def test_temporary_validity(
    start: date, end: date | None, valid_until: date, extended: bool
) -> None:
    filing = submit(start_date=start, end_date=end)
    assert filing.valid_until == valid_until
    assert filing.validity_extended is extended


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        pytest.param({"end_date": date(2026, 11, 21)}, ["end_date"], id="end-before-start"),
        pytest.param({"end_date": date(2027, 11, 22)}, ["end_date"], id="longer-than-max"),
        pytest.param(
            {"category": FilingCategory.LONG_TERM_RESIDENT, "end_date": date(2027, 6, 1)},
            ["end_date"],
            id="long-term-with-end",
        ),
        pytest.param(
            {"start_date": TODAY - timedelta(days=181)}, ["start_date"], id="too-far-back"
        ),
        pytest.param(
            {"start_date": TODAY + timedelta(days=91)}, ["start_date"], id="too-far-ahead"
        ),
        pytest.param({"destination": Destination.of_pool(NANNING)}, ["destination"], id="own-pool"),
        pytest.param(
            {"destination": Destination.of_pool("430100")},
            ["destination.pool_code"],
            id="unknown-pool",
        ),
        pytest.param(
            {"destination": Destination.of_pool("450000")},
            ["destination.pool_code"],
            id="region-level-pool",
        ),
        pytest.param(
            {"destination": Destination.of_province("99")},
            ["destination.province_code"],
            id="unknown-province",
        ),
        pytest.param({"destination": Destination()}, ["destination"], id="no-destination"),
        pytest.param(
            {"destination": Destination(pool_code=GUANGZHOU, province_code="44")},
            ["destination"],
            id="both-destinations",
        ),
        pytest.param({"insured_pool": "999999"}, ["insured_pool"], id="unknown-insured-pool"),
        pytest.param({"commitment_accepted": False}, ["commitment_accepted"], id="no-commitment"),
        pytest.param({"category": FilingCategory.REFERRAL}, ["referral"], id="referral-missing"),
        pytest.param({"referral": REFERRAL}, ["referral"], id="referral-on-other-category"),
    ],
)
def test_invalid_submission_names_the_field(changes: dict[str, Any], fields: list[str]) -> None:
    assert violated_fields(**changes) == fields


def test_every_bad_field_is_reported_at_once() -> None:
    fields = violated_fields(
        destination=Destination.of_pool(NANNING),
        commitment_accepted=False,
        start_date=TODAY - timedelta(days=400),
        end_date=TODAY - timedelta(days=401),
    )
    assert fields == ["destination", "commitment_accepted", "start_date", "end_date"]


@pytest.mark.parametrize(
    ("referral", "fields"),
    [
        pytest.param(
            replace(REFERRAL, referring_hospital_code="H44030000001"),
            ["referral.referring_hospital_code"],
            id="referring-not-in-insured-pool",
        ),
        pytest.param(
            replace(REFERRAL, referring_hospital_code="H45010099999"),
            ["referral.referring_hospital_code"],
            id="referring-unknown",
        ),
        pytest.param(
            replace(REFERRAL, hospital_code="H44030000001"),
            ["referral.hospital_code"],
            id="receiving-outside-destination",
        ),
        pytest.param(
            replace(REFERRAL, hospital_code="P44010000001"),
            ["referral.hospital_code"],
            id="pharmacy",
        ),
        pytest.param(
            replace(REFERRAL, diagnosis_code="lung cancer"),
            ["referral.diagnosis_code"],
            id="diagnosis",
        ),
        pytest.param(
            replace(REFERRAL, diagnosis_name="癌" * 101),
            ["referral.diagnosis_name"],
            id="diagnosis-name",
        ),
    ],
)
def test_referral_details_are_checked(referral: ReferralDetails, fields: list[str]) -> None:
    assert violated_fields(category=FilingCategory.REFERRAL, referral=referral) == fields


def test_referral_to_a_province_without_reference_data_checks_the_code() -> None:
    hunan = Destination.of_province("43")
    to_changsha = replace(REFERRAL, hospital_code="H43010000001")
    filing = submit(category=FilingCategory.REFERRAL, referral=to_changsha, destination=hunan)
    assert filing.destination == hunan
    wrong = replace(REFERRAL, hospital_code="H42010000001")
    fields = violated_fields(category=FilingCategory.REFERRAL, referral=wrong, destination=hunan)
    assert fields == ["referral.hospital_code"]


def test_province_destination_and_proto_style_empty_strings() -> None:
    filing = submit(destination=Destination(pool_code="", province_code="44"))
    assert filing.destination == Destination.of_province("44")


@pytest.mark.parametrize(
    "days_back",
    [
        pytest.param(1, id="yesterday"),
        pytest.param(90, id="90-days"),
        pytest.param(180, id="window-edge"),
    ],
)
def test_retroactive_filing_within_window(days_back: int) -> None:
    start = TODAY - timedelta(days=days_back)
    filing = submit(start_date=start, category=FilingCategory.EMERGENCY)
    assert filing.retroactive
    assert filing.valid_from == start


def test_to_filing_records_channel_and_status() -> None:
    filing = submit(channel=Channel.COUNTER).to_filing("F-0001")
    assert (filing.filing_id, filing.channel, filing.status, filing.version) == (
        "F-0001",
        Channel.COUNTER,
        FilingStatus.ACTIVE,
        1,
    )
    with pytest.raises(ValueError):
        submit().to_filing("")


def test_macau_resident_insured_in_zhuhai_files_for_nanning() -> None:
    permit = make_residence_permit("820000", date(1985, 6, 1), 12)
    assert validate_document(DocumentType.MO_RESIDENCE_PERMIT, permit) == permit
    filing = submit(
        insured_pool=ZHUHAI,
        destination=Destination.of_pool(NANNING),
        category=FilingCategory.LONG_TERM_RESIDENT,
        channel=Channel.MINI_PROGRAM,
    )
    assert (filing.insured_pool, filing.destination.pool_code, filing.valid_until) == (
        ZHUHAI,
        NANNING,
        None,
    )


def test_policy_must_be_in_force_on_submission_date() -> None:
    later = replace(SEED_POLICY, version="2030.1", effective_from=date(2030, 1, 1))
    with pytest.raises(ValueError, match="not in force"):
        validate_submission(BASE, later)


def test_dates_at_the_end_of_the_calendar_are_refused_not_crashed() -> None:
    fields = violated_fields(start_date=date(9999, 12, 1), end_date=date(9999, 12, 31))
    assert fields == ["start_date"]
