"""The msgid journal and corrections (2601)."""

from __future__ import annotations

from dataclasses import dataclass

from services.settlement.store.common import Journal, refusing_corrected_msgid
from shared import clock
from shared.bus.pg import Conn

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
