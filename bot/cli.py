"""The `skaldbot` command: run the bot, prepare the model, print commands, reload plugins,
check (`doctor`) and copy (`backup`) the database, start a plugin package (`new-plugin`)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from bot import logcontext
from bot.config import Config, ConfigError, load_config
from bot.memory.database import MigrationError
from bot.quiet import ENGINE_LOG, send_library_output_to
from bot.reloads import ReloadResult

# How long `skaldbot reload` waits for the bots' answers, and how often it looks.
RELOAD_TIMEOUT_S = 30.0
RELOAD_POLL_S = 0.05
# Shells `skaldbot completion` writes a script for (shtab generates them from the parser).
COMPLETION_SHELLS = ("bash", "zsh")


def _version() -> str:
    """The installed distribution's version (from its metadata, as pip sees it)."""
    try:
        return metadata.version("skaldbot")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skaldbot", description="Skald: a chat-bot plugin framework for creative communities."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument(
        "--config", help="path of config.yaml (default: $SKALD_CONFIG or ./config.yaml)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "run", help="run the bot: Discord/Slack when their tokens are set, else the console"
    )
    prepare = sub.add_parser(
        "prepare-model", help="convert the bundled model once; prints its folder"
    )
    prepare.add_argument(
        "--model", help="another model than engine.model, e.g. bundled:smollm2-135m-instruct"
    )
    commands = sub.add_parser("commands", help="print every command with its options")
    commands.add_argument("--json", action="store_true", help="as JSON (the adapters' source)")
    commands.add_argument(
        "--format",
        choices=("text", "json", "slack", "discord"),
        default=None,
        help="text, json, slack (a Slack app manifest in YAML), or discord (the exact "
        "application-command payload a sync registers)",
    )
    commands.add_argument(
        "--socket-mode", action="store_true", help="with --format slack: a manifest for Socket Mode"
    )
    commands.add_argument(
        "--request-url", help="with --format slack: the public URL of /slack/events for HTTP mode"
    )
    discord_cmd = sub.add_parser("discord", help="Discord tasks")
    discord_sub = discord_cmd.add_subparsers(dest="discord_command", required=True)
    sync = discord_sub.add_parser(
        "sync", help="register the slash commands with Discord now (needs DISCORD_TOKEN)"
    )
    sync.add_argument("--guild", help="register in this one server only (instant; for development)")
    sub.add_parser(
        "doctor",
        help="check the setup, one line each: config, model or servers, database, ports, "
        "Slack and Discord tokens; changes nothing",
    )
    backup = sub.add_parser(
        "backup", help="copy the database to a new file, safely while the bot runs"
    )
    backup.add_argument("path", type=Path, help="the new file to write")
    reload = sub.add_parser(
        "reload", help="reload plugins in every running bot of the data folder, with each result"
    )
    reload.add_argument("plugins", nargs="*", help="plugin names (default: all)")
    reload.add_argument(
        "--timeout",
        type=float,
        default=RELOAD_TIMEOUT_S,
        help=f"seconds to wait for every bot's answer (default {RELOAD_TIMEOUT_S:g})",
    )
    new_plugin = sub.add_parser(
        "new-plugin", help="write a ready plugin package: pyproject, module, prompts, tests"
    )
    new_plugin.add_argument("name", help="the plugin's and its command's name, e.g. haiku")
    new_plugin.add_argument("--dir", type=Path, help="where to write it (default: ./NAME)")
    completion = sub.add_parser(
        "completion",
        help="print a shell completion script, e.g. "
        "`skaldbot completion bash > /etc/bash_completion.d/skaldbot`",
    )
    completion.add_argument("shell", choices=COMPLETION_SHELLS, help="the shell it is for")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `skaldbot` console script."""
    args = _parser().parse_args(argv)
    if args.command == "new-plugin":  # needs no configuration: it only writes files
        return _new_plugin(args.name, args.dir)
    if args.command == "completion":
        return _completion(args.shell)
    if args.command == "doctor":  # a configuration problem is one of its findings
        return _doctor(args.config)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"skaldbot: configuration problem: {exc}", file=sys.stderr)
        return 2
    if args.command == "run" and config.log_level != "DEBUG":
        # vLLM's, torch's and Triton's start-up lines go to a file; DEBUG shows them.
        send_library_output_to(config.data_dir / ENGINE_LOG)
    logging.basicConfig(level=config.log_level, stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        # Lines about a command end with incident=… platform=… channel=… plugin=….
        logcontext.install(handler)
    # vLLM and friends warn about things only their developers can act on (Triton, CUDA
    # graphs); keep their lines out unless the operator asked for INFO or DEBUG.
    quiet = "ERROR" if config.log_level in ("WARNING", "ERROR") else config.log_level
    for noisy in ("vllm", "transformers", "torch", "httpx"):
        logging.getLogger(noisy).setLevel(quiet)
    # vLLM configures its own logging, in its engine-core processes too, from this variable.
    os.environ.setdefault("VLLM_LOGGING_LEVEL", quiet)
    if args.command == "run":
        return _run(config)
    if args.command == "prepare-model":
        if args.model:
            config = dataclasses.replace(
                config, engine=dataclasses.replace(config.engine, model=args.model)
            )
        return _prepare_model(config)
    if args.command == "commands":
        fmt = args.format or ("json" if args.json else "text")
        return asyncio.run(_commands(config, fmt, args.socket_mode, args.request_url))
    if args.command == "reload":
        return _reload(config, args.plugins, args.timeout)
    if args.command == "backup":
        return _backup(config, args.path)
    if args.command == "discord":
        try:
            return asyncio.run(_discord_sync(config, args.guild))
        except ConfigError as exc:
            print(f"skaldbot: configuration problem: {exc}", file=sys.stderr)
            return 2
    return 2


def _completion(shell: str) -> int:
    """Print the completion script for `shell`, made from the same parser `main` uses."""
    import shtab

    print(shtab.complete(_parser(), shell=shell), end="")
    return 0


def _run(config: Config) -> int:
    from bot.app import run_bot
    from bot.memory.doctor import check_database

    config.data_dir.mkdir(parents=True, exist_ok=True)
    # A damaged file, or one from a newer Skald, is named with what to do, and left as it
    # is, before anything opens it for writing.
    report = check_database(config.database_path, full=False)
    if not report.ok:
        _database_problem(config, report.lines())
        return 2
    try:
        return asyncio.run(run_bot(config))
    except KeyboardInterrupt:
        return 130
    except ConfigError as exc:  # found once the plugins loaded (unknown command names)
        print(f"skaldbot: configuration problem: {exc}", file=sys.stderr)
        return 2
    except (sqlite3.DatabaseError, MigrationError) as exc:
        _database_problem(config, [str(exc)])
        return 2


def _database_problem(config: Config, problems: list[str]) -> None:
    path = config.database_path
    print(
        f"skaldbot: the database {path} cannot be used: {'; '.join(problems)}\n"
        f"  It was left untouched. Run `skaldbot doctor` for details; restore a backup made "
        f"with `skaldbot backup` (move the damaged file aside first), or point SKALD_DATA_DIR "
        f"at a new folder to start afresh.",
        file=sys.stderr,
    )


def _doctor(config_arg: str | None) -> int:
    from bot.doctor import diagnose
    from bot.memory.doctor import Finding

    named = config_arg or os.environ.get("SKALD_CONFIG")
    source = Path(named or "config.yaml")
    try:
        config = load_config(config_arg)
    except ConfigError as exc:
        findings = [Finding("config", False, str(exc))]
    else:
        # The findings say what is wrong; the engine's own warnings would say it twice.
        logging.getLogger("engine").setLevel(logging.ERROR)
        findings = asyncio.run(
            diagnose(config, source if source.is_file() else None, source.resolve().parent)
        )
    for f in findings:
        print(f"{'ok  ' if f.ok else 'FAIL'} {f.check}: {f.detail}")
    if all(f.ok for f in findings):
        print("No problems found.")
        return 0
    failed = {f.check for f in findings if not f.ok}
    print(f"Problems found: {', '.join(sorted(failed))}.")
    if failed & {"open", "integrity_check", "quick_check", "schema"}:
        print(
            "The file was not changed. Restore a backup made with `skaldbot backup`, "
            "or recover what SQLite can (`sqlite3 FILE .recover`)."
        )
    return 1


def _backup(config: Config, destination: Path) -> int:
    from bot.memory.doctor import backup_database

    try:
        size = backup_database(config.database_path, destination)
    except (OSError, sqlite3.Error) as exc:
        print(f"skaldbot: backup failed: {exc}", file=sys.stderr)
        return 1
    print(f"Backed up {config.database_path} to {destination} ({size:,} bytes).")
    return 0


def _prepare_model(config: Config) -> int:
    from engine.model_prep import ModelPreparationError, resolve_model_path

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        path = resolve_model_path(config.engine, progress)
    except ModelPreparationError as exc:
        print(f"skaldbot: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


async def _commands(
    config: Config, fmt: str, socket_mode: bool = False, request_url: str | None = None
) -> int:
    from bot.checks import Permissions
    from bot.loader import PluginManager
    from bot.memory import Database
    from bot.preferences import PrefCatalog

    # Loading plugins runs their migrations: use a throwaway database, not the bot's.
    db = await Database.open(":memory:")
    try:
        manager = PluginManager(db, PrefCatalog())
        settings = config.plugins
        failures = await manager.load_all(
            PluginManager.discover(
                settings.builtin, settings.folders, settings.entry_points, settings.disabled
            )
        )
        for failure in failures:
            print(f"plugin {failure.label} did not load: {failure.reason}", file=sys.stderr)
        specs = sorted(manager.commands.values(), key=lambda c: c.name)
        if fmt == "json":
            print(
                json.dumps({"commands": [s.to_json() for s in specs]}, indent=2, ensure_ascii=False)
            )
        elif fmt == "discord":
            from bot.adapters.discord.commands import CommandDeclarationError, describe_payload

            try:
                payload = await describe_payload(manager, Permissions(config.permissions))
            except CommandDeclarationError as exc:
                print(f"skaldbot: {exc}", file=sys.stderr)
                return 1
            print(json.dumps(payload, indent=2, ensure_ascii=False))
        elif fmt == "slack":
            import yaml

            from bot.adapters.slack.commands import app_manifest

            manifest = app_manifest(
                manager.commands,
                prefix=config.slack.command_prefix,
                request_url=request_url,
                socket_mode=socket_mode,
                language=config.language,
            )
            print(yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True), end="")
        else:
            for spec in specs:
                print(f"{spec.usage()}\n    {spec.description}")
        await manager.close()
    finally:
        await db.close()
    return 0


async def _discord_sync(config: Config, guild: str | None) -> int:
    from bot.adapters.discord.adapter import DiscordAdapter, DiscordStartError
    from bot.adapters.discord.credentials import DiscordCredentials
    from bot.core import Core
    from engine.factory import build_engine

    credentials = DiscordCredentials.from_env(os.environ)
    if credentials is None:
        print("skaldbot: set DISCORD_TOKEN to register the commands", file=sys.stderr)
        return 2
    config.data_dir.mkdir(parents=True, exist_ok=True)
    # The engine is built, never started: registering needs only the plugins' declarations.
    engine = build_engine(config.engine)
    core = await Core.open(config, engine)
    try:
        for failure in core.load_failures:
            print(f"plugin {failure.label} did not load: {failure.reason}", file=sys.stderr)
        adapter = DiscordAdapter(core, credentials, config.discord)
        target = guild or config.discord.guild or None
        try:
            count = await adapter.register(target)
        except DiscordStartError as exc:
            print(f"skaldbot: {exc}", file=sys.stderr)
            return 1
        where = f"in server {target}" if target else "globally (visible within an hour)"
        print(f"registered {count} commands {where}")
        return 0
    finally:
        await core.close()


def _reload(config: Config, names: list[str], timeout_s: float) -> int:
    from bot.processes import LEGACY_PID_FILE, Registry
    from bot.reloads import ReloadMailbox

    registry = Registry(config.data_dir)
    found = registry.scan()
    for bot in found.stale:
        print(f"pid {bot.pid}: that bot is no longer running; removed its registration.")
    for bot in found.unreachable:
        print(
            f"pid {bot.pid}: not signalled: it runs on {bot.host}, not on this machine."
            if not bot.on_this_host
            else f"pid {bot.pid}: not signalled: its registration is still held, but that pid "
            "is no longer the bot that made it (a process it started may hold the file)."
        )
    if not found.live:
        print(f"skaldbot: no running bot found for {config.data_dir}", file=sys.stderr)
        legacy = config.data_dir / LEGACY_PID_FILE
        if legacy.exists():
            print(
                f"  {legacy} is from an older Skald and is not read any more: restart that bot, "
                "then reload it with this command.",
                file=sys.stderr,
            )
        return 1
    mailbox = ReloadMailbox(config.data_dir)
    request = mailbox.send(names, [bot.token for bot in found.live])
    # Each bot's answer, or why there is none.
    answers: dict[int, ReloadResult | str] = {}
    try:
        waiting = []
        for bot in found.live:
            try:
                bot.signal(signal.SIGUSR1)
            except ProcessLookupError:
                answers[bot.pid] = "stopped before it could be asked."
            else:
                waiting.append(bot)
        if waiting:
            pids = ", ".join(str(bot.pid) for bot in waiting)
            bots = f"{len(waiting)} running bot{'s' * (len(waiting) > 1)}"
            what = " ".join(names) or "every plugin"
            print(f"Asked {bots} (pid {pids}) to reload {what}.", flush=True)
        deadline = time.monotonic() + timeout_s
        while waiting and time.monotonic() < deadline:
            time.sleep(RELOAD_POLL_S)
            for bot in list(waiting):
                result = mailbox.result(request, bot.token)
                if result is None and registry.is_live(bot):
                    continue
                # It may have answered just before it exited.
                result = result or mailbox.result(request, bot.token)
                answers[bot.pid] = result or "stopped before answering."
                waiting.remove(bot)
        for bot in waiting:
            answers[bot.pid] = f"no answer within {timeout_s:g} s."
    finally:
        mailbox.withdraw(request)
    for pid, answer in sorted(answers.items()):
        for line in _answer_lines(answer):
            print(f"pid {pid}: {line}")
    return 0 if all(isinstance(a, ReloadResult) and a.ok for a in answers.values()) else 1


def _answer_lines(answer: ReloadResult | str) -> list[str]:
    """What one bot answered, one line each: what reloaded, then each failure."""
    if isinstance(answer, str):
        return [answer]
    if not answer.reloaded and not answer.failed:
        return ["there was no plugin to reload."]
    done = [f"reloaded {', '.join(answer.reloaded)}."] if answer.reloaded else []
    return done + list(answer.failed)


def _new_plugin(name: str, directory: Path | None) -> int:
    from bot.scaffold import ScaffoldError, write_plugin_package

    target = directory if directory is not None else Path(name)
    try:
        written = write_plugin_package(name, target)
    except (ScaffoldError, OSError) as exc:
        print(f"skaldbot: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    print(
        f"Next: pip install -e {target} && python -m pytest {target}; "
        f"then `skaldbot run` lists /{name} in /help."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
