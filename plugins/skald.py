"""/skald: the bot's own administration: list and reload plugins, see the engine's status."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated

from bot import Context, NoOptions, Param, Plugin, command
from bot.errors import UserError


@dataclass(frozen=True)
class ReloadOptions:
    """Options of /skald reload."""

    plugin: Annotated[str, Param("The plugin to reload, e.g. story", max_length=64)]


class Skald(Plugin):
    """Administration of the bot itself."""

    name = "skald"
    description = "The bot's own administration"

    @command("skald plugins", "List the loaded plugins and any that failed to load")
    async def plugins(self, ctx: Context[NoOptions]) -> None:
        """Loaded plugins with their commands, and failures with their reasons."""
        manager = ctx.core.plugins
        lines = []
        for name, lp in sorted(manager.loaded.items()):
            commands = ", ".join(f"/{c.name}" for c in lp.commands)
            lines.append(f"{name} ({lp.source.kind}): {commands}")
        for failure in manager.failures:
            lines.append(f"{failure.label}: did not load: {failure.reason}")
        await ctx.reply.write("\n".join(lines))

    @command("skald reload", "Reload a plugin without restarting the bot", admin=True)
    async def reload(self, ctx: Context[ReloadOptions]) -> None:
        """Reload one plugin (or load one that failed before); the old one stays on failure."""
        name = ctx.options.plugin
        if name == self.name:
            raise UserError("The skald plugin cannot reload itself.")
        await ctx.reply.write(await ctx.core.reload_plugin(name))

    @command("skald status", "The engine's backend, model, queue and uptime", admin=True)
    async def status(self, ctx: Context[NoOptions]) -> None:
        """Engine backend and model, what runs and waits, restarts and uptime."""
        core = ctx.core
        status = core.engine_status()
        admission = core.admission
        lines = [
            f"Engine: {status.backend}, model {status.model}",
            f"State: {'ready' if status.ready else 'not ready (starting or restarting)'}",
            f"Requests: {admission.running} running of {admission.capacity}, "
            f"{admission.waiting} waiting in line",
            f"Engine restarts: {status.restarts}",
            f"Uptime: {uptime(time.monotonic() - core.started_at)}",
        ]
        lines.extend(f"Server {server}" for server in status.servers)
        await ctx.reply.write("\n".join(lines))


def uptime(seconds: float) -> str:
    """'3 d 4 h', '2 h 5 min', '42 s'."""
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"
