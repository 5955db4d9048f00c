"""The servicer's protobuf ⇄ domain translation: every enum member maps, page tokens
round-trip, malformed fields are named."""

from __future__ import annotations

from datetime import date

import pytest

from services.filing import servicer
from services.filing.domain import Channel, CoverageBasis, FilingCategory
from services.filing.store import PageKey
from shared import pb_enums
from shared.errors import InvalidArgument
from shared.pb.crossclear.common.v1 import common_pb2
from shared.pb.crossclear.filing.v1 import filing_pb2
from shared.vocabulary import Sex, VisitType


def test_every_domain_member_has_a_proto_number() -> None:
    assert set(servicer.CHANNELS.by_number.values()) == set(Channel)
    assert set(servicer.CATEGORIES.by_number.values()) == set(FilingCategory)
    assert set(servicer.BASES.by_number.values()) == set(CoverageBasis)
    assert servicer.CHANNELS.member(filing_pb2.CHANNEL_COUNTER) is Channel.COUNTER
    assert servicer.CHANNELS.number(Channel.COUNTER) == filing_pb2.CHANNEL_COUNTER
    insutype = pb_enums.INSUTYPE.member(310)
    assert insutype is not None and insutype.value == "310"
    assert pb_enums.MED_TYPE.member(14) is VisitType.CHRONIC_OUTPATIENT
    assert pb_enums.SEX.member(filing_pb2.SEX_FEMALE) is Sex.FEMALE


@pytest.mark.parametrize(
    ("med_type", "code", "field", "why"),
    [
        (common_pb2.MED_TYPE_PHARMACY_PURCHASE, "", "med_type", "unknown value <41>"),
        (0, "41", "med_type_code", "41 定点药店购药 is not accepted here"),
    ],
)
def test_coverage_is_not_asked_for_a_pharmacy_purchase(
    med_type: int, code: str, field: str, why: str
) -> None:
    """A purchase is asked about as the visit it is paid like (11 or 14), never as 41."""
    request = filing_pb2.CheckCoverageRequest(
        psn_no="4501000001",
        treatment_pool="440100",
        treatment_date="2026-11-20",
        med_type=med_type,  # type: ignore[arg-type]
        med_type_code=code,
    )
    with pytest.raises(InvalidArgument) as info:
        servicer._coverage_query(request)
    (violation,) = info.value.violations
    assert violation.field == field and violation.description.startswith(why)


def test_page_tokens_round_trip() -> None:
    key = PageKey(date(2026, 11, 22), "F45010020261122ABCDEF0123")
    assert servicer._decode_token(servicer._encode_token(key)) == key


@pytest.mark.parametrize("token", ["x", "!!!", "MjAyNi0xMS0yMg", "a" * 300])
def test_foreign_page_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        servicer._decode_token(token)
    assert info.value.violations[0].field == "page.page_token"


def test_figures_period_by_month_or_dates() -> None:
    month = filing_pb2.GetChannelFiguresRequest(period="202602")
    assert servicer._figures_period(month) == (date(2026, 2, 1), date(2026, 2, 28))
    for bad, field in (
        (filing_pb2.GetChannelFiguresRequest(period="202613"), "period"),
        (filing_pb2.GetChannelFiguresRequest(period="000101"), "period"),
        (filing_pb2.GetChannelFiguresRequest(period="202602", end_date="2026-02-01"), "period"),
        (filing_pb2.GetChannelFiguresRequest(start_date="2026-02-01"), "end_date"),
    ):
        with pytest.raises(InvalidArgument) as info:
            servicer._figures_period(bad)
        assert info.value.violations[0].field == field


def test_submission_fields_are_read_together() -> None:
    request = filing_pb2.SubmitFilingRequest(
        channel=9,  # type: ignore[arg-type]
        channel_request_id="",
        psn_no="abc",
        start_date="tomorrow",
    )
    with pytest.raises(InvalidArgument) as info:
        servicer._submit_command(request)
    assert [v.field for v in info.value.violations] == [
        "channel",
        "channel_request_id",
        "psn_no",
        "category",
        "start_date",
    ]
