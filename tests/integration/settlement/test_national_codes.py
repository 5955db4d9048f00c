"""National codes at the hospital edge, through the real gRPC path (settlement + filing).

A chronic visit sent with the national disease code M01600 settles; the same sent with
the legacy alias MT02 settles and is stored under M01600; an unknown code is
INVALID_ARGUMENT naming dise_codg and pointing at the 1309 list. insutype, med_type and
mdtrt_cert_type may be sent as the national strings ("310", "14", "02"); a string that
disagrees with its enum names both fields. Refusals write nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import asyncpg
import grpc

from shared.grpc_client import caller_metadata
from shared.grpc_errors import details_of
from shared.pb.crossclear.common.v1 import common_pb2
from shared.pb.crossclear.filing.v1 import filing_pb2
from shared.pb.crossclear.settlement.v1 import settlement_pb2 as pb

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
    fields,
    row_counts,
    rpc_error,
    today,
)

HOSPITAL = GUANGZHOU_HOSPITALS[2]
_serial = iter(range(10**6))


async def _diabetic(filing: Filing, disease_code: str = "M01600") -> filing_pb2.Person:
    """A Nanning employee filed for Guangzhou, certified by Nanning for diabetes."""
    person = await filing.new_person(NANNING)
    await filing.file(person, pool_code=GUANGZHOU, start=today() - timedelta(days=30))
    await filing.stub.CertifyChronicDisease(
        filing_pb2.CertifyChronicDiseaseRequest(
            channel_request_id=f"cert-{secrets.token_hex(8)}",
            psn_no=person.psn_no,
            disease_code=disease_code,
            valid_from_date=(today() - timedelta(days=60)).isoformat(),
        ),
        metadata=caller_metadata(NANNING),
        timeout=CALL_TIMEOUT_S,
    )
    return person


def _register(h: Hospital, person: filing_pb2.Person, **fields_: object) -> pb.RegisterRequest:
    request = pb.RegisterRequest(
        header=h.header(person.insured_pool),
        psn_no=person.psn_no,
        begntime=today().isoformat(),
        ipt_otp_no=f"NC{next(_serial)}",
    )
    for name, value in fields_.items():
        setattr(request, name, value)
    return request


async def _settle_chronic(
    h: Hospital, person: filing_pb2.Person, request: pb.RegisterRequest
) -> pb.SettlementInfo:
    registered = await h.call("Register", request)
    assert registered.trtinfo.allowed, registered.trtinfo
    lines = [fee(1, CONSULTATION, "44"), fee(2, BLOOD_COUNT, "44")]
    total = (await h.upload(person, registered.mdtrt_id, lines)).medfee_sumamt_fen
    settled: pb.SettlementInfo = (await h.settle(person, registered.mdtrt_id, total)).setlinfo
    assert settled.med_type == common_pb2.MED_TYPE_CHRONIC_OUTPATIENT
    assert settled.hifp_pay_fen > 0
    return settled


async def test_a_chronic_visit_with_the_national_code_settles(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    person = await _diabetic(filing)
    h = hospital(HOSPITAL)
    request = _register(
        h,
        person,
        insutype=person.insutype,
        med_type=common_pb2.MED_TYPE_CHRONIC_OUTPATIENT,
        dise_codg="M01600",
    )
    settled = await _settle_chronic(h, person, request)
    async with settlement_db.acquire() as conn:
        stored = await conn.fetchrow(
            "SELECT chronic_disease, diag_code FROM encounters WHERE mdtrt_id = $1",
            settled.mdtrt_id,
        )
        counted = await conn.fetchval(
            "SELECT chronic_hifp_paid_fen FROM accumulations WHERE psn_no = $1", person.psn_no
        )
    assert stored is not None and tuple(stored) == ("M01600", "M01600")
    assert '"M01600"' in counted


async def test_the_legacy_alias_mt02_settles_as_m01600(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    person = await _diabetic(filing, disease_code="MT02")  # certified with the alias too
    h = hospital(HOSPITAL)
    request = _register(
        h,
        person,
        insutype=person.insutype,
        med_type=common_pb2.MED_TYPE_CHRONIC_OUTPATIENT,
        dise_codg="MT02",
    )
    settled = await _settle_chronic(h, person, request)
    async with settlement_db.acquire() as conn:
        stored = await conn.fetchval(
            "SELECT chronic_disease FROM encounters WHERE mdtrt_id = $1", settled.mdtrt_id
        )
    assert stored == "M01600"
    listed = await filing.stub.ListChronicCertifications(
        filing_pb2.ListChronicCertificationsRequest(psn_no=person.psn_no),
        metadata=caller_metadata(NANNING),
        timeout=CALL_TIMEOUT_S,
    )
    assert [c.disease_code for c in listed.certifications] == ["M01600"]


async def test_an_unknown_disease_code_names_the_field_and_writes_nothing(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    person = await _diabetic(filing)
    h = hospital(HOSPITAL)
    before = await row_counts(settlement_db)
    for code in ("MT11", "M99999", "m01600", "E11.9", ""):
        request = _register(
            h,
            person,
            insutype=person.insutype,
            med_type=common_pb2.MED_TYPE_CHRONIC_OUTPATIENT,
            dise_codg=code,
        )
        error = await rpc_error(h.call("Register", request))
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, code
        assert fields(error) == ["dise_codg"], code
        assert "1309" in (error.details() or ""), error.details()
    refused = await rpc_error(
        filing.stub.CertifyChronicDisease(
            filing_pb2.CertifyChronicDiseaseRequest(
                channel_request_id=f"cert-{secrets.token_hex(8)}",
                psn_no=person.psn_no,
                disease_code="MT99",
                valid_from_date=today().isoformat(),
            ),
            metadata=caller_metadata(NANNING),
            timeout=CALL_TIMEOUT_S,
        )
    )
    assert refused.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert fields(refused) == ["disease_code"]
    assert await row_counts(settlement_db) == before


async def test_national_strings_instead_of_the_enums(
    hospital: Callable[[str], Hospital], filing: Filing
) -> None:
    person = await _diabetic(filing)
    h = hospital(HOSPITAL)
    request = _register(
        h,
        person,
        insutype_code=str(int(person.insutype)),  # "310"
        med_type_code="14",
        mdtrt_cert_type_code="02",
        mdtrt_cert_no=person.documents[0].number,
        dise_codg="M01600",
    )
    await _settle_chronic(h, person, request)

    queried = await h.call(
        "QueryPerson",
        pb.QueryPersonRequest(
            header=h.header(),
            mdtrt_cert_type_code="02",
            mdtrt_cert_no=person.documents[0].number,
            med_type_code="14",
        ),
    )
    assert queried.baseinfo.psn_no == person.psn_no

    # The filing service takes them too.
    coverage = await filing.stub.CheckCoverage(
        filing_pb2.CheckCoverageRequest(
            psn_no=person.psn_no,
            treatment_pool=GUANGZHOU,
            treatment_date=today().isoformat(),
            med_type_code="14",
            chronic_disease_code="MT02",
        ),
        metadata=caller_metadata("svc-settlement"),
        timeout=CALL_TIMEOUT_S,
    )
    assert coverage.allowed


async def test_a_string_that_disagrees_with_its_enum_names_both_fields(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    person = await _diabetic(filing)
    h = hospital(HOSPITAL)
    before = await row_counts(settlement_db)
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({"insutype": person.insutype, "insutype_code": "390"}, ["insutype", "insutype_code"]),
        (
            {"med_type": common_pb2.MED_TYPE_ORDINARY_OUTPATIENT, "med_type_code": "14"},
            ["med_type", "med_type_code"],
        ),
        (
            {"mdtrt_cert_type": pb.CERT_TYPE_E_VOUCHER, "mdtrt_cert_type_code": "02"},
            ["mdtrt_cert_type", "mdtrt_cert_type_code"],
        ),
        ({"insutype_code": "31O"}, ["insutype_code"]),
        ({"med_type_code": "21"}, ["med_type_code"]),  # inpatient is 2401, not 2201
    ]
    for given, named in cases:
        base: dict[str, object] = {
            "insutype": person.insutype,
            "med_type": common_pb2.MED_TYPE_CHRONIC_OUTPATIENT,
            "dise_codg": "M01600",
        }
        if "insutype_code" in given and "insutype" not in given:
            del base["insutype"]
        if "med_type_code" in given and "med_type" not in given:
            del base["med_type"]
        request = _register(h, person, **{**base, **given})
        if "mdtrt_cert_type" in given:
            request.mdtrt_cert_no = person.documents[0].number
        error = await rpc_error(h.call("Register", request))
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, given
        assert sorted(set(fields(error)) - {"dise_codg"}) == sorted(named), (given, fields(error))
        assert details_of(error) is not None
    assert await row_counts(settlement_db) == before


async def test_the_filing_service_takes_psn_cert_type_and_insutype_code(filing: Filing) -> None:
    person = await filing.new_person(NANNING)
    number = person.documents[0].number

    async def get(document: common_pb2.IdentityDocument) -> filing_pb2.GetPersonResponse:
        return await filing.stub.GetPerson(  # type: ignore[no-any-return]
            filing_pb2.GetPersonRequest(document=document),
            metadata=caller_metadata(NANNING),
            timeout=CALL_TIMEOUT_S,
        )

    found = await get(common_pb2.IdentityDocument(psn_cert_type="01", number=number))
    assert found.person.psn_no == person.psn_no
    assert found.person.insutype_code == "310"  # filled in responses
    both = common_pb2.IdentityDocument(
        type=common_pb2.DOCUMENT_TYPE_RESIDENT_ID, psn_cert_type="01", number=number
    )
    assert (await get(both)).person.psn_no == person.psn_no
    for document, named in [
        (
            common_pb2.IdentityDocument(
                type=common_pb2.DOCUMENT_TYPE_RESIDENT_ID, psn_cert_type="04", number=number
            ),
            ["document.type", "document.psn_cert_type"],
        ),
        (
            common_pb2.IdentityDocument(psn_cert_type="08", number=number),
            ["document.psn_cert_type"],
        ),
        (
            common_pb2.IdentityDocument(psn_cert_type="X1", number=number),
            ["document.psn_cert_type"],
        ),
    ]:
        error = await rpc_error(get(document))
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, document
        assert fields(error) == named, (document, fields(error))

    # A person upserted with the national insutype string only.
    resident = filing_pb2.Person()
    resident.CopyFrom(person)
    resident.ClearField("insutype")
    resident.insutype_code = "390"
    saved = await filing.stub.UpsertPerson(
        filing_pb2.UpsertPersonRequest(person=resident),
        metadata=caller_metadata(NANNING),
        timeout=CALL_TIMEOUT_S,
    )
    assert saved.person.insutype == common_pb2.INSURANCE_TYPE_RESIDENT_BASIC
    resident.insutype = common_pb2.INSURANCE_TYPE_EMPLOYEE_BASIC
    error = await rpc_error(
        filing.stub.UpsertPerson(
            filing_pb2.UpsertPersonRequest(person=resident),
            metadata=caller_metadata(NANNING),
            timeout=CALL_TIMEOUT_S,
        )
    )
    assert fields(error) == ["person.insutype", "person.insutype_code"]
