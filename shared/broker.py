"""Connecting a process to the broker and declaring the whole topology.

Every pooling region has a queue: each pool of the reference data and each province
centre (the two-digit code) that has pools.
"""

from __future__ import annotations

import structlog

from shared.bus import Bus, ensure_topology
from shared.config import Settings
from shared.reference import pools

log = structlog.get_logger(__name__)


def region_codes() -> list[str]:
    pool_codes = sorted(p.code for p in pools())
    provinces = sorted({p.province_code for p in pools()})
    return pool_codes + provinces


async def connect(settings: Settings, *, name: str, attempts: int = 1) -> Bus:
    """Connect and declare the topology (idempotent), so every queue a process uses exists."""
    bus = await Bus.connect(settings.amqp_url, connect_attempts=attempts, connection_name=name)
    try:
        await ensure_topology(bus, settings.bus_namespace, region_codes())
    except BaseException:
        await bus.close()
        raise
    return bus


async def declare_all(settings: Settings) -> None:
    bus = await connect(settings, name="crossclear-topology", attempts=5)
    await bus.close()


class BusRef:
    """The process's bus, connected in the background after the server starts.

    A service's composition root receives this before the broker is reachable; its
    background loops (relays, consumers) only start once it is connected, so they may
    treat it as the bus itself: attribute access is delegated.
    """

    def __init__(self) -> None:
        self._bus: Bus | None = None

    def set(self, bus: Bus) -> None:
        self._bus = bus

    def get(self) -> Bus:
        if self._bus is None:
            raise RuntimeError("the broker is not connected yet")
        return self._bus

    @property
    def connected(self) -> bool:
        return self._bus is not None

    def is_healthy(self) -> bool:
        return self._bus is not None and self._bus.is_healthy()

    def __getattr__(self, name: str) -> object:
        return getattr(self.get(), name)

    async def close(self) -> None:
        if self._bus is not None:
            await self._bus.close()
