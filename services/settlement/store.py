"""Settlement's SQL (asyncpg). Every function runs in the caller's open transaction.

Each write folds everything one RPC changes into one statement (data-modifying CTEs) and
returns the number of rows each part touched, which the caller asserts: the statement
runs under the row locks taken before it, so anything but the expected counts is a bug.

The journal insert (``messages``) is part of every write: a msgid undone by a correction
has a tombstone row there, so the original arriving late fails on the primary key and is
refused (:data:`MSGID_CORRECTED`), whatever else it would have done.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

import asyncpg

from services.settlement.domain.accumulations import AccumulationDelta, Accumulations
from services.settlement.domain.bill import FeeLine
from services.settlement.domain.codes import (
    ChronicDisease,
    FundType,
    HospitalLevel,
    Insutype,
    MafCategory,
    PersonType,
    Sex,
    VisitType,
)
from services.settlement.domain.encounter import (
    Coverage,
    Encounter,
    EncounterState,
    PersonSnapshot,
)
from services.settlement.domain.engine import FundDetail
from services.settlement.domain.reconcile import Record, Totals
from services.settlement.domain.records import Amounts, RecordKind, SettlementRecord
from services.settlement.domain.supervision import SupervisionWarning
from shared import clock
from shared.bus import OUTBOX_COLUMNS, OutboxItem, outbox_values
from shared.bus.pg import Conn
from shared.clock import CHINA_TZ
from shared.errors import FailedPrecondition
from shared.idempotency import COMPLETE_SQL

MSGID_CORRECTED: Final = "MSGID_CORRECTED"
STAYS_ELSEWHERE_MAX: Final = 10


class UnexpectedRowCount(AssertionError):
    pass


@dataclass(frozen=True)
class TxnClock:
    """The committing transaction's own time: settlement time, China date and period."""

    now: datetime
    china_date: date
    clearing_period: str  # YYYYMM

    @property
    def year(self) -> int:
        return self.china_date.year

    @classmethod
    def read(cls) -> TxnClock:
        """The clock's reading for a transaction that has just locked what it changes: its
        settlement time, China date and clearing period (YYYYMM)."""
        now = clock.now()
        china = now.astimezone(CHINA_TZ)
        return cls(now, china.date(), f"{china:%Y%m}")


@dataclass(frozen=True)
class Journal:
    """The ``messages`` row a write adds for its msgid."""

    msgid: str
    hospital_code: str
    infno: str


@contextlib.contextmanager
def refusing_corrected_msgid() -> Iterator[None]:
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name != "messages_pkey":
            raise
        raise FailedPrecondition(
            MSGID_CORRECTED, "this msgid was undone by a correction (2601) and cannot be used"
        ) from None


def _expect(counts: asyncpg.Record | None, **expected: int) -> None:
    assert counts is not None
    for name, want in expected.items():
        if counts[name] != want:
            raise UnexpectedRowCount(f"{name}: {counts[name]} rows, expected {want}")


# --- encounters ------------------------------------------------------------------------

_ENCOUNTER_COLUMNS = """
    e.mdtrt_id, e.hospital_code, e.hospital_level, e.treatment_pool, e.med_type,
    e.chronic_disease, e.emergency, e.begin_date, e.discharge_date, e.state, e.setl_id,
    e.psn_no, e.psn_name, e.insured_pool, e.insutype, e.person_type, e.sex, e.birth_date,
    e.maf_category, e.acct_opening_balance_fen, e.relation, e.coverage_allowed,
    e.coverage_basis, e.filing_id, e.filing_category, e.ratio_reduction_bp, e.local_ratio,
    e.coverage_reason, e.coverage_message, e.line_count, e.line_amount_fen"""

_LINES_SUBQUERY = """
    (SELECT array_agg((f.line_no, f.item_code, f.fee_date, f.quantity_e4, f.unit_price_fen,
                       f.amount_fen) ORDER BY f.line_no)
       FROM fee_lines f
      WHERE f.mdtrt_id = e.mdtrt_id AND f.cancelled_at IS NULL) AS lines"""


def _encounter_of(r: asyncpg.Record) -> Encounter:
    person = PersonSnapshot(
        psn_no=r["psn_no"],
        name=r["psn_name"],
        insured_pool=r["insured_pool"],
        insutype=Insutype(r["insutype"]),
        person_type=PersonType(r["person_type"]),
        sex=Sex(r["sex"]),
        birth_date=r["birth_date"],
        maf_category=MafCategory(r["maf_category"]) if r["maf_category"] else None,
        acct_opening_balance_fen=r["acct_opening_balance_fen"],
    )
    coverage = Coverage(
        relation=r["relation"],
        allowed=r["coverage_allowed"],
        basis=r["coverage_basis"],
        filing_id=r["filing_id"],
        filing_category=r["filing_category"],
        ratio_reduction_bp=r["ratio_reduction_bp"],
        local_ratio=r["local_ratio"],
        reason_code=r["coverage_reason"],
        message=r["coverage_message"],
    )
    disease = r["chronic_disease"]
    return Encounter(
        mdtrt_id=r["mdtrt_id"],
        hospital_code=r["hospital_code"],
        hospital_level=HospitalLevel(r["hospital_level"]),
        treatment_pool=r["treatment_pool"],
        person=person,
        visit_type=VisitType(r["med_type"]),
        chronic_disease=ChronicDisease(disease) if disease else None,
        emergency=r["emergency"],
        begin_date=r["begin_date"],
        discharge_date=r["discharge_date"],
        state=EncounterState(r["state"]),
        setl_id=r["setl_id"],
        coverage=coverage,
        line_count=r["line_count"],
    )


def _lines_of(raw: Sequence[tuple[Any, ...]] | None) -> tuple[FeeLine, ...]:
    return tuple(FeeLine(*line) for line in raw or ())


def _coverage_params(c: Coverage) -> tuple[Any, ...]:
    return (
        c.relation,
        c.allowed,
        c.basis,
        c.filing_id,
        c.filing_category,
        c.ratio_reduction_bp,
        c.local_ratio,
        c.reason_code,
        c.message,
    )


_INSERT_ENCOUNTER = """
WITH enc AS (
    INSERT INTO encounters (
        mdtrt_id, hospital_code, hospital_level, treatment_pool, visit_no, med_type,
        chronic_disease, emergency, diag_code, begin_date, state,
        psn_no, psn_name, insured_pool, insutype, person_type, sex, birth_date, maf_category,
        acct_opening_balance_fen,
        relation, coverage_allowed, coverage_basis, filing_id, filing_category,
        ratio_reduction_bp, local_ratio, coverage_reason, coverage_message, coverage_checked_at,
        opened_msgid, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'OPEN',
            $11, $12, $13, $14, $15, $16, $17, $18, $19,
            $20, $21, $22, $23, $24, $25, $26, $27, $28, $31, $29, $31, $31)
    RETURNING 1
), j AS (
    INSERT INTO messages (msgid, hospital_code, infno, mdtrt_id, state, received_at)
    VALUES ($29, $2, $30, $1, 'DONE', $31)
    RETURNING 1
)
SELECT (SELECT count(*) FROM enc) AS enc, (SELECT count(*) FROM j) AS j
"""


async def insert_encounter(
    conn: Conn, encounter: Encounter, *, visit_no: str, diag_code: str, journal: Journal
) -> None:
    assert encounter.state is EncounterState.OPEN and encounter.line_count == 0
    p = encounter.person
    with refusing_corrected_msgid():
        counts = await conn.fetchrow(
            _INSERT_ENCOUNTER,
            encounter.mdtrt_id,
            encounter.hospital_code,
            int(encounter.hospital_level),
            encounter.treatment_pool,
            visit_no,
            encounter.visit_type.value,
            encounter.chronic_disease.value if encounter.chronic_disease else None,
            encounter.emergency,
            diag_code,
            encounter.begin_date,
            p.psn_no,
            p.name,
            p.insured_pool,
            p.insutype.value,
            p.person_type.value,
            p.sex.value,
            p.birth_date,
            p.maf_category.value if p.maf_category else None,
            p.acct_opening_balance_fen,
            *_coverage_params(encounter.coverage),
            journal.msgid,
            journal.infno,
            clock.now(),
        )
    _expect(counts, enc=1, j=1)


@dataclass(frozen=True)
class LockedEncounter:
    encounter: Encounter
    lines: tuple[FeeLine, ...]  # standing lines; empty unless asked for
    line_amount_fen: int
    msgid_corrected: bool  # the request's msgid has a tombstone or was undone
    clock: TxnClock


def _require_not_corrected(locked: LockedEncounter) -> None:
    if locked.msgid_corrected:
        raise FailedPrecondition(
            MSGID_CORRECTED, "this msgid was undone by a correction (2601) and cannot be used"
        )


_LOCK_ENCOUNTER = f"""
SELECT {_ENCOUNTER_COLUMNS},
       EXISTS (SELECT 1 FROM messages m WHERE m.msgid = $2) AS msgid_seen,
       {{lines}}
  FROM encounters e
 WHERE e.mdtrt_id = $1
   FOR UPDATE OF e
"""
_LOCK_ENCOUNTER_PLAIN = _LOCK_ENCOUNTER.format(lines="NULL::record[] AS lines")
_LOCK_ENCOUNTER_WITH_LINES = _LOCK_ENCOUNTER.format(lines=_LINES_SUBQUERY)
# The settlement's year row is created (if new) in the same round trip as the encounter
# lock; it is locked by its own statement next, whose fresh snapshot sees a row another
# transaction committed meanwhile.
_LOCK_ENCOUNTER_FOR_SETTLE = f"""
WITH year_row AS (
    INSERT INTO accumulations (psn_no, insutype, acc_year, updated_at)
    SELECT psn_no, insutype, $3::smallint, $4::timestamptz
      FROM encounters WHERE mdtrt_id = $1
    ON CONFLICT DO NOTHING
)
{_LOCK_ENCOUNTER_WITH_LINES}"""

_STANDING_LINES = """
SELECT array_agg((line_no, item_code, fee_date, quantity_e4, unit_price_fen, amount_fen)
                 ORDER BY line_no) AS lines
  FROM fee_lines WHERE mdtrt_id = $1 AND cancelled_at IS NULL
"""


async def lock_encounter(
    conn: Conn, mdtrt_id: str, msgid: str, *, lines: bool = False, for_settle: bool = False
) -> LockedEncounter | None:
    """Lock the encounter (FOR UPDATE) for the rest of the transaction; None if unknown."""
    assert conn.is_in_transaction()
    sql = (
        _LOCK_ENCOUNTER_FOR_SETTLE
        if for_settle
        else _LOCK_ENCOUNTER_WITH_LINES
        if lines
        else _LOCK_ENCOUNTER_PLAIN
    )
    txn_clock = TxnClock.read()
    args = (txn_clock.year, txn_clock.now) if for_settle else ()
    row = await conn.fetchrow(sql, mdtrt_id, msgid, *args)
    if row is None:
        return None
    locked = LockedEncounter(
        _encounter_of(row),
        _lines_of(row["lines"]),
        row["line_amount_fen"],
        row["msgid_seen"],
        txn_clock,
    )
    if (lines or for_settle) and len(locked.lines) != locked.encounter.line_count:
        # We waited for the lock behind a concurrent upload or cancel: the sub-select saw
        # the statement's older snapshot. Read the lines again, now under our lock.
        fresh = await conn.fetchval(_STANDING_LINES, mdtrt_id)
        locked = LockedEncounter(
            locked.encounter, _lines_of(fresh), locked.line_amount_fen, locked.msgid_corrected,
            locked.clock,
        )  # fmt: skip
    if lines or for_settle:
        assert len(locked.lines) == locked.encounter.line_count, mdtrt_id
        assert sum(line.amount_fen for line in locked.lines) == locked.line_amount_fen, mdtrt_id
    _require_not_corrected(locked)
    return locked


# --- accumulations ----------------------------------------------------------------------

_ACC_SCALARS = (
    "outpatient_deductible_used_fen",
    "hifp_basic_paid_fen",
    "hifp_outpatient_paid_fen",
    "hifob_paid_fen",
    "hifmi_paid_fen",
    "hifmi_selfpay_base_fen",
    "maf_paid_fen",
    "acct_paid_fen",
)
_ACC_COLUMNS = ", ".join((*_ACC_SCALARS, "chronic_hifp_paid_fen"))


def _accumulations_of(r: asyncpg.Record | None) -> Accumulations:
    if r is None or r["hifp_basic_paid_fen"] is None:
        return Accumulations()
    chronic = json.loads(r["chronic_hifp_paid_fen"])
    return Accumulations.from_dict(
        {**{n: r[n] for n in _ACC_SCALARS}, "chronic_hifp_paid_fen": chronic}
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


def _acc_params(acc: Accumulations) -> list[Any]:
    return [getattr(acc, n) for n in _ACC_SCALARS] + [
        json.dumps({d.value: v for d, v in acc.chronic_hifp_paid_fen.items()})
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
SELECT {_ENCOUNTER_COLUMNS},
       EXISTS (SELECT 1 FROM messages m WHERE m.msgid = $2) AS msgid_seen,
       {_LINES_SUBQUERY},
       {", ".join(f"a.{c}" for c in (*_ACC_SCALARS, "chronic_hifp_paid_fen"))},
       (SELECT array_agg((o.hospital_code, o.begin_date) ORDER BY o.begin_date)
          FROM (SELECT hospital_code, begin_date FROM encounters
                 WHERE psn_no = e.psn_no AND med_type = '21' AND state = 'OPEN'
                   AND discharge_date IS NULL AND hospital_code <> e.hospital_code
                 ORDER BY begin_date LIMIT {STAYS_ELSEWHERE_MAX}) o) AS stays_elsewhere
  FROM encounters e
  LEFT JOIN accumulations a
    ON a.psn_no = e.psn_no AND a.insutype = e.insutype
   AND a.acc_year = $3
 WHERE e.mdtrt_id = $1
"""


@dataclass(frozen=True)
class PreSettleView:
    locked: LockedEncounter  # not locked: a pre-settlement only reads
    accumulations: Accumulations
    stays_elsewhere: tuple[tuple[str, date], ...]  # (hospital_code, admitted_on)


async def read_for_presettle(conn: Conn, mdtrt_id: str, msgid: str) -> PreSettleView | None:
    txn_clock = TxnClock.read()
    row = await conn.fetchrow(_READ_FOR_PRESETTLE, mdtrt_id, msgid, txn_clock.year)
    if row is None:
        return None
    view = LockedEncounter(
        _encounter_of(row), _lines_of(row["lines"]), row["line_amount_fen"], row["msgid_seen"],
        txn_clock,
    )  # fmt: skip
    assert len(view.lines) == view.encounter.line_count, mdtrt_id
    _require_not_corrected(view)
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
    INSERT INTO messages (msgid, hospital_code, infno, mdtrt_id, state, received_at)
    VALUES ($4, $2, $8, $1, 'DONE', $9)
    RETURNING 1
)
SELECT (SELECT count(*) FROM w) AS w, (SELECT count(*) FROM j) AS j
"""


async def insert_warnings(
    conn: Conn, encounter: Encounter, warnings: Sequence[SupervisionWarning], journal: Journal
) -> None:
    with refusing_corrected_msgid():
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
    _expect(counts, w=len(warnings), j=1)


# --- fee lines ---------------------------------------------------------------------------

_INSERT_LINES = """
WITH ins AS (
    INSERT INTO fee_lines (mdtrt_id, line_no, item_code, fee_date, quantity_e4, unit_price_fen,
                           amount_fen, upload_msgid, uploaded_at)
    SELECT $1, t.line_no, t.item_code, t.fee_date, t.quantity_e4, t.unit_price_fen,
           t.amount_fen, $8, $11
      FROM unnest($2::int[], $3::text[], $4::date[], $5::bigint[], $6::bigint[], $7::bigint[])
           AS t(line_no, item_code, fee_date, quantity_e4, unit_price_fen, amount_fen)
    ON CONFLICT (mdtrt_id, line_no) WHERE cancelled_at IS NULL DO NOTHING
    RETURNING line_no, amount_fen
), enc AS (
    UPDATE encounters
       SET line_count = line_count + (SELECT count(*) FROM ins),
           line_amount_fen = line_amount_fen + (SELECT coalesce(sum(amount_fen), 0) FROM ins),
           updated_at = $11
     WHERE mdtrt_id = $1 AND state = 'OPEN'
    RETURNING line_count, line_amount_fen
), j AS (
    INSERT INTO messages (msgid, hospital_code, infno, mdtrt_id, state, received_at)
    VALUES ($8, $9, $10, $1, 'DONE', $11)
    RETURNING 1
)
SELECT (SELECT array_agg(line_no) FROM ins) AS inserted,
       (SELECT line_count FROM enc) AS line_count,
       (SELECT line_amount_fen FROM enc) AS line_amount_fen,
       (SELECT count(*) FROM enc) AS enc,
       (SELECT count(*) FROM j) AS j
"""


@dataclass(frozen=True)
class LineTotals:
    line_count: int
    line_amount_fen: int


async def insert_fee_lines(
    conn: Conn, mdtrt_id: str, lines: Sequence[FeeLine], journal: Journal
) -> tuple[set[int], LineTotals]:
    """Insert the lines; returns the line numbers inserted (a standing number is skipped)."""
    with refusing_corrected_msgid():
        row = await conn.fetchrow(
            _INSERT_LINES,
            mdtrt_id,
            [x.line_no for x in lines],
            [x.item_code for x in lines],
            [x.fee_date for x in lines],
            [x.quantity_e4 for x in lines],
            [x.unit_price_fen for x in lines],
            [x.amount_fen for x in lines],
            journal.msgid,
            journal.hospital_code,
            journal.infno,
            clock.now(),
        )
    _expect(row, enc=1, j=1)
    assert row is not None
    return set(row["inserted"] or ()), LineTotals(row["line_count"], row["line_amount_fen"])


_CANCEL_LINES = """
WITH gone AS (
    UPDATE fee_lines SET cancel_msgid = $3, cancelled_at = $7
     WHERE mdtrt_id = $1 AND cancelled_at IS NULL
       AND ($2::int[] IS NULL OR line_no = ANY($2::int[]))
       AND ($6::text IS NULL OR upload_msgid = $6)
    RETURNING line_no, amount_fen
), enc AS (
    UPDATE encounters
       SET line_count = line_count - (SELECT count(*) FROM gone),
           line_amount_fen = line_amount_fen - (SELECT coalesce(sum(amount_fen), 0) FROM gone),
           updated_at = $7
     WHERE mdtrt_id = $1 AND state = 'OPEN'
    RETURNING line_count, line_amount_fen
), j AS (
    INSERT INTO messages (msgid, hospital_code, infno, mdtrt_id, state, received_at)
    VALUES ($3, $4, $5, $1, 'DONE', $7)
    RETURNING 1
)
SELECT (SELECT array_agg(line_no) FROM gone) AS cancelled,
       (SELECT line_count FROM enc) AS line_count,
       (SELECT line_amount_fen FROM enc) AS line_amount_fen,
       (SELECT count(*) FROM enc) AS enc,
       (SELECT count(*) FROM j) AS j
"""


async def cancel_fee_lines(
    conn: Conn,
    mdtrt_id: str,
    line_nos: Sequence[int] | None,
    journal: Journal,
    *,
    uploaded_by_msgid: str | None = None,
) -> tuple[set[int], LineTotals]:
    """Cancel standing lines: the numbers given (None: all), optionally of one upload."""
    with refusing_corrected_msgid():
        row = await conn.fetchrow(
            _CANCEL_LINES,
            mdtrt_id,
            None if line_nos is None else list(line_nos),
            journal.msgid,
            journal.hospital_code,
            journal.infno,
            uploaded_by_msgid,
            clock.now(),
        )
    _expect(row, enc=1, j=1)
    assert row is not None
    return set(row["cancelled"] or ()), LineTotals(row["line_count"], row["line_amount_fen"])


# --- discharge and cancellation -----------------------------------------------------------

_SET_DISCHARGE = """
WITH enc AS (
    UPDATE encounters SET discharge_date = $2,
           diag_code = CASE WHEN $3::text = '' THEN diag_code ELSE $3 END,
           updated_at = $7
     WHERE mdtrt_id = $1 AND state <> 'CANCELLED'
    RETURNING 1
), j AS (
    INSERT INTO messages (msgid, hospital_code, infno, mdtrt_id, state, received_at)
    VALUES ($4, $5, $6, $1, 'DONE', $7)
    RETURNING 1
)
SELECT (SELECT count(*) FROM enc) AS enc, (SELECT count(*) FROM j) AS j
"""


async def set_discharge(
    conn: Conn, mdtrt_id: str, discharge_date: date | None, diag_code: str, journal: Journal
) -> None:
    """Record a discharge date, or withdraw it (None) when a correction undoes 2402."""
    with refusing_corrected_msgid():
        counts = await conn.fetchrow(
            _SET_DISCHARGE,
            mdtrt_id,
            discharge_date,
            diag_code,
            journal.msgid,
            journal.hospital_code,
            journal.infno,
            clock.now(),
        )
    _expect(counts, enc=1, j=1)


_CANCEL_ENCOUNTER = """
WITH enc AS (
    UPDATE encounters SET state = 'CANCELLED', updated_at = $5
     WHERE mdtrt_id = $1 AND state = 'OPEN'
    RETURNING 1
), j AS (
    INSERT INTO messages (msgid, hospital_code, infno, mdtrt_id, state, received_at)
    VALUES ($2, $3, $4, $1, 'DONE', $5)
    RETURNING 1
)
SELECT (SELECT count(*) FROM enc) AS enc, (SELECT count(*) FROM j) AS j
"""


async def cancel_encounter(conn: Conn, mdtrt_id: str, journal: Journal) -> None:
    with refusing_corrected_msgid():
        counts = await conn.fetchrow(
            _CANCEL_ENCOUNTER,
            mdtrt_id,
            journal.msgid,
            journal.hospital_code,
            journal.infno,
            clock.now(),
        )
    _expect(counts, enc=1, j=1)


# --- settlements ---------------------------------------------------------------------------

_AMOUNT_NAMES = tuple(Amounts.__dataclass_fields__)
_SETTLEMENT_COLUMNS = (
    "setl_id",
    "kind",
    "reverses_setl_id",
    "mdtrt_id",
    "hospital_code",
    "treatment_pool",
    "psn_no",
    "insured_pool",
    "insutype",
    "med_type",
    "relation",
    "msgid",
    "setl_time",
    "setl_date",
    "clearing_period",
    "acc_year",
    *_AMOUNT_NAMES,
    "pool_prop_selfpay_bp",
    "balc_fen",
    "ratio_reduction_bp",
    "policy_version_id",
    "catalogue_version_id",
    "delta",
    "lines",
    "created_at",
)
_N = len(_SETTLEMENT_COLUMNS)
_S_PLACEHOLDERS = ", ".join(
    f"${i}::jsonb" if name in ("delta", "lines") else f"${i}"
    for i, name in enumerate(_SETTLEMENT_COLUMNS, start=1)
)
# Parameters after the settlement's own: funds (5 arrays), accumulations (9), encounter
# and journal values.
_F = _N + 1  # first fund array
# The SQL below names some of the settlement's own parameters by position.
assert [_SETTLEMENT_COLUMNS.index(c) + 1 for c in ("setl_id", "reverses_setl_id", "mdtrt_id")] == [
    1,
    3,
    4,
]
assert [_SETTLEMENT_COLUMNS.index(c) + 1 for c in ("hospital_code", "psn_no", "insutype")] == [
    5,
    7,
    9,
]
assert [_SETTLEMENT_COLUMNS.index(c) + 1 for c in ("msgid", "setl_time", "acc_year")] == [
    12,
    13,
    16,
]
_A = _F + 5  # first accumulation value
_X = _A + len(_ACC_SCALARS) + 1  # first of the remaining values

_INSERT_SETTLEMENT_PARTS = f"""
s AS (
    INSERT INTO settlements ({", ".join(_SETTLEMENT_COLUMNS)})
    VALUES ({_S_PLACEHOLDERS})
    RETURNING 1
), f AS (
    INSERT INTO settlement_funds (setl_id, ordinal, fund_pay_type, inscp_scp_amt_fen,
                                  crt_payb_lmt_amt_fen, fund_payamt_fen, setl_proc_info)
    SELECT $1, t.ordinal, t.fund_pay_type, t.base, t.lmt, t.paid, t.info
      FROM unnest(${_F}::text[], ${_F + 1}::bigint[], ${_F + 2}::bigint[], ${_F + 3}::bigint[],
                  ${_F + 4}::text[]) WITH ORDINALITY
           AS t(fund_pay_type, base, lmt, paid, info, ordinal)
    RETURNING 1
), a AS (
    UPDATE accumulations
       SET {", ".join(f"{n} = ${_A + i}" for i, n in enumerate(_ACC_SCALARS))},
           chronic_hifp_paid_fen = ${_A + len(_ACC_SCALARS)}::jsonb,
           standing_settlements = standing_settlements + ${_X},
           updated_at = $13
     WHERE psn_no = $7 AND insutype = $9 AND acc_year = $16
    RETURNING 1
)"""

# The settling statement also writes the settlement's event to the outbox and completes
# the msgid's idempotency key with the response: parameters after the journal's.
_O = _X + 12  # first outbox value
_K = _O + len(OUTBOX_COLUMNS)  # the stored response, then the key's scope

_WRITE_SETTLEMENT = f"""
WITH {_INSERT_SETTLEMENT_PARTS}, e AS (
    UPDATE encounters
       SET state = 'SETTLED', setl_id = $1,
           relation = ${_X + 1}, coverage_allowed = ${_X + 2}, coverage_basis = ${_X + 3},
           filing_id = ${_X + 4}, filing_category = ${_X + 5}, ratio_reduction_bp = ${_X + 6},
           local_ratio = ${_X + 7}, coverage_reason = ${_X + 8}, coverage_message = ${_X + 9},
           coverage_checked_at = CASE WHEN ${_X + 10} THEN $13 ELSE coverage_checked_at END,
           updated_at = $13
     WHERE mdtrt_id = $4 AND state = 'OPEN'
    RETURNING 1
), j AS (
    INSERT INTO messages (msgid, hospital_code, infno, mdtrt_id, setl_id, state, received_at)
    VALUES ($12, $5, ${_X + 11}, $4, $1, 'DONE', $13)
    RETURNING 1
), ob AS (
    INSERT INTO outbox ({", ".join(OUTBOX_COLUMNS)})
    VALUES ({
    ", ".join(
        f"${_O + i}::jsonb" if c == "headers" else f"${_O + i}"
        for i, c in enumerate(OUTBOX_COLUMNS)
    )
})
    RETURNING 1
), done AS (
    {COMPLETE_SQL.format(response=f"${_K}", scope=f"${_K + 1}", key="$12")}
)
SELECT (SELECT count(*) FROM s) AS s, (SELECT count(*) FROM f) AS f,
       (SELECT count(*) FROM a) AS a, (SELECT count(*) FROM e) AS e,
       (SELECT count(*) FROM j) AS j, (SELECT count(*) FROM ob) AS ob,
       (SELECT count(*) FROM done) AS done
"""

_WRITE_REVERSAL = f"""
WITH {_INSERT_SETTLEMENT_PARTS}, o AS (
    UPDATE settlements SET reversed_by_setl_id = $1
     WHERE setl_id = $3 AND kind = 'SETTLEMENT' AND reversed_by_setl_id IS NULL
    RETURNING 1
), e AS (
    UPDATE encounters SET state = 'OPEN', setl_id = NULL, updated_at = $13
     WHERE mdtrt_id = $4 AND state = 'SETTLED' AND setl_id = $3
    RETURNING 1
), j AS (
    INSERT INTO messages (msgid, hospital_code, infno, mdtrt_id, setl_id, state, received_at)
    VALUES ($12, $5, ${_X + 1}, $4, $1, 'DONE', $13)
    RETURNING 1
)
SELECT (SELECT count(*) FROM s) AS s, (SELECT count(*) FROM f) AS f,
       (SELECT count(*) FROM a) AS a, (SELECT count(*) FROM o) AS o,
       (SELECT count(*) FROM e) AS e, (SELECT count(*) FROM j) AS j
"""


def _settlement_params(r: SettlementRecord) -> list[Any]:
    values = {
        "setl_id": r.setl_id,
        "kind": r.kind.value,
        "reverses_setl_id": r.reverses_setl_id,
        "mdtrt_id": r.mdtrt_id,
        "hospital_code": r.hospital_code,
        "treatment_pool": r.treatment_pool,
        "psn_no": r.psn_no,
        "insured_pool": r.insured_pool,
        "insutype": r.insutype.value,
        "med_type": r.med_type.value,
        "relation": r.relation,
        "msgid": r.msgid,
        "setl_time": r.setl_time,
        "setl_date": r.setl_date,
        "clearing_period": r.clearing_period,
        "acc_year": r.acc_year,
        **r.amounts.as_dict(),
        "pool_prop_selfpay_bp": r.pool_prop_selfpay_bp,
        "balc_fen": r.balc_fen,
        "ratio_reduction_bp": r.ratio_reduction_bp,
        "policy_version_id": r.policy_version_id,
        "catalogue_version_id": r.catalogue_version_id,
        "delta": json.dumps(r.delta.to_dict()),
        "lines": json.dumps(list(r.lines), ensure_ascii=False),
        "created_at": r.setl_time,  # the row is written by the settling transaction
    }
    assert tuple(values) == _SETTLEMENT_COLUMNS
    details = r.details
    funds = [
        [d.fund_pay_type.value for d in details],
        [d.inscp_scp_amt_fen for d in details],
        [d.crt_payb_lmt_amt_fen for d in details],
        [d.fund_payamt_fen for d in details],
        [d.setl_proc_info for d in details],
    ]
    return [*values.values(), *funds]


async def write_settlement(
    conn: Conn,
    record: SettlementRecord,
    accumulations_after: Accumulations,
    coverage: Coverage,
    coverage_rechecked: bool,
    journal: Journal,
    event: OutboxItem,
    completion: Completion,
) -> None:
    """In one statement: insert the settlement and its funds, store the accumulations,
    settle the encounter, journal the msgid, write the event to the outbox and complete
    the msgid's idempotency key with the response."""
    assert record.kind is RecordKind.SETTLEMENT and journal.msgid == record.msgid
    assert completion.key == record.msgid
    with refusing_corrected_msgid():
        counts = await conn.fetchrow(
            _WRITE_SETTLEMENT,
            *_settlement_params(record),
            *_acc_params(accumulations_after),
            1,
            *_coverage_params(coverage),
            coverage_rechecked,
            journal.infno,
            *outbox_values(event),
            completion.response,
            completion.scope,
        )
    _expect(counts, s=1, f=len(record.details), a=1, e=1, j=1, ob=1, done=1)


@dataclass(frozen=True)
class Completion:
    """An idempotency key completed by the statement that performs its request."""

    scope: str
    key: str
    response: bytes


async def write_reversal(
    conn: Conn,
    reversal: SettlementRecord,
    accumulations_after: Accumulations,
    journal: Journal,
) -> None:
    """Insert the reversal, mark the settlement reversed, restore the accumulations and
    reopen the encounter."""
    assert reversal.kind is RecordKind.REVERSAL and journal.msgid == reversal.msgid
    with refusing_corrected_msgid():
        counts = await conn.fetchrow(
            _WRITE_REVERSAL,
            *_settlement_params(reversal),
            *_acc_params(accumulations_after),
            -1,
            journal.infno,
        )
    _expect(counts, s=1, f=len(reversal.details), a=1, o=1, e=1, j=1)


_SELECT_SETTLEMENT = """
SELECT s.*,
       (SELECT array_agg((f.fund_pay_type, f.inscp_scp_amt_fen, f.crt_payb_lmt_amt_fen,
                          f.fund_payamt_fen, f.setl_proc_info) ORDER BY f.ordinal)
          FROM settlement_funds f WHERE f.setl_id = s.setl_id) AS funds
  FROM settlements s
 WHERE s.setl_id = $1
"""


@dataclass(frozen=True)
class LockedSettlement:
    record: SettlementRecord
    clock: TxnClock


def _record_of(r: asyncpg.Record) -> SettlementRecord:
    details = tuple(
        FundDetail(FundType(kind), base, limit, paid, info)
        for kind, base, limit, paid, info in r["funds"] or ()
    )
    return SettlementRecord(
        setl_id=r["setl_id"],
        kind=RecordKind(r["kind"]),
        reverses_setl_id=r["reverses_setl_id"],
        mdtrt_id=r["mdtrt_id"],
        hospital_code=r["hospital_code"],
        treatment_pool=r["treatment_pool"],
        psn_no=r["psn_no"],
        insured_pool=r["insured_pool"],
        insutype=Insutype(r["insutype"]),
        med_type=VisitType(r["med_type"]),
        relation=r["relation"],
        msgid=r["msgid"],
        setl_time=r["setl_time"],
        setl_date=r["setl_date"],
        clearing_period=r["clearing_period"],
        acc_year=r["acc_year"],
        amounts=Amounts(**{n: r[n] for n in _AMOUNT_NAMES}),
        pool_prop_selfpay_bp=r["pool_prop_selfpay_bp"],
        balc_fen=r["balc_fen"],
        ratio_reduction_bp=r["ratio_reduction_bp"],
        policy_version_id=r["policy_version_id"],
        catalogue_version_id=r["catalogue_version_id"],
        details=details,
        delta=AccumulationDelta.from_dict(json.loads(r["delta"])),
        lines=tuple(json.loads(r["lines"])),
        reversed_by_setl_id=r["reversed_by_setl_id"],
    )


async def get_settlement(
    conn: Conn, setl_id: str, *, for_update: bool = False
) -> LockedSettlement | None:
    sql = _SELECT_SETTLEMENT + (" FOR UPDATE OF s" if for_update else "")
    txn_clock = TxnClock.read()
    row = await conn.fetchrow(sql, setl_id)
    if row is None:
        return None
    return LockedSettlement(_record_of(row), txn_clock)


# --- the journal and corrections -----------------------------------------------------------


@dataclass(frozen=True)
class JournalEntry:
    msgid: str
    hospital_code: str
    infno: str
    mdtrt_id: str | None
    setl_id: str | None
    state: str  # DONE | CORRECTED | TOMBSTONE


async def tombstone_or_lock(
    conn: Conn, omsgid: str, hospital_code: str, oinfno: str, correction_msgid: str
) -> JournalEntry | None:
    """Leave a tombstone for omsgid (→ None) or lock its journal entry (→ the entry).

    A concurrent original either committed first (we then lock its entry) or waits for
    this transaction on the primary key and is refused once we commit.
    """
    created = await conn.fetchval(
        """INSERT INTO messages (msgid, hospital_code, infno, state, corrected_by, corrected_at,
                                 received_at)
           VALUES ($1, $2, $3, 'TOMBSTONE', $4, $5, $5)
           ON CONFLICT DO NOTHING RETURNING true""",
        omsgid,
        hospital_code,
        oinfno,
        correction_msgid,
        clock.now(),
    )
    if created:
        return None
    row = await conn.fetchrow(
        "SELECT msgid, hospital_code, infno, mdtrt_id, setl_id, state"
        "  FROM messages WHERE msgid = $1 FOR UPDATE",
        omsgid,
    )
    assert row is not None, "a conflicting journal row is committed, so it is visible"
    return JournalEntry(**dict(row))


async def mark_corrected(conn: Conn, omsgid: str, correction_msgid: str) -> None:
    status = await conn.execute(
        "UPDATE messages SET state = 'CORRECTED', corrected_by = $2, corrected_at = $3"
        " WHERE msgid = $1 AND state = 'DONE'",
        omsgid,
        correction_msgid,
        clock.now(),
    )
    assert status == "UPDATE 1", status


async def forget_response(conn: Conn, scope: str, msgid: str) -> None:
    """Drop a corrected msgid's stored response: its retry must be refused, not replayed."""
    await conn.execute("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2", scope, msgid)


async def journal_only(conn: Conn, journal: Journal, mdtrt_id: str | None) -> None:
    """The journal row of a request that changes nothing else (a tombstoning correction)."""
    with refusing_corrected_msgid():
        await conn.execute(
            "INSERT INTO messages (msgid, hospital_code, infno, mdtrt_id, state, received_at)"
            " VALUES ($1, $2, $3, $4, 'DONE', $5)",
            journal.msgid,
            journal.hospital_code,
            journal.infno,
            mdtrt_id,
            clock.now(),
        )


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


# --- 2202, 2403, 2405 -----------------------------------------------------------------------

_CANCEL_REGISTRATION = """
WITH gone AS (
    UPDATE fee_lines SET cancel_msgid = $2, cancelled_at = $5
     WHERE mdtrt_id = $1 AND cancelled_at IS NULL
    RETURNING 1
), enc AS (
    UPDATE encounters SET state = 'CANCELLED', line_count = 0, line_amount_fen = 0,
           updated_at = $5
     WHERE mdtrt_id = $1 AND state = 'OPEN'
    RETURNING 1
), j AS (
    INSERT INTO messages (msgid, hospital_code, infno, mdtrt_id, state, received_at)
    VALUES ($2, $3, $4, $1, 'DONE', $5)
    RETURNING 1
)
SELECT (SELECT count(*) FROM gone) AS gone, (SELECT count(*) FROM enc) AS enc,
       (SELECT count(*) FROM j) AS j
"""


async def cancel_registration(conn: Conn, mdtrt_id: str, line_count: int, journal: Journal) -> None:
    """Cancel an OPEN encounter and its ``line_count`` standing fee lines (2202)."""
    with refusing_corrected_msgid():
        counts = await conn.fetchrow(
            _CANCEL_REGISTRATION,
            mdtrt_id,
            journal.msgid,
            journal.hospital_code,
            journal.infno,
            clock.now(),
        )
    _expect(counts, gone=line_count, enc=1, j=1)


async def earliest_line_date(conn: Conn, mdtrt_id: str) -> date | None:
    """The date of the earliest standing fee line (the encounter is locked)."""
    day: date | None = await conn.fetchval(
        "SELECT min(fee_date) FROM fee_lines WHERE mdtrt_id = $1 AND cancelled_at IS NULL",
        mdtrt_id,
    )
    return day


_CHANGE_ADMISSION = """
WITH enc AS (
    UPDATE encounters SET begin_date = $2,
           diag_code = CASE WHEN $3::text = '' THEN diag_code ELSE $3 END,
           dept_code = CASE WHEN $4::text = '' THEN dept_code ELSE $4 END,
           relation = $5, coverage_allowed = $6, coverage_basis = $7, filing_id = $8,
           filing_category = $9, ratio_reduction_bp = $10, local_ratio = $11,
           coverage_reason = $12, coverage_message = $13,
           coverage_checked_at = CASE WHEN $14::boolean THEN $18 ELSE coverage_checked_at END,
           updated_at = $18
     WHERE mdtrt_id = $1 AND state = 'OPEN'
    RETURNING diag_code, dept_code
), j AS (
    INSERT INTO messages (msgid, hospital_code, infno, mdtrt_id, state, received_at)
    VALUES ($15, $16, $17, $1, 'DONE', $18)
    RETURNING 1
)
SELECT (SELECT diag_code FROM enc) AS diag_code, (SELECT dept_code FROM enc) AS dept_code,
       (SELECT count(*) FROM enc) AS enc, (SELECT count(*) FROM j) AS j
"""


async def change_admission(
    conn: Conn,
    mdtrt_id: str,
    *,
    begin_date: date,
    diag_code: str,
    dept_code: str,
    coverage: Coverage,
    coverage_checked: bool,
    journal: Journal,
) -> tuple[str, str]:
    """2403 on a locked OPEN stay (an empty code is kept); the diagnosis and department now."""
    with refusing_corrected_msgid():
        row = await conn.fetchrow(
            _CHANGE_ADMISSION,
            mdtrt_id,
            begin_date,
            diag_code,
            dept_code,
            *_coverage_params(coverage),
            coverage_checked,
            journal.msgid,
            journal.hospital_code,
            journal.infno,
            clock.now(),
        )
    _expect(row, enc=1, j=1)
    assert row is not None
    return row["diag_code"], row["dept_code"]


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
        _encounter_of(r), r["line_amount_fen"], r["visit_no"], r["diag_code"], r["dept_code"]
    )


async def get_encounter(conn: Conn, mdtrt_id: str) -> EncounterRow | None:
    row = await conn.fetchrow(
        f"SELECT {_ENCOUNTER_COLUMNS}, e.visit_no, e.diag_code, e.dept_code"
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
        f"""SELECT {_ENCOUNTER_COLUMNS}, e.visit_no, e.diag_code, e.dept_code
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
        f"""SELECT {_ENCOUNTER_COLUMNS}
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
    return None if row is None else _encounter_of(row)
