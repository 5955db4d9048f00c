"""The person's year row (accumulations), the pre-settlement read and its warnings."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from services.settlement.domain.accumulations import Accumulations
from services.settlement.domain.codes import Insutype
from services.settlement.domain.encounter import (
    Encounter,
)
from services.settlement.domain.supervision import SupervisionWarning
from services.settlement.store.common import (
    STAYS_ELSEWHERE_MAX,
    Journal,
    TxnClock,
    expect_counts,
)
from services.settlement.store.encounters import (
    ENCOUNTER_COLUMNS,
    LINES_SUBQUERY,
    LockedEncounter,
    encounter_of,
    lines_of,
)
from services.settlement.store.year_rows import ACC_COLUMNS as ACC_COLUMNS
from services.settlement.store.year_rows import ACC_MAPS as ACC_MAPS
from services.settlement.store.year_rows import ACC_SCALARS as ACC_SCALARS
from services.settlement.store.year_rows import accumulations_of as _accumulations_of
from shared import clock
from shared.bus.pg import Conn

# --- accumulations ----------------------------------------------------------------------

_ACC_COLUMNS = ", ".join(ACC_COLUMNS)


def acc_assignments(first: int) -> str:
    """``column = $n`` for every accumulation column, from parameter ``first`` on
    (the order of :func:`acc_params`)."""
    return ", ".join(
        f"{c} = ${first + i}" + ("::jsonb" if c in ACC_MAPS else "")
        for i, c in enumerate(ACC_COLUMNS)
    )


_LOCK_ACCUMULATIONS = f"""
SELECT {_ACC_COLUMNS} FROM accumulations
 WHERE psn_no = $1 AND insutype = $2 AND acc_year = $3
   FOR UPDATE
"""


async def lock_accumulations(
    conn: Conn, psn_no: str, insutype: Insutype, year: int
) -> Accumulations:
    """The person's year row, locked: concurrent settlements of this person queue here."""
    row = await conn.fetchrow(_LOCK_ACCUMULATIONS, psn_no, insutype.value, year)
    assert row is not None, "the year row is created before it is locked"
    return _accumulations_of(row)


def acc_params(acc: Accumulations) -> list[Any]:
    return [
        *(getattr(acc, n) for n in ACC_SCALARS),
        json.dumps({d.value: v for d, v in acc.chronic_hifp_paid_fen.items()}),
        json.dumps({f.value: v for f, v in acc.fund_paid_fen.items()}),
    ]


async def accumulations_now(conn: Conn, psn_no: str, insutype: Insutype) -> Accumulations:
    """This year's accumulations without a lock (queries and pre-settlement)."""
    row = await conn.fetchrow(
        f"SELECT {_ACC_COLUMNS} FROM accumulations"
        f" WHERE psn_no = $1 AND insutype = $2 AND acc_year = $3",
        psn_no,
        insutype.value,
        TxnClock.read().year,
    )
    return _accumulations_of(row)


# --- pre-settlement ----------------------------------------------------------------------

_READ_FOR_PRESETTLE = f"""
SELECT {ENCOUNTER_COLUMNS},
       {LINES_SUBQUERY},
       {", ".join(f"a.{c}" for c in ACC_COLUMNS)},
       (SELECT array_agg((o.hospital_code, o.begin_date) ORDER BY o.begin_date)
          FROM (SELECT hospital_code, begin_date FROM encounters
                 WHERE psn_no = e.psn_no AND med_type = '21' AND state = 'OPEN'
                   AND discharge_date IS NULL AND hospital_code <> e.hospital_code
                 ORDER BY begin_date LIMIT {STAYS_ELSEWHERE_MAX}) o) AS stays_elsewhere
  FROM encounters e
  LEFT JOIN accumulations a
    ON a.psn_no = e.psn_no AND a.insutype = e.insutype
   AND a.acc_year = $2
 WHERE e.mdtrt_id = $1
"""


@dataclass(frozen=True)
class PreSettleView:
    locked: LockedEncounter  # not locked: a pre-settlement only reads
    accumulations: Accumulations
    stays_elsewhere: tuple[tuple[str, date], ...]  # (hospital_code, admitted_on)


async def read_for_presettle(conn: Conn, mdtrt_id: str) -> PreSettleView | None:
    txn_clock = TxnClock.read()
    row = await conn.fetchrow(_READ_FOR_PRESETTLE, mdtrt_id, txn_clock.year)
    if row is None:
        return None
    view = LockedEncounter(
        encounter_of(row), lines_of(row["lines"]), row["line_amount_fen"], txn_clock
    )
    assert len(view.lines) == view.encounter.line_count, mdtrt_id
    stays = tuple((code, day) for code, day in row["stays_elsewhere"] or ())
    return PreSettleView(view, _accumulations_of(row), stays)


_INSERT_WARNINGS = """
WITH w AS (
    INSERT INTO supervision_warnings (mdtrt_id, hospital_code, psn_no, msgid, code, line_no,
                                      message, raised_at)
    SELECT $1, $2, $3, $4, t.code, t.line_no, t.message, $9
      FROM unnest($5::text[], $6::int[], $7::text[]) AS t(code, line_no, message)
    RETURNING 1
), j AS (
    UPDATE messages SET state = 'DONE', hospital_code = $2, infno = $8, mdtrt_id = $1,
           received_at = $9
     WHERE msgid = $4 AND state = 'CLAIMED'
    RETURNING 1
)
SELECT (SELECT count(*) FROM w) AS w, (SELECT count(*) FROM j) AS j
"""


async def insert_warnings(
    conn: Conn, encounter: Encounter, warnings: Sequence[SupervisionWarning], journal: Journal
) -> None:
    counts = await conn.fetchrow(
        _INSERT_WARNINGS,
        encounter.mdtrt_id,
        encounter.hospital_code,
        encounter.person.psn_no,
        journal.msgid,
        [w.code for w in warnings],
        [w.line_no for w in warnings],
        [w.message for w in warnings],
        journal.infno,
        clock.now(),
    )
    expect_counts(counts, w=len(warnings), j=1)
