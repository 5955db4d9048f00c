"""The servicer's protobuf ⇄ domain translation: every enum member maps, page tokens
round-trip, malformed fields are named."""

from __future__ import annotations

from datetime import date

import pytest

from services.filing import servicer
from services.filing.domain import Channel, CoverageBasis, FilingCategory
from services.filing.store import PageKey
from shared.errors import InvalidArgument
from shared.pb.crossclear.filing.v1 import filing_pb2


def test_every_domain_member_has_a_proto_number() -> None:
    assert set(servicer.CHANNELS.values()) == set(Channel)
    assert set(servicer.CATEGORIES.values()) == set(FilingCategory)
    assert set(servicer.BASES.values()) == set(CoverageBasis)
    assert servicer.CHANNELS[filing_pb2.CHANNEL_COUNTER] is Channel.COUNTER
    assert servicer.INSUTYPES[310].value == "310"
    assert servicer.VISIT_TYPES[14].value == "CHRONIC_OUTPATIENT"


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
