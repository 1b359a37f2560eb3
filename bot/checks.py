"""The checks every command passes before its handler runs: permission and cooldown."""

from __future__ import annotations

import logging
import math
import sqlite3
import time
from collections.abc import Callable

from bot.config import PermissionSettings, RouterSettings
from bot.errors import UserError
from bot.i18n import _, _n
from bot.invocation import Invocation
from bot.memory.database import Database
from bot.plugin import CommandSpec

log = logging.getLogger(__name__)

# Uses older than this (or than the longest configured cooldown) are deleted, at most once
# per PRUNE_EVERY_S; a channel's own cooldown is at most an hour.
KEEP_USES_S = 24 * 3600.0
PRUNE_EVERY_S = 600.0


class Permissions:
    """Decides who may run admin-only commands."""

    def __init__(self, settings: PermissionSettings) -> None:
        self._admins = set(settings.admins)
        self._owners = set(settings.owners)
        self._admin_commands = set(settings.admin_commands)

    def requires_admin(self, spec: CommandSpec) -> bool:
        """True for commands declared admin-only or made so in config.yaml."""
        return spec.admin or spec.name in self._admin_commands

    def check(self, spec: CommandSpec, inv: Invocation) -> None:
        """Raise UserError when the user may not run the command."""
        user = inv.user
        if spec.owner:
            if user.is_owner or f"{inv.channel.platform}:{user.id}" in self._owners:
                return
            raise UserError(
                _(
                    "Only the bot's owner can use /{command}: it acts on every server.",
                    command=spec.name,
                )
            )
        if not self.requires_admin(spec):
            return
        if user.is_admin or f"{inv.channel.platform}:{user.id}" in self._admins:
            return
        raise UserError(_("Only server admins can use /{command}.", command=spec.name))


class Cooldowns:
    """Per-user, per-command pauses between uses, counted in the database.

    Every process on one database shares the uses: a cooldown started in one holds in the
    others. Checking and recording is one small transaction per command that has a cooldown.
    """

    def __init__(
        self, settings: RouterSettings, db: Database, clock: Callable[[], float] = time.time
    ) -> None:
        self._default = settings.cooldown_s
        self._per_command = settings.cooldowns
        self._db = db
        # Wall-clock time: it is compared with other processes' uses.
        self._clock = clock
        # Uses recorded here only, while the database refuses writes (a full or read-only
        # disk): the command is still served, and the cooldown holds in this process.
        self._here: dict[tuple[str, str, str], float] = {}
        self._pruned_at = 0.0

    async def check(
        self, spec: CommandSpec, inv: Invocation, channel_wait: float | None = None
    ) -> None:
        """Raise UserError if the user used this command too recently; otherwise record the use.

        `channel_wait` is the channel admins' own cooldown, which replaces config.yaml's.
        """
        wait = self._per_command.get(spec.name, self._default)
        if channel_wait is not None:
            wait = channel_wait
        if wait <= 0:
            return
        key = (inv.channel.platform, inv.user.id, spec.name)
        now = self._clock()
        try:
            last = await self._record(key, now, wait)
        except sqlite3.Error as exc:
            log.warning("cooldowns fall back to this process's memory: %s", exc)
            last = self._record_here(key, now, wait)
        if last is not None:
            left = math.ceil(wait - (now - last))
            raise UserError(
                _n(
                    "Slow down a little: you can use /{command} again in {n} second.",
                    "Slow down a little: you can use /{command} again in {n} seconds.",
                    left,
                    command=spec.name,
                )
            )

    async def _record(self, key: tuple[str, str, str], now: float, wait: float) -> float | None:
        """Record a use now; or, within the wait of the last one, return that one's time."""
        last = self._here.get(key)
        if last is not None and 0 <= now - last < wait:
            return last
        async with self._db.write() as conn:
            # BEGIN IMMEDIATE: two processes cannot both see no recent use and both record.
            cursor = await conn.execute(
                "SELECT used_at FROM command_uses WHERE platform = ? AND user_id = ?"
                " AND command = ?",
                key,
            )
            row = await cursor.fetchone()
            # A use "in the future" means the clock was set back: it does not hold anyone.
            if row is not None and 0 <= now - row[0] < wait:
                return float(row[0])
            await conn.execute(
                "INSERT INTO command_uses (platform, user_id, command, used_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (platform, user_id, command)"
                " DO UPDATE SET used_at = excluded.used_at",
                (*key, now),
            )
            if now - self._pruned_at > PRUNE_EVERY_S:
                self._pruned_at = now
                cutoff = now - max(KEEP_USES_S, self._default, *self._per_command.values())
                await conn.execute("DELETE FROM command_uses WHERE used_at < ?", (cutoff,))
        self._here.pop(key, None)
        return None

    def _record_here(self, key: tuple[str, str, str], now: float, wait: float) -> float | None:
        last = self._here.get(key)
        if last is not None and 0 <= now - last < wait:
            return last
        self._here[key] = now
        if len(self._here) > 10_000:  # the disk stays full a long time: keep the day's uses
            self._here = {k: t for k, t in self._here.items() if now - t < KEEP_USES_S}
        return None
