"""2601 corrections (冲正) of the cancels and of the admission change: 2202, 2403, 2404, 2405.

A correction undoes a transaction whose answer the hospital did not receive. For these
four the rule is the same: **the encounter goes back to exactly what it was before the
transaction, provided it is still exactly what the transaction left** — nothing has
happened to it since (no fee line uploaded or cancelled, no other change, discharge,
settlement or correction in between). Concretely:

* 2202 registration cancel → the registration is OPEN again with the fee lines that
  cancel took with it;
* 2404 admission cancel → the stay is OPEN again (it had no lines nor discharge);
* 2403 admission change → the previous admission date, diagnosis, department and the
  coverage decision that went with the previous date are back;
* 2405 discharge cancel → the discharge date (and discharge diagnosis) are back.

When something has happened since, the correction is refused (FAILED_PRECONDITION
``CHANGED_SINCE_TRANSACTION``) and nothing is written: the hospital must undo the later
transactions first, or send the transaction it meant. A transaction journalled before
corrections of it were possible (no snapshot kept) is NOT_CORRECTABLE.

How: each of the four keeps, on its own ``messages`` row (column ``undo``), a snapshot of
the encounter's correctable columns before and after it, written in the transaction's
own database transaction. The correction compares the locked encounter with "after" and
restores "before" in one statement, with its own journal row, under the encounter lock
and the original's journal lock (see ``handlers.correct``); a resent correction msgid is
answered from storage. These encounter changes publish no event, as the transactions
they undo publish none: only settlements reach clearing.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Final

from services.settlement import store
from shared import clock
from shared.bus.pg import Conn
from shared.errors import FailedPrecondition

LATER_CORRECTABLE: Final = frozenset({"2202", "2403", "2404", "2405"})
REASON_CHANGED_SINCE: Final = "CHANGED_SINCE_TRANSACTION"
REASON_NOT_CORRECTABLE: Final = "NOT_CORRECTABLE"

# The columns a correction restores (the person and identifiers never change).
_COLUMNS: Final = (
    "state",
    "begin_date",
    "discharge_date",
    "diag_code",
    "dept_code",
    "line_count",
    "line_amount_fen",
    "relation",
    "coverage_allowed",
    "coverage_basis",
    "filing_id",
    "filing_category",
    "ratio_reduction_bp",
    "local_ratio",
    "coverage_reason",
    "coverage_message",
    "coverage_checked_at",
)
# A time as UTC text, so the snapshot does not depend on the session's time zone.
_VALUES: Final = {
    "coverage_checked_at": "(e.coverage_checked_at AT TIME ZONE 'UTC')::text || '+00'"
}
_SNAPSHOT: Final = (
    "jsonb_build_object(" + ", ".join(f"'{c}', {_VALUES.get(c, f'e.{c}')}" for c in _COLUMNS) + ")"
)


@contextlib.asynccontextmanager
async def remembered(conn: Conn, mdtrt_id: str, msgid: str) -> AsyncIterator[None]:
    """Around a 2202/2403/2404/2405 write (the encounter locked): keep its undo snapshot."""
    before = await conn.fetchval(
        f"SELECT {_SNAPSHOT}::text FROM encounters e WHERE e.mdtrt_id = $1", mdtrt_id
    )
    assert before is not None, "the encounter is locked, so it exists"
    yield
    status = await conn.execute(
        f"""UPDATE messages m
               SET undo = jsonb_build_object('before', $3::jsonb, 'after', {_SNAPSHOT})
              FROM encounters e
             WHERE m.msgid = $1 AND e.mdtrt_id = $2""",
        msgid,
        mdtrt_id,
        before,
    )
    assert status == "UPDATE 1", status


_RESTORE: Final = f"""
UPDATE encounters e
   SET ({", ".join(_COLUMNS)}, updated_at) =
       (SELECT {", ".join(f"r.{c}" for c in _COLUMNS)}, $3::timestamptz
          FROM jsonb_populate_record(NULL::encounters, $2::jsonb) r)
 WHERE e.mdtrt_id = $1
"""


async def undo(conn: Conn, entry: store.JournalEntry, journal: store.Journal) -> None:
    """Undo the locked journal ``entry`` (one of :data:`LATER_CORRECTABLE`) on its locked
    encounter, writing ``journal`` (the correction's row); FailedPrecondition otherwise."""
    assert entry.infno in LATER_CORRECTABLE and entry.mdtrt_id is not None
    row = await conn.fetchrow(
        f"""SELECT m.undo->'before' AS before, m.undo->'after' = {_SNAPSHOT} AS unchanged
              FROM messages m JOIN encounters e ON e.mdtrt_id = m.mdtrt_id
             WHERE m.msgid = $1""",
        entry.msgid,
    )
    assert row is not None, "a journalled encounter exists"
    if row["before"] is None:
        raise FailedPrecondition(
            REASON_NOT_CORRECTABLE,
            f"{entry.msgid} was recorded before corrections of {entry.infno} were kept",
        )
    if not row["unchanged"]:
        raise FailedPrecondition(
            REASON_CHANGED_SINCE,
            f"encounter {entry.mdtrt_id} changed after {entry.msgid} ({entry.infno}): undo "
            "the later transactions first",
        )
    now = clock.now()
    if entry.infno == "2202":  # the fee lines that cancel took with it stand again
        await conn.execute(
            "UPDATE fee_lines SET cancel_msgid = NULL, cancelled_at = NULL"
            " WHERE mdtrt_id = $1 AND cancel_msgid = $2",
            entry.mdtrt_id,
            entry.msgid,
        )
    status = await conn.execute(_RESTORE, entry.mdtrt_id, row["before"], now)
    assert status == "UPDATE 1", status
    await store.journal_only(conn, journal, entry.mdtrt_id)
