"""5205 a person's chronic-disease drug records (慢特病用药记录查询).

The drug lines of the person's settled chronic/special outpatient visits (med type 14
with a standing settlement) at every institution — so the treating doctor sees what was
dispensed elsewhere — with fee date, institution, item code and name, quantity, price
and amount. Drug lines are those with a national drug code (``X…`` western medicine,
``Z…`` Chinese patent medicine, the catalogues' code shapes); the name comes from the
treatment province's catalogue in force on the visit's first day.

Who may see them: the rule of 5206 (``Settlement.treating``) — an institution
currently treating the person: an OPEN encounter there, or one settled in the last
``TREATING_DAYS_AFTER_SETTLEMENT`` days (today that means hospitals: pharmacies do not
settle here yet). Anyone else is PERMISSION_DENIED, whatever the person's records.

Bounded: keyset pages of at most ``MAX_PAGE_SIZE`` rows in (fee date, mdtrt_id, line no)
order, read in one repeatable-read transaction; the page token (the servicer's) is opaque
and checked.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date
from typing import Final

import asyncpg

from services.settlement.handlers import Settlement
from services.settlement.handlers.commands import DrugRecordsAfter, QueryChronicDrugs
from services.settlement.versions import Versions
from shared.auth import Caller
from shared.reference.geography import UnknownCode
from shared.reference.institutions import get_institution

DEFAULT_PAGE_SIZE: Final = 100
MAX_PAGE_SIZE: Final = 1000
DRUG_CODE_PATTERN: Final = "^[XZ]"  # national drug codes: X… western, Z… Chinese patent


@dataclass(frozen=True)
class DrugRecord:
    mdtrt_id: str
    setl_id: str
    institution_code: str
    institution_name: str  # "" when the registry no longer knows the code
    disease: str
    fee_date: date
    line_no: int
    item_code: str
    item_name: str  # "" when the catalogue of the visit's first day has no such item
    quantity_e4: int
    unit_price_fen: int
    amount_fen: int


# The record's fields that _RECORDS selects under the same names; the institution's and the
# item's names are looked up.
_COLUMNS: Final = tuple(
    f.name for f in fields(DrugRecord) if f.name not in ("institution_name", "item_name")
)


@dataclass(frozen=True)
class DrugRecordsPage:
    records: tuple[DrugRecord, ...]
    next_after: DrugRecordsAfter | None  # None: the last page


_RECORDS: Final = f"""
SELECT e.mdtrt_id, e.setl_id, e.hospital_code AS institution_code, e.treatment_pool,
       e.begin_date, e.chronic_disease AS disease, f.line_no, f.item_code, f.fee_date,
       f.quantity_e4, f.unit_price_fen, f.amount_fen
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


async def query(service: Settlement, query: QueryChronicDrugs, caller: Caller) -> DrugRecordsPage:
    """One page of the person's drug records, once the caller is seen treating them."""
    assert 0 < query.limit <= MAX_PAGE_SIZE
    after = query.after
    async with service.treating(query, caller, service.china_now().date()) as (conn, _):
        rows: list[asyncpg.Record] = await conn.fetch(
            _RECORDS,
            query.psn_no,
            query.begin,
            query.end,
            query.disease,
            after.fee_date if after else None,
            after.mdtrt_id if after else "",
            after.line_no if after else 0,
            query.limit,
        )
    records = tuple(_record(r, service.versions) for r in rows)
    last = records[-1] if len(records) == query.limit else None
    return DrugRecordsPage(
        records, DrugRecordsAfter(last.fee_date, last.mdtrt_id, last.line_no) if last else None
    )


def _record(r: asyncpg.Record, versions: Versions) -> DrugRecord:
    item = versions.catalogue_for(r["treatment_pool"][:2], r["begin_date"]).lookup(r["item_code"])
    try:
        institution = get_institution(r["institution_code"]).name_zh
    except UnknownCode:
        institution = ""
    return DrugRecord(
        **{name: r[name] for name in _COLUMNS},
        institution_name=institution,
        item_name=item.name_zh if item else "",
    )
