"""Time is an input: the settlement time and the clearing period come from the clock,
tested by setting the clock (never by sleeping)."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from .support import CONSULTATION, NANNING, NANNING_HOSPITALS, Filing, Hospital, fee


async def _period_of(db: asyncpg.Pool, setl_id: str) -> str:
    return str(
        await db.fetchval("SELECT clearing_period FROM settlements WHERE setl_id = $1", setl_id)
    )


async def test_the_period_fence_follows_the_clock_to_the_millisecond(
    set_clock: Callable[..., object],
    hospital: Callable[[str], Hospital],
    filing: Filing,
    settlement_db: asyncpg.Pool,
) -> None:
    h = hospital(NANNING_HOSPITALS[0])
    set_clock("2026-05-31 09:00:00.000")
    late, early = await filing.new_person(NANNING), await filing.new_person(NANNING)
    visits = {}
    for person in (late, early):
        visits[person.psn_no] = await h.outpatient_visit(person, [fee(1, CONSULTATION, "45")])

    set_clock("2026-05-31 23:59:59.999")  # the last millisecond of May, China time
    mdtrt_id, total = visits[late.psn_no]
    in_may = (await h.settle(late, mdtrt_id, total)).setlinfo
    assert in_may.setl_time.ToDatetime().isoformat() == "2026-05-31T15:59:59.999000"  # UTC
    assert await _period_of(settlement_db, in_may.setl_id) == "202605"

    set_clock("2026-06-01 00:00:00.000")
    mdtrt_id, total = visits[early.psn_no]
    in_june = (await h.settle(early, mdtrt_id, total)).setlinfo
    assert await _period_of(settlement_db, in_june.setl_id) == "202606"
    # The reversal of May's settlement, made in June, belongs to June.
    reversal = (await h.reverse(late, in_may)).setlinfo
    assert await _period_of(settlement_db, reversal.setl_id) == "202606"
