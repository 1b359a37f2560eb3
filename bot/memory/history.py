"""A channel's own message log, for adapters (the console) that have no platform history."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from bot.invocation import HistoryMessage
from bot.memory.database import Database

# Keep the log bounded: /summarize reads at most 200 messages.
KEEP_PER_CHANNEL = 1000


class MessageLog:
    """Records messages of a channel and reads back the most recent ones."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, scope: str, author: str, text: str) -> None:
        """Append one message, dropping the oldest beyond the kept number."""
        async with self._db.write() as conn:
            await conn.execute(
                "INSERT INTO channel_messages (scope, author, text, created_at)"
                " VALUES (?, ?, ?, ?)",
                (scope, author, text, time.time()),
            )
            await conn.execute(
                "DELETE FROM channel_messages WHERE scope = ? AND id <= ("
                " SELECT id FROM channel_messages WHERE scope = ?"
                " ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (scope, scope, KEEP_PER_CHANNEL),
            )

    async def recent(self, scope: str, limit: int) -> list[HistoryMessage]:
        """Up to `limit` most recent messages of one channel, oldest first."""
        rows = await self._db.fetchall(
            "SELECT author, text, created_at FROM channel_messages WHERE scope = ?"
            " ORDER BY id DESC LIMIT ?",
            (scope, limit),
        )
        return [
            HistoryMessage(
                str(r["author"]),
                str(r["text"]),
                datetime.fromtimestamp(float(r["created_at"]), UTC),
            )
            for r in reversed(rows)
        ]


class LoggedHistory:
    """The ChannelHistory of one channel backed by the message log."""

    def __init__(self, log: MessageLog, scope: str) -> None:
        self._log = log
        self._scope = scope

    async def recent(self, limit: int) -> list[HistoryMessage]:
        """Up to `limit` most recent messages, oldest first."""
        return await self._log.recent(self._scope, limit)
