"""/skald: the bot's own administration: plugins, per-channel controls, settings, export, status."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

from bot import (
    AutocompleteRequest,
    Context,
    NoOptions,
    Param,
    Plugin,
    Range,
    command,
)
from bot.errors import UserError

# Plugins a channel cannot switch off: without them its admins could not switch them back.
ALWAYS_ON = frozenset({"skald", "prefs", "help"})
# A platform mention (<@123>, <@!123>, <@U123|name>) or a bare id.
_MENTION = re.compile(r"^<@!?([^>|]+)(?:\|[^>]*)?>$")


async def suggest_plugins(request: AutocompleteRequest) -> Sequence[str]:
    """The loaded plugins matching what was typed."""
    return request.matching(sorted(request.core.plugins.loaded))


@dataclass(frozen=True)
class ReloadOptions:
    """Options of /skald reload."""

    plugin: Annotated[str, Param("The plugin to reload, e.g. story", max_length=64)]


@dataclass(frozen=True)
class PluginOptions:
    """Options of /skald disable and /skald enable."""

    plugin: Annotated[
        str, Param("The plugin, e.g. story", max_length=64, autocomplete=suggest_plugins)
    ]


@dataclass(frozen=True)
class UserOptions:
    """Options of /skald block and /skald unblock."""

    user: Annotated[str, Param("The user: a mention or their user id", max_length=100)]


@dataclass(frozen=True)
class CooldownOptions:
    """Options of /skald cooldown."""

    seconds: Annotated[
        Range[int, 0, 3600] | None,
        Param("Seconds one person waits between two uses (leave out: back to the default)"),
    ] = None
    command: Annotated[
        str | None, Param("Only this command, e.g. story start (default: every command)")
    ] = None


@dataclass(frozen=True)
class FilterOptions:
    """Options of /skald filter."""

    action: Annotated[Literal["add", "remove"], Param("Block a phrase here, or stop blocking it")]
    phrase: Annotated[str, Param("The word or phrase", max_length=100)]


def user_id(text: str) -> str:
    """The platform user id in a mention, or the text itself."""
    text = text.strip()
    match = _MENTION.match(text)
    return match.group(1) if match else text


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

    @command("skald disable", "Turn a plugin off in this channel", admin=True)
    async def disable(self, ctx: Context[PluginOptions]) -> None:
        """Switch one plugin's commands off here."""
        name = _plugin(ctx, ctx.options.plugin)
        if name in ALWAYS_ON:
            raise UserError(f"The {name} plugin cannot be turned off: admins need it.")
        changed = await ctx.core.controls.change(
            ctx.channel.scope, f"disabled:{name}", True, ctx.user.id
        )
        await ctx.reply.write(
            f"{name} is {'now' if changed else 'already'} turned off in this channel."
        )

    @command("skald enable", "Turn a plugin back on in this channel", admin=True)
    async def enable(self, ctx: Context[PluginOptions]) -> None:
        """Switch one plugin's commands back on here."""
        name = _plugin(ctx, ctx.options.plugin)
        changed = await ctx.core.controls.change(
            ctx.channel.scope, f"disabled:{name}", None, ctx.user.id
        )
        await ctx.reply.write(f"{name} is {'now' if changed else 'already'} on in this channel.")

    @command("skald block", "Block a user from the bot in this whole workspace", admin=True)
    async def block(self, ctx: Context[UserOptions]) -> None:
        """Refuse every command from one user in this workspace."""
        target = user_id(ctx.options.user)
        if target == ctx.user.id:
            raise UserError("You cannot block yourself.")
        changed = await ctx.core.controls.set_blocked(ctx.channel, target, True, ctx.user.id)
        state = "is now" if changed else "was already"
        await ctx.reply.write(f"User {target} {state} blocked from Skald in this workspace.")

    @command("skald unblock", "Let a blocked user use the bot again", admin=True)
    async def unblock(self, ctx: Context[UserOptions]) -> None:
        """Lift a workspace block."""
        target = user_id(ctx.options.user)
        changed = await ctx.core.controls.set_blocked(ctx.channel, target, False, ctx.user.id)
        state = "can use Skald again" if changed else "was not blocked"
        await ctx.reply.write(f"User {target} {state} in this workspace.")

    @command("skald cooldown", "Set how long people wait between uses here", admin=True)
    async def cooldown(self, ctx: Context[CooldownOptions]) -> None:
        """A per-channel cooldown for one command or all; leave seconds out to remove it."""
        name = "*"
        if ctx.options.command:
            name = ctx.core.router.resolve(ctx.options.command).name
        seconds = ctx.options.seconds
        await ctx.core.controls.change(ctx.channel.scope, f"cooldown:{name}", seconds, ctx.user.id)
        what = "every command" if name == "*" else f"/{name}"
        if seconds is None:
            await ctx.reply.write(f"The cooldown of {what} is back to the bot's default here.")
        else:
            await ctx.reply.write(f"The cooldown of {what} is now {seconds} s in this channel.")

    @command("skald filter", "Block a word or phrase in this channel, or unblock it", admin=True)
    async def filter(self, ctx: Context[FilterOptions]) -> None:
        """The channel's own filter phrases, blocked at every rating."""
        phrase = " ".join(ctx.options.phrase.split())
        if not ctx.core.filters.folding.fold(phrase.strip("*")):
            raise UserError("Give a word or phrase with at least one letter or digit.")
        value = True if ctx.options.action == "add" else None
        changed = await ctx.core.controls.change(
            ctx.channel.scope, f"phrase:{phrase}", value, ctx.user.id
        )
        verb = "blocked" if value else "no longer blocked"
        note = "" if changed else " (no change)"
        # The admin's own phrase, echoed to them: not the content filter's business.
        await ctx.reply.write(f'"{phrase}" is {verb} in this channel{note}.', filtered=False)

    @command("skald settings", "Show this channel's rating and admin settings", admin=True)
    async def settings(self, ctx: Context[NoOptions]) -> None:
        """Rating, plugins off, cooldowns, phrases, blocked users and retention, in one list."""
        core = ctx.core
        controls = await core.controls.load(ctx.channel.scope)
        blocked = await core.controls.blocked_users(ctx.channel)
        safety = core.config.safety
        stored = ctx.prefs.text("rating")
        rating = core.rating(ctx.channel, ctx.prefs)
        mature = core.mature_allowed(ctx.channel)
        note = "" if stored == rating else f" (set to {stored}, not allowed here)"
        default_wait = core.config.router.cooldown_s
        cooldowns = [
            f"{'every command' if k == '*' else '/' + k} {v:g} s"
            for k, v in sorted(controls.cooldowns.items())
        ]
        lines = [
            f"rating = {rating}{note}; mature allowed here: {'yes' if mature else 'no'}",
            f"language = {ctx.prefs.text('language')}",
            "plugins turned off here: " + (", ".join(sorted(controls.disabled)) or "none"),
            "cooldowns here: "
            + ("; ".join(cooldowns) or f"the bot's default ({default_wait:g} s per command)"),
            "phrases blocked here: " + (", ".join(f'"{p}"' for p in controls.phrases) or "none"),
            "users blocked in this workspace: " + (", ".join(blocked) or "none"),
            f"stories and quiz records are kept {safety.retention_days:g} days",
        ]
        await ctx.reply.write("\n".join(lines), filtered=False)

    @command("skald export", "Get a JSON file of everything stored for this channel", admin=True)
    async def export(self, ctx: Context[NoOptions]) -> None:
        """Everything the bot stores for this channel, as one file for its admins."""
        await ctx.reply.attach(await ctx.core.export(ctx.channel))

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


def _plugin(ctx: Context[PluginOptions], name: str) -> str:
    name = name.strip().lower()
    if name not in ctx.core.plugins.loaded:
        known = ", ".join(sorted(ctx.core.plugins.loaded))
        raise UserError(f"There is no plugin {name!r}. Loaded plugins: {known}.")
    return name


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
