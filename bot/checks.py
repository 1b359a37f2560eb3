"""The checks every command passes before its handler runs: permission and cooldown."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from bot.config import PermissionSettings, RouterSettings
from bot.errors import UserError
from bot.i18n import _, _n
from bot.invocation import Invocation
from bot.plugin import CommandSpec


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
    """Per-user, per-command pauses between uses."""

    def __init__(self, settings: RouterSettings, clock: Callable[[], float] = time.monotonic):
        self._default = settings.cooldown_s
        self._per_command = settings.cooldowns
        self._clock = clock
        self._last: dict[tuple[str, str, str], float] = {}
        self._longest = 0.0

    def check(self, spec: CommandSpec, inv: Invocation, channel_wait: float | None = None) -> None:
        """Raise UserError if the user used this command too recently; otherwise record the use.

        `channel_wait` is the channel admins' own cooldown, which replaces config.yaml's.
        """
        wait = self._per_command.get(spec.name, self._default)
        if channel_wait is not None:
            wait = channel_wait
        if wait <= 0:
            return
        key = (inv.channel.platform, inv.user.id, spec.name)
        self._longest = max(self._longest, wait)
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < wait:
            left = math.ceil(wait - (now - last))
            raise UserError(
                _n(
                    "Slow down a little: you can use /{command} again in {n} second.",
                    "Slow down a little: you can use /{command} again in {n} seconds.",
                    left,
                    command=spec.name,
                )
            )
        self._last[key] = now
        if len(self._last) > 10_000:  # forget old entries so the table stays small
            cutoff = now - max([self._default, self._longest, *self._per_command.values()])
            self._last = {k: t for k, t in self._last.items() if t >= cutoff}
