"""Helpers of the clearing integration tests: settlement events, publishing, bounded waits.

Tests share one clearing service (one schema) for the session; each test works in
periods of its own (a distinct year), so ledgers, statements and netting never mix.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from google.protobuf.timestamp_pb2 import Timestamp

from services.clearing.messages import SETTLEMENT_EVENT_TYPE
from shared.bus import (
    Bus,
    exchange_name,
    region_queue,
    settlement_reversed_key,
    settlement_settled_key,
)
from shared.pb.crossclear.common.v1 import common_pb2
from shared.pb.crossclear.events.v1 import events_pb2
from tests.support.polling import wait_until

SHANGHAI = ZoneInfo("Asia/Shanghai")
FUNDS = ("hifp", "hifob", "hifmi", "cvlserv", "maf", "acct")
# The fund of a FundTotal / StatementFundTotal fund_type number, by its name in FUNDS.
FUND_NAMES = {common_pb2.FundType.Value(f"FUND_TYPE_{name.upper()}"): name for name in FUNDS}
HOSPITAL_OF = {
    "440100": "H44010000001",
    "440300": "H44030000001",
    "450100": "H45010000001",
    "450200": "H45020000001",
    "450300": "H45030000001",
    "450500": "H45050000001",
}
PUBLISH_CONCURRENCY = 50


@dataclass
class Event:
    """A settlement or reversal as the test sent it, and the pb message it became."""

    setl_id: str
    insured: str
    treatment: str
    period: str
    funds_fen: dict[str, int]
    cash_fen: int = 0
    reversal_of: str | None = None
    hospital: str = ""
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def cleared_fen(self) -> int:
        return sum(self.funds_fen.values())

    def message(self) -> events_pb2.SettlementEvent:
        sign = -1 if self.reversal_of else 1
        amounts = {f: sign * self.funds_fen.get(f, 0) for f in FUNDS}
        cash = sign * self.cash_fen
        occurred = Timestamp()
        year, month = int(self.period[:4]), int(self.period[4:])
        occurred.FromDatetime(datetime(year, month, 15, 10, 30, tzinfo=SHANGHAI))
        return events_pb2.SettlementEvent(
            event_id=self.event_id,
            kind=(
                events_pb2.SETTLEMENT_EVENT_KIND_REVERSED
                if self.reversal_of
                else events_pb2.SETTLEMENT_EVENT_KIND_SETTLED
            ),
            setl_id=self.setl_id,
            reversed_setl_id=self.reversal_of or "",
            hospital_code=self.hospital or HOSPITAL_OF[self.treatment],
            insured_pool=self.insured,
            treatment_pool=self.treatment,
            clearing_period=self.period,
            occurred_at=occurred,
            insutype=common_pb2.INSURANCE_TYPE_EMPLOYEE_BASIC,
            amounts=common_pb2.FundAmounts(
                medfee_sumamt_fen=sum(amounts.values()) + cash,
                cash_fen=cash,
                **{f"{f}_fen": a for f, a in amounts.items()},
            ),
        )

    def signed(self) -> dict[str, int]:
        sign = -1 if self.reversal_of else 1
        return {f: sign * a for f, a in self.funds_fen.items() if a}


def settlement(setl_id: str, insured: str, treatment: str, period: str, **funds_fen: int) -> Event:
    return Event(setl_id, insured, treatment, period, funds_fen or {"hifp": 10_000}, cash_fen=500)


def reversal(of: Event, setl_id: str | None = None) -> Event:
    return Event(
        setl_id or f"R{of.setl_id}",
        of.insured,
        of.treatment,
        of.period,
        dict(of.funds_fen),
        cash_fen=of.cash_fen,
        reversal_of=of.setl_id,
        hospital=of.hospital,
    )


async def publish(bus: Bus, namespace: str, events: Sequence[Event], *, copies: int = 1) -> None:
    """Publish each event copies times (same message id), with publisher confirms."""
    exchange = exchange_name(namespace, "settlement")

    async def one(event: Event) -> None:
        key_of = settlement_reversed_key if event.reversal_of else settlement_settled_key
        routed = await bus.publish(
            exchange,
            key_of(event.insured, event.treatment),
            event.message().SerializeToString(),
            message_id=event.event_id,
            message_type=SETTLEMENT_EVENT_TYPE,
        )
        assert routed, "the settlement-events queue must be bound before publishing"

    jobs = [e for e in events for _ in range(copies)]
    for start in range(0, len(jobs), PUBLISH_CONCURRENCY):
        await asyncio.gather(*(one(e) for e in jobs[start : start + PUBLISH_CONCURRENCY]))


async def wait_ingested(
    db: asyncpg.Pool, events: Iterable[Event], *, schema: str = "clearing", timeout_s: float = 20.0
) -> None:
    """Until the consumer recorded every event's message in the inbox (its effect committed)."""
    ids = sorted({e.event_id for e in events})

    async def done() -> bool:
        count = await db.fetchval(
            f'SELECT count(*) FROM "{schema}".inbox WHERE message_id = ANY($1::text[])', ids
        )
        return bool(count == len(ids))

    await wait_until(done, timeout_s=timeout_s, what=f"{len(ids)} events ingested")


async def wait_relayed(db: asyncpg.Pool, *, timeout_s: float = 15.0) -> None:
    """Until the clearing outbox has nothing pending (so the broker holds every message)."""

    async def done() -> bool:
        pending = await db.fetchval(
            "SELECT count(*) FROM clearing.outbox WHERE published_at IS NULL"
        )
        return bool(pending == 0)

    await wait_until(done, timeout_s=timeout_s, what="outbox relayed")


async def drain_region(
    bus: Bus, namespace: str, code: str, message_type: type[Any], *, timeout_s: float = 10.0
) -> list[Any]:
    """Take every message now on the region's queue; return those of message_type."""
    channel = await bus.open_channel(prefetch_count=100)
    found = []
    try:
        queue = await channel.get_queue(region_queue(namespace, code))
        loop = asyncio.get_running_loop()
        deadline_s = loop.time() + timeout_s
        while loop.time() < deadline_s:
            message = await queue.get(no_ack=False, fail=False, timeout=5)
            if message is None:
                return found
            await message.ack()
            if message.type == message_type.DESCRIPTOR.full_name:
                parsed = message_type()
                parsed.ParseFromString(message.body)
                found.append(parsed)
        raise AssertionError(f"region queue {code} not drained within {timeout_s} s")
    finally:
        await channel.close()


def expected_statements(events: Iterable[Event]) -> dict[tuple[str, str], dict[str, int]]:
    """(insured, treatment) → fund → net fen, for cross-pool events only."""
    sums: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for e in events:
        if e.insured != e.treatment:
            for fund, amount in e.signed().items():
                sums[(e.insured, e.treatment)][fund] += amount
    return {pair: dict(funds) for pair, funds in sums.items()}
