"""gRPC stubs of the three services and one way to call them: as a named caller, with a
deadline, retrying only what is safe to retry.

Every write the simulation sends is idempotent (a hospital msgid, a channel request id,
an upsert, a month-end step that reports no_op), so resending it after UNAVAILABLE or a
deadline is exactly what a real client would do, and returns the first answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import grpc

from shared.config import Settings
from shared.devidp import DevIdp
from shared.grpc_client import caller_metadata, open_channel
from shared.pb.crossclear.clearing.v1 import clearing_pb2_grpc
from shared.pb.crossclear.filing.v1 import filing_pb2_grpc
from shared.pb.crossclear.settlement.v1 import settlement_pb2_grpc

CALL_TIMEOUT_S = 30.0
MAX_ATTEMPTS = 4
RETRY_BACKOFF_S = (0.2, 0.5, 1.0)
_RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)

R = TypeVar("R")


async def resending(send: Callable[[], Awaitable[R]]) -> R:
    """``send()``, sent again after a transient failure (a status a resent request may
    cure), at most ``MAX_ATTEMPTS`` times in all, with a growing pause between."""
    for attempt in range(MAX_ATTEMPTS):
        try:
            return await send()
        except grpc.aio.AioRpcError as error:
            if error.code() not in _RETRYABLE or attempt == MAX_ATTEMPTS - 1:
                raise
            await asyncio.sleep(RETRY_BACKOFF_S[min(attempt, len(RETRY_BACKOFF_S) - 1)])
    raise AssertionError("unreachable")  # the loop returns or raises


@dataclass(frozen=True)
class ChannelTokens:
    """Tokens of the development identity provider, minted at the simulated instant."""

    idp: DevIdp
    audience: str
    now: Callable[[], datetime]

    def mint(self, channel: str, psn_no: str) -> str:
        if channel == "channel-counter":
            pool = psn_no[:6]
            return self.idp.token(
                channel, audience=self.audience, now=self.now(), staff=f"sim-{pool}", pool=pool
            )
        return self.idp.token(channel, audience=self.audience, now=self.now(), person=psn_no)


@dataclass
class Clients:
    filing: filing_pb2_grpc.FilingServiceStub
    settlement: settlement_pb2_grpc.SettlementServiceStub
    clearing: clearing_pb2_grpc.ClearingServiceStub
    channels: tuple[grpc.aio.Channel, ...]
    rpc_count: int = 0
    # Channel callers act for an end user: tokens of the development identity provider.
    tokens: ChannelTokens | None = None

    @classmethod
    def open(cls, settings: Settings) -> Clients:
        tls = settings.tls_dir
        filing = open_channel(settings.filing_target, tls, server_name="localhost")
        settlement = open_channel(settings.settlement_target, tls, server_name="localhost")
        clearing = open_channel(settings.clearing_target, tls, server_name="localhost")
        return cls(
            filing=filing_pb2_grpc.FilingServiceStub(filing),
            settlement=settlement_pb2_grpc.SettlementServiceStub(settlement),
            clearing=clearing_pb2_grpc.ClearingServiceStub(clearing),
            channels=(filing, settlement, clearing),
        )

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()

    async def call(
        self,
        method: Callable[..., Awaitable[R]],
        request: Any,
        caller: str,
        *,
        person: str | None = None,
        timeout_s: float = CALL_TIMEOUT_S,
    ) -> R:
        """Call ``method`` as ``caller``; resend on a transient failure (bounded).

        A channel caller acts for ``person`` (default: the request's psn_no): the person
        signed in to an online channel, or at the counter a clerk of the person's pool."""
        metadata = caller_metadata(caller)
        if self.tokens is not None and caller.startswith("channel-"):
            psn_no = person or str(getattr(request, "psn_no", ""))
            metadata = (*metadata, ("authorization", f"Bearer {self.tokens.mint(caller, psn_no)}"))

        async def send() -> R:
            self.rpc_count += 1
            return await method(request, metadata=metadata, timeout=timeout_s)

        return await resending(send)
