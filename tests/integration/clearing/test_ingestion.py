"""Ledger ingestion against the real broker and database: every settlement gives exactly
one set of ledger entries, though each event is delivered twice and a consumer process is
killed in the middle of a batch."""

from __future__ import annotations

import asyncio
import random
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from services.clearing.consumer import CONSUMER_NAME, LedgerIngest
from services.clearing.messages import SETTLEMENT_EVENT_TYPE
from shared import db as shared_db
from shared.bus import (
    Bus,
    InboxConsumer,
    QueueLimits,
    dead_letter_queue,
    declare_work_queue,
    exchange_name,
    queue_name,
    settlement_settled_key,
)
from shared.config import Settings
from tests.support.polling import wait_until

from .support import Event, publish, reversal, settlement, wait_ingested

PROJECT_ROOT = Path(__file__).resolve().parents[3]
KILLED_STATUS = 137
EVENTS = 120


@dataclass(frozen=True)
class Scratch:
    """A clearing schema and a queue of the test's own, fed by its own insured pool."""

    schema: str
    pool: asyncpg.Pool
    queue: str
    insured: str


@pytest.fixture
async def scratch(
    settings: Settings, database: str, publisher: Bus, namespace: str, unique: str
) -> AsyncIterator[Scratch]:
    schema = f"clearing_crash_{unique}"
    conn = await asyncpg.connect(database, timeout=10)
    try:
        await shared_db.migrate(conn, schema, shared_db.migrations_for("clearing"))
    finally:
        await conn.close()
    insured = str(random.randrange(900_000, 1_000_000))  # a pool of this test alone
    queue = queue_name(namespace, "test", f"clearing-crash-{unique}")
    channel = await publisher.open_channel(prefetch_count=1)
    await declare_work_queue(
        channel,
        namespace,
        queue,
        [(exchange_name(namespace, "settlement"), f"settlement.*.{insured}.*")],
        limits=QueueLimits(delivery_limit=20, max_length=10_000),
    )
    pool = await shared_db.create_pool(database, schema, min_size=1, max_size=4)
    try:
        yield Scratch(schema, pool, queue, insured)
    finally:
        await pool.close()
        await channel.queue_delete(queue, timeout=10)
        await channel.close()
        conn = await asyncpg.connect(database, timeout=10)
        try:
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        finally:
            await conn.close()


def _events(insured: str, unique: str) -> list[Event]:
    settled = [
        settlement(f"K{unique}{i:04d}", insured, "440100", "200102", hifp=10_000 + i, acct=300)
        for i in range(EVENTS - EVENTS // 6)
    ]
    return settled + [reversal(s) for s in settled[: EVENTS // 6]]


async def _run_crashing_consumer(mode: str, settings: Settings, scratch: Scratch, ns: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.clearing.crashing_consumer",
        mode,
        settings.database_url,
        scratch.schema,
        settings.amqp_url,
        ns,
        scratch.queue,
        cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=45)
    text = output.decode(errors="replace")
    assert process.returncode == KILLED_STATUS, text[-2000:]
    return text


@pytest.mark.parametrize("mode", ["after-commit", "before-commit"])
async def test_each_settlement_recorded_once_despite_redelivery_and_a_killed_consumer(
    mode: str,
    settings: Settings,
    publisher: Bus,
    namespace: str,
    scratch: Scratch,
    unique: str,
    clearing_port: int,
) -> None:
    events = _events(scratch.insured, f"{unique}{mode[0]}")
    await publish(publisher, namespace, events, copies=2)

    output = await _run_crashing_consumer(mode, settings, scratch, namespace)
    assert "dying" in output
    committed = await scratch.pool.fetchval("SELECT count(DISTINCT event_id) FROM ledger")
    if mode == "after-commit":
        assert 0 < committed < len(events)  # one batch committed, none acknowledged
    else:
        assert committed == 0  # the open transaction died with the process

    consumer = InboxConsumer(
        publisher,
        scratch.pool,
        scratch.queue,
        CONSUMER_NAME,
        LedgerIngest(namespace, (7000, 9000)),
        batch_size=50,
    )
    await consumer.start()
    try:
        await wait_ingested(scratch.pool, events, schema=scratch.schema)

        async def all_settled() -> bool:
            return consumer.stats.settled >= 2 * len(events)

        await wait_until(all_settled, timeout_s=20, what="every delivery settled")
    finally:
        await consumer.stop()

    # The crashed batch came back and was absorbed by the inbox: no second effect.
    assert consumer.stats.handled == len(events) - committed
    assert consumer.stats.duplicates == 2 * len(events) - consumer.stats.handled
    rows = await scratch.pool.fetch(
        """SELECT setl_id, kind, count(*) AS n, count(DISTINCT event_id) AS events,
                  sum(amount_fen) AS fen
             FROM ledger GROUP BY setl_id, kind"""
    )
    got = {(r["setl_id"], r["kind"]): (r["n"], r["events"], r["fen"]) for r in rows}
    want = {
        (e.setl_id, "REVERSED" if e.reversal_of else "SETTLED"): (
            len([a for a in e.funds_fen.values() if a]),
            1,
            sum(e.signed().values()),
        )
        for e in events
    }
    assert got == want


async def test_local_and_poison_events_are_not_cleared(
    publisher: Bus, namespace: str, db: asyncpg.Pool, unique: str
) -> None:
    local = settlement(f"L{unique}", "450500", "450500", "200103", hifp=5_000)
    after = settlement(f"A{unique}", "450500", "450100", "200103", hifp=7_000)
    poison = settlement(f"P{unique}", "450500", "450100", "200103", hifp=1_000)
    poison.hospital = "not-a-code"
    await publish(publisher, namespace, [local])
    body = poison.message().SerializeToString()
    await publisher.publish(
        exchange_name(namespace, "settlement"),
        settlement_settled_key("450500", "450100"),
        body,
        message_id=poison.event_id,
        message_type=SETTLEMENT_EVENT_TYPE,
    )
    await publish(publisher, namespace, [after])
    await wait_ingested(db, [local, after])
    ids = [local.event_id, after.event_id, poison.event_id]
    rows = await db.fetch("SELECT event_id FROM ledger WHERE event_id = ANY($1::text[])", ids)
    assert {r["event_id"] for r in rows} == {after.event_id}
    # The invalid event is dead-lettered for an operator, not retried forever.
    channel = await publisher.open_channel(prefetch_count=10)
    try:
        queue = await channel.get_queue(dead_letter_queue(namespace))

        async def dead_lettered() -> bool:
            while (message := await queue.get(no_ack=False, fail=False, timeout=5)) is not None:
                await message.ack()
                if message.message_id == poison.event_id:
                    return True
            return False

        await wait_until(dead_lettered, timeout_s=10, what="poison event dead-lettered")
    finally:
        await channel.close()
    assert not await db.fetchval(
        "SELECT EXISTS (SELECT 1 FROM inbox WHERE message_id = $1)", poison.event_id
    )
