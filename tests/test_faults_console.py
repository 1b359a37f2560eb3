"""The console keeps serving: after a bad byte, a full disk, a read-only database."""

from __future__ import annotations

import io
import os
import resource
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from bot.adapters.console import CHANNEL, ConsoleAdapter
from bot.config import RouterSettings
from bot.core import Core
from engine import EngineError
from tests.conftest import Console, open_core
from tests.scripted_engine import ScriptedEngine
from tests.test_faults_storage import ROOT, make_database


def byte_console(core: Core, data: bytes) -> tuple[ConsoleAdapter, io.BytesIO]:
    """A console reading raw bytes the way Python reads a pipe, writing strict UTF-8."""
    stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="surrogateescape")
    raw_out = io.BytesIO()
    stdout = io.TextIOWrapper(raw_out, encoding="utf-8", write_through=True)
    return ConsoleAdapter(core, stdin, stdout, interactive=False), raw_out


async def test_a_line_with_a_bad_byte_is_served_and_so_is_the_next(core: Core) -> None:
    console, out = byte_console(
        core, b"caf\xe9 au lait\n/rewrite text:caf\xe9 style:noir\n/prefs show\n"
    )
    await console.run()
    printed = out.getvalue().decode()
    assert "> /rewrite text:caf\ufffd style:noir" in printed
    assert "Scripted reply to: Rewrite" in printed
    assert "> /prefs show" in printed  # the line after the bad bytes was served
    [said, _reply] = await core.messages.recent(CHANNEL.scope, 10)
    assert said.text == "caf\ufffd au lait"


async def test_a_full_disk_costs_one_line_and_the_next_is_served(
    core: Core, console: Console
) -> None:
    await console.type("/rewrite text:hello style:noir")
    # The database may not grow any more: SQLite answers SQLITE_FULL, as on a full disk.
    [[pages]] = await core.db.fetchall("PRAGMA page_count")
    await core.db.fetchall(f"PRAGMA max_page_count = {pages}")
    printed = await console.type("a long chat line " * 2000)
    assert printed == "⚠ Could not save: the disk is full.\n"
    printed = await console.type("/rewrite text:hello again style:noir")
    assert "Scripted reply to: Rewrite" in printed or "disk is full" in printed
    assert "Something went wrong" not in printed
    printed = await console.type("/help")
    assert "/story" in printed


def run_console_with_file_limit(
    data_dir: Path, lines: list[str], limit: int
) -> subprocess.CompletedProcess[str]:
    """`skaldbot run` reading `lines`, unable to grow any file past `limit` bytes."""

    def limit_files() -> None:
        # Ignored, SIGXFSZ would kill the process; now the write fails with EFBIG instead,
        # which is what a full disk looks like to SQLite.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "SLACK_", "SKALD_"))
    }
    # An engine server that is never there: no model loads, and chat lines and /help need none.
    env.update(
        PYTHONPATH=str(ROOT),
        PYTHONDONTWRITEBYTECODE="1",
        SKALD_DATA_DIR=str(data_dir),
        SKALD_ENGINE_URLS="http://127.0.0.1:9",
    )
    return subprocess.run(
        [sys.executable, "-c", "from bot.cli import main; raise SystemExit(main())", "run"],
        env=env,
        cwd=ROOT,
        input="".join(line + "\n" for line in lines),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=limit_files,
    )


async def test_a_disk_that_fills_mid_run_costs_lines_and_the_next_is_served(
    tmp_path: Path,
) -> None:
    # The limit is set once the database exists, a little above its size: the write-ahead
    # log, where every write lands first, fills after a few long lines.
    path = await make_database(tmp_path)
    limit = path.stat().st_size + 64 * 1024
    long_lines = [f"long line {i} " + "words " * 4000 for i in range(8)]
    result = run_console_with_file_limit(
        tmp_path, ["a short line before the disk fills", *long_lines, "/help"], limit
    )
    assert result.returncode == 0
    out = result.stdout.splitlines()
    refused = out[: out.index("> /help")]
    # SQLite hears EFBIG as SQLITE_IOERR_WRITE: one short line per lost chat line.
    assert 1 <= len(refused) < len(long_lines)
    assert set(refused) == {"⚠ Could not save: the disk refused the write (it may be full)."}
    assert "Something went wrong" not in result.stdout and "Traceback" not in result.stderr
    assert any(line.startswith("  /story start") for line in out)  # /help was served
    # Every line that was not refused is in the database (its log holds the latest ones).
    with sqlite3.connect(path) as conn:
        saved = [text for (text,) in conn.execute("SELECT text FROM channel_messages")]
    conn.close()
    assert saved[0] == "a short line before the disk fills"
    assert saved[1:] == [line.strip() for line in long_lines[: len(long_lines) - len(refused)]]


async def test_a_read_only_database_costs_one_line_and_the_next_is_served(
    core: Core, console: Console
) -> None:
    # Writes refused with SQLITE_READONLY, as for a read-only file or mount.
    await core.db.fetchall("PRAGMA query_only = 1")
    printed = await console.type("just chatting")
    assert printed == "⚠ Could not save: the database is read-only.\n"
    printed = await console.type("/prefs set key:language value:zh")
    assert "read-only" in printed and "Something went wrong" not in printed
    printed = await console.type("/help")
    assert "/story" in printed


async def test_a_filter_phrase_with_a_lone_surrogate_is_added(console: Console) -> None:
    printed = await console.type("/skald filter action:add phrase:bad\ud800word")
    assert printed.endswith('"bad\ufffdword" is blocked in this channel.\n')


async def test_text_the_filter_held_back_is_dropped_when_the_engine_fails(
    console: Console, engine: ScriptedEngine
) -> None:
    async def failing(*args: object, **kwargs: object) -> AsyncIterator[str]:
        words = "The sea was calm and the gulls were quiet over the harbour all day long"
        for word in (words + " " + words).split():
            yield word + " "
        # "hel" could still become "hell": the filter holds it back until the next word.
        yield "and hel"
        raise EngineError("the engine fell over mid-stream")

    engine.stream = failing  # type: ignore[method-assign]
    printed = await console.type("/story start premise:a calm sea")
    lines = printed.splitlines()
    assert lines[-1].startswith("⚠ The language model failed on this request.")
    assert "all day long and" in printed and "hel" not in printed.split("long and")[-1]


async def test_an_engine_that_hangs_mid_reply_ends_it_with_a_notice(tmp_path: Path) -> None:
    shown_first = (
        "The sea was calm that night. The gulls slept on the harbour wall until dawn. "
        "A lone boat drifted past the lighthouse with its lamp unlit. "
        "Nobody on the pier said a word about it."
    )
    script = ScriptedEngine.replying(shown_first + " Then the wind rose.")
    # It hangs after "Then the wind", once the reply's opening has been shown.
    engine = ScriptedEngine(script, hang_after=len(shown_first.split()) + 3)
    core = await open_core(
        tmp_path, engine, router=RouterSettings(cooldown_s=0, stall_timeout_s=0.2)
    )
    console = Console(core)
    printed = await console.type("/rewrite text:hello style:noir")
    [_typed, shown, notice] = printed.splitlines()
    assert shown == shown_first + " Then the wind"
    assert notice.startswith(
        "⚠ The language model stopped writing (nothing for 0.2 s), so this reply ends here."
    )
    assert engine.aborted == 1  # the hung request was cancelled in the engine
    # In the channel's language, and the bot goes on serving.
    await console.type("/prefs set key:language value:zh")
    printed = await console.type("/rewrite text:hello style:noir")
    assert "语言模型停止了输出" in printed.splitlines()[-1]
    assert engine.running == 0  # nothing left generating for nobody
    assert "/story" in await console.type("/help")
    await core.close()
