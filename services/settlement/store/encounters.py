"""Encounters: register/admit, lock, discharge, cancel and change (2201/2401, 2402, 2202,
2403, 2404, 2405)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import asyncpg

from services.settlement.domain.bill import FeeLine
from services.settlement.domain.codes import (
    AssistanceCategory,
    ChronicDisease,
    HospitalLevel,
    Insutype,
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
from services.settlement.store.common import (
    GATED,
    Journal,
    TxnClock,
    expect_counts,
    gated_fetchrow,
    journalled,
    journalled_done,
)
from services.settlement.store.journal import CLAIM_SQL
from services.settlement.store.year_rows import YearRow, with_year_row, year_row_of
from shared import clock
from shared.bus.pg import Conn
from shared.unit_of_work import KeyClaim

# --- encounters ------------------------------------------------------------------------

ENCOUNTER_COLUMNS = """
    e.mdtrt_id, e.hospital_code, e.hospital_level, e.treatment_pool, e.med_type,
    e.chronic_disease, e.emergency, e.begin_date, e.discharge_date, e.state, e.setl_id,
    e.psn_no, e.psn_name, e.insured_pool, e.insutype, e.person_type, e.sex, e.birth_date,
    e.maf_category, e.acct_opening_balance_fen, e.relation, e.coverage_allowed,
    e.coverage_basis, e.filing_id, e.filing_category, e.ratio_reduction_bp, e.local_ratio,
    e.coverage_reason, e.coverage_message, e.line_count, e.line_amount_fen"""

# The encounter's standing lines (``lines``), as the statement's snapshot has them.
LINES = """
    (SELECT array_agg((f.line_no, f.item_code, f.fee_date, f.quantity_e4, f.unit_price_fen,
                       f.amount_fen) ORDER BY f.line_no)
       FROM fee_lines f
      WHERE f.mdtrt_id = e.mdtrt_id AND f.cancelled_at IS NULL) AS lines"""

# The lines and, for a statement that locks the encounter, whether they are current.
LINES_SUBQUERY = f"""{LINES},
    -- Whether those lines are current: the sub-select reads the statement's snapshot, but
    -- a lock (FOR UPDATE) that waited returns the encounter's newest version. Every write
    -- of fee lines also writes their encounter, so a row version newer than the snapshot's
    -- means the lines may have changed meanwhile (even to the same count and total).
    e.xmin::text = (SELECT x.xmin::text FROM encounters x WHERE x.mdtrt_id = e.mdtrt_id)
        AS lines_current"""


def encounter_of(r: asyncpg.Record) -> Encounter:
    person = PersonSnapshot(
        psn_no=r["psn_no"],
        name=r["psn_name"],
        insured_pool=r["insured_pool"],
        insutype=Insutype(r["insutype"]),
        person_type=PersonType(r["person_type"]),
        sex=Sex(r["sex"]),
        birth_date=r["birth_date"],
        maf_category=AssistanceCategory(r["maf_category"]) if r["maf_category"] else None,
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


def lines_of(raw: Sequence[tuple[Any, ...]] | None) -> tuple[FeeLine, ...]:
    return tuple(FeeLine(*line) for line in raw or ())


# --- the encounter a write left -----------------------------------------------------------


@dataclass(frozen=True)
class Known:
    """An encounter as a write of this process left it, with its row version: a gated
    write may act on it without reading it first, since its gate finds out whether the
    row is still that version (``store.recent``). The write returns the version (every
    row a statement writes has its transaction as xmin) and what it read of the year row;
    the rest is the encounter it acted on with the columns its statement sets, which
    tests/integration/settlement/test_settlement_remembered.py checks against the row."""

    encounter: Encounter
    line_amount_fen: int
    version: int  # xmin of the row version the write left
    lines: tuple[FeeLine, ...] | None  # the standing lines; None: not known
    year_row: YearRow | None  # the person's year row as the write's statement read it

    def reading(self) -> EncounterRead:
        """The encounter as :func:`read_encounter` would read it while it is this version."""
        read = LockedEncounter(self.encounter, (), self.line_amount_fen, TxnClock.read())
        return EncounterRead(read, self.version, self)


def coverage_params(c: Coverage) -> tuple[Any, ...]:
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


# An encounter as it opens: its own fields ($1…$28 of the statement that opens it, in the
# order of opening_params), then the times, the msgid and the standing lines' totals.
_OPENED_COLUMNS = """mdtrt_id, hospital_code, hospital_level, treatment_pool, visit_no, med_type,
        chronic_disease, emergency, diag_code, begin_date,
        psn_no, psn_name, insured_pool, insutype, person_type, sex, birth_date, maf_category,
        acct_opening_balance_fen,
        relation, coverage_allowed, coverage_basis, filing_id, filing_category,
        ratio_reduction_bp, local_ratio, coverage_reason, coverage_message"""
OPENING_PARAMS = 28


def opening(
    *,
    msgid: str,
    at: str,
    line_count: str = "0",
    line_amount_fen: str = "0",
    if_claimed: bool = False,
    returning: str = "1",
) -> str:
    """The CTE ``enc`` that opens an encounter (parameters $1…$28: :func:`opening_params`);
    ``if_claimed``: only if the statement's CTE ``claim`` claimed the msgid; ``returning``:
    what the CTE returns of the row (``e``)."""
    own = ", ".join(f"${i}" for i in range(1, OPENING_PARAMS + 1))
    values = f"""{own},
            'OPEN', {at}, {msgid}, {at}, {at}, {line_count}, {line_amount_fen}"""
    source = f"SELECT {values} FROM claim" if if_claimed else f"VALUES ({values})"
    return f"""enc AS (
    INSERT INTO encounters AS e (
        {_OPENED_COLUMNS},
        state, coverage_checked_at, opened_msgid, created_at, updated_at, line_count,
        line_amount_fen)
    {source}
    RETURNING {returning}
)"""


def opening_params(encounter: Encounter, *, visit_no: str, diag_code: str) -> list[Any]:
    """The encounter's own fields as :func:`opening` takes them."""
    assert encounter.state is EncounterState.OPEN
    p = encounter.person
    params = [
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
        *coverage_params(encounter.coverage),
    ]
    assert len(params) == OPENING_PARAMS
    return params


# Register/admit in one statement: the msgid's journal row is claimed already done, with
# what it did and its stored answer (the answer is known before the write: the encounter's
# id is made here), and the encounter is opened only if the claim succeeded. A msgid found
# taken opens nothing; its stored answer is read by a statement of its own.
_CLAIM_AND_OPEN = f"""
WITH claim AS (
    INSERT INTO messages (msgid, hospital_code, infno, mdtrt_id, state, fingerprint, response,
                          received_at)
    VALUES ($29, $2, $30, $1, 'DONE', $32, $33, $31)
    ON CONFLICT DO NOTHING RETURNING 1
), {opening(msgid="$29", at="$31", if_claimed=True, returning="e.xmin AS version")}
SELECT (SELECT count(*) FROM claim) AS claimed, (SELECT count(*) FROM enc) AS enc,
       (SELECT version FROM enc) AS version
"""


async def claim_and_open_encounter(
    conn: Conn,
    encounter: Encounter,
    *,
    visit_no: str,
    diag_code: str,
    journal: Journal,
    claim: KeyClaim,
    response: bytes,
) -> Known | None:
    """Claim the msgid and open the encounter in one statement, the msgid's answer stored
    with it; the encounter as opened, or None (nothing written) if the msgid was taken."""
    assert encounter.line_count == 0 and claim.key == journal.msgid
    counts = await conn.fetchrow(
        _CLAIM_AND_OPEN,
        *opening_params(encounter, visit_no=visit_no, diag_code=diag_code),
        journal.msgid,
        journal.infno,
        clock.now(),
        claim.digest,
        response,
    )
    assert counts is not None
    if not counts["claimed"]:
        expect_counts(counts, claimed=0, enc=0)
        return None
    expect_counts(counts, claimed=1, enc=1)
    return Known(encounter, 0, counts["version"], (), None)


@dataclass(frozen=True)
class LockedEncounter:
    encounter: Encounter
    lines: tuple[FeeLine, ...]  # standing lines; empty unless asked for
    line_amount_fen: int
    clock: TxnClock


_LOCK_ENCOUNTER = f"""
SELECT {ENCOUNTER_COLUMNS}, NULL::record[] AS lines
  FROM encounters e
 WHERE e.mdtrt_id = $1
   FOR UPDATE OF e
"""

# A hospital's write on one of its encounters: claim the msgid, then lock the encounter, in
# one round trip. The claim runs first (a resent msgid queues on its key, never on the
# encounter); a msgid found taken locks nothing.
_CLAIM_AND_LOCK_ENCOUNTER = f"""
WITH claim AS ({CLAIM_SQL.format(msgid="$2", fingerprint="$3", at="$4")}
), claimed AS MATERIALIZED (SELECT count(*) > 0 AS claimed FROM claim
), enc AS MATERIALIZED (
    SELECT {ENCOUNTER_COLUMNS}
      FROM claimed, encounters e
     WHERE claimed.claimed AND e.mdtrt_id = $1
       FOR UPDATE OF e
)
SELECT claimed.claimed, enc.*, NULL::record[] AS lines FROM claimed LEFT JOIN enc ON true
"""


async def claim_and_lock_encounter(
    conn: Conn, mdtrt_id: str, claim: KeyClaim
) -> tuple[bool, LockedEncounter | None]:
    """Claim the request's msgid and lock the encounter (without its lines) in one
    statement: (False, None) if the msgid was taken, (True, None) if the encounter is
    unknown."""
    assert conn.is_in_transaction()
    txn_clock = TxnClock.read()
    row = await conn.fetchrow(
        _CLAIM_AND_LOCK_ENCOUNTER, mdtrt_id, claim.key, claim.digest, txn_clock.now
    )
    assert row is not None, "the statement returns one row"
    if not row["claimed"] or row["mdtrt_id"] is None:
        return row["claimed"], None
    return True, await locked_of(conn, row, txn_clock, lines=False)


@dataclass(frozen=True)
class EncounterRead:
    """An encounter read without a lock, and the row version a gated write checks."""

    read: LockedEncounter  # as read (no lock is held; no lines)
    version: int  # xmin of the row version read
    known: Known | None = None  # what a write of this process left, if it was not read


_READ_ENCOUNTER = f"""
SELECT EXISTS (SELECT 1 FROM messages m WHERE m.msgid = $2) AS msgid_seen,
       {ENCOUNTER_COLUMNS}, NULL::record[] AS lines, e.xmin AS version
  FROM encounters e
 WHERE e.mdtrt_id = $1
"""


async def read_encounter(conn: Conn, mdtrt_id: str, msgid: str) -> EncounterRead | None:
    """The encounter (without its lines) as a snapshot has it, for a write gated on its
    row version; None if the msgid is known already (a resend, a correction's tombstone)
    or the encounter is unknown: the locked path answers those."""
    txn_clock = TxnClock.read()
    row = await conn.fetchrow(_READ_ENCOUNTER, mdtrt_id, msgid)
    if row is None or row["msgid_seen"]:
        return None
    return EncounterRead(await locked_of(conn, row, txn_clock, lines=False), row["version"])


_STANDING_LINES = """
SELECT array_agg((line_no, item_code, fee_date, quantity_e4, unit_price_fen, amount_fen)
                 ORDER BY line_no) AS lines
  FROM fee_lines WHERE mdtrt_id = $1 AND cancelled_at IS NULL
"""


async def lock_encounter(conn: Conn, mdtrt_id: str) -> LockedEncounter | None:
    """Lock the encounter (FOR UPDATE, without its lines) for the rest of the transaction;
    None if unknown."""
    assert conn.is_in_transaction()
    txn_clock = TxnClock.read()
    row = await conn.fetchrow(_LOCK_ENCOUNTER, mdtrt_id)
    if row is None:
        return None
    return await locked_of(conn, row, txn_clock, lines=False)


async def locked_of(
    conn: Conn, row: asyncpg.Record, txn_clock: TxnClock, *, lines: bool
) -> LockedEncounter:
    """The encounter a statement just locked (ENCOUNTER_COLUMNS and ``lines``)."""
    locked = LockedEncounter(
        encounter_of(row), lines_of(row["lines"]), row["line_amount_fen"], txn_clock
    )
    if not lines:
        return locked
    if not row["lines_current"] or len(locked.lines) != locked.encounter.line_count:
        # We waited for the lock behind a concurrent upload or cancel: the sub-select saw
        # the statement's older snapshot. Read the lines again, now under our lock.
        fresh = await conn.fetchval(_STANDING_LINES, locked.encounter.mdtrt_id)
        locked = LockedEncounter(
            locked.encounter, lines_of(fresh), locked.line_amount_fen, locked.clock
        )
    assert len(locked.lines) == locked.encounter.line_count, locked.encounter.mdtrt_id
    assert sum(line.amount_fen for line in locked.lines) == locked.line_amount_fen
    return locked


# --- discharge and cancellation -----------------------------------------------------------

_SET_DISCHARGE = f"""
WITH enc AS (
    UPDATE encounters SET discharge_date = $2,
           diag_code = CASE WHEN $3::text = '' THEN diag_code ELSE $3 END,
           updated_at = $7
     WHERE mdtrt_id = $1 AND state <> 'CANCELLED'
    RETURNING 1
), {journalled("$4", "$5", "$6", "$1", "$7", response="$8")}
SELECT (SELECT count(*) FROM enc) AS enc, (SELECT count(*) FROM j) AS j
"""


async def set_discharge(
    conn: Conn,
    mdtrt_id: str,
    discharge_date: date | None,
    diag_code: str,
    journal: Journal,
    *,
    response: bytes | None = None,
) -> None:
    """Record a discharge date, or withdraw it (None) when a correction undoes 2402;
    ``response``, if given, is the msgid's answer, stored on its journal row here."""
    counts = await conn.fetchrow(
        _SET_DISCHARGE,
        mdtrt_id,
        discharge_date,
        diag_code,
        *journal.stamped(),
        response,
    )
    expect_counts(counts, enc=1, j=1)


# A discharge of an encounter read without a lock (``read_encounter``), in one statement
# that commits itself: the msgid's journal row first, then the encounter locked only if it
# is the row version read, then the discharge date (``journalled_done``, ``GATED``).
_SET_DISCHARGE_IF_UNCHANGED = f"""
WITH {journalled_done("$4", "$5", "$6", "$1", "$7", fingerprint="$9", response="$8")},
g AS MATERIALIZED (
    SELECT 1 FROM encounters ge WHERE ge.mdtrt_id = $1 AND ge.xmin = $10::xid FOR UPDATE OF ge
), enc AS (
    UPDATE encounters e SET discharge_date = $2,
           diag_code = CASE WHEN $3::text = '' THEN e.diag_code ELSE $3 END,
           updated_at = $7
     WHERE e.mdtrt_id = $1 AND e.state <> 'CANCELLED'
    RETURNING e.xmin AS version
)
{
    with_year_row(
        f"{GATED}, (SELECT count(*) FROM enc) AS enc, (SELECT version FROM enc) AS version",
        psn_no="$12",
        insutype="$13",
        year="$11",
    )
}
"""


async def set_discharge_if_unchanged(
    conn: Conn,
    found: EncounterRead,
    discharge_date: date,
    diag_code: str,
    journal: Journal,
    digest: bytes,
    response: bytes,
) -> Known | None:
    """In one statement that commits itself (no transaction is open): record the discharge
    date and journal the msgid with its fingerprint and answer, if the encounter is still
    the row version ``found`` read. The encounter as the statement left it (with the
    person's year row); None: it changed or the msgid was taken, and nothing was written."""
    counts = await gated_fetchrow(
        conn,
        _SET_DISCHARGE_IF_UNCHANGED,
        found.read.encounter.mdtrt_id,
        discharge_date,
        diag_code,
        *journal.stamped(),
        response,
        digest,
        found.version,
        found.read.clock.year,
        found.read.encounter.person.psn_no,
        found.read.encounter.person.insutype.value,
    )
    if counts is None:
        return None  # nothing was written
    expect_counts(counts, j=1, g=1, enc=1)
    # The statement sets the date (and the diagnosis, not part of Encounter) and nothing
    # else; the lines are those of the version found.
    return Known(
        replace(found.read.encounter, discharge_date=discharge_date),
        found.read.line_amount_fen,
        counts["version"],
        None if found.known is None else found.known.lines,
        year_row_of(counts, found.read.clock.year),
    )


_CANCEL_ENCOUNTER = f"""
WITH enc AS (
    UPDATE encounters SET state = 'CANCELLED', updated_at = $5
     WHERE mdtrt_id = $1 AND state = 'OPEN'
    RETURNING 1
), {journalled("$2", "$3", "$4", "$1", "$5")}
SELECT (SELECT count(*) FROM enc) AS enc, (SELECT count(*) FROM j) AS j
"""


async def cancel_encounter(conn: Conn, mdtrt_id: str, journal: Journal) -> None:
    counts = await conn.fetchrow(
        _CANCEL_ENCOUNTER,
        mdtrt_id,
        *journal.stamped(),
    )
    expect_counts(counts, enc=1, j=1)


# --- 2202, 2403, 2405 -----------------------------------------------------------------------


def cancelling_with_lines(*, cancel_msgid: str, at: str, only: str = "") -> str:
    """The CTEs ``gone`` and ``enc`` that cancel the OPEN encounter $1 and every fee line
    standing on it, under the msgid ``cancel_msgid`` at ``at`` (``only``: a further
    condition on the encounter)."""
    return f"""gone AS (
    UPDATE fee_lines SET cancel_msgid = {cancel_msgid}, cancelled_at = {at}
     WHERE mdtrt_id = $1 AND cancelled_at IS NULL
    RETURNING 1
), enc AS (
    UPDATE encounters SET state = 'CANCELLED', line_count = 0, line_amount_fen = 0,
           updated_at = {at}
     WHERE mdtrt_id = $1 AND state = 'OPEN'{only}
    RETURNING 1
)"""


_CANCEL_REGISTRATION = f"""
WITH {cancelling_with_lines(cancel_msgid="$2", at="$5")}, {journalled("$2", "$3", "$4", "$1", "$5")}
SELECT (SELECT count(*) FROM gone) AS gone, (SELECT count(*) FROM enc) AS enc,
       (SELECT count(*) FROM j) AS j
"""


async def cancel_registration(conn: Conn, mdtrt_id: str, line_count: int, journal: Journal) -> None:
    """Cancel an OPEN encounter and its ``line_count`` standing fee lines (2202)."""
    counts = await conn.fetchrow(
        _CANCEL_REGISTRATION,
        mdtrt_id,
        *journal.stamped(),
    )
    expect_counts(counts, gone=line_count, enc=1, j=1)


async def earliest_line_date(conn: Conn, mdtrt_id: str) -> date | None:
    """The date of the earliest standing fee line (the encounter is locked)."""
    day: date | None = await conn.fetchval(
        "SELECT min(fee_date) FROM fee_lines WHERE mdtrt_id = $1 AND cancelled_at IS NULL",
        mdtrt_id,
    )
    return day


_CHANGE_ADMISSION = f"""
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
), {journalled("$15", "$16", "$17", "$1", "$18")}
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
    row = await conn.fetchrow(
        _CHANGE_ADMISSION,
        mdtrt_id,
        begin_date,
        diag_code,
        dept_code,
        *coverage_params(coverage),
        coverage_checked,
        *journal.stamped(),
    )
    expect_counts(row, enc=1, j=1)
    assert row is not None
    return row["diag_code"], row["dept_code"]
