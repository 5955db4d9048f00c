"""gRPC ⇄ domain: reads each request into domain values (naming every bad field at once),
calls the service layer and writes its result back as the national field names.

Nothing here touches the database or decides a rule; the only error it maps itself is an
unreachable filing service (UNAVAILABLE: the hospital retries), the rest are
``shared.errors`` that the server interceptor maps.

The RPCs live by sub-domain in this package's modules; the readers and writers are shared.
"""

from __future__ import annotations

from services.settlement.servicer.encounters import EncounterRpcs
from services.settlement.servicer.queries import QueryRpcs
from services.settlement.servicer.readers import SERVICE_NAME as SERVICE_NAME
from services.settlement.servicer.settling import SettleRpcs


class SettlementServicer(EncounterRpcs, SettleRpcs, QueryRpcs):
    """The SettlementService RPCs."""
