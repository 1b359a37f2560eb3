"""A damaged database: start-up names it and what to do, `doctor` checks it, `backup` copies it."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.core import Core
from tests.conftest import make_config
from tests.scripted_engine import ScriptedEngine

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "config.yaml")


def start(data_dir: Path) -> subprocess.CompletedProcess[str]:
    """`skaldbot run` on the console with that data folder (no platform tokens)."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "SLACK_", "SKALD_"))
    }
    # A remote engine that is never there: should the check let the start go on, no model
    # is loaded here.
    env.update(
        PYTHONPATH=str(ROOT), SKALD_DATA_DIR=str(data_dir), SKALD_ENGINE_URLS="http://127.0.0.1:9"
    )
    return subprocess.run(
        [sys.executable, "-c", "from bot.cli import main; raise SystemExit(main())", "run"],
        env=env,
        cwd=ROOT,
        input="",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def make_database(data_dir: Path, rows: int = 0) -> Path:
    """A real database as the bot leaves it, with `rows` chat lines."""
    config = make_config(data_dir)
    core = await Core.open(config, ScriptedEngine())
    for i in range(rows):
        await core.messages.record("console:local:terminal", "ada", f"line {i} " + "x" * 200)
    await core.close()
    return config.database_path


def zero_a_middle_page(path: Path) -> None:
    """Overwrite one page in the middle of the file with zeros (a torn write, a bad disk)."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        count = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    with path.open("r+b") as file:
        file.seek(page * (count // 2))
        file.write(b"\0" * page)


@pytest.mark.parametrize("damage", ["not a database", "newer schema", "zeroed page"])
async def test_start_up_on_a_bad_database_says_what_to_do_and_changes_nothing(
    tmp_path: Path, damage: str
) -> None:
    path = await make_database(tmp_path, rows=300)
    if damage == "not a database":
        path.write_bytes(b"this is no SQLite file " * 100)
    elif damage == "newer schema":
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE schema_versions SET version = 99 WHERE owner = 'core'")
        conn.close()
    else:
        zero_a_middle_page(path)
    before = digest(path)
    result = start(tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"the database {path} cannot be used" in result.stderr
    assert "skaldbot doctor" in result.stderr and "skaldbot backup" in result.stderr
    assert digest(path) == before


async def test_doctor_runs_the_integrity_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKALD_DATA_DIR", str(tmp_path))
    path = await make_database(tmp_path, rows=300)
    # The doctor runs its checks on an event loop of its own, as from a terminal.
    assert await asyncio.to_thread(main, ["--config", CONFIG, "doctor"]) == 0
    out = capsys.readouterr().out
    assert "ok   integrity_check: ok" in out and "No problems found." in out
    zero_a_middle_page(path)
    before = digest(path)
    assert await asyncio.to_thread(main, ["--config", CONFIG, "doctor"]) == 1
    out = capsys.readouterr().out
    assert "FAIL integrity_check" in out and "The file was not changed." in out
    assert digest(path) == before


async def test_backup_copies_the_live_database_and_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKALD_DATA_DIR", str(tmp_path / "data"))
    config = make_config(tmp_path / "data")
    core = await Core.open(config, ScriptedEngine())  # the bot is running
    await core.messages.record("console:local:terminal", "ada", "keep this line")
    copy = tmp_path / "copy.db"
    assert main(["--config", CONFIG, "backup", str(copy)]) == 0
    assert f"to {copy}" in capsys.readouterr().out
    with sqlite3.connect(copy) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        [[text]] = conn.execute("SELECT text FROM channel_messages").fetchall()
    conn.close()
    assert text == "keep this line"
    assert main(["--config", CONFIG, "backup", str(copy)]) == 1
    assert "exists already" in capsys.readouterr().err
    await core.close()
