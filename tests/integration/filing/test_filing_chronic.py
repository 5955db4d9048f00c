"""Chronic/special disease certification (门诊慢特病资格认定) through a real gRPC client:
the insured pool's agency certifies, hospitals apply (2503) and cancel (2504), the agency
approves, and CheckCoverage refuses a chronic visit without an ACTIVE certification of
its disease valid on the treatment date."""

from __future__ import annotations

import secrets
from datetime import date, timedelta

import asyncpg
import grpc

from services.filing.domain import SEED_POLICY, chronic
from services.filing.domain.policy import policy_from_mapping
from shared.grpc_errors import field_violations_of, reason_of
from shared.pb.crossclear.common.v1 import common_pb2
from shared.pb.crossclear.events.v1 import events_pb2
from shared.pb.crossclear.filing.v1 import filing_pb2

from .support import (
    BEIHAI,
    GUANGZHOU,
    GUANGZHOU_HOSPITAL,
    NANNING,
    Api,
    coverage,
    days_ago,
    row_counts,
    rpc_error,
    submission,
    today,
)

HYPERTENSION, DIABETES = "M03900", "M01600"
ACTIVE = filing_pb2.CHRONIC_CERTIFICATION_STATUS_ACTIVE
PENDING = filing_pb2.CHRONIC_CERTIFICATION_STATUS_PENDING
CANCELLED = filing_pb2.CHRONIC_CERTIFICATION_STATUS_CANCELLED


def _rid() -> str:
    return f"cc-{secrets.token_hex(8)}"


def certify(
    psn_no: str, disease: str = HYPERTENSION, *, start: str | None = None, rid: str | None = None
) -> filing_pb2.CertifyChronicDiseaseRequest:
    return filing_pb2.CertifyChronicDiseaseRequest(
        channel_request_id=rid or _rid(),
        psn_no=psn_no,
        disease_code=disease,
        valid_from_date=start or days_ago(90),
    )


def apply_2503(
    psn_no: str, disease: str = DIABETES, hospital: str = GUANGZHOU_HOSPITAL
) -> filing_pb2.FileChronicDiseaseRequest:
    return filing_pb2.FileChronicDiseaseRequest(
        channel_request_id=_rid(),
        psn_no=psn_no,
        disease_code=disease,
        hospital_code=hospital,
        valid_from_date=today().isoformat(),
        diagnosis_code="E11.900",
    )


def chronic_visit(psn_no: str, disease: str) -> filing_pb2.CheckCoverageRequest:
    request = coverage(psn_no, GUANGZHOU, med_type=common_pb2.MED_TYPE_CHRONIC_OUTPATIENT)
    request.chronic_disease_code = disease
    return request


async def _filed_person(api: Api) -> filing_pb2.Person:
    """A Nanning resident with a long-term filing for Guangzhou."""
    person = await api.new_person(NANNING)
    await api.submit(
        submission(
            person.psn_no,
            filing_pb2.FILING_CATEGORY_LONG_TERM_RESIDENT,
            pool_code=GUANGZHOU,
            start_date=days_ago(100),
        )
    )
    return person


async def test_certified_disease_is_covered_another_is_not_until_applied_and_approved(
    api: Api, filing_db: asyncpg.Pool
) -> None:
    person = await _filed_person(api)
    certified = await api.call("CertifyChronicDisease", certify(person.psn_no), NANNING)
    c = certified.certification
    assert (c.status, c.certifying_pool, c.disease_code) == (ACTIVE, NANNING, HYPERTENSION)
    assert c.source == filing_pb2.CHRONIC_CERTIFICATION_SOURCE_AGENCY_DECISION
    assert c.approved_date == today().isoformat()

    covered = await api.coverage(chronic_visit(person.psn_no, HYPERTENSION))
    assert covered.allowed and covered.certification.certification_id == c.certification_id

    refused = await api.coverage(chronic_visit(person.psn_no, DIABETES))
    assert not refused.allowed
    assert refused.reason_code == "CHRONIC_DISEASE_NOT_CERTIFIED"
    assert not refused.HasField("certification")

    # Without a disease (1101 before the disease is known) certification is not checked.
    plain = coverage(person.psn_no, GUANGZHOU, med_type=common_pb2.MED_TYPE_CHRONIC_OUTPATIENT)
    assert (await api.coverage(plain)).allowed

    # A Guangzhou hospital applies (2503): pending until Nanning approves.
    filed = await api.call("FileChronicDisease", apply_2503(person.psn_no), GUANGZHOU_HOSPITAL)
    application = filed.certification
    assert application.status == PENDING and application.hospital_code == GUANGZHOU_HOSPITAL
    still = await api.coverage(chronic_visit(person.psn_no, DIABETES))
    assert still.reason_code == "CHRONIC_DISEASE_NOT_CERTIFIED"
    assert application.certification_id in still.message

    approve = filing_pb2.ApproveChronicDiseaseRequest(
        channel_request_id=_rid(), certification_id=application.certification_id
    )
    approved = await api.call("ApproveChronicDisease", approve, NANNING)
    assert approved.certification.status == ACTIVE
    now_covered = await api.coverage(chronic_visit(person.psn_no, DIABETES))
    assert now_covered.allowed
    assert now_covered.certification.certification_id == application.certification_id

    # Approving twice is a refusal, not a second state change.
    again = filing_pb2.ApproveChronicDiseaseRequest(
        channel_request_id=_rid(), certification_id=application.certification_id
    )
    before = await row_counts(filing_db)
    err = await rpc_error(api.call("ApproveChronicDisease", again, NANNING))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason_of(err) == "CHRONIC_CERTIFICATION_NOT_PENDING"
    assert await row_counts(filing_db) == before

    # The hospital cancels its application (2504): not covered from today.
    cancel = filing_pb2.CancelChronicDiseaseRequest(
        channel_request_id=_rid(), certification_id=application.certification_id
    )
    cancelled = await api.call("CancelChronicDisease", cancel, GUANGZHOU_HOSPITAL)
    assert cancelled.certification.status == CANCELLED
    gone = await api.coverage(chronic_visit(person.psn_no, DIABETES))
    assert gone.reason_code == "CHRONIC_DISEASE_NOT_CERTIFIED"

    listed = await api.call(
        "ListChronicCertifications",
        filing_pb2.ListChronicCertificationsRequest(psn_no=person.psn_no),
        NANNING,
    )
    assert {x.disease_code: x.status for x in listed.certifications} == {
        HYPERTENSION: ACTIVE,
        DIABETES: CANCELLED,
    }


async def test_filing_refusal_comes_first_and_certification_before_validity_does_not_count(
    api: Api,
) -> None:
    person = await api.new_person(NANNING)  # no filing for Guangzhou
    await api.call("CertifyChronicDisease", certify(person.psn_no), NANNING)
    refused = await api.coverage(chronic_visit(person.psn_no, HYPERTENSION))
    assert refused.reason_code == "FILING_REQUIRED"

    filed = await _filed_person(api)
    await api.call(
        "CertifyChronicDisease", certify(filed.psn_no, start=days_ago(-10)), NANNING
    )  # valid from 10 days ahead
    early = await api.coverage(chronic_visit(filed.psn_no, HYPERTENSION))
    assert early.reason_code == "CHRONIC_DISEASE_NOT_CERTIFIED"


async def test_only_the_insured_pools_agency_certifies_and_approves(
    api: Api, filing_db: asyncpg.Pool
) -> None:
    person = await _filed_person(api)
    before = await row_counts(filing_db)
    for caller in (BEIHAI, GUANGZHOU, "44", GUANGZHOU_HOSPITAL, "channel-app"):
        err = await rpc_error(api.call("CertifyChronicDisease", certify(person.psn_no), caller))
        assert err.code() == grpc.StatusCode.PERMISSION_DENIED, caller
    # A hospital files only in its own name.
    err = await rpc_error(api.call("FileChronicDisease", apply_2503(person.psn_no), "H44010000002"))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert await row_counts(filing_db) == before

    # The province centre of the insured pool may certify.
    ok = await api.call("CertifyChronicDisease", certify(person.psn_no), "45")
    assert ok.certification.status == ACTIVE

    filed = await api.call("FileChronicDisease", apply_2503(person.psn_no), GUANGZHOU_HOSPITAL)
    cid = filed.certification.certification_id
    for caller in (GUANGZHOU, GUANGZHOU_HOSPITAL, BEIHAI):
        approve = filing_pb2.ApproveChronicDiseaseRequest(
            channel_request_id=_rid(), certification_id=cid
        )
        err = await rpc_error(api.call("ApproveChronicDisease", approve, caller))
        assert err.code() == grpc.StatusCode.PERMISSION_DENIED, caller
    # Another hospital may not cancel it.
    cancel = filing_pb2.CancelChronicDiseaseRequest(channel_request_id=_rid(), certification_id=cid)
    err = await rpc_error(api.call("CancelChronicDisease", cancel, "H44010000002"))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_retries_return_the_first_answer_and_write_once(
    api: Api, filing_db: asyncpg.Pool
) -> None:
    person = await _filed_person(api)
    request = certify(person.psn_no, rid="certify-retry-1")
    first = await api.call("CertifyChronicDisease", request, NANNING)
    after_first = await row_counts(filing_db)
    second = await api.call("CertifyChronicDisease", request, NANNING)
    assert second == first
    assert await row_counts(filing_db) == after_first
    # The same id with another request is refused.
    other = certify(person.psn_no, DIABETES, rid="certify-retry-1")
    err = await rpc_error(api.call("CertifyChronicDisease", other, NANNING))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS

    application = apply_2503(person.psn_no)
    filed = await api.call("FileChronicDisease", application, GUANGZHOU_HOSPITAL)
    assert await api.call("FileChronicDisease", application, GUANGZHOU_HOSPITAL) == filed
    approve = filing_pb2.ApproveChronicDiseaseRequest(
        channel_request_id="approve-retry-1",
        certification_id=filed.certification.certification_id,
    )
    approved = await api.call("ApproveChronicDisease", approve, NANNING)
    counts = await row_counts(filing_db)
    assert await api.call("ApproveChronicDisease", approve, NANNING) == approved
    assert await row_counts(filing_db) == counts


async def test_refusals_write_nothing(api: Api, filing_db: asyncpg.Pool) -> None:
    person = await _filed_person(api)
    await api.call("CertifyChronicDisease", certify(person.psn_no), NANNING)
    before = await row_counts(filing_db)
    # The same disease for an overlapping period.
    err = await rpc_error(api.call("CertifyChronicDisease", certify(person.psn_no), NANNING))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason_of(err) == "CHRONIC_DISEASE_ALREADY_CERTIFIED"
    # Bad input names the fields.
    bad = filing_pb2.CertifyChronicDiseaseRequest(
        channel_request_id="bad id!",
        psn_no=person.psn_no,
        disease_code="MT99",
        valid_from_date="2026-13-01",
    )
    err = await rpc_error(api.call("CertifyChronicDisease", bad, NANNING))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    named = {f.split(":")[0] for f in field_violations_of(err)}
    assert {"channel_request_id", "disease_code", "valid_from_date"} <= named, named
    too_early = certify(person.psn_no, DIABETES, start=days_ago(400))
    err = await rpc_error(api.call("CertifyChronicDisease", too_early, NANNING))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    # A disease code on a visit that is not chronic outpatient.
    inpatient = coverage(person.psn_no, GUANGZHOU)
    inpatient.chronic_disease_code = HYPERTENSION
    err = await rpc_error(api.coverage(inpatient))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    # No such certification.
    missing = filing_pb2.ApproveChronicDiseaseRequest(
        channel_request_id=_rid(), certification_id=f"C{NANNING}20260101ABCDEF0123"
    )
    err = await rpc_error(api.call("ApproveChronicDisease", missing, NANNING))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert await row_counts(filing_db) == before


async def test_each_state_change_enqueues_one_event_for_the_insured_region(
    api: Api, filing_db: asyncpg.Pool
) -> None:
    person = await _filed_person(api)
    filed = await api.call("FileChronicDisease", apply_2503(person.psn_no), GUANGZHOU_HOSPITAL)
    cid = filed.certification.certification_id
    approve = filing_pb2.ApproveChronicDiseaseRequest(
        channel_request_id=_rid(), certification_id=cid
    )
    await api.call("ApproveChronicDisease", approve, NANNING)
    rows = await filing_db.fetch(
        "SELECT routing_key, message_type, payload FROM outbox"
        " WHERE position($1::bytea IN payload) > 0 AND message_type = $2 ORDER BY id",
        cid.encode(),
        events_pb2.ChronicCertificationEvent.DESCRIPTOR.full_name,
    )
    assert [r["routing_key"] for r in rows] == [
        f"filing.chronic_pending.{NANNING}.{GUANGZHOU}",
        f"filing.chronic_active.{NANNING}.{GUANGZHOU}",
    ]
    events = [events_pb2.ChronicCertificationEvent.FromString(r["payload"]) for r in rows]
    assert [e.kind for e in events] == [
        events_pb2.CHRONIC_CERTIFICATION_EVENT_KIND_PENDING,
        events_pb2.CHRONIC_CERTIFICATION_EVENT_KIND_ACTIVE,
    ]
    assert {(e.psn_no, e.insured_pool, e.disease_code) for e in events} == {
        (person.psn_no, NANNING, DIABETES)
    }


def test_policy_may_make_hospital_filings_immediate() -> None:
    day = date(2026, 6, 1)
    immediate = policy_from_mapping(
        {
            "version": "2026.chronic",
            "effective_from": "2026-01-01",
            "chronic_hospital_filing_immediate": True,
        }
    )
    request = chronic.CertificationRequest(
        disease_code=DIABETES,
        source=chronic.CertificationSource.HOSPITAL_APPLICATION,
        valid_from=day,
        valid_until=day + timedelta(days=365),
        hospital_code=GUANGZHOU_HOSPITAL,
        diagnosis_code=None,
    )
    draft = chronic.CertificationDraft(
        psn_no=f"{NANNING}ABCD1234", certifying_pool=NANNING, request=request
    )
    pending = chronic.new_certification(draft, "C1", [], SEED_POLICY, day)
    assert pending.status is chronic.CertificationStatus.PENDING and pending.approved_on is None
    at_once = chronic.new_certification(draft, "C2", [], immediate, day)
    assert at_once.status is chronic.CertificationStatus.ACTIVE and at_once.approved_on == day
    assert at_once.covers(DIABETES, day) and not pending.covers(DIABETES, day)
