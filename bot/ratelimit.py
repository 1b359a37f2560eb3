"""A token bucket shared by everything that calls one rate-limited platform method."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class TokenBucket:
    """`rate` tokens a second, up to `burst` saved; a 429 can pause it for Retry-After."""

    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = burst
        self._updated = clock()
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def wait_time(self) -> float:
        """Seconds until a token is free (0 when one is free now)."""
        self._refill()
        pause = max(0.0, self._paused_until - self._clock())
        missing = max(0.0, 1 - self._tokens) / self.rate
        return max(pause, missing)

    def try_take(self) -> bool:
        """Take a token if one is free now."""
        if self.wait_time() > 0:
            return False
        self._tokens -= 1
        return True

    async def take(self) -> None:
        """Wait for a token and take it; waiters are served in order."""
        async with self._lock:
            # Sleeping for the computed wait is exact here: no event would fire sooner.
            while (delay := self.wait_time()) > 0:  # noqa: ASYNC110
                await asyncio.sleep(delay)
            self._tokens -= 1

    def pause(self, seconds: float) -> None:
        """No tokens for `seconds` (the platform said Retry-After); saved tokens are lost."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)
        self._tokens = 0.0
        self._updated = self._clock()
