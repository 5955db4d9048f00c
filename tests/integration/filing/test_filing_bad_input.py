"""Bad input: INVALID_ARGUMENT naming the offending field, and nothing written."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import asyncpg
import grpc
import pytest

from services.filing.domain import window_end
from shared.grpc_errors import field_violations_of
from shared.pb.crossclear.common.v1 import common_pb2
from shared.pb.crossclear.filing.v1 import filing_pb2

from .support import (
    GUANGZHOU,
    NANNING,
    Api,
    document,
    make_person,
    referral,
    resident_id,
    row_counts,
    rpc_error,
    submission,
    today,
)

Edit = Callable[[filing_pb2.SubmitFilingRequest], None]


def _wrong_check_digit(number: str) -> str:
    last = "0" if number[-1] != "0" else "1"
    return number[:-1] + last


def _set(field: str, value: object) -> Edit:
    def edit(request: filing_pb2.SubmitFilingRequest) -> None:
        setattr(request, field, value)

    return edit


def _temporary_too_long(request: filing_pb2.SubmitFilingRequest) -> None:
    request.end_date = (window_end(today(), 12) + timedelta(days=1)).isoformat()


def _referral_without_hospital(request: filing_pb2.SubmitFilingRequest) -> None:
    request.category = filing_pb2.FILING_CATEGORY_REFERRAL
    request.referral.CopyFrom(referral())
    request.referral.hospital_code = ""


def _referral_missing(request: filing_pb2.SubmitFilingRequest) -> None:
    request.category = filing_pb2.FILING_CATEGORY_REFERRAL


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        pytest.param(_set("channel", 0), "channel", id="channel-unset"),
        pytest.param(_set("channel", 42), "channel", id="channel-unknown"),
        pytest.param(_set("channel_request_id", "a b"), "channel_request_id", id="request-id"),
        pytest.param(_set("category", 0), "category", id="category-unset"),
        pytest.param(_set("start_date", "2026/11/01"), "start_date", id="start-format"),
        pytest.param(
            lambda r: r.destination.CopyFrom(filing_pb2.Destination(pool_code="459900")),
            "destination.pool_code",
            id="unknown-pool",
        ),
        pytest.param(
            lambda r: r.destination.CopyFrom(filing_pb2.Destination()),
            "destination",
            id="no-destination",
        ),
        pytest.param(
            _set("end_date", (today() - timedelta(days=1)).isoformat()),
            "end_date",
            id="end-before-start",
        ),
        pytest.param(_temporary_too_long, "end_date", id="temporary-too-long"),
        pytest.param(_referral_without_hospital, "referral.hospital_code", id="referral-hospital"),
        pytest.param(_referral_missing, "referral", id="referral-missing"),
        pytest.param(_set("commitment_accepted", False), "commitment_accepted", id="commitment"),
        pytest.param(
            _set("start_date", (today() - timedelta(days=400)).isoformat()),
            "start_date",
            id="start-too-early",
        ),
    ],
)
async def test_bad_submission_names_the_field_and_writes_nothing(
    api: Api, filing_db: asyncpg.Pool, edit: Edit, field: str
) -> None:
    person = await api.new_person(NANNING)
    request = submission(person.psn_no, pool_code=GUANGZHOU)
    edit(request)
    before = await row_counts(filing_db)
    err = await rpc_error(api.submit(request, caller="channel-app"))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err.details()
    assert field in field_violations_of(err)
    assert await row_counts(filing_db) == before


async def test_wrong_check_digit_names_the_document(api: Api, filing_db: asyncpg.Pool) -> None:
    bad = _wrong_check_digit(resident_id(NANNING))
    p = make_person(NANNING, documents=[document(common_pb2.DOCUMENT_TYPE_RESIDENT_ID, bad)])
    before = await row_counts(filing_db)
    err = await rpc_error(api.upsert(p))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations_of(err) == ["person.documents[0].number"]
    assert "check digit" in (err.details() or "")
    assert bad not in (err.details() or "")  # never echoed
    assert await row_counts(filing_db) == before


async def test_bad_coverage_query_names_the_fields(api: Api) -> None:
    request = filing_pb2.CheckCoverageRequest(
        psn_no="45010",
        treatment_pool="999999",
        treatment_date=(today() + timedelta(days=1)).isoformat(),
        hospital_code="H45010000001",
    )
    err = await rpc_error(api.coverage(request))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations_of(err)) == {
        "psn_no",
        "treatment_pool",
        "med_type",
        "hospital_code",
    }
    person = await api.new_person(NANNING)
    future = filing_pb2.CheckCoverageRequest(
        psn_no=person.psn_no,
        treatment_pool=GUANGZHOU,
        treatment_date=(today() + timedelta(days=1)).isoformat(),
        med_type=common_pb2.MED_TYPE_INPATIENT,
    )
    err = await rpc_error(api.coverage(future))
    assert field_violations_of(err) == ["treatment_date"]


async def test_unknown_person_and_filing_are_not_found(api: Api) -> None:
    ghost = f"{NANNING}NOBODY0001"
    err = await rpc_error(api.submit(submission(ghost)))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    err = await rpc_error(
        api.coverage(
            filing_pb2.CheckCoverageRequest(
                psn_no=ghost,
                treatment_pool=GUANGZHOU,
                treatment_date=today().isoformat(),
                med_type=common_pb2.MED_TYPE_INPATIENT,
            )
        )
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND
    err = await rpc_error(
        api.call("GetFiling", filing_pb2.GetFilingRequest(filing_id="F0"), "svc-settlement")
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND
