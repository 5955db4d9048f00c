"""Composition root of the filing service: wires the rules, the store, the servicer and
the outbox relay to the process's resources."""

from __future__ import annotations

import grpc

from services.filing.domain import DEFAULT_POLICY_BOOK, FilingPolicyBook
from services.filing.handlers import FilingService
from services.filing.servicer import FilingServicer
from shared.bus import OutboxRelay
from shared.enduser import EndUserVerifier
from shared.grpc_server import Resources, ServiceApp
from shared.pb.crossclear.filing.v1 import filing_pb2, filing_pb2_grpc

SERVICE_NAME = filing_pb2.DESCRIPTOR.services_by_name["FilingService"].full_name


async def build(res: Resources, policies: FilingPolicyBook = DEFAULT_POLICY_BOOK) -> ServiceApp:
    filing = FilingService(res.pool, bus_namespace=res.settings.bus_namespace, policies=policies)
    servicer = FilingServicer(filing, EndUserVerifier.from_settings(res.settings))
    relays: list[OutboxRelay] = []

    def register(server: grpc.aio.Server) -> None:
        filing_pb2_grpc.add_FilingServiceServicer_to_server(servicer, server)

    async def relay_events() -> None:
        # Started by the host once the broker is connected and the topology declared.
        # A fresh relay per (re)start: a relay object runs once at a time.
        relay = OutboxRelay(res.pool, res.bus.get(), res.service.value)
        relays.append(relay)
        try:
            await relay.run()
        finally:
            relays.remove(relay)

    async def stop_relays() -> None:
        for relay in list(relays):
            relay.stop()

    return ServiceApp(
        register=[register],
        service_names=[SERVICE_NAME],
        background=[relay_events],
        on_close=[stop_relays],
    )
