"""Development-only control of a service's simulated clock, over gRPC.

``crossclear.dev.v1.ClockControl/Set`` (a ``google.protobuf.Timestamp`` in, the clock's
new reading out) and ``/Get`` (``google.protobuf.Empty`` in). The host serves it only
when ``CROSSCLEAR_SIMULATED_CLOCK`` is on, which it refuses outside development mode and
under mutual TLS (see ``check_settings``), so a production process cannot have its time
moved. Only trusted callers (operators, services) may set it, and never backwards.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Final

import grpc
from google.protobuf import empty_pb2, timestamp_pb2

from shared.auth import caller
from shared.clock import ClockWentBackwards, SimulatedClock
from shared.config import ServiceName, Settings
from shared.errors import FailedPrecondition, PermissionDenied
from shared.grpc_client import caller_metadata, open_channel

SERVICE: Final = "crossclear.dev.v1.ClockControl"
OPERATOR: Final = "op-simulation"


def check_settings(settings: Settings) -> None:
    """Refuse to start a process whose clock could be moved in production."""
    if not settings.simulated_clock:
        return
    if settings.tls_dir is not None or not settings.insecure_dev:
        raise SystemExit(
            "refusing to start: CROSSCLEAR_SIMULATED_CLOCK is for development only; it "
            "cannot be combined with mutual TLS (CROSSCLEAR_TLS_DIR) and needs "
            "CROSSCLEAR_INSECURE_DEV=true"
        )


def _timestamp(instant: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(instant.astimezone(UTC))
    return stamp


def register(server: grpc.aio.Server, clock: SimulatedClock) -> None:
    async def set_clock(
        request: timestamp_pb2.Timestamp, _context: grpc.aio.ServicerContext
    ) -> timestamp_pb2.Timestamp:
        who = caller()
        if not who.is_trusted:
            raise PermissionDenied(f"caller {who.code} may not set the clock")
        try:
            return _timestamp(clock.set(request.ToDatetime(tzinfo=UTC)))
        except ClockWentBackwards as exc:
            raise FailedPrecondition("CLOCK_BACKWARDS", str(exc)) from None

    async def get_clock(
        _request: empty_pb2.Empty, _context: grpc.aio.ServicerContext
    ) -> timestamp_pb2.Timestamp:
        return _timestamp(clock.now())

    handlers = {
        "Set": grpc.unary_unary_rpc_method_handler(
            set_clock,
            request_deserializer=timestamp_pb2.Timestamp.FromString,
            response_serializer=timestamp_pb2.Timestamp.SerializeToString,
        ),
        "Get": grpc.unary_unary_rpc_method_handler(
            get_clock,
            request_deserializer=empty_pb2.Empty.FromString,
            response_serializer=timestamp_pb2.Timestamp.SerializeToString,
        ),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))


async def set_clock(target: str, settings: Settings, instant: datetime) -> datetime:
    async with open_channel(target, settings.tls_dir, server_name="localhost") as channel:
        rpc = channel.unary_unary(
            f"/{SERVICE}/Set",
            request_serializer=timestamp_pb2.Timestamp.SerializeToString,
            response_deserializer=timestamp_pb2.Timestamp.FromString,
        )
        reply = await rpc(_timestamp(instant), metadata=caller_metadata(OPERATOR), timeout=5)
        return reply.ToDatetime(tzinfo=UTC)  # type: ignore[no-any-return]


async def set_all(settings: Settings, instant: datetime) -> None:
    """Set the simulated clock of every service to ``instant``."""
    await asyncio.gather(
        *(set_clock(settings.target_of(s), settings, instant) for s in ServiceName)
    )
