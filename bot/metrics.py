"""Prometheus metrics of one Skald process (names prefixed skald_), and the /metrics endpoint."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

log = logging.getLogger(__name__)

# Seconds; first tokens come in well under a second when idle, whole replies in tens.
TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)
LATENCY_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)


@dataclass(frozen=True, slots=True)
class PluginSeries:
    """One plugin's series of the per-plugin metrics (labels() costs a lock and a lookup)."""

    time_to_first_token: Histogram
    queue_wait: Histogram
    latency: Histogram
    tokens: Counter


class Metrics:
    """Every metric Skald exports, in a registry of its own (one per core)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.commands = Counter(
            "skald_commands",
            "Commands served, by plugin and outcome",
            ["plugin", "outcome"],
            registry=r,
        )
        self.queue_depth = Gauge("skald_queue_depth", "Engine requests waiting in line", registry=r)
        self.engine_running = Gauge(
            "skald_engine_running", "Engine requests running now", registry=r
        )
        self.time_to_first_token = Histogram(
            "skald_time_to_first_token_seconds",
            "From the engine request (after any wait in line) to its first text, by plugin",
            ["plugin"],
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "skald_queue_wait_seconds",
            "Time engine requests waited in line, by plugin",
            ["plugin"],
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.latency = Histogram(
            "skald_command_latency_seconds",
            "From the command arriving to its handler finishing, by plugin",
            ["plugin"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "skald_tokens_generated", "Tokens generated, by plugin", ["plugin"], registry=r
        )
        self.engine_restarts = Gauge(
            "skald_engine_restarts", "Times the engine was rebuilt after it died", registry=r
        )
        self.adapter_errors = Counter(
            "skald_adapter_errors",
            "Platform errors met by the adapters, by platform and kind",
            ["platform", "kind"],
            registry=r,
        )
        # Plugins and outcomes are few (those loaded, the router's outcomes): no bound needed.
        self._plugins: dict[str, PluginSeries] = {}
        self._commands: dict[tuple[str, str], Counter] = {}

    def plugin(self, name: str) -> PluginSeries:
        """The series of one plugin, looked up once and then kept (every command uses them)."""
        series = self._plugins.get(name)
        if series is None:
            series = self._plugins[name] = PluginSeries(
                self.time_to_first_token.labels(name),
                self.queue_wait.labels(name),
                self.latency.labels(name),
                self.tokens.labels(name),
            )
        return series

    def command(self, plugin: str, outcome: str) -> Counter:
        """The counter of one plugin's commands with one outcome."""
        counter = self._commands.get((plugin, outcome))
        if counter is None:
            counter = self._commands[plugin, outcome] = self.commands.labels(plugin, outcome)
        return counter

    def adapter_error(self, platform: str, kind: str) -> None:
        """Count one platform error (rate_limited, unknown_interaction, forbidden, ...)."""
        self.adapter_errors.labels(platform, kind).inc()

    def render(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)


class MetricsServer:
    """Serves GET /metrics over HTTP (aiohttp, on the bot's own event loop)."""

    def __init__(self, metrics: Metrics, refresh: Callable[[], object] | None = None) -> None:
        self._metrics = metrics
        # Called before each scrape to update gauges read from elsewhere.
        self._refresh = refresh
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self, host: str, port: int) -> None:
        """Listen on host:port (0 picks a free port, kept in .port)."""
        app = web.Application()
        app.router.add_get("/metrics", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def _handle(self, request: web.Request) -> web.Response:
        if self._refresh is not None:
            self._refresh()
        return web.Response(
            body=self._metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def close(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
