"""Chronic/special outpatient visits need the insured pool's certification of the disease
(门诊慢特病资格认定), checked by the filing service through the real gRPC path.

A Nanning resident certified for hypertension settles a chronic visit in Guangzhou; their
diabetes visit (not certified) is refused with CHRONIC_DISEASE_NOT_CERTIFIED and writes
nothing; once a Guangzhou hospital files 2503 and Nanning approves, it settles.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import asyncpg
import grpc
import pytest

from services.settlement.domain.codes import ChronicDisease, VisitType
from services.settlement.filing_client import FilingClient
from shared.config import Settings
from shared.grpc_client import caller_metadata
from shared.pb.crossclear.common.v1 import common_pb2
from shared.pb.crossclear.filing.v1 import filing_pb2

from .support import (
    BLOOD_COUNT,
    CALL_TIMEOUT_S,
    CONSULTATION,
    GUANGZHOU,
    GUANGZHOU_HOSPITALS,
    NANNING,
    Filing,
    Hospital,
    fee,
    reason,
    row_counts,
    rpc_error,
    today,
)

HOSPITAL = GUANGZHOU_HOSPITALS[1]
NOT_CERTIFIED = "CHRONIC_DISEASE_NOT_CERTIFIED"


async def _call(filing: Filing, method: str, request: object, caller: str) -> object:
    rpc = getattr(filing.stub, method)
    return await rpc(request, metadata=caller_metadata(caller), timeout=CALL_TIMEOUT_S)


async def _certified_person(filing: Filing) -> filing_pb2.Person:
    """A Nanning resident filed for Guangzhou and certified for hypertension by Nanning."""
    person = await filing.new_person(NANNING)
    await filing.file(person, pool_code=GUANGZHOU, start=today() - timedelta(days=60))
    await _call(
        filing,
        "CertifyChronicDisease",
        filing_pb2.CertifyChronicDiseaseRequest(
            channel_request_id=f"cert-{secrets.token_hex(8)}",
            psn_no=person.psn_no,
            disease_code=ChronicDisease.HYPERTENSION.value,
            valid_from_date=(today() - timedelta(days=90)).isoformat(),
        ),
        NANNING,
    )
    return person


@pytest.fixture
async def filing_client(settings: Settings, filing_service: object) -> AsyncIterator[FilingClient]:
    port = filing_service.port  # type: ignore[attr-defined]
    client = FilingClient(
        settings.model_copy(update={"filing_target": f"127.0.0.1:{port}", "tls_dir": None})
    )
    yield client
    await client.close()


async def test_settlements_filing_client_passes_the_disease(
    filing: Filing, filing_client: FilingClient
) -> None:
    person = await _certified_person(filing)

    async def check(disease: ChronicDisease | None) -> tuple[bool, str]:
        _, coverage = await filing_client.check_coverage(
            psn_no=person.psn_no,
            treatment_pool=GUANGZHOU,
            treatment_date=today(),
            visit_type=VisitType.CHRONIC_OUTPATIENT,
            emergency=False,
            hospital_code=HOSPITAL,
            chronic_disease=disease,
        )
        return coverage.allowed, coverage.reason_code

    assert await check(ChronicDisease.HYPERTENSION) == (True, "")
    assert await check(ChronicDisease.DIABETES) == (False, NOT_CERTIFIED)
    assert await check(None) == (True, "")  # 1101: the disease is not known yet


async def test_a_chronic_visit_settles_only_for_a_certified_disease(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    person = await _certified_person(filing)
    h = hospital(HOSPITAL)
    lines = [fee(1, CONSULTATION, "44"), fee(2, BLOOD_COUNT, "44")]

    # Hypertension is certified: settles.
    registered = await h.register(
        person, med_type=common_pb2.MED_TYPE_CHRONIC_OUTPATIENT, dise_codg="M03900"
    )
    assert registered.trtinfo.allowed
    total = (await h.upload(person, registered.mdtrt_id, lines)).medfee_sumamt_fen
    settled = (await h.settle(person, registered.mdtrt_id, total)).setlinfo
    assert settled.med_type == common_pb2.MED_TYPE_CHRONIC_OUTPATIENT

    # Diabetes is not: the visit is registered, flagged, and refused at settlement.
    diabetes = await h.register(
        person, med_type=common_pb2.MED_TYPE_CHRONIC_OUTPATIENT, dise_codg="M01600"
    )
    assert not diabetes.trtinfo.allowed
    assert diabetes.trtinfo.reason_code == NOT_CERTIFIED
    total = (await h.upload(person, diabetes.mdtrt_id, lines)).medfee_sumamt_fen
    settle = h.settle_request(person, diabetes.mdtrt_id, total)
    before = await row_counts(settlement_db)
    refused = await rpc_error(h.call("Settle", settle))
    assert refused.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert reason(refused) == NOT_CERTIFIED
    presettle = await rpc_error(h.presettle(person, diabetes.mdtrt_id))
    assert reason(presettle) == NOT_CERTIFIED
    assert await row_counts(settlement_db) == before

    # The Guangzhou hospital files 2503, Nanning approves: the same request settles.
    filed = await _call(
        filing,
        "FileChronicDisease",
        filing_pb2.FileChronicDiseaseRequest(
            channel_request_id=f"2503-{secrets.token_hex(8)}",
            psn_no=person.psn_no,
            disease_code="M01600",
            hospital_code=HOSPITAL,
            valid_from_date=today().isoformat(),
        ),
        HOSPITAL,
    )
    certification_id = filed.certification.certification_id  # type: ignore[attr-defined]
    await _call(
        filing,
        "ApproveChronicDisease",
        filing_pb2.ApproveChronicDiseaseRequest(
            channel_request_id=f"ok-{secrets.token_hex(8)}", certification_id=certification_id
        ),
        NANNING,
    )
    settled = (await h.call("Settle", settle)).setlinfo
    assert settled.mdtrt_id == diabetes.mdtrt_id
