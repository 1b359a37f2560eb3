"""`skaldbot reload` against real `skaldbot run` processes sharing one data folder.

Two bots run on one folder, their engine a fake `vllm serve` (tests/fake_openai.py). A rating
set in one is seen by the other within a second. One `skaldbot reload` reaches both and
prints each one's answer; a registration left by a crashed bot, or naming a pid that now
belongs to an unrelated process, is never signalled.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app import ControlSignals
from bot.processes import Registry, process_start, run_folder
from bot.reloads import ReloadMailbox
from tests.bot_processes import REPO, BotFolder, BotProcess, readme_plugin, skaldbot
from tests.fake_openai import REPLY, FakeOpenAI
from tests.scripted_engine import ScriptedEngine
from tests.test_plugin_loading import core_with_folder

# A registered "bot" that hangs: it holds its registration but never answers.
HANGING_BOT = """
import signal, sys, time
from pathlib import Path
from bot.processes import Registry
signal.signal(signal.SIGUSR1, signal.SIG_IGN)
registration = Registry(Path(sys.argv[1])).register()
print("registered", flush=True)
time.sleep(120)
"""
# A "bot" that registers, starts a child that inherits its locked file (as a forked
# worker would), and dies at once without cleaning up: its registration stays held.
ORPHANING_BOT = """
import os, sys, time
from pathlib import Path
from bot.processes import Registry
registration = Registry(Path(sys.argv[1])).register()
child = os.fork()
if child == 0:
    # Off the caller's pipes, so it does not wait for this one; the locked file stays open.
    for fd in (0, 1, 2):
        os.dup2(os.open(os.devnull, os.O_RDWR), fd)
    time.sleep(120)
    os._exit(0)
print(registration.bot.pid, child, flush=True)
os._exit(0)
"""


@pytest.fixture(scope="module")
def engine_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def folder(
    tmp_path_factory: pytest.TempPathFactory, engine_server: FakeOpenAI
) -> Iterator[BotFolder]:
    """A data folder with two bots running on it (started one after the other)."""
    shared = BotFolder(tmp_path_factory.mktemp("shared"), engine_server.url)
    try:
        shared.start_bot()
        shared.start_bot()
        yield shared
    finally:
        shared.stop_all()


@pytest.fixture(scope="module")
def two_bots(folder: BotFolder) -> tuple[BotProcess, BotProcess]:
    first, second = folder.bots[:2]
    return first, second


def edit_haiku(folder: BotFolder, old: str, new: str) -> None:
    path = folder.plugins / "haiku.py"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_two_bots_on_one_data_folder_both_register_and_serve(
    folder: BotFolder, two_bots: tuple[BotProcess, BotProcess], engine_server: FakeOpenAI
) -> None:
    first, second = two_bots
    assert {bot.pid for bot in Registry(folder.data).scan().live} == {first.pid, second.pid}
    served = len(engine_server.requests)
    assert REPLY in first.type('/haiku subject:"the first frost"')
    assert REPLY in second.type('/haiku subject:"spring rain"')
    assert len(engine_server.requests) == served + 2


def test_a_rating_changed_in_one_bot_is_seen_by_the_other_within_a_second(
    two_bots: tuple[BotProcess, BotProcess],
) -> None:
    first, second = two_bots
    for bot in two_bots:  # each has read the channel's preferences (and keeps them)
        assert "rating = general;" in bot.type("/skald settings")
    for changer, other, rating in ((first, second, "teen"), (second, first, "general")):
        assert f"rating = {rating}" in changer.type(f"/prefs set key:rating value:{rating}")
        time.sleep(1.0)
        assert f"rating = {rating};" in other.type("/skald settings")


def test_one_reload_reports_the_result_of_each_bot(
    folder: BotFolder, two_bots: tuple[BotProcess, BotProcess]
) -> None:
    first, second = two_bots
    edit_haiku(folder, '"Write a haiku about something"', '"Write a haiku, reloaded"')
    done = folder.skaldbot("reload", "haiku")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        f"Asked 2 running bots (pid {first.pid}, {second.pid}) to reload haiku.",
        f"pid {first.pid}: reloaded haiku.",
        f"pid {second.pid}: reloaded haiku.",
    ]
    # Both really run the new version.
    for bot in two_bots:
        assert "Write a haiku, reloaded" in bot.type("/help haiku")
    # The request and the answers are gone; only the two registrations stay.
    assert sorted(p.suffix for p in run_folder(folder.data).iterdir()) == [".lock", ".lock"]


def test_a_failing_reload_is_reported_as_each_bots_error(
    folder: BotFolder, two_bots: tuple[BotProcess, BotProcess]
) -> None:
    first, second = two_bots
    path = folder.plugins / "haiku.py"
    good = path.read_text()
    path.write_text(good + "\ndef half_saved(:\n")
    try:
        done = folder.skaldbot("reload", "haiku", "help")
    finally:
        path.write_text(good)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0] == f"Asked 2 running bots (pid {first.pid}, {second.pid}) to reload haiku help."
    for bot in two_bots:
        # The other plugin reloaded; the broken one is reported, and its old version serves.
        assert f"pid {bot.pid}: reloaded help." in lines
        [error] = [line for line in lines if line.startswith(f"pid {bot.pid}: Plugin haiku")]
        assert error.startswith(f"pid {bot.pid}: Plugin haiku did not reload: SyntaxError: ")
        assert error.endswith("(the previous version keeps running).")
        assert REPLY in bot.type("/haiku subject:dew")


def test_registrations_of_dead_bots_are_removed_and_never_signalled(
    folder: BotFolder, two_bots: tuple[BotProcess, BotProcess]
) -> None:
    first, second = two_bots
    # A third bot crashes: its registration stays behind.
    crashed = folder.start_bot()
    [left] = [bot for bot in Registry(folder.data).scan().live if bot.pid == crashed.pid]
    crashed.kill()
    assert left.path.exists()
    # Another registration names a pid that now belongs to an unrelated process, with that
    # process's own start time: only the lock, which nobody holds, tells it is stale.
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        reused = json.loads(left.path.read_text())
        reused.update(pid=sleeper.pid, process_start=process_start(sleeper.pid))
        reused_path = left.path.with_name(f"{sleeper.pid}-{reused['token']}0.lock")
        reused_path.write_text(json.dumps(reused))

        done = folder.skaldbot("reload", "help")

        assert sleeper.poll() is None, "an unrelated process was signalled"
    finally:
        sleeper.kill()
        sleeper.wait()
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert set(lines[:2]) == {
        f"pid {crashed.pid}: that bot is no longer running; removed its registration.",
        f"pid {sleeper.pid}: that bot is no longer running; removed its registration.",
    }
    assert lines[2:] == [
        f"Asked 2 running bots (pid {first.pid}, {second.pid}) to reload help.",
        f"pid {first.pid}: reloaded help.",
        f"pid {second.pid}: reloaded help.",
    ]
    assert not left.path.exists() and not reused_path.exists()


def test_a_bot_that_does_not_answer_is_named_after_the_timeout(
    folder: BotFolder, two_bots: tuple[BotProcess, BotProcess]
) -> None:
    hanging = subprocess.Popen(
        [sys.executable, "-c", HANGING_BOT, str(folder.data)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert hanging.stdout is not None and hanging.stdout.readline() == "registered\n"
        done = folder.skaldbot("reload", "help", "--timeout", "3")
        assert hanging.poll() is None
    finally:
        hanging.kill()
        hanging.wait()
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert f"pid {hanging.pid}: no answer within 3 s." in lines
    for bot in two_bots:
        assert f"pid {bot.pid}: reloaded help." in lines


def running(pid: int) -> bool:
    """True while a process (not our child, so not waited for) runs and is no zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_a_registration_held_by_a_process_it_does_not_name_is_never_signalled(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    orphaning = subprocess.run(
        [sys.executable, "-c", ORPHANING_BOT, str(data)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    dead, child = map(int, orphaning.stdout.split())
    [held] = run_folder(data).glob("*.lock")
    try:
        found = Registry(data).scan()
        assert [bot.pid for bot in found.unreachable] == [dead] and not found.live
        done = skaldbot(REPO / "config.yaml", "reload", data_dir=data)
        assert running(child), "the process holding the file was signalled"
    finally:
        os.kill(child, signal.SIGKILL)
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        f"pid {dead}: not signalled: its registration is still held, but that pid is no "
        "longer the bot that made it (a process it started may hold the file)."
    ]
    assert "no running bot found" in done.stderr
    assert held.exists()  # still held: not ours to remove


async def test_a_plain_sighup_reloads_every_plugin_of_that_bot(tmp_path: Path) -> None:
    plugins = tmp_path / "custom_plugins"
    plugins.mkdir()
    for name, text in readme_plugin().items():
        (plugins / name).write_text(text)
    core = await core_with_folder(tmp_path / "data", plugins, ScriptedEngine(), builtin=("help",))
    signals = ControlSignals(core, ReloadMailbox(tmp_path / "data"), stop=lambda: None)
    signals.install()
    try:
        source = plugins / "haiku.py"
        source.write_text(source.read_text().replace("about something", "after a SIGHUP"))
        os.kill(os.getpid(), signal.SIGHUP)  # as `kill -HUP` by hand: this test plays the bot
        for _ in range(100):
            if core.plugins.commands["haiku"].description == "Write a haiku after a SIGHUP":
                break
            await asyncio.sleep(0.02)
        assert core.plugins.commands["haiku"].description == "Write a haiku after a SIGHUP"
    finally:
        signals.remove()
        await core.close()
