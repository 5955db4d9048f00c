"""Composition root of the settlement service: wires store, versions, filing client,
service layer and servicer, and hands the host its servicer and background loops."""

from __future__ import annotations

from services.settlement.filing_client import FilingClient
from services.settlement.handlers import Settlement
from services.settlement.pharmacy import PharmacySettlement
from services.settlement.pharmacy_servicer import SERVICE_NAME as PHARMACY_SERVICE_NAME
from services.settlement.pharmacy_servicer import PharmacySettlementServicer
from services.settlement.servicer import SERVICE_NAME, SettlementServicer
from services.settlement.versions import Versions, seed_if_empty
from shared.bus import OutboxRelay
from shared.grpc_server import Resources, ServiceApp
from shared.pb.crossclear.settlement.v1 import pharmacy_pb2_grpc, settlement_pb2_grpc


async def build(res: Resources) -> ServiceApp:
    # Versions are in memory before the first request: every settlement classifies lines.
    await seed_if_empty(res.pool)
    versions = Versions()
    await versions.reload(res.pool)
    filing = FilingClient(res.settings)
    service = Settlement(res.pool, versions, filing, res.settings.bus_namespace)
    servicer = SettlementServicer(service)
    pharmacies = PharmacySettlementServicer(
        PharmacySettlement(res.pool, versions, filing, res.settings.bus_namespace)
    )

    async def relay() -> None:
        await OutboxRelay(res.pool, res.bus.get(), res.service.value).run()

    async def watch_versions() -> None:
        await versions.watch(res.pool)

    return ServiceApp(
        register=[
            lambda server: settlement_pb2_grpc.add_SettlementServiceServicer_to_server(
                servicer, server
            ),
            lambda server: pharmacy_pb2_grpc.add_PharmacySettlementServiceServicer_to_server(
                pharmacies, server
            ),
        ],
        service_names=[SERVICE_NAME, PHARMACY_SERVICE_NAME],
        background=[relay, watch_versions],
        on_close=[filing.close],
    )
