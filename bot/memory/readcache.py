"""A bounded in-memory cache of what was read from SQLite, safe against a change mid-read."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from bot.memory.database import Database

V = TypeVar("V")


class ReadCache(Generic[V]):
    """Values read from the database, by key, kept until a change invalidates them.

    Every command reads its channel's preferences and controls, so they are read once and
    then served from memory. Every change this process makes goes through `invalidate`,
    which also bumps a counter: a read that began before a change never stores the rows it
    saw. A change another process commits is noticed by the database within FRESHNESS_S
    (SQLite's data_version), and then everything held is dropped.
    """

    def __init__(self, db: Database, limit: int = 10_000) -> None:
        self._db = db
        self._values: dict[str, V] = {}
        self._changes = 0
        self._outside = db.outside_changes
        self._limit = limit

    def invalidate(self, key: str) -> None:
        """Forget one key's value; reads already under way will not be kept."""
        self._changes += 1
        self._values.pop(key, None)

    def clear(self) -> None:
        """Forget every value; reads already under way will not be kept."""
        self._changes += 1
        self._values.clear()

    async def get(self, key: str, read: Callable[[str], Awaitable[V]]) -> V:
        """The value kept for key, or what `read(key)` returns (then kept, unless changed)."""
        outside = await self._db.notice_outside_changes()
        if outside != self._outside:
            # Which rows the other process changed is unknown: drop everything.
            self._outside = outside
            self.clear()
        if key in self._values:
            return self._values[key]
        changes = self._changes
        value = await read(key)
        # Not kept when this process changed something meanwhile, or when another process's
        # commit was noticed meanwhile (the read may have come before that commit).
        if changes == self._changes and outside == self._db.outside_changes:
            if len(self._values) >= self._limit:  # bounded; it refills on demand
                self._values.clear()
            self._values[key] = value
        return value
