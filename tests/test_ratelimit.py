"""The token bucket that keeps every stream of a workspace within one shared budget."""

from __future__ import annotations

import asyncio
import time

from bot.ratelimit import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_steady_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=2, burst=3, clock=clock)
    assert [bucket.try_take() for _ in range(4)] == [True, True, True, False]
    assert bucket.wait_time() == 0.5
    clock.now += 0.5
    assert bucket.try_take() and not bucket.try_take()
    clock.now += 10
    assert [bucket.try_take() for _ in range(4)] == [True, True, True, False]


def test_retry_after_pauses_the_bucket() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=10, burst=5, clock=clock)
    bucket.pause(3)
    assert not bucket.try_take()
    assert bucket.wait_time() == 3
    clock.now += 3
    assert bucket.try_take()


async def test_many_waiters_share_one_budget() -> None:
    bucket = TokenBucket(rate=50, burst=1)
    start = time.monotonic()
    await asyncio.gather(*(bucket.take() for _ in range(11)))
    # One token at once, then ten at 50 a second: no faster than 0.2 s in all.
    assert time.monotonic() - start >= 0.19
