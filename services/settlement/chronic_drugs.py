"""5205 a person's chronic-disease drug records (慢特病用药记录查询).

The drug lines of the person's settled chronic/special outpatient visits (med type 14
with a standing settlement) at every institution — so the treating doctor sees what was
dispensed elsewhere — with fee date, institution, item code and name, quantity, price
and amount. Drug lines are those with a national drug code (``X…`` western medicine,
``Z…`` Chinese patent medicine, the catalogues' code shapes); the name comes from the
treatment province's catalogue in force on the visit's first day.

Who may see them: the rule of 5206 (``Settlement.query_accumulations``) — an institution
currently treating the person: an OPEN encounter there, or one settled in the last
``TREATING_DAYS_AFTER_SETTLEMENT`` days (today that means hospitals: pharmacies do not
settle here yet). Anyone else is PERMISSION_DENIED, whatever the person's records.

Bounded: keyset pages of at most ``MAX_PAGE_SIZE`` rows in (fee date, mdtrt_id, line no)
order, read in one repeatable-read transaction; the page token is opaque and checked.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

import asyncpg

from services.settlement import national_codes as codes
from services.settlement import store
from services.settlement.domain.codes import VisitType
from services.settlement.domain.encounter import require_person
from services.settlement.domain.inputs import Header, check_psn_no, read_day
from services.settlement.handlers import (
    ACQUIRE_TIMEOUT_S,
    TREATING_DAYS_AFTER_SETTLEMENT,
    Settlement,
)
from services.settlement.institution_access import HOSPITAL, acting_institution
from services.settlement.versions import Versions
from shared import clock
from shared.errors import InvalidArgument, PermissionDenied, Violations
from shared.pb.crossclear.settlement.v1 import settlement_pb2 as pb
from shared.reference.geography import UnknownCode
from shared.reference.institutions import get_institution
from shared.vocabulary import parse_national_date

DEFAULT_PAGE_SIZE: Final = 100
MAX_PAGE_SIZE: Final = 1000
MAX_PAGE_TOKEN_CHARS: Final = 200
DRUG_CODE_PATTERN: Final = "^[XZ]"  # national drug codes: X… western, Z… Chinese patent


@dataclass(frozen=True)
class PageKey:
    fee_date: date
    mdtrt_id: str
    line_no: int


_RECORDS: Final = f"""
SELECT e.mdtrt_id, e.setl_id, e.hospital_code, e.treatment_pool, e.begin_date,
       e.chronic_disease, f.line_no, f.item_code, f.fee_date, f.quantity_e4,
       f.unit_price_fen, f.amount_fen
  FROM encounters e
  JOIN fee_lines f ON f.mdtrt_id = e.mdtrt_id AND f.cancelled_at IS NULL
 WHERE e.psn_no = $1 AND e.med_type = '14' AND e.state = 'SETTLED'
   AND f.item_code ~ '{DRUG_CODE_PATTERN}'
   AND ($2::date IS NULL OR f.fee_date >= $2)
   AND ($3::date IS NULL OR f.fee_date <= $3)
   AND ($4::text IS NULL OR e.chronic_disease = $4)
   AND ($5::date IS NULL OR (f.fee_date, e.mdtrt_id, f.line_no) > ($5, $6, $7))
 ORDER BY f.fee_date, e.mdtrt_id, f.line_no
 LIMIT $8
"""


async def query(
    service: Settlement,
    header: Header | None,
    request: pb.QueryChronicDrugRecordsRequest,
    errors: Violations,
) -> pb.QueryChronicDrugRecordsResponse:
    """The RPC after its header is read (violations so far in ``errors``): read the rest,
    check the caller may see the person, read one page."""
    check_psn_no(request.psn_no, "psn_no", errors)
    begin = read_day(request.begndate, "begndate", errors) if request.begndate else None
    end = read_day(request.enddate, "enddate", errors) if request.enddate else None
    if begin is not None and end is not None:
        errors.check(begin <= end, "enddate", "not before begndate")
    disease = None
    if request.dise_codg:
        read = codes.read_disease(request.dise_codg, VisitType.CHRONIC_OUTPATIENT, errors)
        disease = read.value if read else None
    if request.page.page_size < 0:
        errors.add("page.page_size", "must not be negative")
    after = _decode(request.page.page_token, errors)
    errors.raise_if_any()
    assert header is not None
    limit = min(request.page.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    rows = await _read(service.pool, header, request.psn_no, begin, end, disease, after, limit)
    versions = service.versions
    records = [_record(r, versions) for r in rows]
    token = ""
    if len(rows) == limit:
        last = rows[-1]
        token = _encode(PageKey(last["fee_date"], last["mdtrt_id"], last["line_no"]))
    return pb.QueryChronicDrugRecordsResponse(
        psn_no=request.psn_no, records=records, next_page_token=token
    )


async def _read(
    pool: asyncpg.Pool,
    header: Header,
    psn_no: str,
    begin: date | None,
    end: date | None,
    disease: str | None,
    after: PageKey | None,
    limit: int,
) -> list[asyncpg.Record]:
    hospital = acting_institution(header, HOSPITAL)
    since = clock.china_now().date() - timedelta(days=TREATING_DAYS_AFTER_SETTLEMENT)
    async with (
        pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        treating = await store.treating_encounter(conn, hospital.code, psn_no, since)
        if treating is None:
            raise PermissionDenied(
                f"{hospital.code} is not currently treating {psn_no}: no open encounter "
                f"and none settled in the last {TREATING_DAYS_AFTER_SETTLEMENT} days"
            )
        require_person(treating, psn_no, header.insured_pool)
        rows: list[asyncpg.Record] = await conn.fetch(
            _RECORDS,
            psn_no,
            begin,
            end,
            disease,
            after.fee_date if after else None,
            after.mdtrt_id if after else "",
            after.line_no if after else 0,
            limit,
        )
    return rows


def _record(r: asyncpg.Record, versions: Versions) -> pb.ChronicDrugRecord:
    item = versions.catalogue_for(r["treatment_pool"][:2], r["begin_date"]).lookup(r["item_code"])
    try:
        institution = get_institution(r["hospital_code"]).name_zh
    except UnknownCode:
        institution = ""
    return pb.ChronicDrugRecord(
        mdtrt_id=r["mdtrt_id"],
        setl_id=r["setl_id"],
        fixmedins_code=r["hospital_code"],
        fixmedins_name=institution,
        dise_codg=r["chronic_disease"],
        fee_ocur_time=r["fee_date"].isoformat(),
        feedetl_sn=r["line_no"],
        med_list_codg=r["item_code"],
        med_list_name=item.name_zh if item else "",
        cnt_e4=r["quantity_e4"],
        pric_fen=r["unit_price_fen"],
        det_item_fee_sumamt_fen=r["amount_fen"],
    )


def _encode(key: PageKey) -> str:
    raw = json.dumps([key.fee_date.isoformat(), key.mdtrt_id, key.line_no], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode(token: str, errors: Violations) -> PageKey | None:
    if not token:
        return None
    bad = "not a token this service issued"
    if len(token) > MAX_PAGE_TOKEN_CHARS:
        errors.add("page.page_token", bad)
        return None
    try:
        day, mdtrt_id, line_no = json.loads(base64.urlsafe_b64decode(token.encode()))
        key = PageKey(parse_national_date(day, "page.page_token"), str(mdtrt_id), int(line_no))
    except (binascii.Error, ValueError, TypeError, InvalidArgument):
        errors.add("page.page_token", bad)
        return None
    return key
