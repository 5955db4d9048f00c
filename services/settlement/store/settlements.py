"""Settlements and reversals: the one statement that writes each (2207/2304, 2208/2305)."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Final

import asyncpg
import structlog

from services.settlement.domain.accumulations import AccumulationDelta, Accumulations
from services.settlement.domain.codes import (
    FundType,
    Insutype,
    VisitType,
)
from services.settlement.domain.encounter import (
    Coverage,
    EncounterState,
)
from services.settlement.domain.engine import FundDetail
from services.settlement.domain.records import Amounts, RecordKind, SettlementRecord
from services.settlement.store.accumulations import (
    ACC_COLUMNS,
    acc_assignments,
    acc_params,
    lock_accumulations,
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
from services.settlement.store.encounters import (
    ENCOUNTER_COLUMNS,
    LINES,
    LINES_SUBQUERY,
    Known,
    LockedEncounter,
    coverage_params,
    encounter_of,
    lines_of,
    locked_of,
)
from services.settlement.store.journal import CLAIM_SQL
from services.settlement.store.year_rows import ACC_MAPS, accumulations_of
from shared.bus import OUTBOX_COLUMNS, OutboxItem, outbox_values
from shared.bus.pg import Conn
from shared.unit_of_work import Completion, KeyClaim

log = structlog.get_logger(__name__)

# --- what a settlement locks ---------------------------------------------------------------

# One round trip before the engine runs: claim the msgid (optional), lock the encounter with
# its standing lines, create the person's year row if it is new, and lock that row. The
# claim runs first (the encounter's lock waits for its row): a resent msgid queues on its
# key, and a request never holds the encounter while waiting for a msgid; a msgid found
# taken (a resend, another body, a corrected msgid) locks nothing at all. The year row is
# locked after the encounter (the order every writer takes); if it is new (created here, or
# committed by another transaction after this statement's snapshot) it is locked by a
# statement of its own, whose fresh snapshot sees it.
_LOCK_FOR_SETTLE = f"""
WITH {{claim}}, year_row AS (
    INSERT INTO accumulations (psn_no, insutype, acc_year, updated_at)
    SELECT psn_no, insutype, $2::smallint, $3::timestamptz
      FROM claimed, encounters WHERE claimed.claimed AND mdtrt_id = $1
    ON CONFLICT DO NOTHING
), enc AS MATERIALIZED (
    SELECT {ENCOUNTER_COLUMNS},
           {LINES_SUBQUERY}
      FROM claimed, encounters e
     WHERE claimed.claimed AND e.mdtrt_id = $1
       FOR UPDATE OF e
), acc AS MATERIALIZED (
    SELECT true AS year_row_locked, {", ".join(f"a.{c}" for c in ACC_COLUMNS)}
      FROM enc JOIN accumulations a ON a.psn_no = enc.psn_no AND a.insutype = enc.insutype
     WHERE a.acc_year = $2
       FOR UPDATE OF a
)
SELECT claimed.claimed, enc.*, acc.*
  FROM claimed LEFT JOIN enc ON true LEFT JOIN acc ON true
"""
_CLAIMING = f"""claim AS ({CLAIM_SQL.format(msgid="$4", fingerprint="$5", at="$3")}
), claimed AS MATERIALIZED (SELECT count(*) > 0 AS claimed FROM claim)"""
_LOCK_CLAIMING_FOR_SETTLE = _LOCK_FOR_SETTLE.format(claim=_CLAIMING)
_LOCK_CLAIMED_FOR_SETTLE = _LOCK_FOR_SETTLE.format(claim="claimed AS (SELECT true AS claimed)")


@dataclass(frozen=True)
class SettleLocks:
    """What :func:`lock_for_settle` found: whether it claimed the msgid, and if it did, the
    encounter (None if unknown) and the person's year row, both locked."""

    claimed: bool
    locked: LockedEncounter | None
    accumulations: Accumulations | None


async def lock_for_settle(conn: Conn, mdtrt_id: str, claim: KeyClaim | None) -> SettleLocks:
    """Lock the encounter and the person's year row of a settlement, claiming ``claim``
    (the request's msgid) in the same statement; ``None``: the unit of work claimed it."""
    assert conn.is_in_transaction()
    txn_clock = TxnClock.read()
    if claim is None:
        row = await conn.fetchrow(_LOCK_CLAIMED_FOR_SETTLE, mdtrt_id, txn_clock.year, txn_clock.now)
    else:
        row = await conn.fetchrow(
            _LOCK_CLAIMING_FOR_SETTLE,
            mdtrt_id,
            txn_clock.year,
            txn_clock.now,
            claim.key,
            claim.digest,
        )
    assert row is not None, "the statement returns one row"
    if not row["claimed"] or row["mdtrt_id"] is None:
        return SettleLocks(row["claimed"], None, None)
    locked = await locked_of(conn, row, txn_clock, lines=True)
    person = locked.encounter.person
    if row["year_row_locked"]:
        acc = accumulations_of(row)
    else:  # a new year row: its own statement sees and locks it
        acc = await lock_accumulations(conn, person.psn_no, person.insutype, txn_clock.year)
    return SettleLocks(True, locked, acc)


@dataclass(frozen=True)
class SettleRead:
    """An encounter with its standing lines and the person's year row, read in one
    statement without a lock, with the row versions a gated write checks."""

    locked: LockedEncounter  # as read (no lock is held)
    accumulations: Accumulations
    encounter_version: int  # xmin of the encounter's row version read
    year_row_version: int | None  # xmin of the year row's; None: the person has none yet


# One snapshot, no lock: the lines are those of the encounter's row version read, so they
# need no currency check (LINES_SUBQUERY's is for a lock that waited).
_READ_FOR_SETTLE = f"""
SELECT EXISTS (SELECT 1 FROM messages m WHERE m.msgid = $3) AS msgid_seen,
       {ENCOUNTER_COLUMNS},
       {LINES},
       e.xmin AS encounter_version, a.xmin AS year_row_version,
       {", ".join(f"a.{c}" for c in ACC_COLUMNS)}
  FROM encounters e
  LEFT JOIN accumulations a
    ON a.psn_no = e.psn_no AND a.insutype = e.insutype AND a.acc_year = $2
 WHERE e.mdtrt_id = $1
"""


async def read_for_settle(conn: Conn, mdtrt_id: str, msgid: str) -> SettleRead | None:
    """The encounter, its lines and the person's year row as one snapshot has them, for a
    settlement written by :func:`write_settlement_if_unchanged`; None where that cannot
    be: the msgid is known already (a resend, a correction's tombstone) or the encounter
    is unknown. A person with no year row yet has the empty one, without a version."""
    txn_clock = TxnClock.read()
    row = await conn.fetchrow(_READ_FOR_SETTLE, mdtrt_id, txn_clock.year, msgid)
    if row is None or row["msgid_seen"]:
        return None
    read = LockedEncounter(
        encounter_of(row), lines_of(row["lines"]), row["line_amount_fen"], txn_clock
    )
    # One snapshot: the lines are those of the encounter's row version read.
    assert len(read.lines) == read.encounter.line_count, mdtrt_id
    assert sum(line.amount_fen for line in read.lines) == read.line_amount_fen, mdtrt_id
    return SettleRead(
        read, accumulations_of(row), row["encounter_version"], row["year_row_version"]
    )


def known_for_settle(known: Known) -> SettleRead | None:
    """What :func:`read_for_settle` would read of the encounter while it is the row version
    a write of this process left (``store.recent``): None unless that write knew its
    standing lines and the person's year row of this year."""
    txn_clock = TxnClock.read()
    year_row = known.year_row
    if known.lines is None or year_row is None or year_row.year != txn_clock.year:
        return None
    encounter = known.encounter
    lines = known.lines
    if len(lines) != encounter.line_count or (
        sum(line.amount_fen for line in lines) != known.line_amount_fen
    ):
        # The rows say otherwise than the lines composed from the writes: read them.
        log.error("recent_lines_inconsistent", mdtrt_id=encounter.mdtrt_id)
        return None
    read = LockedEncounter(encounter, lines, known.line_amount_fen, txn_clock)
    return SettleRead(read, year_row.accumulations, known.version, year_row.version)


# --- settlements ---------------------------------------------------------------------------

# The amounts as stored: each a column, the funds' one map (fund_pay_fen, zeros left out).
AMOUNT_NAMES = tuple(Amounts.__dataclass_fields__)
_JSONB_COLUMNS = ("fund_pay_fen", "delta", "lines")
SETTLEMENT_COLUMNS = (
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
    *AMOUNT_NAMES,
    "pool_prop_selfpay_bp",
    "balc_fen",
    "ratio_reduction_bp",
    "policy_version_id",
    "catalogue_version_id",
    "delta",
    "lines",
    "created_at",
)
_N = len(SETTLEMENT_COLUMNS)
_S_PLACEHOLDERS = ", ".join(
    f"${i}::jsonb" if name in _JSONB_COLUMNS else f"${i}"
    for i, name in enumerate(SETTLEMENT_COLUMNS, start=1)
)
# Parameters after the settlement's own: funds (5 arrays), accumulations (9), encounter
# and journal values.
_F = _N + 1  # first fund array
# The SQL below names some of the settlement's own parameters by position.
assert [SETTLEMENT_COLUMNS.index(c) + 1 for c in ("setl_id", "reverses_setl_id", "mdtrt_id")] == [
    1,
    3,
    4,
]
assert [SETTLEMENT_COLUMNS.index(c) + 1 for c in ("hospital_code", "psn_no", "insutype")] == [
    5,
    7,
    9,
]
assert [SETTLEMENT_COLUMNS.index(c) + 1 for c in ("msgid", "setl_time", "acc_year")] == [
    12,
    13,
    16,
]
_A = _F + 5  # first accumulation value
_X = _A + len(ACC_COLUMNS)  # first of the remaining values

_SETTLEMENT_AND_FUNDS = f"""
s AS (
    INSERT INTO settlements ({", ".join(SETTLEMENT_COLUMNS)})
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
)"""
_YEAR_ROW_UPDATE = f"""a AS (
    UPDATE accumulations
       SET {acc_assignments(_A)},
           standing_settlements = standing_settlements + ${_X},
           updated_at = $13
     WHERE psn_no = $7 AND insutype = $9 AND acc_year = $16
    RETURNING 1
)"""
# A person's first settlement of a year on the gated path: the year row is inserted with
# the values after it (as the locked path's creation and update leave it). A row created
# meanwhile violates its key and aborts the statement: the gate of a row that was not there.
_ACC_VALUES = ", ".join(
    f"${_A + i}" + ("::jsonb" if c in ACC_MAPS else "") for i, c in enumerate(ACC_COLUMNS)
)
_YEAR_ROW_INSERT = f"""a AS (
    INSERT INTO accumulations (psn_no, insutype, acc_year, {", ".join(ACC_COLUMNS)},
                               standing_settlements, updated_at)
    VALUES ($7, $9, $16, {_ACC_VALUES}, ${_X}, $13)
    RETURNING 1
)"""

# The settling statement also writes the settlement's event to the outbox and stores the
# response on the msgid's journal row (its idempotency key): parameters after the journal's.
_O = _X + 12  # first outbox value
_K = _O + len(OUTBOX_COLUMNS)  # the stored response
_V = _K + 1  # a gated statement's: the fingerprint, the encounter's and year row's versions

# Settling an encounter read without a lock: the statement writes only if the encounter is
# still OPEN and neither it nor the person's year row has changed since it was read (each
# row's version, xmin, is the one read). The msgid's journal row is inserted first, DONE
# with its answer, as a claim would (a resend in flight waits here for the other copy's
# transaction, holding nothing; a msgid taken meanwhile violates its key): the msgid before
# the rows, the order of every writer. Then the gate locks both rows, the encounter first;
# a row changed meanwhile leaves it empty and rows_as_read (migration 0012) aborts the
# statement, before the select list reaches the writes after it: nothing of it is written.
_GATE = f"""g AS MATERIALIZED (
    SELECT 1 FROM encounters ge, accumulations ga
     WHERE ge.mdtrt_id = $4 AND ge.state = 'OPEN' AND ge.xmin = ${_V + 1}::xid
       AND ga.psn_no = $7 AND ga.insutype = $9 AND ga.acc_year = $16
       AND ga.xmin = ${_V + 2}::xid
       FOR UPDATE OF ge, ga
),"""
# The gate of a person's first settlement of a year: the encounter alone (the year row's
# absence is checked by its insert, _YEAR_ROW_INSERT).
_GATE_NEW_YEAR_ROW = f"""g AS MATERIALIZED (
    SELECT 1 FROM encounters ge
     WHERE ge.mdtrt_id = $4 AND ge.state = 'OPEN' AND ge.xmin = ${_V + 1}::xid
       FOR UPDATE OF ge
),"""
_JOURNAL_DONE = journalled_done(
    "$12", "$5", f"${_X + 11}", "$4", "$13", fingerprint=f"${_V}", response=f"${_K}", setl_id="$1"
)


def _settling_statement(gated: bool, *, new_year_row: bool = False) -> str:
    """The settling statement: under the locks taken before it, or ``gated`` (above), on
    the person's year row as read or, ``new_year_row``, on its absence."""
    gate = (_GATE_NEW_YEAR_ROW if new_year_row else _GATE) if gated else ""
    year_row = _YEAR_ROW_INSERT if new_year_row else _YEAR_ROW_UPDATE
    journal = (
        _JOURNAL_DONE
        if gated
        else journalled("$12", "$5", f"${_X + 11}", "$4", "$13", setl_id="$1", response=f"${_K}")
    )
    outbox = ", ".join(
        f"${_O + i}::jsonb" if c == "headers" else f"${_O + i}"
        for i, c in enumerate(OUTBOX_COLUMNS)
    )
    return f"""
WITH {gate}{_SETTLEMENT_AND_FUNDS}, {year_row}, e AS (
    UPDATE encounters e
       SET state = 'SETTLED', setl_id = $1,
           relation = ${_X + 1}, coverage_allowed = ${_X + 2}, coverage_basis = ${_X + 3},
           filing_id = ${_X + 4}, filing_category = ${_X + 5}, ratio_reduction_bp = ${_X + 6},
           local_ratio = ${_X + 7}, coverage_reason = ${_X + 8}, coverage_message = ${_X + 9},
           coverage_checked_at = CASE WHEN ${_X + 10} THEN $13 ELSE e.coverage_checked_at END,
           updated_at = $13
     WHERE e.mdtrt_id = $4 AND e.state = 'OPEN'
    RETURNING {"e.xmin AS version" if gated else "1"}
), {journal}, ob AS (
    INSERT INTO outbox ({", ".join(OUTBOX_COLUMNS)})
    VALUES ({outbox})
    RETURNING 1
)
SELECT {GATED + "," if gated else "(SELECT count(*) FROM j) AS j,"}
       (SELECT count(*) FROM s) AS s, (SELECT count(*) FROM f) AS f,
       (SELECT count(*) FROM a) AS a, (SELECT count(*) FROM e) AS e,
       (SELECT count(*) FROM ob) AS ob{", (SELECT version FROM e) AS version" if gated else ""}
"""


_WRITE_SETTLEMENT = _settling_statement(gated=False)
_WRITE_SETTLEMENT_IF_UNCHANGED = _settling_statement(gated=True)
_WRITE_FIRST_OF_YEAR_IF_UNCHANGED = _settling_statement(gated=True, new_year_row=True)

_WRITE_REVERSAL = f"""
WITH {_SETTLEMENT_AND_FUNDS}, {_YEAR_ROW_UPDATE}, o AS (
    UPDATE settlements SET reversed_by_setl_id = $1
     WHERE setl_id = $3 AND kind = 'SETTLEMENT' AND reversed_by_setl_id IS NULL
    RETURNING 1
), e AS (
    UPDATE encounters SET state = 'OPEN', setl_id = NULL, updated_at = $13
     WHERE mdtrt_id = $4 AND state = 'SETTLED' AND setl_id = $3
    RETURNING 1
), {journalled("$12", "$5", f"${_X + 1}", "$4", "$13", setl_id="$1")}
SELECT (SELECT count(*) FROM s) AS s, (SELECT count(*) FROM f) AS f,
       (SELECT count(*) FROM a) AS a, (SELECT count(*) FROM o) AS o,
       (SELECT count(*) FROM e) AS e, (SELECT count(*) FROM j) AS j
"""


def _amount_columns(a: Amounts) -> dict[str, Any]:
    columns: dict[str, Any] = {n: getattr(a, n) for n in AMOUNT_NAMES}
    columns["fund_pay_fen"] = json.dumps({f.value: v for f, v in a.fund_pay_fen.items() if v})
    return columns


def _amounts_of(r: asyncpg.Record) -> Amounts:
    funds = {FundType(k): int(v) for k, v in json.loads(r["fund_pay_fen"]).items()}
    return Amounts(**{n: r[n] for n in AMOUNT_NAMES if n != "fund_pay_fen"}, fund_pay_fen=funds)


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
        **_amount_columns(r.amounts),
        "pool_prop_selfpay_bp": r.pool_prop_selfpay_bp,
        "balc_fen": r.balc_fen,
        "ratio_reduction_bp": r.ratio_reduction_bp,
        "policy_version_id": r.policy_version_id,
        "catalogue_version_id": r.catalogue_version_id,
        "delta": json.dumps(r.delta.to_dict()),
        "lines": json.dumps(list(r.lines), ensure_ascii=False),
        "created_at": r.setl_time,  # the row is written by the settling transaction
    }
    assert tuple(values) == SETTLEMENT_COLUMNS
    details = r.details
    funds = [
        [d.fund_pay_type.value for d in details],
        [d.inscp_scp_amt_fen for d in details],
        [d.crt_payb_lmt_amt_fen for d in details],
        [d.fund_payamt_fen for d in details],
        [d.setl_proc_info for d in details],
    ]
    return [*values.values(), *funds]


def _settling_params(
    record: SettlementRecord,
    accumulations_after: Accumulations,
    coverage: Coverage,
    coverage_rechecked: bool,
    journal: Journal,
    event: OutboxItem,
    response: bytes,
) -> list[Any]:
    assert record.kind is RecordKind.SETTLEMENT and journal.msgid == record.msgid
    return [
        *_settlement_params(record),
        *acc_params(accumulations_after),
        1,
        *coverage_params(coverage),
        coverage_rechecked,
        journal.infno,
        *outbox_values(event),
        response,
    ]


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
    assert completion.key == record.msgid
    counts = await conn.fetchrow(
        _WRITE_SETTLEMENT,
        *_settling_params(
            record,
            accumulations_after,
            coverage,
            coverage_rechecked,
            journal,
            event,
            completion.response,
        ),
    )
    expect_counts(counts, s=1, f=len(record.details), a=1, e=1, j=1, ob=1)


async def write_settlement_if_unchanged(
    conn: Conn,
    read: SettleRead,
    record: SettlementRecord,
    accumulations_after: Accumulations,
    journal: Journal,
    event: OutboxItem,
    digest: bytes,
    response: bytes,
) -> Known | None:
    """In one statement that commits itself (no transaction is open): what
    :func:`write_settlement` writes, the msgid's journal row inserted with its fingerprint
    and answer, if the encounter and the person's year row are as ``read`` found them.
    The encounter as the statement left it (settled; a discharge may follow); None: one
    of them changed meanwhile, or the msgid was taken (a resend in flight, a correction's
    tombstone), and nothing was written."""
    assert record.mdtrt_id == read.locked.encounter.mdtrt_id
    params = _settling_params(
        record,
        accumulations_after,
        read.locked.encounter.coverage,
        False,
        journal,
        event,
        response,
    )
    if read.year_row_version is None:  # the person's first settlement of the year
        statement = _WRITE_FIRST_OF_YEAR_IF_UNCHANGED
        versions: tuple[int, ...] = (read.encounter_version,)
    else:
        statement = _WRITE_SETTLEMENT_IF_UNCHANGED
        versions = (read.encounter_version, read.year_row_version)
    counts = await gated_fetchrow(conn, statement, *params, digest, *versions)
    if counts is None:
        return None  # the msgid was taken, or a row changed: nothing was written
    expect_counts(counts, g=1, s=1, f=len(record.details), a=1, e=1, j=1, ob=1)
    # Of the encounter the statement sets the state and setl_id, and its coverage as read
    # (a coverage to re-check never comes this way); the lines stand as read.
    settled = replace(read.locked.encounter, state=EncounterState.SETTLED, setl_id=record.setl_id)
    version: int = counts["version"]
    return Known(settled, read.locked.line_amount_fen, version, read.locked.lines, None)


async def write_reversal(
    conn: Conn,
    reversal: SettlementRecord,
    accumulations_after: Accumulations,
    journal: Journal,
) -> None:
    """Insert the reversal, mark the settlement reversed, restore the accumulations and
    reopen the encounter."""
    assert reversal.kind is RecordKind.REVERSAL and journal.msgid == reversal.msgid
    counts = await conn.fetchrow(
        _WRITE_REVERSAL,
        *_settlement_params(reversal),
        *acc_params(accumulations_after),
        -1,
        journal.infno,
    )
    expect_counts(counts, s=1, f=len(reversal.details), a=1, o=1, e=1, j=1)


_SELECT_SETTLEMENT = """
SELECT s.*,
       (SELECT array_agg((f.fund_pay_type, f.inscp_scp_amt_fen, f.crt_payb_lmt_amt_fen,
                          f.fund_payamt_fen, f.setl_proc_info) ORDER BY f.ordinal)
          FROM settlement_funds f WHERE f.setl_id = s.setl_id) AS funds
  FROM settlements s
 WHERE s.setl_id = $1
"""


# A settlement read back: the columns converted into their field by _record_of, and the
# others, each the record's field of its own name as it is stored.
_CONVERTED = frozenset({"kind", "insutype", "med_type", *AMOUNT_NAMES, "delta", "lines"})
_AS_STORED: Final = (
    *(c for c in SETTLEMENT_COLUMNS if c not in _CONVERTED and c != "created_at"),
    "reversed_by_setl_id",
)


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
        **{column: r[column] for column in _AS_STORED},
        kind=RecordKind(r["kind"]),
        insutype=Insutype(r["insutype"]),
        med_type=VisitType(r["med_type"]),
        amounts=_amounts_of(r),
        details=details,
        delta=AccumulationDelta.from_dict(json.loads(r["delta"])),
        lines=tuple(json.loads(r["lines"])),
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
