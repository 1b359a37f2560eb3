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
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TextIO

from bot.config import Config
from bot.core import Core
from bot.errors import UserError
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
    pid_file = pid_path(config.data_dir)
    pid_file.write_text(str(os.getpid()))
    main = asyncio.current_task()
    assert main is not None
    signals = ControlSignals(core, config.data_dir, stop=main.cancel)
    signals.install()
    platforms: list[PlatformAdapter] = []
    loader: asyncio.Task[None] | None = None
    metrics_server = None
    try:
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
        signals.remove()
        for platform in platforms:
            await platform.close()
        if metrics_server is not None:
            await metrics_server.close()
        await core.close()
        await engine.close()
        with contextlib.suppress(FileNotFoundError):
            pid_file.unlink()


class PlatformAdapter(Protocol):
    """A running platform adapter, as run_bot stops it."""

    async def close(self) -> None:
        """Stop taking commands; finish or cancel the replies in flight."""
        ...


def pid_path(data_dir: Path) -> Path:
    """Where a running bot writes its process id (for `skaldbot reload`)."""
    return data_dir / "skaldbot.pid"


class ControlSignals:
    """SIGTERM stops the bot cleanly; SIGHUP reloads the plugins `skaldbot reload` named."""

    def __init__(self, core: Core, data_dir: Path, stop: Callable[[], object]) -> None:
        self._core = core
        self._data_dir = data_dir
        self._stop = stop
        self._reloads: set[asyncio.Task[None]] = set()

    def install(self) -> None:
        """Route the signals to this bot's event loop."""
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError):  # platforms without POSIX signals
            loop.add_signal_handler(signal.SIGTERM, self._stop)
            loop.add_signal_handler(signal.SIGHUP, self._reload)

    def remove(self) -> None:
        """Give the signals back."""
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError):
            loop.remove_signal_handler(signal.SIGTERM)
            loop.remove_signal_handler(signal.SIGHUP)

    def _reload(self) -> None:
        # Keep a reference: the event loop holds tasks only weakly.
        task = asyncio.create_task(reload_requested(self._core, self._data_dir))
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)


def reload_request_path(data_dir: Path) -> Path:
    """The file `skaldbot reload NAME` writes the plugin names into before signalling the bot."""
    return data_dir / "reload-request"


async def reload_requested(core: Core, data_dir: Path) -> None:
    """Reload the plugins named in the request file (SIGHUP from `skaldbot reload`)."""
    path = reload_request_path(data_dir)
    try:
        names = path.read_text().split()
        path.unlink()
    except FileNotFoundError:
        names = sorted(n for n in core.plugins.loaded if n != "skald")
    for name in names:
        try:
            _status(str(await core.reload_plugin(name)))
        except UserError as exc:
            _status(str(exc.message))
