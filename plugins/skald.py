"""/skald: the bot's own administration: plugins, per-channel controls, settings, export, status."""

from __future__ import annotations

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
from bot.i18n import Join, Text, _, _n, choice, choices
from bot.options import UserId

# Plugins a channel cannot switch off: without them its admins could not switch them back.
ALWAYS_ON = frozenset({"skald", "prefs", "help"})
# Where a plugin came from, as /skald plugins names it.
SOURCE_KINDS = choices("builtin", "file", "entry_point")


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

    # Each adapter turns its platform's mention into the person's id; other text is refused.
    user: Annotated[UserId, Param("The user: mention them, e.g. @name")]


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
            lines.append(f"{name} ({ctx.text(choice(lp.source.kind))}): {commands}")
        for failure in manager.failures:
            line = _(
                "{plugin}: did not load: {reason}", plugin=failure.label, reason=failure.reason
            )
            lines.append(ctx.text(line))
        await ctx.reply.write("\n".join(lines))

    @command("skald reload", "Reload a plugin without restarting the bot", owner=True)
    async def reload(self, ctx: Context[ReloadOptions]) -> None:
        """Reload one plugin (or load one that failed before); the old one stays on failure."""
        name = ctx.options.plugin
        if name == self.name:
            raise UserError(_("The skald plugin cannot reload itself."))
        await ctx.reply.write(await ctx.core.reload_plugin(name))

    @command("skald disable", "Turn a plugin off in this channel", admin=True)
    async def disable(self, ctx: Context[PluginOptions]) -> None:
        """Switch one plugin's commands off here."""
        name = _plugin(ctx, ctx.options.plugin)
        if name in ALWAYS_ON:
            raise UserError(
                _("The {plugin} plugin cannot be turned off: admins need it.", plugin=name)
            )
        changed = await ctx.core.controls.change(
            ctx.channel.scope, f"disabled:{name}", True, ctx.user.id
        )
        if changed:
            await ctx.reply.write(_("{plugin} is now turned off in this channel.", plugin=name))
        else:
            await ctx.reply.write(_("{plugin} is already turned off in this channel.", plugin=name))

    @command("skald enable", "Turn a plugin back on in this channel", admin=True)
    async def enable(self, ctx: Context[PluginOptions]) -> None:
        """Switch one plugin's commands back on here."""
        name = _plugin(ctx, ctx.options.plugin)
        changed = await ctx.core.controls.change(
            ctx.channel.scope, f"disabled:{name}", None, ctx.user.id
        )
        if changed:
            await ctx.reply.write(_("{plugin} is now on in this channel.", plugin=name))
        else:
            await ctx.reply.write(_("{plugin} is already on in this channel.", plugin=name))

    @command("skald block", "Block a user from the bot in this whole workspace", admin=True)
    async def block(self, ctx: Context[UserOptions]) -> None:
        """Refuse every command from one user in this workspace."""
        target = str(ctx.options.user)
        if target == ctx.user.id:
            raise UserError(_("You cannot block yourself."))
        changed = await ctx.core.controls.set_blocked(ctx.channel, target, True, ctx.user.id)
        if changed:
            done = _("User {user} is now blocked from Skald in this workspace.", user=target)
        else:
            done = _("User {user} was already blocked from Skald in this workspace.", user=target)
        await ctx.reply.write(done)

    @command("skald unblock", "Let a blocked user use the bot again", admin=True)
    async def unblock(self, ctx: Context[UserOptions]) -> None:
        """Lift a workspace block."""
        target = str(ctx.options.user)
        changed = await ctx.core.controls.set_blocked(ctx.channel, target, False, ctx.user.id)
        if changed:
            done = _("User {user} can use Skald again in this workspace.", user=target)
        else:
            done = _("User {user} was not blocked in this workspace.", user=target)
        await ctx.reply.write(done)

    @command("skald cooldown", "Set how long people wait between uses here", admin=True)
    async def cooldown(self, ctx: Context[CooldownOptions]) -> None:
        """A per-channel cooldown for one command or all; leave seconds out to remove it."""
        name = "*"
        if ctx.options.command:
            name = ctx.core.router.resolve(ctx.options.command).name
        seconds = ctx.options.seconds
        await ctx.core.controls.change(ctx.channel.scope, f"cooldown:{name}", seconds, ctx.user.id)
        what = _("every command") if name == "*" else f"/{name}"
        if seconds is None:
            done = _("The cooldown of {what} is back to the bot's default here.", what=what)
        else:
            done = _(
                "The cooldown of {what} is now {seconds} s in this channel.",
                what=what,
                seconds=seconds,
            )
        await ctx.reply.write(done)

    @command("skald filter", "Block a word or phrase in this channel, or unblock it", admin=True)
    async def filter(self, ctx: Context[FilterOptions]) -> None:
        """The channel's own filter phrases, blocked at every rating."""
        phrase = " ".join(ctx.options.phrase.split())
        if not ctx.core.filters.folding.fold(phrase.strip("*")):
            raise UserError(_("Give a word or phrase with at least one letter or digit."))
        value = True if ctx.options.action == "add" else None
        changed = await ctx.core.controls.change(
            ctx.channel.scope, f"phrase:{phrase}", value, ctx.user.id
        )
        done = {
            (True, True): _('"{phrase}" is blocked in this channel.', phrase=phrase),
            (True, False): _('"{phrase}" is blocked in this channel (no change).', phrase=phrase),
            (False, True): _('"{phrase}" is no longer blocked in this channel.', phrase=phrase),
            (False, False): _(
                '"{phrase}" is no longer blocked in this channel (no change).', phrase=phrase
            ),
        }[bool(value), changed]
        # The admin's own phrase, echoed to them: not the content filter's business.
        await ctx.reply.write(done, filtered=False)

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
        default_wait = core.config.router.cooldown_s
        cooldowns = [
            _("every command {seconds:g} s", seconds=v)
            if k == "*"
            else _("/{command} {seconds:g} s", command=k, seconds=v)
            for k, v in sorted(controls.cooldowns.items())
        ]
        none = _("none")
        lines: list[Text] = [
            _(
                "rating = {rating}; mature allowed here: {mature}",
                rating=choice(rating),
                mature=_("yes") if mature else _("no"),
            )
            if stored == rating
            else _(
                "rating = {rating} (set to {stored}, not allowed here); "
                "mature allowed here: {mature}",
                rating=choice(rating),
                stored=choice(stored),
                mature=_("yes") if mature else _("no"),
            ),
            _("language = {language}", language=ctx.language),
            _(
                "plugins turned off here: {plugins}",
                plugins=Join(tuple(sorted(controls.disabled))) if controls.disabled else none,
            ),
            _("cooldowns here: {cooldowns}", cooldowns=Join(tuple(cooldowns)))
            if cooldowns
            else _(
                "cooldowns here: the bot's default ({seconds:g} s per command)",
                seconds=default_wait,
            ),
            _(
                "phrases blocked here: {phrases}",
                phrases=Join(tuple(f'"{p}"' for p in controls.phrases))
                if controls.phrases
                else none,
            ),
            _(
                "users blocked in this workspace: {users}",
                users=Join(tuple(blocked)) if blocked else none,
            ),
            _n(
                "stories and quiz records are kept {days:g} day",
                "stories and quiz records are kept {days:g} days",
                # 1.5 days is plural, as any count other than a whole 1.
                int(days) if (days := safety.retention_days) == int(days) else 2,
                days=days,
            ),
        ]
        await ctx.reply.write("\n".join(ctx.text(line) for line in lines), filtered=False)

    @command("skald export", "Get a JSON file of everything stored for this channel", admin=True)
    async def export(self, ctx: Context[NoOptions]) -> None:
        """Everything the bot stores for this channel, as one file for its admins."""
        await ctx.reply.attach(await ctx.core.export(ctx.channel))

    @command("skald status", "The engine's backend, model, queue and uptime", owner=True)
    async def status(self, ctx: Context[NoOptions]) -> None:
        """Engine backend and model, what runs and waits, restarts and uptime."""
        core = ctx.core
        status = core.engine_status()
        admission = core.admission
        state = _("ready") if status.ready else _("not ready (starting or restarting)")
        lines = [
            _("Engine: {backend}, model {model}", backend=status.backend, model=status.model),
            _("State: {state}", state=state),
            _(
                "Requests: {running} running of {capacity}, {waiting} waiting in line",
                running=admission.running,
                capacity=admission.capacity,
                waiting=admission.waiting,
            ),
            _("Engine restarts: {restarts}", restarts=status.restarts),
            _("Uptime: {uptime}", uptime=uptime(time.monotonic() - core.started_at)),
            *(_("Server {server}", server=server) for server in status.servers),
        ]
        await ctx.reply.write("\n".join(ctx.text(line) for line in lines))


def _plugin(ctx: Context[PluginOptions], name: str) -> str:
    name = name.strip().lower()
    if name not in ctx.core.plugins.loaded:
        raise UserError(
            _(
                "There is no plugin {name}. Loaded plugins: {loaded}.",
                name=repr(name),
                loaded=Join(tuple(sorted(ctx.core.plugins.loaded))),
            )
        )
    return name


def uptime(seconds: float) -> Text:
    """'3 d 4 h', '2 h 5 min', '42 s'."""
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return _("{days} d {hours} h", days=days, hours=hours)
    if hours:
        return _("{hours} h {minutes} min", hours=hours, minutes=minutes)
    if minutes:
        return _("{minutes} min {seconds} s", minutes=minutes, seconds=secs)
    return _("{seconds} s", seconds=secs)
