"""A plugin's handle on its own tables, scoped to the channel of one invocation."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiosqlite

from bot.memory.database import Database


class PluginStore:
    """Runs a plugin's SQL on its tables; `scope` is the channel key its rows carry."""

    def __init__(self, db: Database, plugin: str, scope: str) -> None:
        self._db = db
        self.plugin = plugin
        self.scope = scope

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run one query and return every row."""
        return await self._db.fetchall(sql, params)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """Run one query and return its first row, or None."""
        return await self._db.fetchone(sql, params)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one write statement in its own transaction; returns the rows changed."""
        async with self._db.write() as conn:
            cursor = await conn.execute(sql, params)
            return cursor.rowcount

    @asynccontextmanager
    async def write(self) -> AsyncIterator[aiosqlite.Connection]:
        """A read-modify-write transaction; never hold it across an engine call."""
        async with self._db.write() as conn:
            yield conn
