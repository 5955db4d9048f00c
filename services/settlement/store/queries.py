"""Reads: reconciliation (3201/3202) and the 52xx queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import asyncpg

from services.settlement.domain.bill import FeeLine
from services.settlement.domain.encounter import (
    Encounter,
)
from services.settlement.domain.reconcile import Record, Totals
from services.settlement.store.encounters import ENCOUNTER_COLUMNS, encounter_of
from shared.bus.pg import Conn

# --- reconciliation ------------------------------------------------------------------------


async def totals(conn: Conn, hospital_code: str, begin: date, end: date) -> Totals:
    row = await conn.fetchrow(
        """SELECT coalesce(sum(medfee_sumamt_fen), 0) AS medfee,
                  coalesce(sum(fund_pay_sumamt_fen), 0) AS fund,
                  coalesce(sum(acct_pay_fen), 0) AS acct,
                  coalesce(sum(CASE kind WHEN 'REVERSAL' THEN -1 ELSE 1 END), 0) AS cnt
             FROM settlements
            WHERE hospital_code = $1 AND setl_date BETWEEN $2 AND $3""",
        hospital_code,
        begin,
        end,
    )
    assert row is not None
    return Totals(int(row["medfee"]), int(row["fund"]), int(row["acct"]), int(row["cnt"]))


async def records(
    conn: Conn, hospital_code: str, begin: date, end: date, limit: int
) -> list[Record]:
    rows = await conn.fetch(
        """SELECT setl_id, mdtrt_id, psn_no, medfee_sumamt_fen, fund_pay_sumamt_fen,
                  acct_pay_fen, kind = 'REVERSAL' AS refd_setl_flag
             FROM settlements
            WHERE hospital_code = $1 AND setl_date BETWEEN $2 AND $3
            ORDER BY setl_id
            LIMIT $4""",
        hospital_code,
        begin,
        end,
        limit,
    )
    return [Record(**dict(r)) for r in rows]


# --- 5201, 5204, 5206 -----------------------------------------------------------------------


@dataclass(frozen=True)
class EncounterRow:
    """An encounter as a query shows it (read without a lock)."""

    encounter: Encounter
    line_amount_fen: int
    visit_no: str
    diag_code: str
    dept_code: str


def _encounter_row_of(r: asyncpg.Record) -> EncounterRow:
    return EncounterRow(
        encounter_of(r), r["line_amount_fen"], r["visit_no"], r["diag_code"], r["dept_code"]
    )


async def get_encounter(conn: Conn, mdtrt_id: str) -> EncounterRow | None:
    row = await conn.fetchrow(
        f"SELECT {ENCOUNTER_COLUMNS}, e.visit_no, e.diag_code, e.dept_code"
        " FROM encounters e WHERE e.mdtrt_id = $1",
        mdtrt_id,
    )
    return None if row is None else _encounter_row_of(row)


async def person_encounters(
    conn: Conn,
    hospital_code: str,
    psn_no: str,
    *,
    begin: date | None,
    end: date | None,
    after_mdtrt_id: str | None,
    limit: int,
) -> list[EncounterRow]:
    """One hospital's encounters of one person, in mdtrt_id order, after a page key."""
    rows = await conn.fetch(
        f"""SELECT {ENCOUNTER_COLUMNS}, e.visit_no, e.diag_code, e.dept_code
              FROM encounters e
             WHERE e.hospital_code = $1 AND e.psn_no = $2
               AND ($3::date IS NULL OR e.begin_date >= $3)
               AND ($4::date IS NULL OR e.begin_date <= $4)
               AND ($5::text IS NULL OR e.mdtrt_id > $5)
             ORDER BY e.mdtrt_id
             LIMIT $6""",
        hospital_code,
        psn_no,
        begin,
        end,
        after_mdtrt_id,
        limit,
    )
    return [_encounter_row_of(r) for r in rows]


@dataclass(frozen=True)
class StoredLine:
    line: FeeLine
    upload_msgid: str


async def standing_lines(
    conn: Conn, mdtrt_id: str, *, after_line_no: int, limit: int
) -> list[StoredLine]:
    rows = await conn.fetch(
        """SELECT line_no, item_code, fee_date, quantity_e4, unit_price_fen, amount_fen,
                  upload_msgid
             FROM fee_lines
            WHERE mdtrt_id = $1 AND cancelled_at IS NULL AND line_no > $2
            ORDER BY line_no
            LIMIT $3""",
        mdtrt_id,
        after_line_no,
        limit,
    )
    return [
        StoredLine(
            FeeLine(
                r["line_no"],
                r["item_code"],
                r["fee_date"],
                r["quantity_e4"],
                r["unit_price_fen"],
                r["amount_fen"],
            ),
            r["upload_msgid"],
        )
        for r in rows
    ]


async def treating_encounter(
    conn: Conn, hospital_code: str, psn_no: str, settled_since: date
) -> Encounter | None:
    """The latest encounter by which this hospital is currently treating the person: OPEN,
    or SETTLED by a settlement dated ``settled_since`` or later; None when there is none."""
    row = await conn.fetchrow(
        f"""SELECT {ENCOUNTER_COLUMNS}
              FROM encounters e
              LEFT JOIN settlements s ON s.setl_id = e.setl_id
             WHERE e.hospital_code = $1 AND e.psn_no = $2
               AND (e.state = 'OPEN' OR (e.state = 'SETTLED' AND s.setl_date >= $3))
             ORDER BY e.mdtrt_id DESC
             LIMIT 1""",
        hospital_code,
        psn_no,
        settled_since,
    )
    return None if row is None else encounter_of(row)
