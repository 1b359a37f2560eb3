"""What a reply's buttons run again, kept in SQLite so they still work after a restart."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.invocation import ChannelRef
from bot.memory.database import Database

# The table's own schema, apart from the core's. Append new steps; never edit a shipped one.
MIGRATIONS = (
    """
    CREATE TABLE reply_buttons (
        key TEXT PRIMARY KEY,         -- carried in the button's custom id / action value
        scope TEXT NOT NULL,          -- the channel's key (so /prefs forget finds the row)
        platform TEXT NOT NULL,
        workspace TEXT NOT NULL,
        channel TEXT NOT NULL,
        user_id TEXT NOT NULL,        -- who asked: they (or an admin) may press Stop
        command TEXT NOT NULL,        -- what Regenerate runs again...
        options TEXT NOT NULL,        -- ...with these options (JSON)
        follow_up TEXT,               -- what Continue runs; NULL: no Continue
        created_at REAL NOT NULL
    );
    CREATE INDEX reply_buttons_age ON reply_buttons (created_at);
    """,
)
OWNER = "buttons"


def new_button_key() -> str:
    """A fresh key for one reply's buttons (64 random bits: keys outlive restarts)."""
    return secrets.token_hex(8)


def is_button_key(key: str) -> bool:
    """True for a key new_button_key could have made (others are never looked up)."""
    return len(key) == 16 and all(c in "0123456789abcdef" for c in key)


@dataclass(frozen=True, slots=True)
class ButtonState:
    """One reply's buttons: who asked, where, and what Regenerate and Continue run."""

    key: str
    channel: ChannelRef
    user_id: str
    command: str
    options: Mapping[str, object]
    follow_up: str | None = None
    created_at: float = field(default_factory=time.time)


class ButtonStore:
    """Saves and finds reply buttons' state by key; old rows are pruned."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def prepare(self) -> None:
        """Create the table (once)."""
        await self._db.migrate(OWNER, MIGRATIONS)

    async def save(self, state: ButtonState) -> None:
        """Remember a reply's buttons."""
        channel = state.channel
        async with self._db.write() as conn:
            await conn.execute(
                "INSERT OR REPLACE INTO reply_buttons (key, scope, platform, workspace, channel,"
                " user_id, command, options, follow_up, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    state.key,
                    channel.scope,
                    channel.platform,
                    channel.workspace,
                    channel.channel,
                    state.user_id,
                    state.command,
                    # Option values arrive as text, numbers and booleans: all JSON.
                    json.dumps(dict(state.options), ensure_ascii=False, default=str),
                    state.follow_up,
                    state.created_at,
                ),
            )

    async def get(self, key: str) -> ButtonState | None:
        """The buttons saved under `key`, or None (never saved, or pruned)."""
        row = await self._db.fetchone("SELECT * FROM reply_buttons WHERE key = ?", (key,))
        if row is None:
            return None
        options = json.loads(row["options"])
        return ButtonState(
            key=str(row["key"]),
            channel=ChannelRef(str(row["platform"]), str(row["workspace"]), str(row["channel"])),
            user_id=str(row["user_id"]),
            command=str(row["command"]),
            options=options if isinstance(options, dict) else {},
            follow_up=None if row["follow_up"] is None else str(row["follow_up"]),
            created_at=float(row["created_at"]),
        )

    async def prune(self, before: float) -> int:
        """Forget buttons saved before this time (seconds since the epoch); how many."""
        async with self._db.write() as conn:
            cursor = await conn.execute("DELETE FROM reply_buttons WHERE created_at < ?", (before,))
        return cursor.rowcount
