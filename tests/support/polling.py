"""Waiting for an asynchronous condition in a test, with a bound on time and a message.

Tests that need something to happen elsewhere (an event consumed, a service SERVING, a
version picked up) poll for it with :func:`wait_until` rather than with loops of their own:

    message = await wait_until(take_dead_letter, timeout_s=15, what="poison dead-lettered")

The check is called at once and then every ``interval_s`` until it returns a truthy
value, which ``wait_until`` returns (a check of ``bool`` gives ``True``; a check of
``X | None`` gives the ``X``). When ``timeout_s`` has passed the test fails with an
``AssertionError`` naming ``what`` and the last value the check returned; a check still
running at that moment is cancelled. An exception raised by the check is not retried: it
propagates as it is, so a check can fail the test at once on something unexpected.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar, overload

T = TypeVar("T")

MAX_TIMEOUT_S = 120.0
"""No test waits longer than this for one condition."""
MIN_INTERVAL_S = 0.001
MAX_INTERVAL_S = 5.0


@overload
async def wait_until(
    check: Callable[[], Awaitable[bool]],
    *,
    timeout_s: float = ...,
    interval_s: float = ...,
    what: str,
) -> Literal[True]: ...


@overload
async def wait_until(
    check: Callable[[], Awaitable[T | None]],
    *,
    timeout_s: float = ...,
    interval_s: float = ...,
    what: str,
) -> T: ...


async def wait_until(
    check: Callable[[], Awaitable[T | bool | None]],
    *,
    timeout_s: float = 10.0,
    interval_s: float = 0.05,
    what: str,
) -> T | Literal[True]:
    """The first truthy value of ``check()``, polled every interval_s for at most timeout_s."""
    if not 0 < timeout_s <= MAX_TIMEOUT_S:
        raise ValueError(f"timeout_s must be in (0, {MAX_TIMEOUT_S}], not {timeout_s}")
    if not MIN_INTERVAL_S <= interval_s <= MAX_INTERVAL_S:
        raise ValueError(
            f"interval_s must be in [{MIN_INTERVAL_S}, {MAX_INTERVAL_S}], not {interval_s}"
        )
    if not what:
        raise ValueError("what must say what is awaited")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    last: object = None
    while True:
        bound = asyncio.timeout_at(deadline)
        try:
            async with bound:
                value = await check()
        except TimeoutError:
            if not bound.expired():
                raise  # the check's own timeout, not the wait's
            raise AssertionError(
                f"not within {timeout_s} s: {what} (a check was still running; last value {last!r})"
            ) from None
        if value:
            return value
        last = value
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError(f"not within {timeout_s} s: {what} (last value {last!r})")
        await asyncio.sleep(min(interval_s, remaining))
        if loop.time() >= deadline:
            raise AssertionError(f"not within {timeout_s} s: {what} (last value {last!r})")
