"""config.yaml, read into typed settings; environment variables override a few paths."""

from __future__ import annotations

import dataclasses
import difflib
import logging
import os
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import yaml

from bot.i18n import LANGUAGES
from engine.settings import EngineSettings

log = logging.getLogger(__name__)


class ConfigError(Exception):
    """config.yaml cannot be used; the message names the key and what is wrong."""


@dataclass(frozen=True, slots=True)
class RouterSettings:
    """Limits the router enforces on every command."""

    # A handler still running after this long is cancelled and the user told.
    handler_timeout_s: float = 300.0
    # A reply whose engine writes nothing for this long (before its first word or between
    # two) is ended there, the request aborted and the user told; 0: wait for the handler
    # timeout alone.
    stall_timeout_s: float = 60.0
    # Seconds a user waits between two uses of the same command...
    cooldown_s: float = 2.0
    # ...unless a command has its own: {"story continue": 5}.
    cooldowns: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FairnessSettings:
    """How the one engine is shared between channels and users (see bot/admission.py)."""

    # Engine requests running at once per channel and per user (0: no cap); more wait in line.
    channel_concurrency: int = 4
    user_concurrency: int = 2
    # Engine requests running at once in all; 0: as many as the engine batches
    # (engine.max_num_seqs, times the number of servers for a fleet).
    max_running: int = 0
    # Requests waiting in line in all, and per channel; more are refused with a message.
    queue_size: int = 200
    channel_queue_size: int = 50
    # Generated-token budgets; 0 means none. Admins override the channel ones per channel
    # with /prefs set key:budget.tokens_per_hour (and budget.tokens_per_day).
    channel_tokens_per_hour: int = 0
    channel_tokens_per_day: int = 0
    user_tokens_per_hour: int = 0
    user_tokens_per_day: int = 0
    # How fast a channel's recent use is forgotten when ordering the line and setting
    # vLLM priorities (half-life, seconds).
    priority_half_life_s: float = 60.0


@dataclass(frozen=True, slots=True)
class PermissionSettings:
    """Who may run admin-only commands beyond the platform's own admins."""

    # "platform:user_id" entries, e.g. "discord:80351110224678912" or "console:you".
    admins: tuple[str, ...] = ()
    # Who owns the bot process, as "platform:user_id": they alone may run commands that act
    # on every server (reload a plugin, the whole process's status). The Discord
    # application's owner (or its team) and the person at the console own it anyway.
    owners: tuple[str, ...] = ()
    # Commands that are admin-only here in addition to those the plugins declare so.
    admin_commands: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SafetySettings:
    """Content ratings, the filter lists, and how long stored creative work is kept."""

    # Workspaces whose channel admins may choose the `mature` rating in any channel, as
    # "platform:workspace" (e.g. "slack:T0123", "console:local"); Discord's NSFW channels
    # allow it without being listed.
    mature_workspaces: tuple[str, ...] = ()
    # Entries added to the shipped filter lists, per level: teen, mature or always.
    blocked: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Shipped entries to drop (a word that is harmless in this community).
    allowed: tuple[str, ...] = ()
    # Stories and quiz records older than this many days are deleted.
    retention_days: float = 90.0
    # Hours between two prunes of old records (the first runs a minute after start-up).
    prune_every_h: float = 6.0

    def __post_init__(self) -> None:
        for level in self.blocked:
            if level not in ("teen", "mature", "always"):
                raise ConfigError(
                    f"safety.blocked.{level}: use teen, mature or always (the rating from "
                    "which the entries are allowed; always: blocked everywhere)"
                )
        if self.prune_every_h <= 0:
            raise ConfigError("safety.prune_every_h must be more than 0")


@dataclass(frozen=True, slots=True)
class PluginSettings:
    """Which plugins load."""

    # Built-in plugins to load; "all" loads every one.
    builtin: tuple[str, ...] = ("all",)
    # Folders of custom plugins: every .py file in them is loaded.
    folders: tuple[Path, ...] = ()
    # Load installed packages exposing the `skaldbot.plugins` entry point group.
    entry_points: bool = True
    # Plugin names never to load.
    disabled: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    """The terminal adapter's identity."""

    user: str = "you"
    # The person at the terminal owns the bot: admin-only commands are allowed.
    admin: bool = True


@dataclass(frozen=True, slots=True)
class SlackSettings:
    """The Slack adapter (starts when SLACK_BOT_TOKEN and a signing secret or app token are set)."""

    # Prepended to every slash command ("skald-" gives /skald-story) where names collide.
    command_prefix: str = ""
    # HTTP mode: where Bolt's server listens (SKALD_SLACK_PORT overrides the port).
    host: str = "0.0.0.0"
    port: int = 3000
    # chat.update is Tier 3, about 50 a minute per workspace, shared by every stream.
    updates_per_minute: float = 50.0


@dataclass(frozen=True, slots=True)
class CommandAccess:
    """Who may use one command (or every command of a group), on every platform."""

    # Role ids or names (where the platform has roles: Discord); a member with any of them
    # may use the command. With no allow list at all, everyone may.
    allow_roles: tuple[str, ...] = ()
    # Role ids or names that may never use it (deny wins over allow).
    deny_roles: tuple[str, ...] = ()
    # People as "platform:user_id", e.g. "discord:80351110224678912", "slack:U0123",
    # "console:you".
    allow_users: tuple[str, ...] = ()
    deny_users: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DiscordSettings:
    """The Discord adapter (starts when DISCORD_TOKEN is set)."""

    # Register the commands in this one server only (instant; for development), by id.
    # Empty: register them globally, for every server the bot is in.
    guild: str = ""
    # At start-up, register the commands if they changed since the last registration.
    auto_sync: bool = True
    # Shards: 0 runs one gateway connection; "auto" or a number uses discord.py's
    # AutoShardedClient (Discord requires sharding past 2,500 servers).
    shards: int | Literal["auto"] = 0
    # Read message text for /summarize: needs the privileged Message Content intent,
    # switched on in the Developer Portal (Bot > Privileged Gateway Intents).
    message_content: bool = True
    # Deprecated: the top-level `access` (every platform) replaces it. Still read, with a
    # warning: its rules move there, bare user ids as "discord:<id>".
    access: dict[str, CommandAccess] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Config:
    """Every setting of one Skald process."""

    data_dir: Path = Path("data")
    # Reply language of channels that have not chosen one (nor their server): one with a
    # message catalog in bot/locale, "en" or "zh".
    language: str = "en"
    # WARNING: a running bot logs problems only; INFO adds a line per plugin and request.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    engine: EngineSettings = field(default_factory=EngineSettings)
    router: RouterSettings = field(default_factory=RouterSettings)
    fairness: FairnessSettings = field(default_factory=FairnessSettings)
    permissions: PermissionSettings = field(default_factory=PermissionSettings)
    plugins: PluginSettings = field(default_factory=PluginSettings)
    safety: SafetySettings = field(default_factory=SafetySettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    slack: SlackSettings = field(default_factory=SlackSettings)
    discord: DiscordSettings = field(default_factory=DiscordSettings)
    # Who may use a command, per command or command group, on every platform (bot/access.py).
    access: dict[str, CommandAccess] = field(default_factory=dict)
    # Prometheus metrics on http://host:PORT/metrics (SKALD_METRICS_PORT); 0: off.
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"

    @property
    def database_path(self) -> Path:
        """The SQLite file of channel memory."""
        return self.data_dir / "skald.sqlite3"

    @property
    def exports_dir(self) -> Path:
        """Where /skald export writes its JSON files (deleted by /prefs forget and pruning)."""
        return self.data_dir / "exports"


def load_config(path: Path | str | None = None, env: dict[str, str] | None = None) -> Config:
    """Read config.yaml (SKALD_CONFIG, or ./config.yaml; defaults if absent) plus overrides."""
    env = dict(os.environ if env is None else env)
    explicit = path is not None or "SKALD_CONFIG" in env
    config_path = Path(path if path is not None else env.get("SKALD_CONFIG", "config.yaml"))
    data: Any = {}
    if config_path.is_file():
        try:
            data = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{config_path} is not valid YAML: {exc}") from None
    elif explicit:
        raise ConfigError(f"config file {config_path} does not exist")
    base = config_path.resolve().parent
    config: Config = _build(Config, data, "", base)
    # Environment overrides, resolved against the working directory like any CLI path.
    if env.get("SKALD_DATA_DIR"):
        config = dataclasses.replace(config, data_dir=Path(env["SKALD_DATA_DIR"]).resolve())
    if env.get("SKALD_CACHE_DIR"):
        config = dataclasses.replace(
            config,
            engine=dataclasses.replace(
                config.engine, cache_dir=Path(env["SKALD_CACHE_DIR"]).resolve()
            ),
        )
    if env.get("SKALD_ENGINE_URLS"):
        urls = tuple(
            u.strip().rstrip("/") for u in env["SKALD_ENGINE_URLS"].split(",") if u.strip()
        )
        config = dataclasses.replace(
            config, engine=dataclasses.replace(config.engine, backend="remote", urls=urls)
        )
    if config.engine.backend == "remote" and not config.engine.urls:
        raise ConfigError("engine.backend remote needs engine.urls (or SKALD_ENGINE_URLS)")
    if config.language not in LANGUAGES:
        raise ConfigError(
            f"language must be one of {', '.join(LANGUAGES)}; got {config.language!r}"
        )
    config = _migrate_discord_access(config)
    if env.get("SKALD_METRICS_PORT"):
        try:
            metrics_port = int(env["SKALD_METRICS_PORT"])
        except ValueError:
            raise ConfigError("SKALD_METRICS_PORT must be a port number") from None
        config = dataclasses.replace(config, metrics_port=metrics_port)
    if env.get("SKALD_SLACK_PORT"):
        try:
            port = int(env["SKALD_SLACK_PORT"])
        except ValueError:
            raise ConfigError("SKALD_SLACK_PORT must be a port number") from None
        config = dataclasses.replace(config, slack=dataclasses.replace(config.slack, port=port))
    return config


# Platforms whose users the access rules can name ("platform:user_id").
USER_PLATFORMS = ("console", "discord", "slack")


def _migrate_discord_access(config: Config) -> Config:
    """Check `access`, and move the deprecated `discord.access` rules into it."""
    for command, rule in config.access.items():
        for kind in ("allow_users", "deny_users"):
            for entry in getattr(rule, kind):
                platform, sep, user = entry.partition(":")
                if not sep or platform not in USER_PLATFORMS or not user:
                    raise ConfigError(
                        f"access.{command}.{kind}: write each user as platform:user_id "
                        f'(e.g. "discord:80351110224678912", "slack:U0123"); got {entry!r}'
                    )
    old = config.discord.access
    if not old:
        return config
    log.warning(
        "discord.access in config.yaml is deprecated: move its rules to the top-level "
        '`access` (they apply on every platform; users as "discord:<id>")'
    )
    both = sorted(set(old) & set(config.access))
    if both:
        raise ConfigError(
            f"access and discord.access both have rules for {', '.join(map(repr, both))}: "
            "keep them in access only"
        )

    def qualified(users: tuple[str, ...]) -> tuple[str, ...]:
        # The old key took Discord user ids alone.
        return tuple(u if ":" in u else f"discord:{u}" for u in users)

    moved = {
        command: dataclasses.replace(
            rule, allow_users=qualified(rule.allow_users), deny_users=qualified(rule.deny_users)
        )
        for command, rule in old.items()
    }
    return dataclasses.replace(
        config,
        access={**config.access, **moved},
        discord=dataclasses.replace(config.discord, access={}),
    )


def _build(cls: type[Any], data: Any, where: str, base: Path) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'the config'} must be a mapping of keys to values")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, raw in data.items():
        dotted = f"{where}.{key}" if where else str(key)
        if key not in fields:
            close = difflib.get_close_matches(str(key), fields, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown setting {dotted!r}{hint}")
        values[key] = _convert(hints[key], raw, dotted, base)
    return cls(**values)


def _convert(tp: Any, raw: Any, where: str, base: Path) -> Any:
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _build(tp, raw, where, base)
    if origin in (Union, types.UnionType):
        if raw is None and type(None) in get_args(tp):
            return None
        inner = [a for a in get_args(tp) if a is not type(None)]
        # The first alternative that takes the value wins (e.g. a number, or "auto").
        errors: list[ConfigError] = []
        for alternative in inner:
            try:
                return _convert(alternative, raw, where, base)
            except ConfigError as exc:
                errors.append(exc)
        raise errors[0]
    if origin is Literal:
        allowed = get_args(tp)
        if raw not in allowed:
            raise ConfigError(f"{where} must be one of {', '.join(map(str, allowed))}; got {raw!r}")
        return raw
    if origin is tuple:
        items = [raw] if isinstance(raw, str) else raw
        if not isinstance(items, list):
            raise ConfigError(f"{where} must be a list")
        return tuple(_convert(get_args(tp)[0], item, where, base) for item in items)
    if origin is dict:
        if not isinstance(raw, dict):
            raise ConfigError(f"{where} must be a mapping")
        _key_tp, value_tp = get_args(tp)
        return {str(k): _convert(value_tp, v, f"{where}.{k}", base) for k, v in raw.items()}
    if tp is Path:
        if not isinstance(raw, str):
            raise ConfigError(f"{where} must be a path")
        path = Path(raw).expanduser()
        return path if path.is_absolute() else base / path
    if tp is bool:
        if not isinstance(raw, bool):
            raise ConfigError(f"{where} must be true or false; got {raw!r}")
        return raw
    if tp in (int, float):
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise ConfigError(f"{where} must be a number; got {raw!r}")
        if tp is int and not float(raw).is_integer():
            raise ConfigError(f"{where} must be a whole number; got {raw!r}")
        if raw < 0:
            raise ConfigError(f"{where} cannot be negative")
        return tp(raw)
    if tp is str:
        if not isinstance(raw, str | int | float):
            raise ConfigError(f"{where} must be text")
        return str(raw)
    raise ConfigError(f"{where}: unsupported setting type {tp!r}")
