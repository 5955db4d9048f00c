"""SQL of the pharmacy purchases (2102, 2103): the parts the hospital statements do not
cover. Every function runs in the caller's transaction and writes no journal row: the
settling (or reversing) statement of the same request journals its msgid once."""

from __future__ import annotations

from collections.abc import Sequence

from services.settlement.domain.bill import FeeLine
from services.settlement.domain.encounter import Encounter
from services.settlement.domain.supervision import SupervisionWarning
from services.settlement.store import UnexpectedRowCount
from services.settlement.store.common import expect_counts
from services.settlement.store.encounters import cancelling_with_lines, opening, opening_params
from services.settlement.store.fee_lines import line_arrays
from services.settlement.store.journal import CLAIM_SQL
from shared import clock
from shared.bus.pg import Conn
from shared.unit_of_work import KeyClaim

# Claim the msgid (CLAIMED: the answer is known only after the settlement) and open the
# purchase's encounter with its drug lines standing, in one statement; a msgid found taken
# opens nothing (its stored answer is read by a statement of its own).
_CLAIM_AND_INSERT_PURCHASE = f"""
WITH claim AS ({CLAIM_SQL.format(msgid="$30", fingerprint="$38", at="$29")}),
{
    opening(
        msgid="$30",
        at="$29",
        line_count="cardinality($31::int[])",
        line_amount_fen="$37",
        if_claimed=True,
    )
},
lines AS (
    INSERT INTO fee_lines (mdtrt_id, line_no, item_code, fee_date, quantity_e4, unit_price_fen,
                           amount_fen, upload_msgid, uploaded_at)
    SELECT $1, t.line_no, t.item_code, t.fee_date, t.quantity_e4, t.unit_price_fen,
           t.amount_fen, $30, $29
      FROM unnest($31::int[], $32::text[], $33::date[], $34::bigint[], $35::bigint[],
                  $36::bigint[])
           AS t(line_no, item_code, fee_date, quantity_e4, unit_price_fen, amount_fen)
     WHERE EXISTS (SELECT FROM claim)
    RETURNING 1
)
SELECT (SELECT count(*) FROM claim) AS claimed, (SELECT count(*) FROM enc) AS enc,
       (SELECT count(*) FROM lines) AS lines
"""


async def claim_and_insert_purchase(
    conn: Conn, encounter: Encounter, lines: Sequence[FeeLine], receipt_no: str, claim: KeyClaim
) -> bool:
    """Claim the purchase's msgid and open its encounter with its drug lines standing (then
    settled at once); False (nothing written) if the msgid was taken."""
    assert encounter.line_count == len(lines) and not encounter.emergency
    counts = await conn.fetchrow(
        _CLAIM_AND_INSERT_PURCHASE,
        *opening_params(encounter, visit_no=receipt_no, diag_code=""),
        clock.now(),
        claim.key,
        *line_arrays(lines),
        sum(x.amount_fen for x in lines),
        claim.digest,
    )
    assert counts is not None
    if not counts["claimed"]:
        expect_counts(counts, claimed=0, enc=0, lines=0)
        return False
    expect_counts(counts, claimed=1, enc=1, lines=len(lines))
    return True


async def insert_warnings(
    conn: Conn, encounter: Encounter, warnings: Sequence[SupervisionWarning], msgid: str
) -> None:
    """The supervision warnings of a pre-settlement or settlement, for audit."""
    if not warnings:
        return
    status = await conn.execute(
        """INSERT INTO supervision_warnings (mdtrt_id, hospital_code, psn_no, msgid, code,
                                             line_no, message, raised_at)
           SELECT $1, $2, $3, $4, t.code, t.line_no, t.message, $8
             FROM unnest($5::text[], $6::int[], $7::text[]) AS t(code, line_no, message)""",
        encounter.mdtrt_id,
        encounter.hospital_code,
        encounter.person.psn_no,
        msgid,
        [w.code for w in warnings],
        [w.line_no for w in warnings],
        [w.message for w in warnings],
        clock.now(),
    )
    if status != f"INSERT 0 {len(warnings)}":
        raise UnexpectedRowCount(f"warnings: {status}")


_CLOSE_PURCHASE = f"""
WITH {cancelling_with_lines(cancel_msgid="$2", at="$3", only=" AND hospital_code LIKE 'P%'")}
SELECT (SELECT count(*) FROM gone) AS gone, (SELECT count(*) FROM enc) AS enc
"""


async def close_purchase(conn: Conn, mdtrt_id: str, line_count: int, msgid: str) -> None:
    """Cancel a purchase whose settlement this transaction has just reversed (2103, or a
    correction of 2102): its drug lines and its encounter."""
    counts = await conn.fetchrow(_CLOSE_PURCHASE, mdtrt_id, msgid, clock.now())
    assert counts is not None
    if (counts["gone"], counts["enc"]) != (line_count, 1):
        raise UnexpectedRowCount(f"close purchase {mdtrt_id}: {dict(counts)}")
