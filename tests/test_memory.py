"""Channel memory on real SQLite files: the database, migrations, prefs, history, forgetting."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

import bot.memory.history
from bot.memory import Database, MessageLog, MigrationError, PrefStore
from bot.memory.database import BUSY_TIMEOUT_MS, CORE_MIGRATIONS
from bot.memory.readcache import ReadCache
from bot.memory.store import PluginStore

NOTES_V1 = "CREATE TABLE notes_items (scope TEXT NOT NULL, body TEXT NOT NULL);"
NOTES_V2 = "ALTER TABLE notes_items ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;"
NOTES_V3 = "CREATE TABLE notes_tags (scope TEXT NOT NULL, tag TEXT NOT NULL);"


@pytest_asyncio.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh database file in a temporary folder."""
    db = await Database.open(tmp_path / "memory.sqlite3")
    yield db
    await db.close()


async def table_names(db: Database) -> set[str]:
    rows = await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {str(r["name"]) for r in rows}


# --- Opening ---------------------------------------------------------------------------------


async def test_open_uses_wal_and_a_busy_timeout(db: Database) -> None:
    mode = await db.fetchone("PRAGMA journal_mode")
    timeout = await db.fetchone("PRAGMA busy_timeout")
    assert mode is not None and mode[0] == "wal"
    assert timeout is not None and timeout[0] == BUSY_TIMEOUT_MS
    # WAL is a property of the file: any other connection sees it too.
    with closing(sqlite3.connect(db.path)) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_open_creates_missing_folders(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "a" / "b" / "memory.sqlite3")
    try:
        assert await db.integrity_check() == "ok"
    finally:
        await db.close()


async def test_core_migrations_are_versioned_and_not_reapplied(tmp_path: Path) -> None:
    path = tmp_path / "memory.sqlite3"
    db = await Database.open(path)
    try:
        assert await db.version("core") == len(CORE_MIGRATIONS)
        assert {"prefs", "channel_messages", "meta", "schema_versions"} <= await table_names(db)
        await PrefStore(db).set("chan", "story.genre", "mystery")
    finally:
        await db.close()

    db = await Database.open(path)  # reopening runs nothing again and keeps the data
    try:
        assert await db.version("core") == len(CORE_MIGRATIONS)
        assert await db.migrate("core", CORE_MIGRATIONS) == 0
        assert await PrefStore(db).all("chan") == {"story.genre": "mystery"}
    finally:
        await db.close()


async def test_a_newer_core_schema_is_refused_and_the_connection_closed(tmp_path: Path) -> None:
    path = tmp_path / "memory.sqlite3"
    db = await Database.open(path)
    async with db.write() as conn:  # as if a newer Skald had used this folder
        await conn.execute(
            "UPDATE schema_versions SET version = ? WHERE owner = 'core'",
            (len(CORE_MIGRATIONS) + 1,),
        )
    await db.close()

    threads_before = set(threading.enumerate())
    with pytest.raises(MigrationError, match="newer than this code's") as refused:
        await Database.open(path)
    assert "upgrade Skald or use another data folder" in str(refused.value)
    # The refused open must not leave its connection (a non-daemon thread) running:
    # that would keep the process from ever exiting after the error.
    for thread in set(threading.enumerate()) - threads_before:
        thread.join(timeout=5)
        assert not thread.is_alive(), f"{thread.name} still running after the refused open"


# --- Plugin migrations -----------------------------------------------------------------------


async def test_plugin_migrations_apply_only_new_steps(db: Database) -> None:
    assert await db.version("notes") == 0
    assert await db.migrate("notes", [NOTES_V1], table_prefix="notes_") == 1
    assert await db.version("notes") == 1

    # A later release appends steps; only those run.
    assert await db.migrate("notes", [NOTES_V1, NOTES_V2, NOTES_V3], table_prefix="notes_") == 2
    assert await db.version("notes") == 3
    assert await db.migrate("notes", [NOTES_V1, NOTES_V2, NOTES_V3], table_prefix="notes_") == 0

    store = PluginStore(db, "notes", "chan")
    await store.execute(
        "INSERT INTO notes_items (scope, body, pinned) VALUES (?, ?, 1)",
        (store.scope, "remember the lighthouse"),
    )
    row = await store.fetchone(
        "SELECT body, pinned FROM notes_items WHERE scope = ?", (store.scope,)
    )
    assert row is not None and tuple(row) == ("remember the lighthouse", 1)


async def test_a_failing_plugin_step_is_rolled_back(db: Database) -> None:
    await db.migrate("notes", [NOTES_V1], table_prefix="notes_")
    broken = (
        "CREATE TABLE notes_tags (scope TEXT NOT NULL, tag TEXT NOT NULL);"
        "INSERT INTO no_such_table VALUES (1);"
    )
    with pytest.raises(MigrationError, match="notes migration 2 failed"):
        await db.migrate("notes", [NOTES_V1, broken], table_prefix="notes_")
    assert "notes_tags" not in await table_names(db)  # no half-applied step
    assert await db.version("notes") == 1
    # The fixed step applies afterwards.
    assert await db.migrate("notes", [NOTES_V1, NOTES_V3], table_prefix="notes_") == 1
    assert "notes_tags" in await table_names(db)


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("CREATE TABLE items (scope TEXT NOT NULL, body TEXT);", "must start with 'notes_'"),
        ("CREATE TABLE prefs_extra (scope TEXT NOT NULL);", "must start with 'notes_'"),
        ("CREATE TABLE notes_items (id INTEGER PRIMARY KEY, body TEXT);", "needs a `scope` column"),
    ],
)
async def test_plugin_tables_need_the_prefix_and_a_scope_column(
    db: Database, script: str, message: str
) -> None:
    before = await table_names(db)
    with pytest.raises(MigrationError, match=message):
        await db.migrate("notes", [script], table_prefix="notes_")
    assert await table_names(db) == before
    assert await db.version("notes") == 0


async def test_a_newer_plugin_schema_is_refused(db: Database) -> None:
    await db.migrate("notes", [NOTES_V1, NOTES_V2], table_prefix="notes_")
    with pytest.raises(MigrationError, match=r"notes schema version 2, newer than this code's 1"):
        await db.migrate("notes", [NOTES_V1], table_prefix="notes_")
    assert await db.version("notes") == 2


# --- Preferences -----------------------------------------------------------------------------


async def test_prefs_round_trip_as_json_one_row_per_key(db: Database) -> None:
    prefs = PrefStore(db)
    await prefs.set("chan", "story.genre", "fantasy")
    await prefs.set("chan", "story.genre", "mystery")  # overwrites, no second row
    await prefs.set("chan", "summary.messages", 50)
    await prefs.set("chan", "story.nsfw", False)
    await prefs.set("chan", "bot.name", "Skáld ☕ 詩")
    await prefs.set("other", "story.genre", "horror")

    assert await prefs.all("chan") == {
        "story.genre": "mystery",
        "summary.messages": 50,
        "story.nsfw": False,
        "bot.name": "Skáld ☕ 詩",
    }
    rows = await db.fetchall("SELECT key, value FROM prefs WHERE scope = 'chan' ORDER BY key")
    assert [tuple(r) for r in rows] == [
        ("bot.name", '"Skáld ☕ 詩"'),  # stored as readable JSON
        ("story.genre", '"mystery"'),
        ("story.nsfw", "false"),
        ("summary.messages", "50"),
    ]
    assert isinstance((await prefs.all("chan"))["story.nsfw"], bool)

    assert await prefs.reset("chan", "story.genre") is True
    assert await prefs.reset("chan", "story.genre") is False
    assert "story.genre" not in await prefs.all("chan")
    assert await prefs.all("other") == {"story.genre": "horror"}
    assert await prefs.all("nobody") == {}


async def test_prefs_are_read_from_memory_after_the_first_read(db: Database) -> None:
    prefs = PrefStore(db)
    await prefs.set("chan", "story.genre", "fantasy")
    assert await prefs.all("chan") == {"story.genre": "fantasy"}
    # A row changed behind the store's back is not seen until the channel is invalidated...
    await db.fetchall("UPDATE prefs SET value = '\"horror\"' WHERE scope = 'chan'")
    assert await prefs.all("chan") == {"story.genre": "fantasy"}
    prefs.invalidate("chan")
    assert await prefs.all("chan") == {"story.genre": "horror"}
    # ...while every change made through the store shows at once.
    await prefs.set("chan", "story.genre", "mystery")
    assert await prefs.all("chan") == {"story.genre": "mystery"}
    await prefs.reset("chan", "story.genre")
    assert await prefs.all("chan") == {}
    # Callers get a copy: changing it changes nothing stored.
    (await prefs.all("chan"))["story.genre"] = "comedy"
    assert await prefs.all("chan") == {}


async def test_a_read_under_way_when_the_channel_is_invalidated_is_not_cached(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefs = PrefStore(db)
    await prefs.set("chan", "story.genre", "fantasy")
    prefs.invalidate("chan")
    # The read has its rows but has not resumed yet when the row changes elsewhere.
    gate = asyncio.Event()
    real_fetchall = db.fetchall

    async def slow_fetchall(sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        rows = await real_fetchall(sql, params)
        await gate.wait()
        return rows

    monkeypatch.setattr(db, "fetchall", slow_fetchall)
    read = asyncio.create_task(prefs.all("chan"))
    await asyncio.sleep(0.05)
    await real_fetchall("UPDATE prefs SET value = '\"horror\"' WHERE scope = 'chan'")
    prefs.invalidate("chan")
    gate.set()
    assert await read == {"story.genre": "fantasy"}  # what it read...
    assert await prefs.all("chan") == {"story.genre": "horror"}  # ...was not kept


async def test_a_cached_read_inside_a_write_block_neither_fails_nor_hangs(tmp_path: Path) -> None:
    now = [0.0]
    db = await Database.open(tmp_path / "memory.sqlite3", clock=lambda: now[0])
    try:
        prefs = PrefStore(db)
        await prefs.set("chan", "story.genre", "fantasy")
        assert await prefs.all("chan") == {"story.genre": "fantasy"}
        now[0] += 60  # time to ask SQLite whether another process changed something
        # The block holds the connection: the cache serves what it has, as it did before.
        async with db.write() as conn:
            assert await prefs.all("chan") == {"story.genre": "fantasy"}
            await conn.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')")
    finally:
        await db.close()


async def test_the_read_cache_is_bounded_and_refills_on_demand(db: Database) -> None:
    reads: list[str] = []

    async def read(key: str) -> str:
        reads.append(key)
        return key.upper()

    cache: ReadCache[str] = ReadCache(db, limit=2)
    assert [await cache.get(k, read) for k in ("a", "b", "a", "b")] == ["A", "B", "A", "B"]
    assert reads == ["a", "b"]  # read once each
    # A third channel starts the cache over instead of growing it past its limit.
    assert await cache.get("c", read) == "C"
    assert await cache.get("a", read) == "A"
    assert reads == ["a", "b", "c", "a"]


# --- Forgetting a channel --------------------------------------------------------------------


async def test_forget_deletes_one_channel_in_every_scoped_table(db: Database) -> None:
    await db.migrate("notes", [NOTES_V1], table_prefix="notes_")
    prefs, log = PrefStore(db), MessageLog(db)
    for scope in ("a", "b"):
        await prefs.set(scope, "story.genre", "mystery")
        await prefs.set(scope, "summary.messages", 20)
        for i in range(3):
            await log.record(scope, "ada", f"message {i}")
        store = PluginStore(db, "notes", scope)
        await store.execute(
            "INSERT INTO notes_items (scope, body) VALUES (?, ?)", (store.scope, "a note")
        )
    await db.set_meta("commands_hash", "abc")

    assert await db.scoped_tables() == [
        "audit_log",
        "channel_controls",
        "channel_messages",
        "notes_items",
        "prefs",
    ]
    assert await db.forget("a") == {"channel_messages": 3, "notes_items": 1, "prefs": 2}

    for table in ("channel_messages", "notes_items", "prefs"):
        rows = await db.fetchall(f"SELECT DISTINCT scope FROM {table}")
        assert [r["scope"] for r in rows] == ["b"], table
    assert len(await log.recent("b", 10)) == 3
    assert await prefs.all("b") == {"story.genre": "mystery", "summary.messages": 20}
    assert await db.get_meta("commands_hash") == "abc"  # not per-channel: kept
    assert await db.forget("a") == {}


# --- Message log -----------------------------------------------------------------------------


async def test_message_log_returns_the_last_messages_oldest_first(db: Database) -> None:
    log = MessageLog(db)
    for i in range(5):
        await log.record("chan", "ada" if i % 2 else "bob", f"line {i}")
    await log.record("other", "eve", "elsewhere")

    recent = await log.recent("chan", 3)
    assert [(m.author, m.text) for m in recent] == [
        ("bob", "line 2"),
        ("ada", "line 3"),
        ("bob", "line 4"),
    ]
    assert all(m.created_at is not None and m.created_at.tzinfo is not None for m in recent)
    assert [m.text for m in await log.recent("chan", 100)] == [f"line {i}" for i in range(5)]
    assert [m.text for m in await log.recent("other", 100)] == ["elsewhere"]


async def test_message_log_is_trimmed_per_channel(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.memory.history, "KEEP_PER_CHANNEL", 3)
    log = MessageLog(db)
    await log.record("quiet", "eve", "only one")
    for i in range(10):
        await log.record("chan", "ada", f"line {i}")

    rows = await db.fetchall(
        "SELECT scope, COUNT(*) AS n FROM channel_messages GROUP BY scope ORDER BY scope"
    )
    assert [tuple(r) for r in rows] == [("chan", 3), ("quiet", 1)]
    assert [m.text for m in await log.recent("chan", 100)] == ["line 7", "line 8", "line 9"]


# --- Transactions ----------------------------------------------------------------------------


async def test_write_rolls_back_when_the_block_raises(db: Database) -> None:
    prefs = PrefStore(db)
    await prefs.set("chan", "story.genre", "fantasy")
    with pytest.raises(RuntimeError, match="engine went away"):
        async with db.write() as conn:
            await conn.execute("UPDATE prefs SET value = '\"horror\"' WHERE scope = 'chan'")
            await conn.execute("INSERT INTO meta (key, value) VALUES ('half', 'done')")
            raise RuntimeError("engine went away")
    assert await prefs.all("chan") == {"story.genre": "fantasy"}
    assert await db.get_meta("half") is None
    # The connection is usable again: no transaction was left open.
    await prefs.set("chan", "story.genre", "sci-fi")
    assert await prefs.all("chan") == {"story.genre": "sci-fi"}


async def test_two_connections_lose_no_read_modify_write_update(tmp_path: Path) -> None:
    path = tmp_path / "memory.sqlite3"
    first = await Database.open(path)
    second = await Database.open(path)  # e.g. a maintenance command next to the running bot
    try:
        await first.set_meta("counter", "0")

        async def bump(db: Database, times: int) -> None:
            for _ in range(times):
                async with db.write() as conn:
                    cursor = await conn.execute("SELECT value FROM meta WHERE key = 'counter'")
                    row = await cursor.fetchone()
                    assert row is not None
                    await asyncio.sleep(0)  # let the other connection try to get in between
                    await conn.execute(
                        "UPDATE meta SET value = ? WHERE key = 'counter'", (str(int(row[0]) + 1),)
                    )

        await asyncio.gather(bump(first, 100), bump(second, 100))
        assert await first.get_meta("counter") == "200"
        assert await second.get_meta("counter") == "200"
    finally:
        await first.close()
        await second.close()


async def test_reading_inside_a_write_block_is_an_error_not_a_hang(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "nested.sqlite3")
    try:
        with pytest.raises(RuntimeError, match="already holds the database"):
            async with db.write():
                await db.fetchone("SELECT 1")
        # The failed block rolled back and released the connection.
        assert await db.fetchone("SELECT 1") is not None
    finally:
        await db.close()


async def test_a_write_cancelled_at_any_point_leaves_no_transaction_open(db: Database) -> None:
    async with db.write() as conn:
        await conn.execute("CREATE TABLE notes (text TEXT)")

    async def note(text: str) -> None:
        async with db.write() as conn:
            await conn.execute("INSERT INTO notes VALUES (?)", (text,))

    for steps in range(12):  # cancelled before, during and after BEGIN, INSERT and COMMIT
        task = asyncio.create_task(note(f"cancelled after {steps}"))
        for _ in range(steps):
            await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await note("kept")  # the next write would fail inside a transaction left open
    rows = await db.fetchall("SELECT text FROM notes WHERE text = 'kept'")
    assert len(rows) == 12
