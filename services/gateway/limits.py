"""Token buckets per channel and per person, in a bounded table.

A bucket holds at most ``burst`` tokens and gains ``rate_per_s`` a second; a request takes
one or is refused with the time until one is there. The table keeps at most ``max_keys``
buckets, dropping the least recently used: a dropped bucket comes back full, which errs on
the side of the person, never on the side of memory.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    at: float


class TokenBuckets:
    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        max_keys: int,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        assert rate_per_s > 0 and burst >= 1 and max_keys >= 1
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.max_keys = max_keys
        self._now = now
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str) -> float | None:
        """None if a token was taken for ``key``, else the seconds until one is there."""
        now = self._now()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(float(self.burst), now)
            self._buckets[key] = bucket
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate_per_s)
            bucket.at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        return (1 - bucket.tokens) / self.rate_per_s
