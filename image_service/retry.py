"""How a warm rides out a cache fault: its calls are retried with backoff while the fault may
pass (a stall, a reset, a failover, an open breaker), for a bounded time.

The bound is shared by every warm batch of this process: it counts from the first failure of
an unbroken run of failures, so a Redis that stays down fails the rest of a warm at once
instead of each batch waiting out the whole bound. Requests are never retried here: they
render directly (BYPASS) and the breaker decides when they try the cache again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from image_service.cache import CacheUnavailable

T = TypeVar("T")

BOUND_SECONDS = 30.0
FIRST_PAUSE_SECONDS = 0.05
LAST_PAUSE_SECONDS = 2.0


class WarmRetry:
    """Retries a cache call while its failure is transient and the shared bound is not spent."""

    def __init__(
        self,
        bound_seconds: float = BOUND_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._bound = bound_seconds
        self._clock = clock
        self._sleep = sleep
        self._failing_since: float | None = None

    async def call(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """`attempt()` until it succeeds; raises its last CacheUnavailable once it may not."""
        pause = FIRST_PAUSE_SECONDS
        while True:
            try:
                result = await attempt()
            except CacheUnavailable as error:
                now = self._clock()
                if self._failing_since is None:
                    self._failing_since = now
                left = self._failing_since + self._bound - now
                if not error.transient or left <= 0:
                    raise
                await self._sleep(min(pause, left))
                pause = min(pause * 2, LAST_PAUSE_SECONDS)
                continue
            self._failing_since = None
            return result
