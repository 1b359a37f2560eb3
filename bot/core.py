"""The core of one Skald process: config, database, engine, plugins and router together."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

from bot import logcontext
from bot.admission import Admission
from bot.config import Config
from bot.invocation import ChannelRef, Invocation
from bot.loader import LoadFailure, PluginManager, PluginSource
from bot.memory import Database, MessageLog, PrefStore
from bot.memory.usage import UsageLedger
from bot.metrics import Metrics
from bot.options import AutocompleteRequest
from bot.preferences import Pref, PrefCatalog, Preferences
from bot.router import Router, Run
from engine import Engine, EngineStatus

log = logging.getLogger(__name__)

# Discord gives autocomplete 3 s in all; leave room for the round trip.
AUTOCOMPLETE_TIMEOUT_S = 1.5


def core_prefs(config: Config) -> list[Pref]:
    """Preference keys the core itself reads."""
    return [
        Pref(
            "language",
            str,
            config.language,
            "Reply language of this channel: en (English) or zh (中文)",
            choices=("en", "zh"),
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
        self.plugins = PluginManager(db, self.catalog)
        self.metrics = Metrics()
        self.usage = UsageLedger(db)
        self.admission = Admission(config.fairness, engine_capacity(config), self.usage)
        self.router = Router(self)
        self.started_at = time.monotonic()
        logcontext.install_record_fields()

    @classmethod
    async def open(cls, config: Config, engine: Engine) -> Core:
        """Open the database and load the configured plugins (failures are reported, not fatal)."""
        db = await Database.open(config.database_path)
        core = cls(config, db, engine)
        await core.usage.load()
        await core.plugins.load_all(core.plugin_sources())
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

    async def reload_plugin(self, name: str) -> str:
        """Reload one plugin (or load one that failed); raises UserError on failure."""
        return await self.plugins.reload_named(name, self.plugin_sources())

    async def preferences(self, scope: str) -> Preferences:
        """A channel's preferences: its stored values over the declared defaults."""
        return Preferences(self.catalog, await self.prefs.all(scope))

    async def autocomplete(
        self,
        command: str,
        option: str,
        current: str,
        options: Mapping[str, object],
        channel: ChannelRef,
    ) -> list[str]:
        """Suggestions for an option being typed; [] when there are none or they fail.

        Suggestions read only what is already in memory and are cut off after
        AUTOCOMPLETE_TIMEOUT_S, so a platform's own deadline for them always holds.
        """
        spec = self.plugins.commands.get(command)
        opt = spec.option(option) if spec else None
        if opt is None:
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
        await self.router.shutdown()
        await self.plugins.close()
        await self.usage.close()
        await self.db.close()
