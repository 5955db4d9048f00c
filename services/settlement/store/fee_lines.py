"""Fee lines: upload and cancel (2204/2301, 2205/2302)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from operator import attrgetter
from typing import Any

from services.settlement.domain.bill import FeeLine
from services.settlement.store.common import (
    GATED,
    Journal,
    expect_counts,
    gated_fetchrow,
    journalled,
    journalled_done,
)
from services.settlement.store.encounters import EncounterRead, Known
from services.settlement.store.year_rows import with_year_row, year_row_of
from shared import clock
from shared.bus.pg import Conn

# --- fee lines ---------------------------------------------------------------------------


def _moving_totals(
    *, lines: str, sign: str, at: str, returning: str = "e.line_count, e.line_amount_fen"
) -> str:
    """The CTE ``enc`` that moves the encounter's running totals by the lines the CTE
    ``lines`` returns (line_no, amount_fen): added with ``sign`` "+", removed with "-"."""
    return f"""enc AS (
    UPDATE encounters e
       SET line_count = e.line_count {sign} (SELECT count(*) FROM {lines}),
           line_amount_fen = e.line_amount_fen {sign} (SELECT coalesce(sum(amount_fen), 0) FROM {lines}),
           updated_at = {at}
     WHERE e.mdtrt_id = $1 AND e.state = 'OPEN'
    RETURNING {returning}
)"""


def _selecting_totals(*, lines: str, line_nos_as: str) -> str:
    """What a statement built on :func:`_moving_totals` selects: the line numbers of
    ``lines`` (as ``line_nos_as``), the encounter's totals now and the row counts."""
    return f"""SELECT (SELECT array_agg(line_no) FROM {lines}) AS {line_nos_as},
       (SELECT line_count FROM enc) AS line_count,
       (SELECT line_amount_fen FROM enc) AS line_amount_fen,
       (SELECT count(*) FROM enc) AS enc,
       (SELECT count(*) FROM j) AS j
"""


INSERT_LINES = f"""
WITH ins AS (
    INSERT INTO fee_lines (mdtrt_id, line_no, item_code, fee_date, quantity_e4, unit_price_fen,
                           amount_fen, upload_msgid, uploaded_at)
    SELECT $1, t.line_no, t.item_code, t.fee_date, t.quantity_e4, t.unit_price_fen,
           t.amount_fen, $8, $11
      FROM unnest($2::int[], $3::text[], $4::date[], $5::bigint[], $6::bigint[], $7::bigint[])
           AS t(line_no, item_code, fee_date, quantity_e4, unit_price_fen, amount_fen)
    ON CONFLICT (mdtrt_id, line_no) WHERE cancelled_at IS NULL DO NOTHING
    RETURNING line_no, amount_fen
), {_moving_totals(lines="ins", sign="+", at="$11")},
   {journalled("$8", "$9", "$10", "$1", "$11", response="$12")}
{_selecting_totals(lines="ins", line_nos_as="inserted")}"""


def line_arrays(lines: Sequence[FeeLine]) -> list[list[Any]]:
    """The lines as the six arrays a statement unnests (line_no … amount_fen)."""
    return [
        [x.line_no for x in lines],
        [x.item_code for x in lines],
        [x.fee_date for x in lines],
        [x.quantity_e4 for x in lines],
        [x.unit_price_fen for x in lines],
        [x.amount_fen for x in lines],
    ]


@dataclass(frozen=True)
class LineTotals:
    line_count: int
    line_amount_fen: int


async def insert_fee_lines(
    conn: Conn,
    mdtrt_id: str,
    lines: Sequence[FeeLine],
    journal: Journal,
    *,
    response: bytes | None,
) -> tuple[set[int], LineTotals]:
    """Insert the lines; returns the line numbers inserted (a standing number is skipped).
    ``response``: the msgid's answer, stored on its journal row by the same statement (the
    caller rolls back if a line was skipped); None: the unit of work stores it later."""
    row = await conn.fetchrow(
        INSERT_LINES,
        mdtrt_id,
        *line_arrays(lines),
        *journal.stamped(),
        response,
    )
    expect_counts(row, enc=1, j=1)
    assert row is not None
    return set(row["inserted"] or ()), LineTotals(row["line_count"], row["line_amount_fen"])


# An upload onto an encounter read without a lock (``read_encounter``), in one statement
# that commits itself: the msgid's journal row first, DONE with its answer (a msgid taken
# meanwhile violates its key); then the gate locks the encounter if it is still OPEN and the
# row version read (rows_as_read aborts the statement otherwise); then the lines, with no
# ON CONFLICT (a line number standing already violates its key: the locked path then says
# which), and the encounter's totals. Any abort writes nothing. It returns the totals, the
# row version it left and the person's year row: with the lines it inserted, what a
# settlement right after it acts on without reading them again (``store.recent``).
_TOTALS_AND_VERSION = "e.line_count, e.line_amount_fen, e.xmin AS version"
_INSERTED = f"""{GATED},
       (SELECT count(*) FROM ins) AS ins,
       (SELECT line_count FROM enc) AS line_count,
       (SELECT line_amount_fen FROM enc) AS line_amount_fen,
       (SELECT version FROM enc) AS version,
       (SELECT count(*) FROM enc) AS enc"""
_INSERT_LINES_IF_UNCHANGED = f"""
WITH {journalled_done("$8", "$9", "$10", "$1", "$11", fingerprint="$13", response="$12")},
g AS MATERIALIZED (
    SELECT 1 FROM encounters ge
     WHERE ge.mdtrt_id = $1 AND ge.state = 'OPEN' AND ge.xmin = $14::xid
       FOR UPDATE OF ge
), ins AS (
    INSERT INTO fee_lines (mdtrt_id, line_no, item_code, fee_date, quantity_e4, unit_price_fen,
                           amount_fen, upload_msgid, uploaded_at)
    SELECT $1, t.line_no, t.item_code, t.fee_date, t.quantity_e4, t.unit_price_fen,
           t.amount_fen, $8, $11
      FROM unnest($2::int[], $3::text[], $4::date[], $5::bigint[], $6::bigint[], $7::bigint[])
           AS t(line_no, item_code, fee_date, quantity_e4, unit_price_fen, amount_fen)
    RETURNING line_no, amount_fen
), {_moving_totals(lines="ins", sign="+", at="$11", returning=_TOTALS_AND_VERSION)}
{with_year_row(_INSERTED, psn_no="$16", insutype="$17", year="$15")}
"""


async def insert_fee_lines_if_unchanged(
    conn: Conn,
    found: EncounterRead,
    lines: Sequence[FeeLine],
    journal: Journal,
    digest: bytes,
    response: bytes,
) -> Known | None:
    """In one statement that commits itself (no transaction is open): insert the lines,
    move the encounter's totals and journal the msgid with its fingerprint and answer, if
    the encounter is still OPEN and the row version ``found`` read. The encounter as the
    statement left it (with its standing lines if ``found`` knew them, and the person's
    year row); None: it changed, the msgid was taken or a line number stands already, and
    nothing was written."""
    row = await gated_fetchrow(
        conn,
        _INSERT_LINES_IF_UNCHANGED,
        found.read.encounter.mdtrt_id,
        *line_arrays(lines),
        *journal.stamped(),
        response,
        digest,
        found.version,
        found.read.clock.year,
        found.read.encounter.person.psn_no,
        found.read.encounter.person.insutype.value,
    )
    if row is None:
        return None  # nothing was written
    expect_counts(row, j=1, g=1, ins=len(lines), enc=1)
    before = None if found.known is None else found.known.lines
    standing = None
    if before is not None:  # the lines of the version found, and these inserted as given
        standing = tuple(sorted((*before, *lines), key=attrgetter("line_no")))
    # The statement sets the totals (and the time) and nothing else of the encounter.
    return Known(
        replace(found.read.encounter, line_count=row["line_count"]),
        row["line_amount_fen"],
        row["version"],
        standing,
        year_row_of(row, found.read.clock.year),
    )


_CANCEL_LINES = f"""
WITH gone AS (
    UPDATE fee_lines SET cancel_msgid = $3, cancelled_at = $7
     WHERE mdtrt_id = $1 AND cancelled_at IS NULL
       AND ($2::int[] IS NULL OR line_no = ANY($2::int[]))
       AND ($6::text IS NULL OR upload_msgid = $6)
    RETURNING line_no, amount_fen
), {_moving_totals(lines="gone", sign="-", at="$7")}, {journalled("$3", "$4", "$5", "$1", "$7")}
{_selecting_totals(lines="gone", line_nos_as="cancelled")}"""


async def cancel_fee_lines(
    conn: Conn,
    mdtrt_id: str,
    line_nos: Sequence[int] | None,
    journal: Journal,
    *,
    uploaded_by_msgid: str | None = None,
) -> tuple[set[int], LineTotals]:
    """Cancel standing lines: the numbers given (None: all), optionally of one upload."""
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
    expect_counts(row, enc=1, j=1)
    assert row is not None
    return set(row["cancelled"] or ()), LineTotals(row["line_count"], row["line_amount_fen"])
