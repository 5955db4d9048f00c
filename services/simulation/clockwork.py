"""The simulated calendar: the services' clocks, and the order the run's work is done in.

The three services run on simulated clocks (``shared.clock.SimulatedClock``): each flows
with real time from its last setting and never goes backwards. ``SimClock`` sets all
three through the development-only ``ClockControl`` RPC and keeps a mirror of them, so
the simulation knows what they read without asking (the mirror is set before the
services, so it never reads earlier than they do).

``timeline`` orders the work: the persons' steps are grouped into slots of a day (the
night, then two-hour slots from 08:00, the evening from 18:00); before a slot runs, the
clocks move to its last step's instant plus the span of that step's msgids, so every
request of the slot carries a time the services have reached. Operators' steps (the
month-end clearing, the decision on disputed lines) run at their own instants, between
slots. Work that runs longer than the gap to the next instant only delays it: the clocks
are then left where they are, never set back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final, Literal

import grpc
from google.protobuf import empty_pb2, timestamp_pb2

from services.simulation.clients import Clients, resending
from services.simulation.scenario import MSGID_SPAN, Plan, Step, decision_at, month_end_at
from shared import clock_control
from shared.clock import CHINA_TZ, SimulatedClock
from shared.grpc_client import caller_metadata, open_channel
from shared.grpc_errors import reason_of

SLOT_START_HOURS: Final = (0, 8, 10, 12, 14, 16, 18)
CLOCK_RPC_TIMEOUT_S = 5.0


def china(wall: datetime) -> datetime:
    """A China wall time (naive, as the plan holds it) as an aware instant."""
    return wall.replace(tzinfo=CHINA_TZ) if wall.tzinfo is None else wall


def _timestamp(instant: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(instant.astimezone(UTC))
    return stamp


def _clock_rpc(
    channel: grpc.aio.Channel, method: Literal["Get", "Set"]
) -> grpc.aio.UnaryUnaryMultiCallable:
    """``ClockControl/Get`` (an Empty request) or ``ClockControl/Set`` (a Timestamp) on
    ``channel``; both answer with the clock's reading."""
    serialize = (
        empty_pb2.Empty.SerializeToString
        if method == "Get"
        else timestamp_pb2.Timestamp.SerializeToString
    )
    return channel.unary_unary(
        f"/{clock_control.SERVICE}/{method}",
        request_serializer=serialize,
        response_deserializer=timestamp_pb2.Timestamp.FromString,
    )


async def read_clock(target: str) -> datetime | None:
    """``ClockControl/Get`` of the service at ``target``: its simulated clock's reading, or
    None when it serves no ClockControl (it runs on the system clock)."""
    async with open_channel(target, None, server_name="localhost") as channel:
        rpc = _clock_rpc(channel, "Get")
        try:
            reply = await rpc(
                empty_pb2.Empty(),
                metadata=caller_metadata(clock_control.OPERATOR),
                timeout=CLOCK_RPC_TIMEOUT_S,
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.NOT_FOUND):
                return None
            raise
        read: datetime = reply.ToDatetime(tzinfo=UTC)
        return read


class SimClock:
    """Sets the three services' clocks forward, over the simulation's own channels."""

    def __init__(self, clients: Clients, start: datetime) -> None:
        self._clients = clients
        self._mirror = SimulatedClock(start)
        self._set_rpcs = [_clock_rpc(channel, "Set") for channel in clients.channels]
        self._get_rpcs = [_clock_rpc(channel, "Get") for channel in clients.channels]
        self.settings_made = 0

    def now(self) -> datetime:
        return self._mirror.now()

    def china_now(self) -> datetime:
        return self._mirror.now().astimezone(CHINA_TZ)

    async def _call(self, rpc: grpc.aio.UnaryUnaryMultiCallable, request: object) -> object:
        """One ClockControl call, resent after a transient failure (a setting is idempotent:
        the same instant again, or a refusal to go back)."""
        metadata = caller_metadata(clock_control.OPERATOR)
        return await resending(lambda: rpc(request, metadata=metadata, timeout=CLOCK_RPC_TIMEOUT_S))

    async def sync(self) -> datetime:
        """Read the services' clocks; the mirror takes the latest reading."""
        replies = await asyncio.gather(
            *(self._call(rpc, empty_pb2.Empty()) for rpc in self._get_rpcs)
        )
        latest = max(r.ToDatetime(tzinfo=UTC) for r in replies)  # type: ignore[attr-defined]
        if latest > self._mirror.now():
            self._mirror.set(latest)
        return self._mirror.now()

    async def advance_to(self, instant: datetime) -> datetime:
        """Move every service's clock to ``instant`` (China wall time if naive). An instant
        the clocks have already passed leaves them as they are: they never go back."""
        target = china(instant)
        if target <= self._mirror.now():
            return self._mirror.now()
        self._mirror.set(target)
        stamp = _timestamp(target)
        results = await asyncio.gather(
            *(self._call(rpc, stamp) for rpc in self._set_rpcs), return_exceptions=True
        )
        for result in results:
            if isinstance(result, grpc.aio.AioRpcError):
                if reason_of(result) == "CLOCK_BACKWARDS":
                    continue  # that service's clock already reads later: leave it
                raise result
            if isinstance(result, BaseException):
                raise result
        self.settings_made += 1
        return target


# -- the order of the run's work ------------------------------------------------------------


class Kind(StrEnum):
    SLOT = "SLOT"  # persons' steps
    MONTH_END = "MONTH_END"  # the month-end clearing of a treatment month
    DECIDE = "DECIDE"  # the clearing centre decides the lines disputed at that month-end


@dataclass(frozen=True)
class Item:
    start: datetime  # China wall time: when the item begins
    kind: Kind
    steps: tuple[Step, ...] = ()
    month: str = ""  # the treatment month of a MONTH_END or DECIDE

    @property
    def clock_target(self) -> datetime:
        """Where the clocks are set before the item runs."""
        if self.kind is Kind.SLOT:
            return max(s.at for s in self.steps) + MSGID_SPAN
        return self.start

    @property
    def key(self) -> tuple[datetime, int]:
        # At the same instant an operator's step comes before the slot starting there.
        return (self.start, 1 if self.kind is Kind.SLOT else 0)


def slot_start(at: datetime) -> datetime:
    hour = max(h for h in SLOT_START_HOURS if h <= at.hour)
    return at.replace(hour=hour, minute=0, second=0, microsecond=0)


def timeline(plan: Plan, steps: Sequence[Step] | None = None) -> list[Item]:
    """Every slot of persons' steps and every operator's step, in the order they run."""
    slots: dict[datetime, list[Step]] = {}
    for step in steps if steps is not None else plan.steps():
        slots.setdefault(slot_start(step.at), []).append(step)
    items = [Item(start, Kind.SLOT, tuple(found)) for start, found in slots.items()]
    for month in plan.months:
        items.append(Item(month_end_at(month), Kind.MONTH_END, month=month))
        items.append(Item(decision_at(month), Kind.DECIDE, month=month))
    items.sort(key=lambda item: item.key)
    return items
