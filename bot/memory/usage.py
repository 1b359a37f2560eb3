"""Generated tokens per channel and per user, in five-minute buckets, for token budgets."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from bot.memory.database import Database

log = logging.getLogger(__name__)

BUCKET_S = 300
# Budgets look back a day at most; older buckets are dropped.
KEEP_S = 24 * 3600
# Charges whose write failed are tried again this often (they count here meanwhile).
RETRY_EVERY_S = 5.0
# Buckets older than KEEP_S are deleted at most this often.
PRUNE_EVERY_S = 600.0


def bucket_of(at: float) -> int:
    """The start of the five-minute bucket that holds the moment `at`."""
    return int(at // BUCKET_S) * BUCKET_S


@dataclass(frozen=True, slots=True)
class UsageHistory:
    """One key's tokens per bucket over the last day, as read at `now`."""

    buckets: Mapping[int, int]
    now: float

    def used(self, window_s: float) -> int:
        """Tokens charged within the last `window_s` seconds (by bucket)."""
        since = bucket_of(self.now - window_s + BUCKET_S)
        return sum(t for b, t in self.buckets.items() if b >= since)

    def seconds_until_below(self, window_s: float, limit: int) -> float:
        """How long until the use within the window drops under `limit`."""
        since = bucket_of(self.now - window_s + BUCKET_S)
        buckets = sorted((b, t) for b, t in self.buckets.items() if b >= since)
        used = sum(t for _, t in buckets)
        for bucket, tokens in buckets:
            used -= tokens
            if used < limit:
                return max(1.0, bucket + window_s - self.now)
        return window_s


class UsageLedger:
    """Token use per key, counted in SQLite so that every process on the database shares it.

    A charge is written when it is made (one small transaction per engine request), so a
    reply's use is on disk before the reply is reported finished, and a crash after that
    loses none of it. A charge whose write fails (a full or read-only disk) does not fail
    the reply: it stays pending, counts in this process's budgets, and is written by a later
    charge or the background retry; only a crash before the disk takes it again loses it.
    """

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        # Wall-clock time: buckets are shared with other processes.
        self._clock = clock
        # Tokens charged but not yet written, added onto what is stored.
        self._pending: dict[tuple[str, int], int] = {}
        # One write at a time: two writing the same pending tokens would count them twice.
        self._writing = asyncio.Lock()
        self._pruned_at = 0.0
        self._retrier: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the background retry of charges whose write failed."""
        self._retrier = asyncio.create_task(self._retry_forever(), name="skald-usage-retry")

    @property
    def pending_tokens(self) -> int:
        """Tokens charged (to each key) that are not written yet."""
        return sum(self._pending.values())

    async def charge(self, keys: Iterable[str], tokens: int) -> None:
        """Count `tokens` against every key now, and write it; never raises for the write.

        When the write fails the charge stays pending and is retried.
        """
        bucket = bucket_of(self._clock())
        for key in keys:
            self._pending[key, bucket] = self._pending.get((key, bucket), 0) + tokens
        try:
            await self.flush()
        except Exception as exc:  # a busy, full or read-only disk must not fail the reply
            log.warning("writing token use failed (kept, retried in %gs): %s", RETRY_EVERY_S, exc)

    async def history(self, key: str) -> UsageHistory:
        """The key's use over the last day: every process's stored use, and this one's pending."""
        now = self._clock()
        rows = await self._db.fetchall(
            "SELECT bucket, tokens FROM engine_usage WHERE key = ? AND bucket >= ?",
            (key, bucket_of(now - KEEP_S)),
        )
        buckets = {int(r["bucket"]): int(r["tokens"]) for r in rows}
        for (pending_key, bucket), tokens in self._pending.items():
            if pending_key == key:
                buckets[bucket] = buckets.get(bucket, 0) + tokens
        return UsageHistory(buckets, now)

    async def flush(self) -> None:
        """Write the pending charges; raises when the write fails (they stay pending)."""
        # Shielded: a caller cancelled mid-commit must not leave written tokens pending,
        # to be written twice.
        error = await asyncio.shield(self._write_pending())
        if error is not None:
            raise error

    async def _write_pending(self) -> Exception | None:
        async with self._writing:
            batch = dict(self._pending)
            now = self._clock()
            prune = now - self._pruned_at > PRUNE_EVERY_S
            if not batch and not prune:
                return None
            try:
                async with self._db.write() as conn:
                    # Added to what is stored: other processes charge the same keys.
                    await conn.executemany(
                        "INSERT INTO engine_usage (key, bucket, tokens) VALUES (?, ?, ?) "
                        "ON CONFLICT (key, bucket) DO UPDATE SET tokens = tokens + excluded.tokens",
                        [(key, bucket, tokens) for (key, bucket), tokens in batch.items()],
                    )
                    if prune:
                        await conn.execute(
                            "DELETE FROM engine_usage WHERE bucket < ?", (bucket_of(now - KEEP_S),)
                        )
            except Exception as exc:
                return exc
            if prune:
                self._pruned_at = now
            # Charges made while writing stay pending, on top of what was written.
            for item, tokens in batch.items():
                left = self._pending[item] - tokens
                if left:
                    self._pending[item] = left
                else:
                    del self._pending[item]
            return None

    async def _retry_forever(self) -> None:
        while True:
            await asyncio.sleep(RETRY_EVERY_S)
            if not self._pending:
                continue
            try:
                await self.flush()
            except Exception as exc:
                log.warning("writing token use failed again; retrying: %s", exc)

    async def close(self) -> None:
        """Stop the background retry and write what is pending (logged if that fails)."""
        if self._retrier is not None:
            self._retrier.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retrier
        try:
            await self.flush()
        except Exception as exc:  # closing goes on: the database must still be closed
            log.error("%d tokens of use could not be written: %s", self.pending_tokens, exc)
