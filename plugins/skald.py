"""/skald: the bot's own administration: list and reload plugins."""

from __future__ import annotations

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
