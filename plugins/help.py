"""/help: the commands and their options, generated from the plugins' declarations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from bot import Context, Param, Plugin, command


@dataclass(frozen=True)
class HelpOptions:
    """Options of /help."""

    command: Annotated[
        str | None, Param("A command to explain, e.g. story start", max_length=64)
    ] = None


class Help(Plugin):
    """Generated help."""

    name = "help"
    description = "Lists the commands"

    @command("help", "List the commands, or explain one")
    async def help(self, ctx: Context[HelpOptions]) -> None:
        """All commands by plugin, or one command's usage and options."""
        commands = ctx.core.plugins.commands
        wanted = ctx.options.command
        if wanted:
            name = " ".join(wanted.lstrip("/").lower().split())
            matches = [c for c in commands.values() if c.name == name or c.words[0] == name]
            if not matches:
                ctx.core.router.resolve(name)  # raises the "did you mean" message
            lines = []
            for spec in sorted(matches, key=lambda c: c.name):
                admin = (
                    "  (admins only)" if ctx.core.router.permissions.requires_admin(spec) else ""
                )
                lines.append(f"{spec.usage()}{admin}\n  {spec.description}")
                for opt in spec.options:
                    need = "required" if opt.required else f"optional, default {opt.default}"
                    lines.append(f"  {opt.name}: {opt.description} — {opt.allowed()} ({need})")
            await ctx.reply.write("\n".join(lines))
            return
        lines = ["Commands:"]
        for spec in sorted(commands.values(), key=lambda c: c.name):
            lines.append(f"  /{spec.name} — {spec.description}")
        lines.append("Type /help command:<name> for the options of one command.")
        await ctx.reply.write("\n".join(lines))
