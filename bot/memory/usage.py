"""Generated tokens per channel and per user, in five-minute buckets, for token budgets."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable

from bot.memory.database import Database

log = logging.getLogger(__name__)

BUCKET_S = 300
# Budgets look back a day at most; older buckets are dropped.
KEEP_S = 24 * 3600
# Charges reach SQLite in batches: budgets survive a restart without a write per request.
FLUSH_EVERY_S = 5.0


class UsageLedger:
    """Token use per key, read from memory and written to SQLite in the background.

    Charging and reading never wait: every command does both, and only `flush` (batched,
    in the background) touches the database.
    """

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        self._buckets: dict[str, dict[int, int]] = {}
        self._pending: dict[tuple[str, int], int] = {}
        self._flusher: asyncio.Task[None] | None = None

    async def load(self) -> None:
        """Read the last day's use back (after a restart) and start the background writer."""
        since = self._bucket(self._clock() - KEEP_S)
        rows = await self._db.fetchall(
            "SELECT key, bucket, tokens FROM engine_usage WHERE bucket >= ?", (since,)
        )
        for row in rows:
            self._buckets.setdefault(row["key"], {})[int(row["bucket"])] = int(row["tokens"])
        self._flusher = asyncio.create_task(self._flush_forever(), name="skald-usage-flush")

    def _bucket(self, at: float) -> int:
        return int(at // BUCKET_S) * BUCKET_S

    def charge(self, keys: Iterable[str], tokens: int) -> None:
        """Count `tokens` against every key now."""
        bucket = self._bucket(self._clock())
        for key in keys:
            buckets = self._buckets.setdefault(key, {})
            buckets[bucket] = buckets.get(bucket, 0) + tokens
            self._pending[(key, bucket)] = buckets[bucket]

    def used(self, key: str, window_s: float) -> int:
        """Tokens charged to the key within the last `window_s` seconds (by bucket)."""
        since = self._bucket(self._clock() - window_s + BUCKET_S)
        return sum(t for b, t in self._buckets.get(key, {}).items() if b >= since)

    def seconds_until_below(self, key: str, window_s: float, limit: int) -> float:
        """How long until the key's use within the window drops under `limit`."""
        now = self._clock()
        since = self._bucket(now - window_s + BUCKET_S)
        buckets = sorted((b, t) for b, t in self._buckets.get(key, {}).items() if b >= since)
        used = sum(t for _, t in buckets)
        for bucket, tokens in buckets:
            used -= tokens
            if used < limit:
                return max(1.0, bucket + window_s - now)
        return window_s

    async def flush(self) -> None:
        """Write pending charges to SQLite and drop buckets older than a day."""
        pending, self._pending = self._pending, {}
        cutoff = self._bucket(self._clock() - KEEP_S)
        if pending:
            async with self._db.write() as conn:
                await conn.executemany(
                    "INSERT INTO engine_usage (key, bucket, tokens) VALUES (?, ?, ?) "
                    "ON CONFLICT (key, bucket) DO UPDATE SET tokens = excluded.tokens",
                    [(key, bucket, tokens) for (key, bucket), tokens in pending.items()],
                )
                await conn.execute("DELETE FROM engine_usage WHERE bucket < ?", (cutoff,))
        for key in list(self._buckets):
            kept = {b: t for b, t in self._buckets[key].items() if b >= cutoff}
            if kept:
                self._buckets[key] = kept
            else:
                del self._buckets[key]

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY_S)
            try:
                await self.flush()
            except Exception:  # a busy or full disk must not stop the bot; retried later
                log.warning("writing token use failed; retrying", exc_info=True)

    async def close(self) -> None:
        """Stop the background writer and write what is pending."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self.flush()
