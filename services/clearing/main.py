"""The clearing service's composition root: wires the store, consumer, relay and servicer.

Background loops (started by the host once the broker is connected):
- the ledger consumer: declares the bus topology (idempotent), then consumes
  ``<ns>.clearing.settlement-events`` through the inbox;
- the outbox relay: publishes statements and advance-fund alerts to the region queues.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import grpc
import structlog
from prometheus_client import Gauge

from services.clearing.config import ClearingSettings, get_clearing_settings
from services.clearing.consumer import CONSUMER_NAME, LedgerIngest
from services.clearing.domain.periods import Period
from services.clearing.handlers import Clearing
from services.clearing.servicer import ClearingServicer
from shared import clock
from shared.broker import BusRef, region_codes
from shared.bus import (
    InboxConsumer,
    OutboxRelay,
    dead_letter_queue,
    ensure_topology,
    settlement_events_queue,
)
from shared.bus.pg import Pool
from shared.grpc_server import Resources, ServiceApp
from shared.pb.crossclear.clearing.v1 import clearing_pb2, clearing_pb2_grpc

log = structlog.get_logger(__name__)

SCHEMA = "clearing"
SERVICE_NAME = clearing_pb2.DESCRIPTOR.services_by_name["ClearingService"].full_name
# How often the consumer loop checks that its worker is alive.
_CONSUMER_WATCH_S = 1.0


def consumer_loop(
    bus_ref: BusRef, pool: Pool, namespace: str, settings: ClearingSettings
) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        bus = bus_ref.get()  # background loops start once the broker is connected
        # The host declared the topology when it connected; declaring again (idempotent)
        # keeps this loop correct on its own, e.g. after a broker lost its definitions.
        await ensure_topology(bus, namespace, region_codes())
        consumer = InboxConsumer(
            bus,
            pool,
            settlement_events_queue(namespace),
            CONSUMER_NAME,
            LedgerIngest(namespace, settings.advance_thresholds_bp),
            batch_size=settings.consumer_batch_size,
            batch_wait_ms=settings.consumer_batch_wait_ms,
        )
        await consumer.start()
        try:
            # InboxConsumer offers no awaitable for its worker's end: poll, cheaply.
            while True:
                await asyncio.sleep(_CONSUMER_WATCH_S)
                if not consumer.is_running():
                    break
        finally:
            # Also on cancellation (shutdown): finish the batch in hand, then close.
            await consumer.stop()
        # The worker ended on its own: raise, so the host restarts the loop.
        raise RuntimeError("ledger consumer stopped unexpectedly")

    return run


def relay_loop(
    bus_ref: BusRef, pool: Pool, settings: ClearingSettings
) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        relay = OutboxRelay(pool, bus_ref.get(), SCHEMA, batch_size=settings.relay_batch_size)
        try:
            await relay.run()
        finally:
            relay.stop()

    return run


async def build(res: Resources) -> ServiceApp:
    settings = get_clearing_settings()
    namespace = res.settings.bus_namespace
    clearing = Clearing(res.pool, namespace, settings)
    servicer = ClearingServicer(clearing)

    def register(server: grpc.aio.Server) -> None:
        clearing_pb2_grpc.add_ClearingServiceServicer_to_server(servicer, server)

    log.info(
        "clearing configured",
        thresholds_bp=list(settings.advance_thresholds_bp),
        batch_size=settings.consumer_batch_size,
    )

    async def sample_advance_funds() -> None:
        await sample_advance_usage(res.pool)

    return ServiceApp(
        register=[register],
        service_names=[SERVICE_NAME],
        background=[
            consumer_loop(res.bus, res.pool, namespace, settings),
            relay_loop(res.bus, res.pool, settings),
        ],
        samplers=[sample_advance_funds],
        watched_queues=[settlement_events_queue(namespace), dead_letter_queue(namespace)],
    )


ADVANCE_USAGE = Gauge(
    "crossclear_advance_fund_usage_ratio",
    "Share of the advance fund (预付金) used in the open period, per pool pair",
    ["insured_pool", "treatment_pool"],
)
_ADVANCE_PAIRS_MAX = 10_000


async def sample_advance_usage(pool: Pool) -> None:
    """Usage of every advance fund in the current period (bounded: at most 400 × 400
    pool pairs nationally, and a region has far fewer)."""
    period = Period.from_datetime(clock.now())
    rows = await pool.fetch(
        """SELECT a.insured_pool, a.treatment_pool, a.advance_fen,
                  coalesce(u.used_fen, 0) AS used_fen
             FROM advance_funds a
             LEFT JOIN advance_usage u
               ON u.insured_pool = a.insured_pool AND u.treatment_pool = a.treatment_pool
              AND u.period = $1
            WHERE a.advance_fen > 0
            ORDER BY a.insured_pool, a.treatment_pool
            LIMIT $2""",
        str(period),
        _ADVANCE_PAIRS_MAX,
        timeout=5,
    )
    for row in rows:
        ADVANCE_USAGE.labels(row["insured_pool"], row["treatment_pool"]).set(
            row["used_fen"] / row["advance_fen"]
        )
