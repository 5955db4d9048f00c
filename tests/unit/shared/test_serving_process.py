"""How a serving process runs: on the event loop its settings name (uvloop by default,
the standard library's own with CROSSCLEAR_EVENT_LOOP=asyncio), with the heap it started
with out of the garbage collector's way."""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref

import pytest
import uvloop
from pydantic import ValidationError

from services.cli import _run_served
from shared.config import Settings
from shared.grpc_server import GC_YOUNG_THRESHOLD, freeze_startup_heap


def _loop_seen(settings: Settings) -> asyncio.AbstractEventLoop:
    seen: list[asyncio.AbstractEventLoop] = []

    async def main() -> None:
        seen.append(asyncio.get_running_loop())

    # In a thread of its own: a runner leaves its thread without a current event loop.
    worker = threading.Thread(target=_run_served, args=(settings, main()))
    worker.start()
    worker.join(timeout=10)
    return seen[0]


def test_uvloop_is_the_default() -> None:
    settings = Settings()
    assert settings.event_loop == "uvloop"
    assert isinstance(_loop_seen(settings), uvloop.Loop)


def test_asyncio_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CROSSCLEAR_EVENT_LOOP", "asyncio")
    loop = _loop_seen(Settings())
    assert not isinstance(loop, uvloop.Loop)
    assert isinstance(loop, asyncio.BaseEventLoop)


def test_an_unknown_loop_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CROSSCLEAR_EVENT_LOOP", "trio")
    with pytest.raises(ValidationError, match="event_loop"):
        Settings()


class _Node:
    def __init__(self) -> None:
        self.itself = self


def test_the_startup_heap_is_frozen_and_young_collections_are_rarer() -> None:
    thresholds = gc.get_threshold()
    started_with: list[object] = []
    cycle = weakref.ref(_Node())  # garbage already, in a cycle: not to be frozen for good
    try:
        freeze_startup_heap()
        assert cycle() is None
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *thresholds[1:])
        assert not any(o is started_with for o in gc.get_objects())  # frozen: not walked
        made_after: list[object] = []
        assert any(o is made_after for o in gc.get_objects())  # later objects are
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
