"""Helpers of the settlement tests: hospitals calling the real service, persons and filings
made through the real filing service, msgids, fee lines, row counts."""

from __future__ import annotations

import contextlib
import itertools
import secrets
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import asyncpg
import grpc
import pytest

from services.settlement.domain.bill import line_amount_fen
from shared import clock
from shared.grpc_client import caller_metadata
from shared.grpc_errors import field_violations_of, reason_of
from shared.identity import make_resident_id
from shared.pb.crossclear.common.v1 import common_pb2
from shared.pb.crossclear.filing.v1 import filing_pb2, filing_pb2_grpc
from shared.pb.crossclear.settlement.v1 import settlement_pb2 as pb
from shared.pb.crossclear.settlement.v1 import settlement_pb2_grpc

NANNING, GUANGZHOU = "450100", "440100"
NANNING_HOSPITALS = ("H45010000001", "H45010000002")
GUANGZHOU_HOSPITALS = ("H44010000001", "H44010000002", "H44010000003")
SHENZHEN_HOSPITAL = "H44030000001"
CALL_TIMEOUT_S = 30.0
# Every table a settlement request may write: a refused request changes none of them.
TABLES = (
    "encounters",
    "fee_lines",
    "settlements",
    "settlement_funds",
    "accumulations",
    "supervision_warnings",
    "messages",
    "idempotency_keys",
    "outbox",
)
# Class A services without restrictions (price = price limit in both provinces' catalogues).
CONSULTATION = "110200001"  # 普通门诊诊查费
COLONOSCOPY = "310902001"  # 电子结肠镜检查
ECHOCARDIOGRAM = "220600004"  # 超声心动图
BLOOD_COUNT = "250101015"  # 血细胞分析
INFUSION = "120400001"  # 静脉输液
PRICES_FEN = {
    "44": {
        CONSULTATION: 1800,
        COLONOSCOPY: 42000,
        ECHOCARDIOGRAM: 24000,
        BLOOD_COUNT: 2400,
        INFUSION: 700,
    },
    "45": {
        CONSULTATION: 1500,
        COLONOSCOPY: 35000,
        ECHOCARDIOGRAM: 20000,
        BLOOD_COUNT: 2000,
        INFUSION: 600,
    },
}

_serial = itertools.count(1)


def today() -> date:
    return clock.china_today()


class Msgids:
    """Well-formed msgids, unique within the run: stamped by the services' clock (which a
    test may set), one sequence per hospital."""

    def __init__(self) -> None:
        self._count: dict[str, itertools.count[int]] = {}

    def __call__(self, hospital: str) -> str:
        n = next(self._count.setdefault(hospital, itertools.count()))
        stamp = clock.china_now() - timedelta(hours=2) + timedelta(seconds=n // 10_000)
        return f"{hospital}{stamp:%Y%m%d%H%M%S}{n % 10_000:04d}"


def fee(
    line_no: int, code: str, province: str, quantity_e4: int = 10_000, day: date | None = None
) -> pb.FeeDetail:
    price_fen = PRICES_FEN[province][code]
    return pb.FeeDetail(
        feedetl_sn=line_no,
        med_list_codg=code,
        fee_ocur_time=(day or today()).isoformat(),
        cnt_e4=quantity_e4,
        pric_fen=price_fen,
        det_item_fee_sumamt_fen=line_amount_fen(price_fen, quantity_e4),
    )


@dataclass
class Hospital:
    """One hospital's information system calling the settlement service."""

    code: str
    stub: settlement_pb2_grpc.SettlementServiceStub
    msgids: Msgids

    @property
    def pool(self) -> str:
        return self.code[1:7]

    @property
    def province(self) -> str:
        return self.code[1:3]

    def header(self, insured_pool: str = "", msgid: str | None = None) -> pb.RequestHeader:
        return pb.RequestHeader(
            msgid=msgid or self.msgids(self.code),
            mdtrtarea_admvs=self.pool,
            insuplc_admdvs=insured_pool,
            opter_type=pb.OPERATOR_TYPE_CLERK,
        )

    async def call(self, method: str, request: Any, caller: str | None = None) -> Any:
        rpc = getattr(self.stub, method)
        return await rpc(
            request, metadata=caller_metadata(caller or self.code), timeout=CALL_TIMEOUT_S
        )

    # -- the flow ----------------------------------------------------------------------

    async def register(
        self,
        person: filing_pb2.Person,
        *,
        begin: date | None = None,
        med_type: int = common_pb2.MED_TYPE_ORDINARY_OUTPATIENT,
        dise_codg: str = "",
    ) -> pb.RegisterResponse:
        return await self.call(
            "Register",
            pb.RegisterRequest(
                header=self.header(person.insured_pool),
                psn_no=person.psn_no,
                insutype=person.insutype,
                med_type=med_type,  # type: ignore[arg-type]
                begntime=(begin or today()).isoformat(),
                ipt_otp_no=f"OP{next(_serial)}",
                dise_codg=dise_codg,
            ),
        )

    async def admit(
        self, person: filing_pb2.Person, *, begin: date | None = None
    ) -> pb.AdmitResponse:
        return await self.call(
            "Admit",
            pb.AdmitRequest(
                header=self.header(person.insured_pool),
                psn_no=person.psn_no,
                insutype=person.insutype,
                begntime=(begin or today()).isoformat(),
                ipt_no=f"IP{next(_serial)}",
            ),
        )

    async def upload(
        self,
        person: filing_pb2.Person,
        mdtrt_id: str,
        lines: Sequence[pb.FeeDetail],
        msgid: str | None = None,
    ) -> pb.UploadFeeDetailsResponse:
        return await self.call(
            "UploadFeeDetails",
            pb.UploadFeeDetailsRequest(
                header=self.header(person.insured_pool, msgid),
                mdtrt_id=mdtrt_id,
                psn_no=person.psn_no,
                feedetail=lines,
            ),
        )

    async def presettle(self, person: filing_pb2.Person, mdtrt_id: str) -> pb.PreSettleResponse:
        return await self.call(
            "PreSettle",
            pb.PreSettleRequest(
                header=self.header(person.insured_pool), mdtrt_id=mdtrt_id, psn_no=person.psn_no
            ),
        )

    def settle_request(
        self,
        person: filing_pb2.Person,
        mdtrt_id: str,
        total_fen: int,
        msgid: str | None = None,
        acct: bool = False,
    ) -> pb.SettleRequest:
        return pb.SettleRequest(
            header=self.header(person.insured_pool, msgid),
            mdtrt_id=mdtrt_id,
            psn_no=person.psn_no,
            acct_used_flag=acct,
            medfee_sumamt_fen=total_fen,
        )

    async def settle(
        self, person: filing_pb2.Person, mdtrt_id: str, total_fen: int, msgid: str | None = None
    ) -> pb.SettleResponse:
        return await self.call("Settle", self.settle_request(person, mdtrt_id, total_fen, msgid))

    async def reverse(
        self, person: filing_pb2.Person, info: pb.SettlementInfo, msgid: str | None = None
    ) -> pb.ReverseSettlementResponse:
        return await self.call(
            "ReverseSettlement",
            pb.ReverseSettlementRequest(
                header=self.header(person.insured_pool, msgid),
                setl_id=info.setl_id,
                mdtrt_id=info.mdtrt_id,
                psn_no=person.psn_no,
            ),
        )

    async def discharge(
        self, person: filing_pb2.Person, mdtrt_id: str, day: date | None = None
    ) -> pb.DischargeResponse:
        return await self.call(
            "Discharge",
            pb.DischargeRequest(
                header=self.header(person.insured_pool),
                mdtrt_id=mdtrt_id,
                psn_no=person.psn_no,
                endtime=(day or today()).isoformat(),
            ),
        )

    async def outpatient_visit(
        self, person: filing_pb2.Person, lines: Sequence[pb.FeeDetail]
    ) -> tuple[str, int]:
        """Register and upload: the encounter and its total, ready to settle."""
        registered = await self.register(person)
        uploaded = await self.upload(person, registered.mdtrt_id, lines)
        return registered.mdtrt_id, uploaded.medfee_sumamt_fen


class Filing:
    """The real filing service: persons as their pool agency, filings as the app channel."""

    def __init__(self, stub: filing_pb2_grpc.FilingServiceStub) -> None:
        self.stub = stub

    async def new_person(
        self,
        pool: str = NANNING,
        *,
        insutype: int = common_pb2.INSURANCE_TYPE_EMPLOYEE_BASIC,
        acct_balance_fen: int = 0,
        birth: date = date(1970, 5, 17),
    ) -> filing_pb2.Person:
        person = filing_pb2.Person(
            psn_no=f"{pool}{secrets.token_hex(6).upper()}",
            name="测试参保人",
            documents=[
                common_pb2.IdentityDocument(
                    type=common_pb2.DOCUMENT_TYPE_RESIDENT_ID,
                    number=make_resident_id(pool, birth, next(_serial) % 1000),
                )
            ],
            insured_pool=pool,
            insutype=insutype,  # type: ignore[arg-type]
            person_type=common_pb2.PERSON_TYPE_IN_SERVICE,
            assistance_category=common_pb2.ASSISTANCE_CATEGORY_NONE,
            acct_balance_fen=acct_balance_fen,
        )
        response = await self.stub.UpsertPerson(
            filing_pb2.UpsertPersonRequest(person=person),
            metadata=caller_metadata(pool),
            timeout=CALL_TIMEOUT_S,
        )
        return response.person

    async def file(
        self,
        person: filing_pb2.Person,
        *,
        category: int = filing_pb2.FILING_CATEGORY_LONG_TERM_RESIDENT,
        pool_code: str = "",
        province_code: str = "",
        start: date | None = None,
    ) -> filing_pb2.Filing:
        destination = (
            filing_pb2.Destination(province_code=province_code)
            if province_code
            else filing_pb2.Destination(pool_code=pool_code)
        )
        response = await self.stub.SubmitFiling(
            # Filed at the person's pool agency counter: no end-user token to mint.
            filing_pb2.SubmitFilingRequest(
                channel=filing_pb2.CHANNEL_COUNTER,
                channel_request_id=f"req-{secrets.token_hex(8)}",
                psn_no=person.psn_no,
                category=category,  # type: ignore[arg-type]
                destination=destination,
                start_date=(start or today()).isoformat(),
                commitment_accepted=True,
            ),
            metadata=caller_metadata(person.insured_pool),
            timeout=CALL_TIMEOUT_S,
        )
        return response.filing


async def rpc_error(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


def reason(error: grpc.aio.AioRpcError) -> str | None:
    return reason_of(error)


def fields(error: grpc.aio.AioRpcError) -> list[str]:
    return field_violations_of(error)


async def replayed(db: asyncpg.Pool, call: Awaitable[Any]) -> Any:
    """The answer of a call that must write nothing (a resent msgid)."""
    before = await row_counts(db)
    result = await call
    assert await row_counts(db) == before
    return result


async def row_counts(db: asyncpg.Pool) -> dict[str, int]:
    async with db.acquire() as conn:
        return {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in TABLES}


async def replace_line_one(holder: asyncpg.Connection, mdtrt_id: str, item_code: str) -> None:
    """In ``holder``'s open transaction, as a cancel (2205) of line 1 and an upload (2204)
    of a line 1 of the same amount with ``item_code`` do it: the encounter locked, its
    lines changed with their count and total kept, the encounter's row written."""
    await holder.execute("SELECT 1 FROM encounters WHERE mdtrt_id = $1 FOR UPDATE", mdtrt_id)
    await holder.execute(
        "UPDATE fee_lines SET cancelled_at = now(), cancel_msgid = 'held-cancel'"
        " WHERE mdtrt_id = $1 AND line_no = 1",
        mdtrt_id,
    )
    await holder.execute(
        """INSERT INTO fee_lines (mdtrt_id, line_no, item_code, fee_date, quantity_e4,
                                  unit_price_fen, amount_fen, upload_msgid, uploaded_at)
           SELECT mdtrt_id, 1, $2, fee_date, quantity_e4, unit_price_fen, amount_fen,
                  'held-upload', now()
             FROM fee_lines WHERE mdtrt_id = $1 AND cancel_msgid = 'held-cancel'""",
        mdtrt_id,
        item_code,
    )
    await holder.execute("UPDATE encounters SET updated_at = now() WHERE mdtrt_id = $1", mdtrt_id)


@contextlib.asynccontextmanager
async def rolled_back(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A connection in a transaction that is rolled back at the end, whatever happens:
    what a test holds (a lock, a row not committed) while requests queue behind it."""
    async with pool.acquire() as holder:
        tx = holder.transaction()
        await tx.start()
        try:
            yield holder
        finally:
            await tx.rollback()


async def statements_waiting(pool: asyncpg.Pool, query_like: str, event: str = "%") -> int:
    """How many other sessions' statements (their text, leading newlines aside, LIKE
    ``query_like``) wait for a lock (wait event LIKE ``event``)."""
    async with pool.acquire() as conn:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND wait_event LIKE $2"
                " AND ltrim(query, E'\\n') LIKE $1 AND pid <> pg_backend_pid()",
                query_like,
                event,
            )
        )


async def assert_year_row_holds(
    pool: asyncpg.Pool, psn_no: str, *, settlements: int, deductible_fen: int
) -> None:
    """The person's year row holds exactly what their settlements say: their number, the
    outpatient deductible taken (``deductible_fen`` in all) and the basic fund's payments
    (no update lost, none counted twice)."""
    async with pool.acquire() as conn:
        acc = await conn.fetchrow("SELECT * FROM accumulations WHERE psn_no = $1", psn_no)
        stored = await conn.fetchrow(
            "SELECT count(*) AS n, sum((fund_pay_fen->>'hifp')::bigint) AS hifp,"
            " sum(act_pay_dedc_fen) AS dedc FROM settlements WHERE psn_no = $1",
            psn_no,
        )
    assert acc is not None and stored is not None
    assert acc["outpatient_deductible_used_fen"] == deductible_fen == stored["dedc"]
    assert acc["hifp_outpatient_paid_fen"] == stored["hifp"]
    assert acc["standing_settlements"] == settlements == stored["n"]


async def add_copy_of_line_one(
    conn: asyncpg.Connection, mdtrt_id: str, line_no: int, upload_msgid: str
) -> None:
    """As another upload (2204) of a copy of line 1 numbered ``line_no`` writes it, in
    ``conn``'s open transaction: the line and the encounter's totals."""
    await conn.execute("SELECT 1 FROM encounters WHERE mdtrt_id = $1 FOR UPDATE", mdtrt_id)
    amount_fen = await conn.fetchval(
        """INSERT INTO fee_lines (mdtrt_id, line_no, item_code, fee_date, quantity_e4,
                                  unit_price_fen, amount_fen, upload_msgid, uploaded_at)
           SELECT mdtrt_id, $2, item_code, fee_date, quantity_e4, unit_price_fen,
                  amount_fen, $3, now()
             FROM fee_lines WHERE mdtrt_id = $1 AND line_no = 1 AND cancelled_at IS NULL
           RETURNING amount_fen""",
        mdtrt_id,
        line_no,
        upload_msgid,
    )
    assert amount_fen is not None, "line 1 stands"
    await conn.execute(
        "UPDATE encounters SET line_count = line_count + 1,"
        " line_amount_fen = line_amount_fen + $2 WHERE mdtrt_id = $1",
        mdtrt_id,
        amount_fen,
    )
