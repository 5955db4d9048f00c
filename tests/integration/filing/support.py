"""Builders and helpers of the filing tests: persons with unique numbers and documents,
filing requests, calls as a given caller, row counts."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Awaitable
from datetime import date, timedelta
from typing import Any

import asyncpg
import grpc
import pytest

from shared import clock
from shared.clock import china_today
from shared.devidp import DevIdp
from shared.grpc_client import caller_metadata
from shared.identity import (
    DocumentType,
    make_home_return_permit,
    make_residence_permit,
    make_resident_id,
)
from shared.pb.crossclear.common.v1 import common_pb2
from shared.pb.crossclear.filing.v1 import filing_pb2, filing_pb2_grpc

NANNING, BEIHAI, QINZHOU = "450100", "450500", "450700"
GUANGZHOU, SHENZHEN, ZHUHAI = "440100", "440300", "440400"
NANNING_HOSPITAL, GUANGZHOU_HOSPITAL = "H45010000001", "H44010000001"
CALL_TIMEOUT_S = 10.0
TABLES = (
    "persons",
    "person_documents",
    "filings",
    "chronic_certifications",
    "outbox",
    "idempotency_keys",
)

CHANNEL_CALLER = {
    filing_pb2.CHANNEL_APP: "channel-app",
    filing_pb2.CHANNEL_MINI_PROGRAM: "channel-mini-program",
    filing_pb2.CHANNEL_WEB: "channel-web",
    filing_pb2.CHANNEL_COUNTER: "channel-counter",
}

# Document numbers unique within the run: birth day and sequence from one counter.
_serial = itertools.count()
_BIRTH_DAYS = 18_000  # 1950-01-01 … 1999-04-…


def _birth_and_seq() -> tuple[date, int]:
    n = next(_serial)
    return date(1950, 1, 1) + timedelta(days=n % _BIRTH_DAYS), (n // _BIRTH_DAYS) % 1000


def today() -> date:
    return china_today()


def days_ago(days: int) -> str:
    return (today() - timedelta(days=days)).isoformat()


def resident_id(region: str = NANNING) -> str:
    birth, seq = _birth_and_seq()
    return make_resident_id(region, birth, seq)


def residence_permit(doc_type: DocumentType) -> str:
    birth, seq = _birth_and_seq()
    return make_residence_permit(doc_type, birth, seq)


def document(
    doc_type: common_pb2.DocumentType.ValueType, number: str
) -> common_pb2.IdentityDocument:
    return common_pb2.IdentityDocument(type=doc_type, number=number)


def home_return_permit(region: str) -> str:
    return make_home_return_permit(region, next(_serial))


def e_voucher() -> str:
    return secrets.token_urlsafe(24)


def make_person(
    pool: str = NANNING,
    *,
    documents: list[common_pb2.IdentityDocument] | None = None,
    insutype: common_pb2.InsuranceType.ValueType = common_pb2.INSURANCE_TYPE_EMPLOYEE_BASIC,
    acct_balance_fen: int = 0,
    **fields: Any,
) -> filing_pb2.Person:
    """A valid person of ``pool`` with a new number and a new resident ID."""
    if documents is None:
        documents = [document(common_pb2.DOCUMENT_TYPE_RESIDENT_ID, resident_id(pool))]
    return filing_pb2.Person(
        psn_no=f"{pool}{secrets.token_hex(5).upper()}",
        name="测试参保人",
        documents=documents,
        insured_pool=pool,
        insutype=insutype,
        person_type=common_pb2.PERSON_TYPE_IN_SERVICE,
        assistance_category=common_pb2.ASSISTANCE_CATEGORY_NONE,
        acct_balance_fen=acct_balance_fen,
        **fields,
    )


def referral(
    referring: str = NANNING_HOSPITAL, receiving: str = GUANGZHOU_HOSPITAL
) -> filing_pb2.ReferralDetails:
    return filing_pb2.ReferralDetails(
        referring_hospital_code=referring,
        hospital_code=receiving,
        diagnosis_code="C34.900",
        diagnosis_name="支气管或肺恶性肿瘤",
    )


def submission(
    psn_no: str,
    category: filing_pb2.FilingCategory.ValueType = filing_pb2.FILING_CATEGORY_OTHER_TEMPORARY,
    *,
    pool_code: str = GUANGZHOU,
    province_code: str = "",
    start_date: str | None = None,
    end_date: str = "",
    channel: filing_pb2.Channel.ValueType = filing_pb2.CHANNEL_APP,
    request_id: str | None = None,
    referral: filing_pb2.ReferralDetails | None = None,
) -> filing_pb2.SubmitFilingRequest:
    destination = (
        filing_pb2.Destination(province_code=province_code)
        if province_code
        else filing_pb2.Destination(pool_code=pool_code)
    )
    return filing_pb2.SubmitFilingRequest(
        channel=channel,
        channel_request_id=request_id or f"req-{secrets.token_hex(8)}",
        psn_no=psn_no,
        category=category,
        destination=destination,
        start_date=start_date or today().isoformat(),
        end_date=end_date,
        commitment_accepted=True,
        referral=referral,
    )


def coverage(
    psn_no: str,
    treatment_pool: str = GUANGZHOU,
    *,
    treatment_date: str | None = None,
    med_type: common_pb2.MedType.ValueType = common_pb2.MED_TYPE_INPATIENT,
    emergency: bool = False,
) -> filing_pb2.CheckCoverageRequest:
    return filing_pb2.CheckCoverageRequest(
        psn_no=psn_no,
        treatment_pool=treatment_pool,
        treatment_date=treatment_date or today().isoformat(),
        med_type=med_type,
        emergency=emergency,
    )


class Tokens:
    """End-user tokens of the session's development identity provider, minted on the
    service's clock (the service runs in this process)."""

    def __init__(self, idp: DevIdp, audience: str) -> None:
        self.idp = idp
        self.audience = audience

    def person(self, channel: str, psn_no: str, **kw: Any) -> str:
        return self.idp.token(channel, audience=self.audience, now=clock.now(), person=psn_no, **kw)

    def staff(self, pool: str, staff_id: str = "clerk-1", **kw: Any) -> str:
        return self.idp.token(
            "channel-counter",
            audience=self.audience,
            now=clock.now(),
            staff=staff_id,
            pool=pool,
            **kw,
        )


def bearer(token: str) -> tuple[str, str]:
    return ("authorization", f"Bearer {token}")


class Api:
    """The filing service, called as a given caller (development caller header).

    A channel caller acts for an end user: the person the request names (its psn_no, or
    the person of the filing it names, learnt from the filings this client has seen), or
    at the counter a clerk of that person's pool — unless ``token`` says otherwise
    (``token=""`` sends none).
    """

    def __init__(self, stub: filing_pb2_grpc.FilingServiceStub, tokens: Tokens) -> None:
        self.stub = stub
        self.tokens = tokens
        self.person_of_filing: dict[str, str] = {}

    def _end_user_token(self, request: Any, caller: str) -> str | None:
        psn_no = getattr(request, "psn_no", "") or self.person_of_filing.get(
            getattr(request, "filing_id", ""), ""
        )
        if caller == "channel-counter":
            filing_id = getattr(request, "filing_id", "")
            pool = psn_no[:6] if psn_no else filing_id[1:7]
            return self.tokens.staff(pool) if pool else None
        return self.tokens.person(caller, psn_no) if psn_no else None

    def _learn(self, response: Any) -> None:
        for name in ("filing", "superseded"):
            if response.DESCRIPTOR.fields_by_name.get(name) and response.HasField(name):
                f = getattr(response, name)
                self.person_of_filing[f.filing_id] = f.psn_no
        for f in getattr(response, "filings", ()):
            self.person_of_filing[f.filing_id] = f.psn_no

    async def call(self, method: str, request: Any, caller: str, token: str | None = None) -> Any:
        rpc = getattr(self.stub, method)
        metadata = caller_metadata(caller)
        if token is None and caller.startswith("channel-"):
            token = self._end_user_token(request, caller)
        if token:
            metadata = (*metadata, bearer(token))
        response = await rpc(request, metadata=metadata, timeout=CALL_TIMEOUT_S)
        self._learn(response)
        return response

    async def upsert(
        self, p: filing_pb2.Person, caller: str | None = None
    ) -> filing_pb2.UpsertPersonResponse:
        request = filing_pb2.UpsertPersonRequest(person=p)
        response: filing_pb2.UpsertPersonResponse = await self.call(
            "UpsertPerson", request, caller or p.insured_pool
        )
        return response

    async def new_person(self, pool: str = NANNING, **fields: Any) -> filing_pb2.Person:
        response = await self.upsert(make_person(pool, **fields))
        return response.person

    async def submit(
        self,
        request: filing_pb2.SubmitFilingRequest,
        caller: str | None = None,
        token: str | None = None,
    ) -> filing_pb2.SubmitFilingResponse:
        response: filing_pb2.SubmitFilingResponse = await self.call(
            "SubmitFiling", request, caller or CHANNEL_CALLER[request.channel], token
        )
        return response

    async def coverage(
        self, request: filing_pb2.CheckCoverageRequest, caller: str = "svc-settlement"
    ) -> filing_pb2.CheckCoverageResponse:
        response: filing_pb2.CheckCoverageResponse = await self.call(
            "CheckCoverage", request, caller
        )
        return response


async def rpc_error(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


async def row_counts(pool: asyncpg.Pool) -> dict[str, int]:
    async with pool.acquire() as conn:
        return {table: await conn.fetchval(f"SELECT count(*) FROM {table}") for table in TABLES}
