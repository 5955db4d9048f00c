"""gRPC ⇄ domain: reads each request into domain values (naming every bad field at once),
calls the service layer and writes its result back as the national field names.

Nothing here touches the database or decides a rule; the only error it maps itself is an
unreachable filing service (UNAVAILABLE: the hospital retries), the rest are
``shared.errors`` that the server interceptor maps.

The RPCs live by sub-domain in this package's modules; the readers and writers are shared.
"""

from __future__ import annotations

from typing import Final

from services.settlement.servicer.encounters import EncounterRpcs
from services.settlement.servicer.queries import QueryRpcs
from services.settlement.servicer.settling import SettleRpcs
from shared.pb.crossclear.settlement.v1 import settlement_pb2

SERVICE_NAME: Final = settlement_pb2.DESCRIPTOR.services_by_name["SettlementService"].full_name


class SettlementServicer(EncounterRpcs, SettleRpcs, QueryRpcs):
    """The SettlementService RPCs."""
