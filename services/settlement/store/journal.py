"""The msgid journal (``messages``): idempotency keys, what each msgid did, corrections
(2601)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from services.settlement.store.common import Journal, journalled, msgid_corrected
from shared import clock
from shared.bus.pg import Conn
from shared.idempotency import MAX_KEY_CHARS, KeyJournal, stored_answer

SCOPE: Final = "settlement"  # the one scope of the journal: every hospital/pharmacy msgid

# --- the msgid as idempotency key ------------------------------------------------------------

# The claim inserts the msgid's row; a conflicting row is one another transaction committed
# (a concurrent claim of the same msgid waits here for it) or a correction's tombstone.
CLAIM_SQL: Final = (
    "INSERT INTO messages (msgid, hospital_code, state, fingerprint, received_at) "
    "VALUES ({msgid}, left({msgid}, 12), 'CLAIMED', {fingerprint}, {at}) "
    "ON CONFLICT DO NOTHING RETURNING 1"
)
_CLAIM: Final = CLAIM_SQL.format(msgid="$1", fingerprint="$2", at="$3")


async def stored(conn: Conn, msgid: str, digest: bytes) -> bytes:
    """The answer to a msgid whose claim conflicted: its stored response, or the refusal of
    a corrected msgid (MSGID_CORRECTED) or of another body (ALREADY_EXISTS)."""
    row = await conn.fetchrow(
        "SELECT state, fingerprint, response FROM messages WHERE msgid = $1", msgid
    )
    assert row is not None, "a conflicting journal row is committed, so it is visible"
    if row["state"] in ("CORRECTED", "TOMBSTONE"):
        raise msgid_corrected()
    assert row["state"] == "DONE", "msgids are journalled by the transaction that claims them"
    return stored_answer(msgid, digest, row["fingerprint"], row["response"])


async def answered(conn: Conn, msgid: str, digest: bytes) -> bytes | None:
    """A resend's stored answer, read before any work (no lock): None if the msgid is new
    or still in flight (its claim then decides); the refusal of a corrected msgid or of
    another body, as :func:`stored`."""
    row = await conn.fetchrow(
        "SELECT state, fingerprint, response FROM messages WHERE msgid = $1", msgid
    )
    if row is None or row["state"] == "CLAIMED":
        return None
    if row["state"] in ("CORRECTED", "TOMBSTONE"):
        raise msgid_corrected()
    return stored_answer(msgid, digest, row["fingerprint"], row["response"])


class MessageJournal(KeyJournal):
    """Settlement's msgids as the unit of work's idempotency keys, on their journal rows."""

    async def claim(self, conn: Conn, scope: str, key: str, digest: bytes) -> bytes | None:
        assert scope == SCOPE and 0 < len(key) <= MAX_KEY_CHARS
        if await conn.fetchval(_CLAIM, key, digest, clock.now()):
            return None
        return await stored(conn, key, digest)

    async def stored(self, conn: Conn, scope: str, key: str, digest: bytes) -> bytes:
        assert scope == SCOPE
        return await stored(conn, key, digest)

    async def complete(self, conn: Conn, scope: str, key: str, response: bytes) -> None:
        """Store the answer on the row the request's write journalled."""
        assert scope == SCOPE
        status = await conn.execute(
            "UPDATE messages SET response = $2"
            " WHERE msgid = $1 AND state = 'DONE' AND response IS NULL",
            key,
            response,
        )
        assert status == "UPDATE 1", f"msgid {key} was not journalled by its request"


JOURNAL: Final = MessageJournal()

# --- corrections -----------------------------------------------------------------------------


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
    this transaction at its claim and is refused once we commit.
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
    """The msgid is undone: its retry is refused from now on, its stored answer dropped."""
    status = await conn.execute(
        "UPDATE messages SET state = 'CORRECTED', corrected_by = $2, corrected_at = $3,"
        " response = NULL WHERE msgid = $1 AND state = 'DONE'",
        omsgid,
        correction_msgid,
        clock.now(),
    )
    assert status == "UPDATE 1", status


_JOURNAL_ONLY: Final = f"WITH {journalled('$1', '$2', '$3', '$4', '$5')} SELECT count(*) FROM j"


async def journal_only(conn: Conn, journal: Journal, mdtrt_id: str | None) -> None:
    """Journal a request that changes nothing else (a tombstoning correction, a 2101)."""
    done = await conn.fetchval(
        _JOURNAL_ONLY,
        journal.msgid,
        journal.hospital_code,
        journal.infno,
        mdtrt_id,
        clock.now(),
    )
    assert done == 1, f"msgid {journal.msgid} was not claimed by its request"
