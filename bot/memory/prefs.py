"""Per-channel preference rows: one row per (channel, key), values stored as JSON."""

from __future__ import annotations

import json
import time
from typing import Any

from bot.memory.audit import record_change
from bot.memory.database import Database
from bot.memory.readcache import ReadCache


class PrefStore:
    """Reads and writes the raw stored preference values of channels."""

    def __init__(self, db: Database) -> None:
        self._db = db
        # Every change in this process goes through this store (or calls invalidate);
        # other processes' are noticed by the cache itself.
        self._cache: ReadCache[dict[str, Any]] = ReadCache(db)

    def invalidate(self, scope: str) -> None:
        """Forget what is cached for a channel (its rows were deleted elsewhere)."""
        self._cache.invalidate(scope)

    async def all(self, scope: str) -> dict[str, Any]:
        """Every stored value of one channel (keys not set are absent)."""
        return dict(await self._cache.get(scope, self._read))

    async def _read(self, scope: str) -> dict[str, Any]:
        rows = await self._db.fetchall("SELECT key, value FROM prefs WHERE scope = ?", (scope,))
        return {str(r["key"]): json.loads(r["value"]) for r in rows}

    async def set(self, scope: str, key: str, value: Any, actor: str | None = None) -> None:
        """Store one value (already validated by the caller); with an actor, audit it."""
        async with self._db.write() as conn:
            self.invalidate(scope)
            old = await _stored(conn, scope, key)
            await conn.execute(
                "INSERT INTO prefs (scope, key, value, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value,"
                " updated_at = excluded.updated_at",
                (scope, key, json.dumps(value, ensure_ascii=False), time.time()),
            )
            if actor is not None and old != value:
                await record_change(conn, scope, actor, key, old, value)

    async def reset(self, scope: str, key: str, actor: str | None = None) -> bool:
        """Remove one stored value so the default applies again; True if there was one."""
        async with self._db.write() as conn:
            self.invalidate(scope)
            old = await _stored(conn, scope, key)
            cursor = await conn.execute(
                "DELETE FROM prefs WHERE scope = ? AND key = ?", (scope, key)
            )
            if actor is not None and cursor.rowcount:
                await record_change(conn, scope, actor, key, old, None)
            return cursor.rowcount > 0


async def _stored(conn: Any, scope: str, key: str) -> Any:
    cursor = await conn.execute("SELECT value FROM prefs WHERE scope = ? AND key = ?", (scope, key))
    row = await cursor.fetchone()
    return None if row is None else json.loads(row[0])
