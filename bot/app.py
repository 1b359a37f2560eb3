"""Running the bot: engine, core and adapters together, with a clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol, TextIO

from bot.config import Config
from bot.core import Core
from bot.processes import LEGACY_PID_FILE, Registration, Registry
from bot.reloads import ReloadMailbox, ReloadResult, reload_plugins
from engine import Engine, EngineError
from engine.factory import build_engine

log = logging.getLogger(__name__)

# Seconds between "still loading" lines while the model loads.
LOADING_TICK_S = 10.0


def _status(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def watch_engine_start(engine: Engine, started: float) -> None:
    """Load the engine, saying so and how long it has waited, until it is ready."""
    load = asyncio.create_task(engine.start())
    try:
        while True:
            done, _ = await asyncio.wait({load}, timeout=LOADING_TICK_S)
            if done:
                break
            _status(f"… still loading the language model ({time.monotonic() - started:.0f} s)")
        load.result()
        _status(f"Language model ready after {time.monotonic() - started:.1f} s.")
        # What start-up loaded (plugins, the model's Python objects) lives as long as the
        # process: out of the cycle collector's way, full collections stay short.
        gc.freeze()
    except EngineError as exc:
        _status(f"The language model could not start: {exc}")
    except Exception as exc:  # the bot keeps serving commands that need no model
        log.exception("engine start failed")
        _status(f"The language model could not start: {type(exc).__name__}: {exc}")
    finally:
        load.cancel()


async def run_bot(config: Config, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Start everything the environment asks for; return the exit code."""
    from bot.adapters.console import ConsoleAdapter
    from bot.adapters.discord.credentials import DiscordCredentials
    from bot.adapters.slack.credentials import SlackCredentials

    started = time.monotonic()
    env = dict(os.environ)
    slack = SlackCredentials.from_env(env)
    discord_credentials = DiscordCredentials.from_env(env)
    engine = build_engine(config.engine, progress=_status)
    core = await Core.open(config, engine)
    for failure in core.load_failures:
        _status(f"plugin {failure.label} did not load: {failure.reason}")
    main = asyncio.current_task()
    assert main is not None
    signals = ControlSignals(core, ReloadMailbox(config.data_dir), stop=main.cancel)
    # The handlers first: a signal that comes right after registering must not kill us.
    signals.install()
    platforms: list[PlatformAdapter] = []
    loader: asyncio.Task[None] | None = None
    metrics_server = None
    try:
        try:
            signals.registration = register(config.data_dir)
        except OSError as exc:  # a file system without locks, say: serve all the same
            _status(f"skaldbot reload cannot reach this bot: {exc}")
        if config.metrics_port:
            from bot.metrics import MetricsServer

            metrics_server = MetricsServer(core.metrics, refresh=core.engine_status)
            try:
                await metrics_server.start(config.metrics_host, config.metrics_port)
            except OSError as exc:
                _status(f"Metrics: cannot listen on port {config.metrics_port}: {exc.strerror}")
                return 1
            _status(f"Metrics: http://{config.metrics_host}:{metrics_server.port}/metrics")
        # 1) Platforms first: a refused token ends start-up before the model loads.
        if slack is not None:
            from bot.adapters.slack.adapter import SlackAdapter, SlackStartError

            adapter = SlackAdapter(core, slack, config.slack)
            try:
                await adapter.start()
            except SlackStartError as exc:
                _status(str(exc))
                return 1
            platforms.append(adapter)
            if slack.mode == "socket":
                _status("Slack: connected over Socket Mode.")
            else:
                _status(f"Slack: listening on port {adapter.port} (HTTP mode).")
        if discord_credentials is not None:
            from bot.adapters.discord.adapter import DiscordAdapter, DiscordStartError

            discord_adapter = DiscordAdapter(core, discord_credentials, config.discord)
            try:
                await discord_adapter.start()
            except DiscordStartError as exc:
                _status(f"Discord: {exc}")
                await discord_adapter.close()
                return 1
            platforms.append(discord_adapter)
            _status(f"Discord: connected as {discord_adapter.client.user}.")
        # 2) The model loads in the background; commands that need it wait for it.
        _status(
            "Loading the language model (the first run converts the bundled model; "
            "this takes a minute)…"
        )
        loader = asyncio.create_task(watch_engine_start(engine, started))
        # 3) Serve: the platforms until SIGTERM or Ctrl-C, or else the console.
        if platforms:
            await asyncio.Event().wait()
        else:
            await ConsoleAdapter(core, stdin, stdout).run()
        return 0
    except asyncio.CancelledError:
        _status("Shutting down.")
        return 0
    finally:
        if loader is not None:
            loader.cancel()
        if signals.registration is not None:
            signals.registration.close()
        signals.remove()
        for platform in platforms:
            await platform.close()
        if metrics_server is not None:
            await metrics_server.close()
        await core.close()
        await engine.close()


class PlatformAdapter(Protocol):
    """A running platform adapter, as run_bot stops it."""

    async def close(self) -> None:
        """Stop taking commands; finish or cancel the replies in flight."""
        ...


def register(data_dir: Path) -> Registration:
    """Register this process as a running bot of its data folder (for `skaldbot reload`)."""
    registry = Registry(data_dir)
    registry.scan()  # drops what crashed bots left
    ReloadMailbox(data_dir).drop_abandoned()
    # Skald before the registry wrote a bare pid file, which nothing reads any more.
    with contextlib.suppress(FileNotFoundError):
        (data_dir / LEGACY_PID_FILE).unlink()
    return registry.register()


class ControlSignals:
    """SIGTERM stops the bot; SIGUSR1 answers `skaldbot reload`; SIGHUP reloads every plugin."""

    def __init__(self, core: Core, mailbox: ReloadMailbox, stop: Callable[[], object]) -> None:
        self._core = core
        self._mailbox = mailbox
        self._stop = stop
        self.registration: Registration | None = None
        # One reload at a time, whoever asked: plugins are unloaded and loaded in steps.
        self._reloading = asyncio.Lock()
        self._reloads: set[asyncio.Task[None]] = set()

    def install(self) -> None:
        """Route the signals to this bot's event loop."""
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError):  # platforms without POSIX signals
            loop.add_signal_handler(signal.SIGTERM, self._stop)
            loop.add_signal_handler(signal.SIGHUP, self._spawn, self.reload_everything)
            loop.add_signal_handler(signal.SIGUSR1, self._spawn, self.answer_requests)

    def remove(self) -> None:
        """Give the signals back."""
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError):
            for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1):
                loop.remove_signal_handler(signum)
            # A `skaldbot reload` that found this bot just before it unregistered may still
            # signal it: that must not end it before its clean-up (the default would).
            signal.signal(signal.SIGUSR1, signal.SIG_IGN)

    def _spawn(self, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        # Keep a reference: the event loop holds tasks only weakly.
        task = asyncio.create_task(work())
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)

    async def answer_requests(self) -> None:
        """Reload what each pending `skaldbot reload` asked this bot for, and answer it."""
        if self.registration is None:
            return
        token = self.registration.bot.token
        async with self._reloading:
            for request in self._mailbox.pending(token):
                result = await reload_plugins(self._core, request.plugins)
                self._mailbox.answer(request, token, result)
                _report(result)

    async def reload_everything(self) -> None:
        """Reload every plugin (a plain SIGHUP, as daemons take it); the result is logged."""
        async with self._reloading:
            _report(await reload_plugins(self._core, ()))


def _report(result: ReloadResult) -> None:
    for name in result.reloaded:
        _status(f"Reloaded {name}.")
    for failure in result.failed:
        _status(failure)
