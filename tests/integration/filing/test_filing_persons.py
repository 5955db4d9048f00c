"""Person records: upsert by the insured pool's agency, lookups for settlement (1101),
documents unique across persons, derived sex and birth date."""

from __future__ import annotations

import asyncpg
import grpc

from shared.grpc_errors import field_violations_of, reason_of
from shared.pb.crossclear.common.v1 import common_pb2
from shared.pb.crossclear.filing.v1 import filing_pb2

from .support import (
    GUANGZHOU,
    NANNING,
    Api,
    document,
    e_voucher,
    make_person,
    resident_id,
    row_counts,
    rpc_error,
)


async def test_upsert_creates_then_replaces_and_derives_facts_from_the_id(api: Api) -> None:
    number = resident_id(NANNING)
    p = make_person(
        NANNING,
        documents=[document(common_pb2.DOCUMENT_TYPE_RESIDENT_ID, number.lower())],
        acct_balance_fen=123_456,
        phone="13812345678",
    )
    created = await api.upsert(p)
    assert created.created and created.person.revision == 1
    stored = created.person
    assert stored.documents[0].number == number  # normalised: upper-case X
    assert stored.birth_date == f"{number[6:10]}-{number[10:12]}-{number[12:14]}"
    expected_sex = filing_pb2.SEX_MALE if int(number[16]) % 2 else filing_pb2.SEX_FEMALE
    assert stored.sex == expected_sex
    assert (stored.acct_balance_fen, stored.phone) == (123_456, "13812345678")

    token = e_voucher()
    p.documents.append(document(common_pb2.DOCUMENT_TYPE_E_VOUCHER, token))
    p.assistance_category = common_pb2.ASSISTANCE_CATEGORY_MINIMUM_LIVING
    replaced = await api.upsert(p)
    assert not replaced.created and replaced.person.revision == 2
    assert replaced.person.assistance_category == common_pb2.ASSISTANCE_CATEGORY_MINIMUM_LIVING
    assert [d.type for d in replaced.person.documents] == [
        common_pb2.DOCUMENT_TYPE_RESIDENT_ID,
        common_pb2.DOCUMENT_TYPE_E_VOUCHER,
    ]


async def test_get_person_by_number_and_by_document(api: Api) -> None:
    token = e_voucher()
    number = resident_id(NANNING)
    person = await api.new_person(
        NANNING,
        documents=[
            document(common_pb2.DOCUMENT_TYPE_RESIDENT_ID, number),
            document(common_pb2.DOCUMENT_TYPE_E_VOUCHER, token),
        ],
    )
    by_number = filing_pb2.GetPersonRequest(psn_no=person.psn_no)
    by_token = filing_pb2.GetPersonRequest(
        document=document(common_pb2.DOCUMENT_TYPE_E_VOUCHER, token)
    )
    by_id = filing_pb2.GetPersonRequest(
        document=document(common_pb2.DOCUMENT_TYPE_RESIDENT_ID, number)
    )
    for request in (by_number, by_token, by_id):
        found = await api.call("GetPerson", request, "svc-settlement")
        assert found.person == person
    assert (await api.call("GetPerson", by_token, NANNING)).person == person

    # Another pool's agency learns nothing; a channel may not look persons up at all.
    err = await rpc_error(api.call("GetPerson", by_token, GUANGZHOU))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    err = await rpc_error(api.call("GetPerson", by_number, GUANGZHOU))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    err = await rpc_error(api.call("GetPerson", by_token, "channel-app"))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    unknown = filing_pb2.GetPersonRequest(
        document=document(common_pb2.DOCUMENT_TYPE_E_VOUCHER, e_voucher())
    )
    err = await rpc_error(api.call("GetPerson", unknown, "svc-settlement"))
    assert err.code() == grpc.StatusCode.NOT_FOUND


async def test_a_document_belongs_to_one_person(api: Api, filing_db: asyncpg.Pool) -> None:
    first = await api.new_person(NANNING)
    second = make_person(
        NANNING,
        documents=[
            document(common_pb2.DOCUMENT_TYPE_E_VOUCHER, e_voucher()),
            first.documents[0],
        ],
    )
    before = await row_counts(filing_db)
    err = await rpc_error(api.upsert(second))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason_of(err) == "DOCUMENT_HELD_BY_ANOTHER_PERSON"
    assert "documents[1]" in (err.details() or "")
    assert await row_counts(filing_db) == before


async def test_guangzhou_agency_cannot_upsert_a_nanning_person(
    api: Api, filing_db: asyncpg.Pool
) -> None:
    before = await row_counts(filing_db)
    for caller in (GUANGZHOU, "44", "channel-counter", "H45010000001"):
        err = await rpc_error(api.upsert(make_person(NANNING), caller=caller))
        assert err.code() == grpc.StatusCode.PERMISSION_DENIED, caller
    assert await row_counts(filing_db) == before
    # Its own province centre may.
    assert (await api.upsert(make_person(NANNING), caller="45")).created


async def test_person_fields_are_checked_together(api: Api, filing_db: asyncpg.Pool) -> None:
    p = make_person(NANNING, insutype=common_pb2.INSURANCE_TYPE_RESIDENT_BASIC)
    p.psn_no = GUANGZHOU + p.psn_no[6:]
    p.acct_balance_fen = 100
    p.documents.append(document(common_pb2.DOCUMENT_TYPE_HK_MO_HOME_RETURN_PERMIT, "X123"))
    p.birth_date = "1990-02-30"
    p.assistance_category = common_pb2.ASSISTANCE_CATEGORY_UNSPECIFIED
    before = await row_counts(filing_db)
    err = await rpc_error(api.upsert(p))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations_of(err)) == {
        "person.psn_no",
        "person.documents[1].number",
        "person.birth_date",
        "person.assistance_category",
        "person.acct_balance_fen",
    }
    assert await row_counts(filing_db) == before
