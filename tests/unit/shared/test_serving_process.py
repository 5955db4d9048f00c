"""How a serving process runs: on the event loop its settings name (uvloop by default,
the standard library's own with CROSSCLEAR_EVENT_LOOP=asyncio)."""

from __future__ import annotations

import asyncio
import threading

import pytest
import uvloop
from pydantic import ValidationError

from services.cli import _run_served
from shared.config import Settings


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
