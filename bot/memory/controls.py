"""Admin controls: plugins off, cooldowns and phrases per channel, users blocked per workspace."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.invocation import ChannelRef
from bot.memory.audit import record_change
from bot.memory.database import Database
from bot.memory.readcache import ReadCache


@dataclass(frozen=True, slots=True)
class ChannelControls:
    """One channel's admin settings, as the router checks them."""

    disabled: frozenset[str] = frozenset()
    # Seconds between two uses of a command by one user, by command name; "*" for all.
    cooldowns: Mapping[str, float] = field(default_factory=dict)
    phrases: tuple[str, ...] = ()
    # Per-channel budgets belong to the engine's budget system; they get keys of their own
    # ("budget:<name>") in the same table when it lands.

    def cooldown(self, command: str) -> float | None:
        """The channel's cooldown for a command, or None to keep config.yaml's."""
        return self.cooldowns.get(command, self.cooldowns.get("*"))


class ControlStore:
    """Reads and changes channel controls and workspace blocks."""

    def __init__(self, db: Database) -> None:
        self._db = db
        # Every command reads these; every change in this process goes through here (or
        # calls invalidate), and other processes' are noticed by the caches themselves.
        self._channels: ReadCache[ChannelControls] = ReadCache(db)
        self._blocked: ReadCache[frozenset[str]] = ReadCache(db)

    def invalidate(self, scope: str) -> None:
        """Forget what is cached for a channel (its rows were deleted elsewhere)."""
        self._channels.invalidate(scope)

    async def load(self, scope: str) -> ChannelControls:
        """A channel's controls (empty when its admins set none)."""
        return await self._channels.get(scope, self._read)

    async def _read(self, scope: str) -> ChannelControls:
        rows = await self._db.fetchall(
            "SELECT key, value FROM channel_controls WHERE scope = ?", (scope,)
        )
        disabled: set[str] = set()
        cooldowns: dict[str, float] = {}
        phrases: list[str] = []
        for row in rows:
            kind, _, name = str(row["key"]).partition(":")
            value = json.loads(row["value"])
            if kind == "disabled":
                disabled.add(name)
            elif kind == "cooldown":
                cooldowns[name] = float(value)
            elif kind == "phrase":
                phrases.append(name)
        return ChannelControls(frozenset(disabled), cooldowns, tuple(sorted(phrases)))

    async def change(self, scope: str, key: str, value: Any, actor: str) -> bool:
        """Set (or with None, remove) one control; True when it changed. Audited."""
        async with self._db.write() as conn:
            cursor = await conn.execute(
                "SELECT value FROM channel_controls WHERE scope = ? AND key = ?", (scope, key)
            )
            row = await cursor.fetchone()
            old = None if row is None else json.loads(row[0])
            self.invalidate(scope)
            if old == value:
                return False
            if value is None:
                await conn.execute(
                    "DELETE FROM channel_controls WHERE scope = ? AND key = ?", (scope, key)
                )
            else:
                await conn.execute(
                    "INSERT INTO channel_controls (scope, key, value, updated_at)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (scope, key) DO UPDATE SET"
                    " value = excluded.value, updated_at = excluded.updated_at",
                    (scope, key, json.dumps(value, ensure_ascii=False), time.time()),
                )
            await record_change(conn, scope, actor, key, old, value)
            return True

    async def is_blocked(self, channel: ChannelRef, user_id: str) -> bool:
        """True when the workspace's admins blocked this user from the bot."""
        return user_id in await self._blocked_in(channel.workspace_key)

    async def _blocked_in(self, workspace: str) -> frozenset[str]:
        return await self._blocked.get(workspace, self._read_blocked)

    async def _read_blocked(self, workspace: str) -> frozenset[str]:
        rows = await self._db.fetchall(
            "SELECT user_id FROM workspace_blocks WHERE workspace = ?", (workspace,)
        )
        return frozenset(str(r["user_id"]) for r in rows)

    async def set_blocked(
        self, channel: ChannelRef, user_id: str, blocked: bool, actor: str
    ) -> bool:
        """Block or unblock a user in the channel's workspace; True when it changed (audited)."""
        async with self._db.write() as conn:
            # Reads wait for this write to commit, so none can keep what it replaces.
            self._blocked.invalidate(channel.workspace_key)
            if blocked:
                cursor = await conn.execute(
                    "INSERT OR IGNORE INTO workspace_blocks"
                    " (workspace, user_id, blocked_by, created_at) VALUES (?, ?, ?, ?)",
                    (channel.workspace_key, user_id, actor, time.time()),
                )
            else:
                cursor = await conn.execute(
                    "DELETE FROM workspace_blocks WHERE workspace = ? AND user_id = ?",
                    (channel.workspace_key, user_id),
                )
            if not cursor.rowcount:
                return False
            await record_change(
                conn, channel.scope, actor, f"blocked:{user_id}", not blocked, blocked
            )
        return True

    async def blocked_users(self, channel: ChannelRef) -> list[str]:
        """Ids of the users blocked in the channel's workspace."""
        return sorted(await self._blocked_in(channel.workspace_key))
