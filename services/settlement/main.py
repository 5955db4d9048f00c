"""Composition root of the settlement service: wires store, versions, filing client,
service layer and servicer, and hands the host its servicer and background loops."""

from __future__ import annotations

from services.settlement import registry
from services.settlement.filing_client import FilingClient
from services.settlement.handlers import Settlement
from services.settlement.pharmacy import PharmacySettlement
from services.settlement.pharmacy_servicer import SERVICE_NAME as PHARMACY_SERVICE_NAME
from services.settlement.pharmacy_servicer import PharmacySettlementServicer
from services.settlement.reference import SERVICE_NAME as REFERENCE_SERVICE_NAME
from services.settlement.reference import ReferenceServicer
from services.settlement.servicer import SERVICE_NAME, SettlementServicer
from services.settlement.versions import ReloadTogether, Versions, seed_if_empty
from shared.bus import OutboxRelay
from shared.grpc_server import Resources, ServiceApp
from shared.pb.crossclear.reference.v1 import reference_pb2_grpc
from shared.pb.crossclear.settlement.v1 import pharmacy_pb2_grpc, settlement_pb2_grpc


async def build(res: Resources) -> ServiceApp:
    # Versions are in memory before the first request: every settlement classifies lines.
    await seed_if_empty(res.pool)
    versions = Versions()
    await versions.reload(res.pool)
    # The institution registry likewise: every request checks its hospital's designation.
    await registry.seed_if_empty(res.pool)
    institutions = registry.Registry()
    await institutions.reload(res.pool)
    previous = registry.install(institutions)
    filing = FilingClient(res.settings)
    service = Settlement(res.pool, versions, filing, res.settings.bus_namespace)
    servicer = SettlementServicer(service)
    pharmacies = PharmacySettlementServicer(
        PharmacySettlement(res.pool, versions, filing, res.settings.bus_namespace)
    )

    async def relay() -> None:
        await OutboxRelay(res.pool, res.bus.get(), res.service.value).run()

    async def watch_reference() -> None:
        # Versions and registry on one LISTEN connection: both tables notify one channel.
        await ReloadTogether(versions, institutions).watch(res.pool)

    async def uninstall_registry() -> None:
        if registry.installed() is institutions:
            registry.install(previous)

    return ServiceApp(
        register=[
            lambda server: settlement_pb2_grpc.add_SettlementServiceServicer_to_server(
                servicer, server
            ),
            lambda server: pharmacy_pb2_grpc.add_PharmacySettlementServiceServicer_to_server(
                pharmacies, server
            ),
            lambda server: reference_pb2_grpc.add_ReferenceServiceServicer_to_server(
                ReferenceServicer(versions), server
            ),
        ],
        service_names=[SERVICE_NAME, PHARMACY_SERVICE_NAME, REFERENCE_SERVICE_NAME],
        background=[relay, watch_reference],
        on_close=[filing.close, uninstall_registry],
    )
