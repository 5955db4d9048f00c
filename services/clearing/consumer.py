"""Ledger ingestion: settlement events from RabbitMQ into the clearing ledger, exactly once.

The InboxConsumer hands this handler the batch's new deliveries inside the transaction
that records their ids in the inbox; everything below happens in that same transaction:

1. decode each delivery into a domain event (poison → dead-lettered);
2. the period fence: lock the period rows the events land in (FOR KEY SHARE) and read
   which are closed, so a concurrent ClosePeriod either waits for this commit or has
   committed before and is seen (see ``store.lock_landing_periods``);
3. the domain turns events into ledger entries (same-pool events give none; events of a
   closed period land in the next open one, flagged late);
4. ONE insert for the whole batch;
5. advance-fund usage per pair and period, and an AdvanceFundAlert through the outbox
   for every threshold newly reached (each once per pair, period and threshold).

Cost per batch of up to 200 events: the inbox insert, the period rows (insert + lock),
the ledger insert, the usage upsert, and one more round trip only when an alert fires.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime

import structlog

from services.clearing import store
from services.clearing.domain.advance import crossed_thresholds
from services.clearing.domain.events import SettlementEvent
from services.clearing.domain.ledger import LedgerEntry, ledger_entries
from services.clearing.domain.pools import clearing_level
from services.clearing.messages import advance_alert_item, decode_settlement_event
from shared import clock
from shared.bus import Delivery, OutboxItem, PoisonMessage, enqueue_many
from shared.bus.pg import Conn

log = structlog.get_logger(__name__)

CONSUMER_NAME = "clearing-ledger"


class LedgerIngest:
    """The InboxConsumer handler of the settlement-events queue."""

    def __init__(
        self,
        namespace: str,
        thresholds_bp: Sequence[int],
        now: Callable[[], datetime] = clock.now,
    ) -> None:
        self._namespace = namespace
        self._thresholds_bp = tuple(thresholds_bp)
        self._now = now

    async def __call__(self, conn: Conn, deliveries: list[Delivery]) -> None:
        events = [decode_settlement_event(d) for d in deliveries]
        cleared = [
            e for e in events if clearing_level(e.insured_pool, e.treatment_pool) is not None
        ]
        if not cleared:
            return  # local settlements only: nothing to clear, the inbox still records them
        closed = await store.lock_landing_periods(conn, {e.period for e in cleared})
        entries = [entry for e in cleared for entry in ledger_entries(e, closed)]
        inserted = await store.insert_ledger(conn, entries)
        recorded = [e for e in entries if (e.event_id, e.fund.value) in inserted]
        _check_whole_events(cleared, entries, recorded)
        alerts = await self._advance_usage(conn, recorded)
        if alerts:
            await enqueue_many(conn, alerts)
        late = sum(1 for e in recorded if e.late)
        log.debug("ledger batch", events=len(events), entries=len(recorded), late_entries=late)

    async def _advance_usage(self, conn: Conn, recorded: Sequence[LedgerEntry]) -> list[OutboxItem]:
        deltas_fen: dict[tuple[str, str, str], int] = defaultdict(int)
        for entry in recorded:
            deltas_fen[(entry.insured_pool, entry.treatment_pool, str(entry.period))] += (
                entry.amount_fen
            )
        alerts = []
        for change in await store.add_usage(conn, deltas_fen):
            if not change.advance_fen:
                continue  # no advance set for the pair: nothing to measure usage against
            owed = crossed_thresholds(
                max(change.used_before_fen, 0),
                max(change.used_after_fen, 0),
                change.advance_fen,
                self._thresholds_bp,
                already_alerted=change.alerted_bp,
            )
            if not owed:
                continue
            await store.mark_alerted(
                conn, change.insured_pool, change.treatment_pool, change.period, owed
            )
            for threshold_bp in owed:
                alerts.append(
                    advance_alert_item(
                        self._namespace, change, threshold_bp=threshold_bp, occurred_at=self._now()
                    )
                )
        return alerts


def _check_whole_events(
    events: Sequence[SettlementEvent],
    entries: Sequence[LedgerEntry],
    recorded: Sequence[LedgerEntry],
) -> None:
    """Each event is recorded whole or not at all.

    Not at all: it was recorded before (a copy under another message id). Partly would
    mean another event already holds some of this settlement's funds — a conflict that
    no retry resolves, so the event goes to the dead letters for an operator.
    """
    expected: dict[str, int] = defaultdict(int)
    for entry in entries:
        expected[entry.event_id] += 1
    got: dict[str, int] = defaultdict(int)
    for entry in recorded:
        got[entry.event_id] += 1
    for event in events:
        wanted, found = expected.get(event.event_id, 0), got.get(event.event_id, 0)
        if found not in (0, wanted):
            raise PoisonMessage(
                f"event {event.event_id}: settlement {event.setl_id} ({event.kind.value}) "
                "is partly recorded under another event"
            )
        if wanted and not found:
            log.warning(
                "settlement already in the ledger",
                event_id=event.event_id,
                setl_id=event.setl_id,
                kind=event.kind.value,
            )
