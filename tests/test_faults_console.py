"""The console keeps serving: after a bad byte, a full disk, a read-only database."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

from bot.adapters.console import CHANNEL, ConsoleAdapter
from bot.core import Core
from engine import EngineError
from tests.conftest import Console
from tests.scripted_engine import ScriptedEngine


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
