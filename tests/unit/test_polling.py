"""The one polling helper of the tests: its value, its deadline, its message, its bounds."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.polling import MAX_TIMEOUT_S, wait_until


async def test_returns_the_first_truthy_value() -> None:
    calls = 0

    async def third() -> int | None:
        nonlocal calls
        calls += 1
        return calls * 10 if calls >= 3 else None

    assert await wait_until(third, interval_s=0.001, what="third call") == 30
    assert calls == 3


async def test_fails_at_the_deadline_naming_what_and_the_last_value() -> None:
    async def never() -> bool:
        return False

    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(AssertionError, match=r"within 0.2 s: the thing \(last value False\)"):
        await wait_until(never, timeout_s=0.2, interval_s=0.01, what="the thing")
    assert 0.2 <= loop.time() - started < 1.0


async def test_a_check_still_running_at_the_deadline_is_cancelled() -> None:
    async def hangs() -> bool:
        await asyncio.sleep(30)
        return True

    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(AssertionError, match="a check was still running"):
        await wait_until(hangs, timeout_s=0.2, what="hanging check")
    assert loop.time() - started < 1.0


async def test_an_exception_of_the_check_is_not_retried() -> None:
    calls = 0

    async def breaks() -> bool:
        nonlocal calls
        calls += 1
        raise LookupError("gone")

    with pytest.raises(LookupError):
        await wait_until(breaks, what="broken check")
    assert calls == 1


@pytest.mark.parametrize(
    "bounds",
    [
        {"timeout_s": 0},
        {"timeout_s": MAX_TIMEOUT_S + 1},
        {"interval_s": 0},
        {"interval_s": 60},
        {"what": ""},
    ],
)
async def test_unbounded_or_unnamed_waits_are_refused(bounds: dict[str, object]) -> None:
    async def ready() -> bool:
        return True

    with pytest.raises(ValueError):
        await wait_until(ready, **{"what": "ready", **bounds})  # type: ignore[arg-type]
