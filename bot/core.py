"""The core of one Skald process: config, database, engine, plugins and router together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from bot import logcontext
from bot.access import unknown_command_names
from bot.admission import Admission
from bot.config import Config, ConfigError
from bot.errors import UserError
from bot.i18n import LANGUAGES, N_, Languages, Text, _, locale_of, pick_language
from bot.invocation import ChannelRef, Invocation, User
from bot.loader import LoadFailure, PluginManager, PluginSource
from bot.memory import AuditLog, ControlStore, Database, MessageLog, PrefStore
from bot.memory.buttons import ButtonStore
from bot.memory.usage import UsageLedger
from bot.metrics import Metrics
from bot.options import AutocompleteRequest
from bot.preferences import Pref, PrefCatalog, Preferences
from bot.privacy import forget_exports, prune_expired, prune_exports, write_export
from bot.prompts import PROMPTS_DIR, PromptFile
from bot.reply import Attachment
from bot.router import Router, Run
from bot.safety import RATINGS, FilterLists, Matcher, Rating
from bot.safety.filters import FilterListError
from bot.safety.ratings import effective_rating, mature_allowed
from bot.sampling import SamplingError, SamplingTable
from engine import Engine, EngineStatus

log = logging.getLogger(__name__)

# Discord gives autocomplete 3 s in all; leave room for the round trip.
AUTOCOMPLETE_TIMEOUT_S = 1.5
# The first prune of old records runs this long after start-up, then every prune_every_h.
FIRST_PRUNE_S = 60.0
MATURE_REFUSED = N_(
    "The mature rating needs a channel the platform marks as adult (a Discord NSFW channel), "
    "or this workspace listed under safety.mature_workspaces in config.yaml."
)


def core_prefs(config: Config) -> list[Pref]:
    """Preference keys the core itself reads."""
    return [
        Pref(
            "language",
            str,
            config.language,
            "Reply language of this channel: en (English) or zh (中文)",
            choices=LANGUAGES,
        ),
        Pref(
            "rating",
            str,
            "general",
            "Content rating of this channel: general, teen or mature (adult channels only)",
            choices=RATINGS,
        ),
        Pref(
            "budget.tokens_per_hour",
            int,
            config.fairness.channel_tokens_per_hour,
            "Tokens the model may write for this channel per hour (0: no limit)",
            min=0,
        ),
        Pref(
            "budget.tokens_per_day",
            int,
            config.fairness.channel_tokens_per_day,
            "Tokens the model may write for this channel per day (0: no limit)",
            min=0,
        ),
    ]


def engine_capacity(config: Config) -> int:
    """How many requests the engine batches at once: per server, times the servers."""
    servers = len(config.engine.urls) if config.engine.backend == "remote" else 1
    return config.engine.max_num_seqs * max(1, servers)


class Core:
    """Everything a command needs, shared by all adapters of one process."""

    def __init__(self, config: Config, db: Database, engine: Engine) -> None:
        self.config = config
        self.db = db
        self.engine = engine
        self.catalog = PrefCatalog(core_prefs(config))
        self.prefs = PrefStore(db)
        self.messages = MessageLog(db)
        self.controls = ControlStore(db)
        self.audit = AuditLog(db)
        self.buttons = ButtonStore(db)
        safety = config.safety
        try:
            self.filters = FilterLists.load(extra=safety.blocked, allowed=safety.allowed)
        except FilterListError as exc:
            raise ConfigError(str(exc)) from None
        self.rating_guidance = PromptFile(PROMPTS_DIR / "safety.yaml")
        try:
            self.sampling = SamplingTable.load()
        except SamplingError as exc:
            raise ConfigError(str(exc)) from None
        self.plugins = PluginManager(db, self.catalog)
        self.metrics = Metrics()
        self.usage = UsageLedger(db)
        self.admission = Admission(config.fairness, engine_capacity(config), self.usage)
        self.router = Router(self)
        self.started_at = time.monotonic()
        logcontext.install_record_fields()
        self._pruner: asyncio.Task[None] | None = None
        # Plugins are unloaded and loaded in steps: one reload at a time, whoever asked.
        self._reloading = asyncio.Lock()
        self._reload_hooks: list[Callable[[], Awaitable[None]]] = []

    @classmethod
    async def open(cls, config: Config, engine: Engine) -> Core:
        """Open the database and load the configured plugins (failures are reported, not fatal)."""
        db = await Database.open(config.database_path)
        try:
            core = cls(config, db, engine)
        except BaseException:
            await db.close()
            raise
        try:
            await core.buttons.prepare()
            core.usage.start()
            await core.plugins.load_all(core.plugin_sources())
            core.check_command_names()
        except BaseException:
            await core.close()
            raise
        core._pruner = asyncio.create_task(core._prune_forever(), name="skald-prune")
        return core

    @property
    def load_failures(self) -> list[LoadFailure]:
        """Plugins that did not load at start-up or at the last reload."""
        return self.plugins.failures

    def plugin_sources(self) -> list[PluginSource]:
        """Every plugin source the configuration names."""
        settings = self.config.plugins
        return PluginManager.discover(
            settings.builtin, settings.folders, settings.entry_points, settings.disabled
        )

    def check_command_names(self) -> None:
        """Raise ConfigError naming each command config.yaml names that no plugin has."""
        unknown = unknown_command_names(self.config, self.plugins.commands)
        if not unknown:
            return
        failed = [f.label for f in self.load_failures]
        note = f" (plugins that did not load: {', '.join(failed)})" if failed else ""
        raise ConfigError(
            f"config.yaml names commands that no loaded plugin has{note}: {'; '.join(unknown)}"
        )

    async def reload_plugin(self, name: str) -> Text:
        """Reload one plugin (or load one that failed); raises UserError on failure."""
        async with self._reloading:
            done = await self.plugins.reload_named(name, self.plugin_sources())
            # A reload that took away a command config.yaml names is allowed (the rule
            # waits for it to come back), but the operator should hear of it.
            for problem in unknown_command_names(self.config, self.plugins.commands):
                log.warning(
                    "after reloading %s, config.yaml names an unknown command: %s", name, problem
                )
            for hook in self._reload_hooks:
                try:
                    await hook()
                except Exception:  # the reload itself succeeded; an adapter's trouble is logged
                    log.exception("a hook after reloading %s failed", name)
        return done

    def after_reload(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run `hook` after every successful reload (Discord re-registers changed commands)."""
        self._reload_hooks.append(hook)

    async def preferences(self, scope: str) -> Preferences:
        """A channel's preferences: its stored values over the declared defaults."""
        return Preferences(self.catalog, await self.prefs.all(scope))

    def channel_language(self, channel: ChannelRef, prefs: Preferences) -> str:
        """The language of a channel's public replies and prompts.

        The channel's own `language` preference; without one, the server's language where
        the platform names one Skald speaks; else config.yaml's `language`.
        """
        if prefs.is_set("language"):
            return prefs.text("language")
        return pick_language(channel.locale, default=self.config.language)

    async def languages(
        self, channel: ChannelRef, user: User | None = None, prefs: Preferences | None = None
    ) -> Languages:
        """Who reads what in a channel: its language, and the person's own for private notices."""
        if prefs is None:
            prefs = await self.preferences(channel.scope)
        public = self.channel_language(channel, prefs)
        private = locale_of(user.locale if user else None) or public
        return Languages(public, private)

    def rating(self, channel: ChannelRef, prefs: Preferences) -> Rating:
        """The content rating that applies in a channel now."""
        return effective_rating(prefs.text("rating"), channel, self.config.safety.mature_workspaces)

    def matcher(self, rating: Rating, channel_phrases: tuple[str, ...] = ()) -> Matcher:
        """The content filter of a rating, with a channel's own phrases."""
        return self.filters.matcher(rating, channel_phrases)

    def mature_allowed(self, channel: ChannelRef) -> bool:
        """True where the `mature` rating may be chosen (adult channel, or config.yaml)."""
        return mature_allowed(channel, self.config.safety.mature_workspaces)

    def check_pref(self, channel: ChannelRef, key: str, value: Any) -> None:
        """Refuse a preference value the channel may not have (mature where not allowed)."""
        if key == "rating" and value == "mature" and not self.mature_allowed(channel):
            raise UserError(_(MATURE_REFUSED))

    async def export(self, channel: ChannelRef) -> Attachment:
        """Write everything stored for a channel to a JSON file, for its admins."""
        return await write_export(self.db, channel, self.config.exports_dir)

    async def forget(self, channel: ChannelRef) -> tuple[int, int]:
        """Delete every row and export file stored for a channel; (rows, files) deleted."""
        counts = await self.db.forget(channel.scope)
        self.controls.invalidate(channel.scope)
        self.prefs.invalidate(channel.scope)
        files = await asyncio.to_thread(forget_exports, self.config.exports_dir, channel.scope)
        return sum(counts.values()), files

    async def prune(self, now: float | None = None) -> dict[str, int]:
        """Delete stories, quiz records and export files past their retention; counts."""
        now = time.time() if now is None else now
        plugins = [lp.plugin for lp in self.plugins.loaded.values()]
        retention_days = self.config.safety.retention_days
        counts = await prune_expired(self.db, plugins, retention_days, now)
        # Buttons carry the request's text in their options: kept as long as the work.
        buttons = await self.buttons.prune(now - retention_days * 86400)
        if buttons:
            counts["reply_buttons"] = buttons
        exports = await asyncio.to_thread(prune_exports, self.config.exports_dir, now)
        if exports:
            counts["exports"] = exports
        return counts

    async def _prune_forever(self) -> None:
        await asyncio.sleep(FIRST_PRUNE_S)
        while True:
            try:
                counts = await self.prune()
                if counts:
                    log.info("pruned old records: %s", counts)
            except Exception:
                log.exception("pruning old records failed")
            await asyncio.sleep(self.config.safety.prune_every_h * 3600)

    async def autocomplete(
        self,
        command: str,
        option: str,
        current: str,
        options: Mapping[str, object],
        channel: ChannelRef,
        user: User | None = None,
    ) -> list[str]:
        """Suggestions for an option being typed; [] when there are none or they fail.

        Suggestions read only what is already in memory and are cut off after
        AUTOCOMPLETE_TIMEOUT_S, so a platform's own deadline for them always holds. A person
        config.yaml's access rules refuse the command gets none (an unnamed one is a
        stranger: allow lists refuse them).
        """
        spec = self.plugins.commands.get(command)
        opt = spec.option(option) if spec else None
        if spec is None or opt is None:
            return []
        if not self.router.access.allows(spec.name, channel.platform, user or User("", "")):
            return []
        request = AutocompleteRequest(option, current, options, channel, self)
        if opt.autocomplete is None:
            return request.matching(str(c.name) for c in opt.choices)
        try:
            async with asyncio.timeout(AUTOCOMPLETE_TIMEOUT_S):
                return [str(s) for s in await opt.autocomplete(request)][:25]
        except Exception:
            log.warning("autocomplete of /%s %s failed", command, option, exc_info=True)
            return []

    def engine_status(self) -> EngineStatus:
        """The engine's status, with the line's gauges brought up to date."""
        status = self.engine.status()
        self.metrics.queue_depth.set(self.admission.waiting)
        self.metrics.engine_running.set(self.admission.running)
        self.metrics.engine_restarts.set(status.restarts)
        return status

    def dispatch(self, inv: Invocation) -> Run:
        """Serve one invocation; see Router.dispatch."""
        return self.router.dispatch(inv)

    async def close(self) -> None:
        """Stop handlers, tear down plugins, close the database (the engine is the caller's)."""
        if self._pruner is not None:
            self._pruner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pruner
        await self.router.shutdown()
        await self.plugins.close()
        await self.usage.close()
        await self.db.close()
