"""/help: the commands and their options, generated from the plugins' declarations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from bot import Context, Param, Plugin, command
from bot.i18n import Text, _, choice
from bot.options import OptionSpec


@dataclass(frozen=True)
class HelpOptions:
    """Options of /help."""

    command: Annotated[
        str | None, Param("A command to explain, e.g. story start", max_length=64)
    ] = None


def _need(opt: OptionSpec) -> Text:
    """Whether an option must be given, and what it is when left out."""
    if opt.required:
        return _("required")
    if opt.default is None:
        return _("optional")
    default = getattr(opt.default, "value", opt.default)
    shown = choice(default) if opt.choices else default
    return _("optional, default {default}", default=shown)


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
                usage = ctx.text(spec.usage())
                if ctx.core.router.permissions.requires_admin(spec):
                    usage = ctx.text(_("{usage}  (admins only)", usage=usage))
                lines.append(f"{usage}\n  {ctx.text(_(spec.description))}")
                for opt in spec.options:
                    line = _(
                        "{option}: {description} — {allowed} ({need})",
                        option=opt.name,
                        description=_(opt.description),
                        allowed=opt.allowed(),
                        need=_need(opt),
                    )
                    lines.append("  " + ctx.text(line))
            await ctx.reply.write("\n".join(lines))
            return
        lines = [ctx.text(_("Commands:"))]
        for spec in sorted(commands.values(), key=lambda c: c.name):
            lines.append(f"  /{spec.name} — {ctx.text(_(spec.description))}")
        lines.append(ctx.text(_("Type /help command:<name> for the options of one command.")))
        await ctx.reply.write("\n".join(lines))
