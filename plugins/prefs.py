"""/prefs: show, set and reset the channel's preferences, their history, or forget them all."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from bot import AutocompleteRequest, Context, NoOptions, Param, Plugin, Range, command
from bot.i18n import _, _n


async def suggest_keys(request: AutocompleteRequest) -> Sequence[str]:
    """The declared preference keys matching what was typed."""
    return request.matching(p.key for p in request.core.catalog)


async def suggest_values(request: AutocompleteRequest) -> Sequence[str]:
    """The allowed values of the key chosen in the same command."""
    key = str(request.options.get("key", ""))
    if key not in request.core.catalog:
        return []
    pref = request.core.catalog.get(key)
    allowed = [str(c) for c in pref.choices] or (["true", "false"] if pref.type is bool else [])
    return request.matching(allowed)


@dataclass(frozen=True)
class SetOptions:
    """Options of /prefs set."""

    key: Annotated[
        str,
        Param(
            "The preference to change, e.g. story.genre", max_length=64, autocomplete=suggest_keys
        ),
    ]
    value: Annotated[str, Param("Its new value", max_length=200, autocomplete=suggest_values)]


@dataclass(frozen=True)
class ResetOptions:
    """Options of /prefs reset."""

    key: Annotated[
        str,
        Param(
            "The preference to set back to its default", max_length=64, autocomplete=suggest_keys
        ),
    ]


@dataclass(frozen=True)
class ForgetOptions:
    """Options of /prefs forget."""

    confirm: Annotated[bool, Param("Yes, delete everything stored for this channel")] = False


@dataclass(frozen=True)
class HistoryOptions:
    """Options of /prefs history."""

    count: Annotated[Range[int, 1, 50], Param("How many recent changes to show")] = 10


def _show(value: object) -> str:
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value


class Prefs(Plugin):
    """Per-channel preferences."""

    name = "prefs"
    description = "This channel's preferences"

    @command("prefs show", "List this channel's preferences")
    async def show(self, ctx: Context[NoOptions]) -> None:
        """Every declared key with its value here; keys set in this channel are marked."""
        lines = []
        for pref, value, is_set in ctx.prefs.items():
            if is_set:
                line = _(
                    "{key} = {value}  — {description}",
                    key=pref.key,
                    value=_show(value),
                    description=_(pref.description),
                )
            else:
                line = _(
                    "{key} = {value}  (default)  — {description}",
                    key=pref.key,
                    value=_show(value),
                    description=_(pref.description),
                )
            lines.append(ctx.text(line))
        await ctx.reply.write("\n".join(lines))

    @command("prefs set", "Change one of this channel's preferences", admin=True)
    async def set(self, ctx: Context[SetOptions]) -> None:
        """Validate the value against the key's declaration, then store it."""
        pref = ctx.core.catalog.get(ctx.options.key)
        value = pref.parse(ctx.options.value)
        ctx.core.check_pref(ctx.channel, pref.key, value)
        await ctx.core.prefs.set(ctx.channel.scope, pref.key, value, actor=ctx.user.id)
        await ctx.reply.write(f"{pref.key} = {_show(value)}")

    @command("prefs reset", "Set one preference back to its default", admin=True)
    async def reset(self, ctx: Context[ResetOptions]) -> None:
        """Remove the channel's own value of a key."""
        pref = ctx.core.catalog.get(ctx.options.key)
        await ctx.core.prefs.reset(ctx.channel.scope, pref.key, actor=ctx.user.id)
        await ctx.reply.write(
            _("{key} = {value}  (default)", key=pref.key, value=_show(pref.default))
        )

    @command("prefs forget", "Delete everything stored for this channel", admin=True)
    async def forget(self, ctx: Context[ForgetOptions]) -> None:
        """Delete preferences, history, every plugin's state, the audit trail and exports."""
        if not ctx.options.confirm:
            await ctx.reply.write(
                _(
                    "This deletes this channel's preferences, admin settings, stories, quizzes, "
                    "scores, message history, change history and exports. Run "
                    "/prefs forget confirm:true to go ahead."
                )
            )
            return
        rows, files = await ctx.core.forget(ctx.channel)
        forgot = _n(
            "Forgot this channel: {n} stored row deleted.",
            "Forgot this channel: {n} stored rows deleted.",
            rows,
        )
        if files:
            forgot = _n(
                "Forgot this channel: {rows} stored rows and {n} export file deleted.",
                "Forgot this channel: {rows} stored rows and {n} export files deleted.",
                files,
                rows=rows,
            )
        await ctx.reply.write(forgot)

    @command("prefs history", "Show recent changes to this channel's settings", admin=True)
    async def history(self, ctx: Context[HistoryOptions]) -> None:
        """Who changed which preference or admin setting, when, from what to what."""
        entries = await ctx.core.audit.recent(ctx.channel.scope, ctx.options.count)
        if not entries:
            await ctx.reply.write(_("No settings have been changed in this channel yet."))
            return
        unset = ctx.text(_("(unset)"))
        lines = []
        for e in entries:
            old = unset if e.old is None else _show(e.old)
            new = unset if e.new is None else _show(e.new)
            line = _(
                "{when}  user {user}  {setting}: {old} → {new}",
                when=e.when,
                user=e.actor,
                setting=e.setting,
                old=old,
                new=new,
            )
            lines.append(ctx.text(line))
        # Admins' own filter phrases may appear here: theirs to read, not the filter's.
        await ctx.reply.write("\n".join(lines), filtered=False)
