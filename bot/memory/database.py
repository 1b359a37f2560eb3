"""The SQLite database shared by the core and plugins: WAL, versioned migrations, safe writes."""

from __future__ import annotations

import asyncio
import math
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

# The core's own schema. Append new steps; never edit a step that has shipped.
CORE_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE prefs (
        scope TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,          -- JSON
        updated_at REAL NOT NULL,
        PRIMARY KEY (scope, key)
    );
    CREATE TABLE channel_messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        scope TEXT NOT NULL,
        author TEXT NOT NULL,
        text TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX channel_messages_scope ON channel_messages (scope, id);
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # Generated tokens per channel or user ("channel:<scope>", "user:<platform>:<id>") per
    # five-minute bucket, for token budgets; rows older than a day are deleted.
    """
    CREATE TABLE engine_usage (
        key TEXT NOT NULL,
        bucket INTEGER NOT NULL,
        tokens INTEGER NOT NULL,
        PRIMARY KEY (key, bucket)
    );
    """,
    # Admin controls per channel, users blocked per workspace, and the audit trail.
    """
    CREATE TABLE channel_controls (
        scope TEXT NOT NULL,
        key TEXT NOT NULL,            -- "disabled:<plugin>", "cooldown:<command>", "phrase:<text>"
        value TEXT NOT NULL,          -- JSON
        updated_at REAL NOT NULL,
        PRIMARY KEY (scope, key)
    );
    CREATE TABLE workspace_blocks (
        workspace TEXT NOT NULL,      -- ChannelRef.workspace_key: not one channel's row
        user_id TEXT NOT NULL,
        blocked_by TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (workspace, user_id)
    );
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        scope TEXT NOT NULL,
        actor TEXT NOT NULL,          -- the platform's user id, never a name
        at REAL NOT NULL,
        setting TEXT NOT NULL,
        old TEXT,                     -- JSON, NULL when unset
        new TEXT                      -- JSON, NULL when removed
    );
    CREATE INDEX audit_log_scope ON audit_log (scope, id);
    """,
    # When each person last used each command (time.time()), so that a cooldown started in
    # one process holds in every process on this database; rows older than a day are deleted.
    """
    CREATE TABLE command_uses (
        platform TEXT NOT NULL,
        user_id TEXT NOT NULL,
        command TEXT NOT NULL,
        used_at REAL NOT NULL,
        PRIMARY KEY (platform, user_id, command)
    );
    CREATE INDEX command_uses_at ON command_uses (used_at);
    """,
)
CORE_OWNER = "core"
BUSY_TIMEOUT_MS = 5000
# How often at most a cached read asks whether another connection committed: a change made
# by another process is served stale for at most about this long.
FRESHNESS_S = 0.5


class MigrationError(Exception):
    """A migration failed or created tables its owner may not create."""


def split_statements(script: str) -> list[str]:
    """Split an SQL script into complete statements (executescript would commit on its own)."""
    statements: list[str] = []
    current = ""
    for piece in script.split(";"):
        current += piece + ";"
        if sqlite3.complete_statement(current):
            if current.strip(" \n\t;"):
                statements.append(current.strip())
            current = ""
    if current.strip(" \n\t;"):
        raise MigrationError(f"incomplete SQL statement: {current.strip()[:80]!r}")
    return statements


class Database:
    """One aiosqlite connection; every statement runs under one lock, writes in BEGIN IMMEDIATE."""

    def __init__(
        self, conn: aiosqlite.Connection, path: Path, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._conn = conn
        self.path = path
        # One connection serves every coroutine: the lock keeps one transaction at a time,
        # so a reader never sees another coroutine's half-done write.
        self._lock = asyncio.Lock()
        self._holder: asyncio.Task[Any] | None = None
        self.closed = False
        # Commits by other connections (other processes) seen so far, for the read caches.
        # SQLite's data_version moves only for other connections' commits: this process's
        # own writes invalidate its caches themselves. Should the class ever read through
        # connections of its own besides the writer, the writer's commits would move theirs
        # too (harmless: the caches would just refill more often).
        self.outside_changes = 0
        self._data_version: int | None = None
        self._clock = clock
        self._checked_at = -math.inf
        self._checking: asyncio.Future[None] | None = None

    @asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        """Hold the connection; a task asking again while it holds it gets an error, not a hang."""
        task = asyncio.current_task()
        if task is not None and task is self._holder:
            raise RuntimeError(
                "this task already holds the database (inside a write() block): run the "
                "statement on the connection that block gives you"
            )
        async with self._lock:
            self._holder = task
            try:
                yield
            finally:
                self._holder = None

    @classmethod
    async def open(cls, path: Path | str, clock: Callable[[], float] = time.monotonic) -> Database:
        """Open (creating if needed) the database file and bring the core schema up to date.

        `clock` times the checks for other processes' changes (see `notice_outside_changes`).
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, isolation_level=None)
        try:
            conn.row_factory = aiosqlite.Row
            await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            await conn.execute("PRAGMA journal_mode = WAL")
            # NORMAL in WAL mode survives application crashes; only power loss can undo a commit.
            await conn.execute("PRAGMA synchronous = NORMAL")
            await conn.execute("PRAGMA foreign_keys = ON")
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_versions ("
                " owner TEXT PRIMARY KEY, version INTEGER NOT NULL)"
            )
        except BaseException:
            await conn.close()
            raise
        db = cls(conn, path, clock)
        try:
            await db.migrate(CORE_OWNER, CORE_MIGRATIONS)
            db._data_version = await db._read_data_version()
        except BaseException:
            # A refused or failed core migration must not leave the connection's
            # (non-daemon) thread running: the process could never exit.
            await db.close()
            raise
        return db

    async def _read_data_version(self) -> int:
        row = await self.fetchone("PRAGMA data_version")
        return int(row[0]) if row else 0

    async def notice_outside_changes(self) -> int:
        """How many commits of other connections were seen; asks SQLite at most every FRESHNESS_S.

        The read caches compare the number with the one they filled at and drop what they
        hold when it moved. Asking costs one trip to the connection's thread, so it is asked
        at most once per FRESHNESS_S however many commands read their caches.
        """
        # Inside this task's own write() block the connection is taken (a check would wait
        # for it forever): the caches it reads there are as fresh as the last check.
        if self.closed or self._holder is asyncio.current_task():
            return self.outside_changes
        if self._checking is not None:
            # One check at a time; those who ask meanwhile wait for its answer, in turn, so
            # commands that arrived in order go on in order.
            await asyncio.shield(self._checking)
            return self.outside_changes
        now = self._clock()
        if now - self._checked_at < FRESHNESS_S:
            return self.outside_changes
        self._checked_at = now
        self._checking = asyncio.get_running_loop().create_future()
        try:
            version = await self._read_data_version()
            if version != self._data_version:
                self._data_version = version
                self.outside_changes += 1
        finally:
            self._checking.set_result(None)
            self._checking = None
        return self.outside_changes

    async def close(self) -> None:
        """Close the connection (its thread ends with it); closing twice does nothing."""
        if self.closed:
            return
        async with self._locked():
            await self._conn.close()
            self.closed = True

    @asynccontextmanager
    async def write(self) -> AsyncIterator[aiosqlite.Connection]:
        """A read-modify-write transaction: BEGIN IMMEDIATE, commit, or roll back on error."""
        async with self._locked():
            try:
                # IMMEDIATE takes the write lock up front, so a read followed by a write
                # can never fail with SQLITE_BUSY_SNAPSHOT when another process wrote in
                # between.
                await self._conn.execute("BEGIN IMMEDIATE")
                yield self._conn
                await self._conn.commit()
            except BaseException:
                # Also when cancelled while BEGIN or COMMIT was queued on the connection's
                # thread: it runs anyway, and a transaction left open would fail every
                # later write. The rollback queues behind it; with none open it does nothing.
                await asyncio.shield(self._conn.rollback())
                raise

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run one query and return every row."""
        async with self._locked():
            # One trip to aiosqlite's thread, where execute + fetchall + close take three.
            return list(await self._conn.execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """Run one query and return its first row, or None (reads them all: LIMIT big ones)."""
        async with self._locked():
            # One trip to aiosqlite's thread (execute, fetchone and close would take three).
            rows = await self._conn.execute_fetchall(sql, params)
        return next(iter(rows), None)

    async def version(self, owner: str) -> int:
        """How many migrations of `owner` have been applied."""
        row = await self.fetchone("SELECT version FROM schema_versions WHERE owner = ?", (owner,))
        return int(row["version"]) if row else 0

    async def migrate(
        self, owner: str, migrations: Sequence[str], table_prefix: str | None = None
    ) -> int:
        """Apply the migrations of `owner` not yet applied, each in its own transaction.

        With `table_prefix`, every table a migration creates must start with it and have a
        `scope` column (so `/prefs forget` can find the channel's rows); otherwise the step
        is rolled back. Returns the number of steps applied.
        """
        applied = 0
        async with self.write() as conn:
            row = await (
                await conn.execute("SELECT version FROM schema_versions WHERE owner = ?", (owner,))
            ).fetchone()
            current = int(row[0]) if row else 0
        if current > len(migrations):
            raise MigrationError(
                f"the database has {owner} schema version {current}, newer than this code's "
                f"{len(migrations)}: upgrade Skald or use another data folder"
            )
        for number, script in enumerate(migrations[current:], start=current + 1):
            async with self.write() as conn:
                before = await _table_names(conn)
                try:
                    for statement in split_statements(script):
                        await conn.execute(statement)
                except sqlite3.Error as exc:
                    raise MigrationError(f"{owner} migration {number} failed: {exc}") from exc
                if table_prefix is not None:
                    await _check_owned_tables(
                        conn, (await _table_names(conn)) - before, owner, table_prefix
                    )
                await conn.execute(
                    "INSERT INTO schema_versions (owner, version) VALUES (?, ?)"
                    " ON CONFLICT (owner) DO UPDATE SET version = excluded.version",
                    (owner, number),
                )
            applied += 1
        return applied

    async def scoped_tables(self) -> list[str]:
        """Every table that holds per-channel rows (has a `scope` column)."""
        async with self._locked():
            return await _scoped_tables(self._conn)

    async def forget(self, scope: str) -> dict[str, int]:
        """Delete every row stored for one channel, in every table; returns counts per table."""
        counts: dict[str, int] = {}
        async with self.write() as conn:
            for table in await _scoped_tables(conn):
                cursor = await conn.execute(f'DELETE FROM "{table}" WHERE scope = ?', (scope,))
                if cursor.rowcount:
                    counts[table] = cursor.rowcount
        return counts

    async def integrity_check(self) -> str:
        """SQLite's own integrity check: "ok" when the file is sound."""
        row = await self.fetchone("PRAGMA integrity_check")
        return str(row[0]) if row else "no answer"

    async def get_meta(self, key: str) -> str | None:
        """A value the core keeps about itself (e.g. a command payload hash)."""
        row = await self.fetchone("SELECT value FROM meta WHERE key = ?", (key,))
        return str(row["value"]) if row else None

    async def set_meta(self, key: str, value: str) -> None:
        """Store a value the core keeps about itself."""
        async with self.write() as conn:
            await conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )


async def _table_names(conn: aiosqlite.Connection) -> set[str]:
    cursor = await conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {str(r[0]) for r in await cursor.fetchall()}


async def _columns(conn: aiosqlite.Connection, table: str) -> set[str]:
    cursor = await conn.execute(f'PRAGMA table_info("{table}")')
    return {str(r[1]) for r in await cursor.fetchall()}


async def _scoped_tables(conn: aiosqlite.Connection) -> list[str]:
    names = sorted(n for n in await _table_names(conn) if not n.startswith("sqlite_"))
    return [n for n in names if "scope" in await _columns(conn, n)]


async def _check_owned_tables(
    conn: aiosqlite.Connection, created: Iterable[str], owner: str, prefix: str
) -> None:
    for table in created:
        if not table.startswith(prefix):
            raise MigrationError(
                f"plugin {owner!r} created table {table!r}: its tables must start with {prefix!r}"
            )
        if "scope" not in await _columns(conn, table):
            raise MigrationError(
                f"plugin {owner!r} table {table!r} needs a `scope` column (the channel key)"
            )
