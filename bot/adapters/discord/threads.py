"""Which Discord thread a plugin's running work lives in (a story's), per channel."""

from __future__ import annotations

from bot.memory import Database


class PluginThreads:
    """Threads the bot opened for a plugin's work, and the channel each belongs to."""

    MIGRATIONS = (
        """
        CREATE TABLE discord_threads (
            scope TEXT NOT NULL,
            plugin TEXT NOT NULL,
            thread_id TEXT NOT NULL,
            parent_id TEXT NOT NULL,
            PRIMARY KEY (scope, plugin)
        );
        CREATE INDEX discord_threads_by_thread ON discord_threads (thread_id);
        """,
    )

    def __init__(self, db: Database) -> None:
        self._db = db

    async def prepare(self) -> None:
        """Create the table (once)."""
        await self._db.migrate("discord", self.MIGRATIONS, table_prefix="discord_")

    async def get(self, scope: str, plugin: str) -> str | None:
        """The thread of the plugin's running work in the channel, if any."""
        row = await self._db.fetchone(
            "SELECT thread_id FROM discord_threads WHERE scope = ? AND plugin = ?", (scope, plugin)
        )
        return str(row["thread_id"]) if row else None

    async def parent_of(self, thread_id: str) -> str | None:
        """The channel a plugin thread was opened from (its work belongs to that channel)."""
        row = await self._db.fetchone(
            "SELECT parent_id FROM discord_threads WHERE thread_id = ? LIMIT 1", (thread_id,)
        )
        return str(row["parent_id"]) if row else None

    async def set(self, scope: str, plugin: str, thread_id: str, parent_id: str) -> None:
        """Make the thread the home of the plugin's work in the channel."""
        async with self._db.write() as conn:
            await conn.execute(
                "INSERT INTO discord_threads (scope, plugin, thread_id, parent_id)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (scope, plugin) DO UPDATE SET"
                " thread_id = excluded.thread_id, parent_id = excluded.parent_id",
                (scope, plugin, thread_id, parent_id),
            )

    async def forget(self, scope: str, plugin: str) -> None:
        """The plugin's thread is gone: its work continues in the channel."""
        async with self._db.write() as conn:
            await conn.execute(
                "DELETE FROM discord_threads WHERE scope = ? AND plugin = ?", (scope, plugin)
            )
