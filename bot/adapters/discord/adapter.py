"""The Discord adapter: a discord.py client whose command tree is built from the plugins.

Every interaction is deferred before any database, plugin or engine work; the reply then
streams into the deferred response, paced per channel from Discord's rate-limit headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket

from bot.adapters.discord.commands import (
    CatalogTranslator,
    CommandDeclarationError,
    CommandHooks,
    admin_permission,
    build_commands,
    payload_hash,
    quiet_client,
    registration_payload,
)
from bot.adapters.discord.credentials import DiscordCredentials
from bot.adapters.discord.history import DiscordHistory
from bot.adapters.discord.messages import MISSING_PERMISSIONS, InteractionReply
from bot.adapters.discord.pacing import EditPacers
from bot.adapters.discord.threads import PluginThreads
from bot.config import DiscordSettings
from bot.core import Core
from bot.i18n import COMMAND_NAME, N_, Languages, Message, _, _p, locale_of, render
from bot.invocation import ChannelRef, Invocation, User, new_invocation_id
from bot.loader import PluginManager
from bot.memory.buttons import ButtonState, is_button_key, new_button_key
from bot.plugin import CommandSpec
from bot.reply import Notice
from bot.router import Run
from bot.streaming import MessageStreamer, Unreachable

log = logging.getLogger(__name__)

UNKNOWN_INTERACTION = 10062
ALREADY_ACKNOWLEDGED = 40060
# How long start-up waits for the gateway's READY before giving up.
READY_TIMEOUT_S = 60.0
# discord.py waits out non-global rate limits itself; past this it raises instead.
MAX_RATELIMIT_WAIT_S = 30.0
# One call to Discord while streaming (with discord.py's own retries) gets this long.
CALL_TIMEOUT_S = 5.0
# At shutdown, streams get this long to show their final text.
SHUTDOWN_GRACE_S = 10.0

LOST_THREAD = N_("The thread for /{command} is gone or out of my reach, so it continues here.")
FORGOTTEN = N_("I no longer have what that reply was made from: run the command again.")
NOTHING_TO_STOP = N_("There is nothing running to stop.")
GONE = N_("That command is not available any more (its plugin was unloaded or changed).")

# The permissions a reply can need in a channel, in the order a missing one is named, as
# Discord's own settings call them.
_REPLY_PERMISSIONS = (
    ("view_channel", N_("View Channel")),
    ("send_messages", N_("Send Messages")),
    ("send_messages_in_threads", N_("Send Messages in Threads")),
    ("create_public_threads", N_("Create Public Threads")),
    ("read_message_history", N_("Read Message History")),
)


class DiscordStartError(Exception):
    """Discord refused the start-up (the message says what to fix)."""


def sync_key(guild: str | None) -> str:
    """The meta key under which the last registered payload's hash is kept."""
    return f"discord.commands.{guild or 'global'}"


@dataclass(frozen=True, slots=True)
class _Live:
    """A reply still being written: what Stop needs (who asked, and the run to cancel)."""

    invocation: Invocation
    run: Run


def new_client(
    settings: DiscordSettings, trace: Any = None, **client_options: Any
) -> discord.Client:
    """A discord.Client, or an AutoShardedClient when sharding is configured."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.message_content = settings.message_content
    options: dict[str, Any] = {
        "http_trace": trace,
        "max_ratelimit_timeout": MAX_RATELIMIT_WAIT_S,
        # Replies never ping anyone, whatever the model writes.
        "allowed_mentions": discord.AllowedMentions.none(),
        **client_options,
    }
    if settings.shards == 0:
        return quiet_client(intents, **options)
    if settings.shards != "auto":
        options["shard_count"] = settings.shards
    return quiet_client(intents, sharded=True, **options)


def build_tree(
    client: discord.Client, plugins: PluginManager, hooks: CommandHooks
) -> app_commands.CommandTree[Any]:
    """The command tree of every loaded plugin command (raises CommandDeclarationError)."""
    tree: app_commands.CommandTree[Any] = app_commands.CommandTree(client)
    for command in tree_commands(plugins, hooks):
        tree.add_command(command)
    return tree


def tree_commands(
    plugins: PluginManager, hooks: CommandHooks
) -> list[app_commands.Command[Any, ..., Any] | app_commands.Group]:
    """The app commands of every loaded plugin (raises CommandDeclarationError)."""
    descriptions = {name: lp.plugin.description for name, lp in plugins.loaded.items()}
    return build_commands(plugins.commands, descriptions, hooks)


class DiscordAdapter:
    """Serves every plugin as Discord slash commands with streamed, editable replies."""

    def __init__(
        self,
        core: Core,
        credentials: DiscordCredentials,
        settings: DiscordSettings,
        clock: Callable[[], float] = time.monotonic,
        **client_options: Any,
    ) -> None:
        """`client_options` go to discord.py's client (tests shorten its READY wait)."""
        self.core = core
        self.settings = settings
        self.credentials = credentials
        self._clock = clock
        metrics = core.metrics
        self.pacers = EditPacers(
            on_rate_limited=lambda scope: metrics.adapter_error("discord", f"rate_limited_{scope}")
        )
        self.client = new_client(settings, self.pacers.trace(), **client_options)
        self.hooks = CommandHooks(
            self._on_command, self._on_autocomplete, core.router.permissions.requires_admin
        )
        self.tree: app_commands.CommandTree[Any] | None = None
        self.tree_error: str | None = None
        try:
            self.tree = build_tree(self.client, core.plugins, self.hooks)
        except CommandDeclarationError as exc:
            # Reported by start(): a declaration Discord cannot take stops the start-up.
            self.tree_error = str(exc)
        self._threads = PluginThreads(core.db)
        # Replies being written, by button key; what the buttons re-run is in the database.
        self._live: dict[str, _Live] = {}
        self._serving: set[asyncio.Task[Any]] = set()
        self._gateway: asyncio.Task[None] | None = None
        self._closing = False
        self._saved_base = discord.http.Route.BASE
        self._saved_gateway = DiscordWebSocket.DEFAULT_GATEWAY
        self.client.on_interaction = self._on_interaction  # type: ignore[attr-defined]

    # -- start and stop --

    async def start(self) -> None:
        """Log in, register the commands if they changed, and connect to the gateway."""
        if self.tree is None:
            raise DiscordStartError(self.tree_error or "the commands do not fit Discord")
        await self._threads.prepare()
        discord.http.Route.BASE = self.credentials.api_url
        try:
            await self.client.login(self.credentials.token)
        except discord.LoginFailure:
            raise DiscordStartError(
                "Discord refused DISCORD_TOKEN: copy the bot token again from the Developer "
                "Portal (your application > Bot > Reset Token)"
            ) from None
        except (discord.HTTPException, OSError) as exc:
            raise DiscordStartError(f"Discord could not be reached: {_describe(exc)}") from None
        await self._point_gateway()
        if self.settings.auto_sync:
            await self.sync(self.settings.guild or None, only_if_changed=True)
        self.core.after_reload(self._after_reload)
        self._gateway = asyncio.create_task(self._connect(), name="discord-gateway")
        ready = asyncio.create_task(self.client.wait_until_ready())
        done, _pending = await asyncio.wait(
            {self._gateway, ready}, timeout=READY_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
        )
        if ready not in done:
            ready.cancel()
            error = self._gateway.exception() if self._gateway in done else None
            raise DiscordStartError(
                f"Discord's gateway did not become ready: {_describe(error)}"
                if error
                else f"Discord's gateway sent no READY within {READY_TIMEOUT_S:.0f} s"
            )
        user = self.client.user
        log.info("discord: connected as %s (%s)", user, user.id if user else "?")

    async def _point_gateway(self) -> None:
        """Dial the gateway the REST API names, as Discord's own clients do.

        A plain discord.Client always dials Discord's public gateway; with another REST
        address (a local server in tests) or an explicit gateway, dial that one instead.
        """
        url = self.credentials.gateway_url
        if url is None and self.credentials.custom_api:
            _shards, url, _limits = await self.client.http.get_bot_gateway()
        if url is not None:
            DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)

    async def _connect(self) -> None:
        try:
            await self.client.connect(reconnect=True)
        except discord.PrivilegedIntentsRequired:
            log.error(
                "discord: the gateway refused the Message Content intent. Switch it on in the "
                "Developer Portal (Bot > Privileged Gateway Intents), or set "
                "discord.message_content: false in config.yaml (then /summarize cannot work)"
            )
            raise

    async def close(self) -> None:
        """Stop taking commands, let replies show their final text, then disconnect."""
        self._closing = True
        for live in list(self._live.values()):
            live.run.cancel()
        if self._serving:
            await asyncio.wait(self._serving, timeout=SHUTDOWN_GRACE_S)
        for task in list(self._serving):
            task.cancel()
        await asyncio.gather(*self._serving, return_exceptions=True)
        await self.client.close()
        if self._gateway is not None:
            self._gateway.cancel()
            await asyncio.gather(self._gateway, return_exceptions=True)
        discord.http.Route.BASE = self._saved_base
        DiscordWebSocket.DEFAULT_GATEWAY = self._saved_gateway

    # -- registration --

    async def register(self, guild: str | None) -> int:
        """Log in over REST only, register the commands, log out; returns how many."""
        if self.tree is None:
            raise DiscordStartError(self.tree_error or "the commands do not fit Discord")
        discord.http.Route.BASE = self.credentials.api_url
        try:
            await self.client.login(self.credentials.token)
            await self.sync(guild, only_if_changed=False)
        except discord.LoginFailure:
            raise DiscordStartError("Discord refused DISCORD_TOKEN") from None
        except discord.HTTPException as exc:
            raise DiscordStartError(f"Discord refused the commands: {_describe(exc)}") from None
        finally:
            await self.client.close()
            discord.http.Route.BASE = self._saved_base
        return len(await self.payload())

    async def payload(self) -> list[dict[str, Any]]:
        """The exact registration payload a sync sends, localized."""
        assert self.tree is not None
        if self.tree.translator is None:
            await self.tree.set_translator(CatalogTranslator())
        return await registration_payload(self.tree)

    async def sync(self, guild: str | None, *, only_if_changed: bool) -> bool:
        """Register the commands globally or in one server; returns True if it did."""
        assert self.tree is not None
        payload = await self.payload()
        digest = payload_hash(payload)
        key = sync_key(guild)
        if only_if_changed and await self.core.db.get_meta(key) == digest:
            log.info("discord: commands unchanged since the last registration")
            return False
        target = discord.Object(int(guild)) if guild else None
        if target is not None:
            # Guild registration: the same commands, visible at once in that one server.
            self.tree.copy_global_to(guild=target)
        await self.tree.sync(guild=target)
        if target is not None:
            self.tree.clear_commands(guild=target)
        await self.core.db.set_meta(key, digest)
        log.info(
            "discord: registered %d commands %s",
            len(payload),
            f"in server {guild}" if guild else "globally",
        )
        return True

    async def _after_reload(self) -> None:
        """A reloaded plugin may declare other commands: rebuild the tree, register changes."""
        if self._closing or self.tree is None:
            return
        try:
            commands = tree_commands(self.core.plugins, self.hooks)
        except CommandDeclarationError as exc:
            log.error("discord: the reloaded commands do not fit Discord (%s); not registered", exc)
            return
        self.tree.clear_commands(guild=None)
        for command in commands:
            self.tree.add_command(command)
        if self.settings.auto_sync:
            await self.sync(self.settings.guild or None, only_if_changed=True)

    # -- interactions --

    async def _acknowledge(self, interaction: discord.Interaction[Any], *, thinking: bool) -> bool:
        """Defer at once (the 3-second rule); False when the interaction cannot be served."""
        try:
            await interaction.response.defer(thinking=thinking)
        except discord.NotFound as exc:
            if exc.code == UNKNOWN_INTERACTION:
                log.warning("discord: an interaction expired before it could be acknowledged")
                self.core.metrics.adapter_error("discord", "unknown_interaction")
                return False
            raise
        except discord.HTTPException as exc:
            if exc.code == ALREADY_ACKNOWLEDGED:
                # Someone answered it already (a duplicate delivery): never serve it twice.
                log.info("discord: interaction %s was already acknowledged", interaction.id)
                self.core.metrics.adapter_error("discord", "already_acknowledged")
                return False
            raise
        if interaction.channel_id is not None:
            self.pacers.bind_token(interaction.token, str(interaction.channel_id))
        return True

    async def _on_command(
        self, interaction: discord.Interaction[Any], name: str, options: dict[str, object]
    ) -> None:
        """A slash command: acknowledge first, then everything else."""
        incident = new_invocation_id()
        await self._guarded(
            interaction, incident, self._command(interaction, name, options, incident)
        )

    async def _guarded(
        self,
        interaction: discord.Interaction[Any],
        incident: str,
        work: Coroutine[Any, Any, None],
    ) -> None:
        """Serve an interaction; whatever fails is logged once, and the user hears of it."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.core.metrics.adapter_error("discord", _kind(exc))
            if isinstance(exc, discord.HTTPException | aiohttp.ClientError | TimeoutError):
                log.warning(
                    "discord: an interaction failed: %s (incident %s)", _describe(exc), incident
                )
            else:
                log.exception("discord: an interaction failed (incident %s)", incident)
            failed = _("Something went wrong on our side. (incident {incident})", incident=incident)
            text = failed.render(
                locale_of(_locale(interaction.locale)) or self.core.config.language
            )
            with contextlib.suppress(Exception):
                # Never answered yet: answer now; else a follow-up, while the token lasts.
                if interaction.response.is_done():
                    await interaction.followup.send(text, ephemeral=True)
                else:
                    await interaction.response.send_message(text, ephemeral=True)

    async def _command(
        self,
        interaction: discord.Interaction[Any],
        name: str,
        options: dict[str, object],
        incident: str,
    ) -> None:
        self._track()
        if not await self._acknowledge(interaction, thinking=True):
            return
        spec = self.core.plugins.commands.get(name)
        if spec is None or self._closing:
            restarting = _("Skald is restarting; try again in a moment.")
            await self._refuse(interaction, restarting if spec else _(GONE))
            return
        # The router decides again; asking first spares a refused person the thread notes.
        refusal = self.core.router.access.refusal(
            spec.name, "discord", self._user(interaction, spec)
        )
        if refusal:
            await self._refuse(interaction, refusal)
            return
        inv = await self._invocation(interaction, spec, options, incident)
        await self._serve(interaction, inv, spec)

    async def _refuse(
        self,
        interaction: discord.Interaction[Any],
        message: Message,
        *,
        keep_original: bool = False,
    ) -> None:
        """An ephemeral error in the person's language (their locale, else the channel's).

        `keep_original`: the interaction's original response is the message a button is on
        (a deferred update), so it must stay.
        """
        languages = await self._languages(interaction)
        text = render(message, languages.private)
        if keep_original:
            await interaction.followup.send(text, ephemeral=True)
            return
        await InteractionReply(interaction).notice(Notice(text, "error"))

    async def _languages(self, interaction: discord.Interaction[Any]) -> Languages:
        """The channel's language, and the person's from their Discord locale."""
        channel = await self._channel_of(interaction)
        return await self.core.languages(channel, User("", "", locale=_locale(interaction.locale)))

    async def _on_autocomplete(
        self, interaction: discord.Interaction[Any], name: str, option: str, current: str
    ) -> list[str]:
        """Suggestions from memory only, cut off well inside Discord's deadline."""
        typed = {
            str(o.get("name")): o.get("value")
            for o in _leaf_options(interaction.data or {})
            if o.get("name") != option
        }
        return await self.core.autocomplete(
            name, option, current, typed, self._channel_ref(interaction), self._user(interaction)
        )

    async def _on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        """Buttons on replies: Stop, Regenerate, Continue (commands go through the tree)."""
        if interaction.type is not discord.InteractionType.component:
            return
        incident = new_invocation_id()
        await self._guarded(interaction, incident, self._button(interaction, incident))

    async def _button(self, interaction: discord.Interaction[Any], incident: str) -> None:
        data: dict[str, Any] = dict(interaction.data or {})
        custom_id = str(data.get("custom_id", ""))
        parts = custom_id.split(":")
        if len(parts) != 3 or parts[0] != "skald":
            return
        _prefix, action, key = parts
        self._track()
        if action == "stop":
            if not await self._acknowledge(interaction, thinking=False):
                return
            await self._stop(interaction, self._live.get(key))
            return
        if action not in ("regenerate", "continue") or not is_button_key(key):
            # Not one of our saved buttons (an unknown action, or a reply from before they
            # were saved): no deferral first, the ephemeral answer is as fast.
            locale = _locale(interaction.locale)
            text = _(FORGOTTEN).render(locale_of(locale) or self.core.config.language)
            with contextlib.suppress(discord.HTTPException):
                await interaction.response.send_message(text, ephemeral=True)
            return
        if not await self._acknowledge(interaction, thinking=True):
            return
        # What the reply was made from, saved when it began: it outlives restarts.
        state = await self.core.buttons.get(key)
        if state is None:
            await self._refuse(interaction, _(FORGOTTEN))
            return
        name, options = state.command, dict(state.options)
        if action == "continue":
            if state.follow_up is None:
                await self._refuse(interaction, _(GONE))
                return
            name, options = state.follow_up, {}
        spec = self.core.plugins.commands.get(name)
        if spec is None or self._closing:
            restarting = _("Skald is restarting; try again in a moment.")
            await self._refuse(interaction, restarting if spec else _(GONE))
            return
        # Whoever presses must be allowed the reply's own command (the router then decides
        # on the one that runs: Continue's follow-up).
        refusal = self.core.router.access.refusal(
            state.command, "discord", self._user(interaction, spec)
        )
        if refusal:
            await self._refuse(interaction, refusal)
            return
        inv = await self._invocation(interaction, spec, options, incident)
        await self._serve(interaction, inv, spec)

    async def _stop(self, interaction: discord.Interaction[Any], live: _Live | None) -> None:
        if live is None or live.run.task.done():
            # Finished, or begun before a restart: either way nothing runs for it now.
            await self._refuse(interaction, _(NOTHING_TO_STOP), keep_original=True)
            return
        command = live.invocation.command
        spec = self.core.plugins.commands.get(command)
        presser = self._user(interaction, spec, force_check=True)
        refusal = self.core.router.access.refusal(command, "discord", presser)
        allowed = str(interaction.user.id) == live.invocation.user.id or (
            spec is not None and presser.is_admin
        )
        if refusal or not allowed:
            only = _("Only the person who asked, or an admin, can stop this reply.")
            await self._refuse(interaction, refusal or only, keep_original=True)
            return
        log.info("discord: /%s stopped by a button", command)
        live.run.cancel()

    def _track(self) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._serving.add(task)
            task.add_done_callback(self._serving.discard)

    # -- who and where --

    def _channel_ref(
        self, interaction: discord.Interaction[Any], channel: str | None = None
    ) -> ChannelRef:
        guild = str(interaction.guild_id) if interaction.guild_id else "dm"
        return ChannelRef(
            "discord",
            guild,
            channel or str(interaction.channel_id or ""),
            adult=_is_nsfw(interaction.channel),
            # The server's preferred locale (community servers set it; others say en-US).
            locale=_locale(interaction.guild_locale) if interaction.guild_id else None,
        )

    async def _channel_of(self, interaction: discord.Interaction[Any]) -> ChannelRef:
        """The channel a command belongs to: a plugin's thread belongs to its parent."""
        channel_id = str(interaction.channel_id or "")
        parent = await self._threads.parent_of(channel_id) if channel_id else None
        return self._channel_ref(interaction, parent)

    def _user(
        self,
        interaction: discord.Interaction[Any],
        spec: CommandSpec | None = None,
        force_check: bool = False,
    ) -> User:
        """The invoking member; admin when Discord says they hold the command's permission."""
        member = interaction.user
        roles = list(getattr(member, "roles", ()))
        perms = interaction.permissions
        needs_admin = spec is not None and (
            force_check or self.core.router.permissions.requires_admin(spec)
        )
        is_admin = (
            spec is not None
            and needs_admin
            and (perms.administrator or bool(getattr(perms, admin_permission(spec))))
        )
        return User(
            str(member.id),
            member.display_name,
            is_admin=is_admin,
            roles=tuple(str(r.id) for r in roles),
            locale=_locale(interaction.locale),
            is_owner=self._owns_bot(member.id),
            role_names=tuple(r.name for r in roles),
        )

    def _owns_bot(self, user_id: int) -> bool:
        """The application's owner, or a member of the team that owns it."""
        app = self.client.application
        if app is None:
            return False
        if app.team is not None:
            return any(m.id == user_id for m in app.team.members)
        return app.owner.id == user_id

    async def _invocation(
        self,
        interaction: discord.Interaction[Any],
        spec: CommandSpec,
        options: dict[str, object],
        incident: str,
    ) -> Invocation:
        # A plugin's thread (a story's) belongs to the channel it was opened from.
        channel = await self._channel_of(interaction)
        history = DiscordHistory(
            interaction.channel or self.client.get_partial_messageable(interaction.channel_id or 0),
            message_content=self.client.intents.message_content,
        )
        return Invocation(
            spec.name, options, channel, self._user(interaction, spec), history, id=incident
        )

    # -- replies --

    async def _serve(
        self, interaction: discord.Interaction[Any], inv: Invocation, spec: CommandSpec
    ) -> None:
        """Dispatch, then stream the reply into the deferred response with its buttons."""
        key = await self._save_buttons(inv, spec)
        languages = await self.core.languages(inv.channel, inv.user)
        thread, lost = await self._joined_thread(interaction, inv, spec, languages.public)
        target = InteractionReply(
            interaction,
            key=key,
            can_continue=bool(spec.follow_up),
            thread=thread,
            clock=self._clock,
            language=languages.public,
        )
        channel = str(thread.id) if thread is not None else str(interaction.channel_id)
        bucket = self.pacers.bucket(channel)
        if lost:
            await self._tell(
                target, _(LOST_THREAD, command=spec.words[0]).render(languages.private)
            )
        run = self.core.dispatch(inv)
        self._live[key] = _Live(inv, run)
        # discord.py already tries a failed webhook call again (5xx: five times, for up to
        # 25 s): no retries of our own on top, and a bound on how long one call may take.
        streamer: MessageStreamer[Any] = MessageStreamer(
            target, bucket, retry_delays=(), permanent=permanent, call_timeout_s=CALL_TIMEOUT_S
        )
        try:
            await streamer.deliver(run.reply)
            await target.finish(bucket)
        except (Unreachable, discord.HTTPException, aiohttp.ClientError) as exc:
            # The reply cannot be shown: stop generating it for nobody, and say why.
            run.cancel()
            cause = exc.cause if isinstance(exc, Unreachable) else exc
            if thread is not None and isinstance(cause, discord.NotFound | discord.Forbidden):
                # The thread went while the reply was being written: forget it, so the
                # next part comes here.
                await self._threads.forget(inv.channel.scope, spec.plugin)
            await self._explain(interaction, target, inv, cause, languages.private)
        finally:
            await run.wait()
            self._live.pop(key, None)
            self.pacers.forget_token(interaction.token)
        if spec.thread == "start" and run.reply.generated and target.messages:
            await self._open_thread(interaction, inv, spec, target, languages)

    async def _save_buttons(self, inv: Invocation, spec: CommandSpec) -> str:
        """Save what the reply's buttons re-run (so they work after a restart); their key."""
        key = new_button_key()
        state = ButtonState(
            key, inv.channel, inv.user.id, inv.command, dict(inv.options), spec.follow_up
        )
        try:
            await self.core.buttons.save(state)
        except sqlite3.Error as exc:
            # The reply still comes; only its Regenerate and Continue will not work.
            log.warning("discord: could not save the reply's buttons: %s", exc)
        return key

    async def _joined_thread(
        self,
        interaction: discord.Interaction[Any],
        inv: Invocation,
        spec: CommandSpec,
        language: str,
    ) -> tuple[discord.PartialMessageable | None, bool]:
        """The plugin's thread when the command joins it and was typed outside it, and
        whether a recorded thread was lost (deleted, or out of the bot's reach)."""
        if spec.thread != "join":
            return None, False
        thread_id = await self._threads.get(inv.channel.scope, spec.plugin)
        if thread_id is None or thread_id == str(interaction.channel_id):
            return None, False
        try:
            await self.client.http.get_channel(int(thread_id))
        except (discord.NotFound, discord.Forbidden):
            # Deleted, or the bot may no longer see it: the work continues in the channel.
            log.info("discord: the /%s thread is gone; continuing in the channel", spec.plugin)
            await self._threads.forget(inv.channel.scope, spec.plugin)
            return None, True
        thread = self.client.get_partial_messageable(
            int(thread_id), guild_id=interaction.guild_id, type=discord.ChannelType.public_thread
        )
        with contextlib.suppress(discord.HTTPException):
            mention = f"<#{thread_id}>"
            moved = _("Continuing in {thread}…", thread=mention)
            await interaction.edit_original_response(content=moved.render(language))
        return thread, False

    async def _open_thread(
        self,
        interaction: discord.Interaction[Any],
        inv: Invocation,
        spec: CommandSpec,
        target: InteractionReply,
        languages: Languages,
    ) -> None:
        """Give a new story its own thread, started from the reply's first message."""
        first = target.messages[0].message
        if first is None or interaction.guild_id is None or target.messages[0].offset:
            return
        channel = interaction.channel
        if isinstance(channel, discord.Thread):
            return  # already in a thread: the story lives here
        title = next((str(v) for v in inv.options.values() if isinstance(v, str)), spec.plugin)
        # "Story: a lighthouse" / "故事：灯塔", in the channel's language like the story.
        label = _p(COMMAND_NAME, spec.words[0]).render(languages.public)
        heading = _("{plugin}: {title}", plugin=label[:1].upper() + label[1:], title=title)
        name = heading.render(languages.public)[:100]
        try:
            # Through the REST route, not Message.create_thread: a follow-up message (the
            # reply after a notice) carries no guild, and discord.py then refuses.
            thread = await self.client.http.start_thread_with_message(
                channel.id if channel is not None else interaction.channel_id or 0,
                first.id,
                name=name,
                auto_archive_duration=1440,
            )
        except discord.HTTPException as exc:
            log.info("discord: could not open a thread for /%s: %s", inv.command, _describe(exc))
            if exc.code == MISSING_PERMISSIONS:
                await self._tell(
                    target,
                    _(
                        "I couldn't open a thread for this (I need the Create Public Threads "
                        "permission), so it continues in this channel."
                    ).render(languages.private),
                )
            return
        await self._threads.set(
            inv.channel.scope, spec.plugin, str(thread["id"]), inv.channel.channel
        )

    async def _explain(
        self,
        interaction: discord.Interaction[Any],
        target: InteractionReply,
        inv: Invocation,
        exc: BaseException,
        locale: str,
    ) -> None:
        """Log a refused reply and tell the user what an admin can fix."""
        log.warning(
            "discord: reply to /%s failed: %s (incident %s)", inv.command, _describe(exc), inv.id
        )
        self.core.metrics.adapter_error("discord", _kind(exc))
        if not isinstance(exc, discord.HTTPException):
            text = _(
                "Discord could not be reached ({error}), so I stopped writing my reply. "
                "Please try again. (incident {incident})",
                error=type(exc).__name__,
                incident=inv.id,
            )
        elif exc.code == MISSING_PERMISSIONS:
            missing = missing_permission(interaction)
            text = (
                _(
                    "I can't post my reply here: I'm missing the {permission} permission in "
                    "this channel. A server admin can grant it.",
                    permission=_(missing),
                )
                if missing
                else _(
                    "I can't post my reply here: Discord says I'm missing a permission in "
                    "this channel."
                )
            )
        elif isinstance(exc, discord.NotFound):
            return  # the message or the interaction is gone: nobody to tell
        else:
            text = _("Discord refused my reply ({error}). Please try again.", error=_describe(exc))
        await self._tell(target, text.render(locale))

    async def _tell(self, target: InteractionReply, text: str) -> None:
        # Discord may be failing right now: a bounded try, and no second complaint.
        with contextlib.suppress(discord.HTTPException, aiohttp.ClientError, TimeoutError):
            async with asyncio.timeout(CALL_TIMEOUT_S):
                await target.notice(Notice(text, "error"))


def permanent(error: Exception) -> bool:
    """True for Discord's refusals that no retry mends (a missing permission, a lost message)."""
    return isinstance(error, discord.HTTPException) and error.status < 500 and error.status != 429


def _kind(exc: BaseException) -> str:
    """A metrics label for any failure: Discord's refusals by kind, others by class."""
    return error_kind(exc) if isinstance(exc, discord.HTTPException) else type(exc).__name__


def error_kind(exc: discord.HTTPException) -> str:
    """A metrics label for a refused call: missing_permissions, not_found, http_503..."""
    if exc.code == MISSING_PERMISSIONS:
        return "missing_permissions"
    if isinstance(exc, discord.NotFound):
        return "not_found"
    return f"http_{exc.status}"


def missing_permission(interaction: discord.Interaction[Any]) -> str | None:
    """The first reply permission the bot lacks in the interaction's channel, by name."""
    have = interaction.app_permissions
    in_thread = isinstance(interaction.channel, discord.Thread)
    for attr, label in _REPLY_PERMISSIONS:
        if attr == "send_messages_in_threads" and not in_thread:
            continue
        if not getattr(have, attr):
            return label
    return None


def _leaf_options(data: Any) -> list[dict[str, Any]]:
    """The typed options of an interaction, under any subcommand groups."""
    options = list(data.get("options") or [])
    while options and options[0].get("type") in (1, 2):
        options = list(options[0].get("options") or [])
    return options


def _describe(exc: BaseException | None) -> str:
    """A short description of a Discord error, never including the token."""
    if isinstance(exc, discord.HTTPException):
        return f"{exc.status} {exc.text or exc.response.reason}" + (
            f" (code {exc.code})" if exc.code else ""
        )
    return f"{type(exc).__name__}: {exc}" if exc else "unknown error"


def _locale(locale: discord.Locale | None) -> str | None:
    """Discord's locale as a tag ("zh-CN"), or None."""
    return str(locale) if locale is not None else None


def _is_nsfw(channel: object) -> bool:
    """Discord's age-restricted flag (a thread takes its parent's); DMs have none."""
    is_nsfw = getattr(channel, "is_nsfw", None)
    return bool(is_nsfw()) if callable(is_nsfw) else False
