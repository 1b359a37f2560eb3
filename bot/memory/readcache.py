"""A bounded in-memory cache of what was read from SQLite, safe against a change mid-read."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class ReadCache(Generic[V]):
    """Values read from the database, by key, kept until a change invalidates them.

    Every command reads its channel's preferences and controls, so they are read once and
    then served from memory. Every change goes through `invalidate`, which also bumps a
    counter: a read that began before a change never stores the rows it saw.
    """

    def __init__(self, limit: int = 10_000) -> None:
        self._values: dict[str, V] = {}
        self._changes = 0
        self._limit = limit

    def invalidate(self, key: str) -> None:
        """Forget one key's value; reads already under way will not be kept."""
        self._changes += 1
        self._values.pop(key, None)

    async def get(self, key: str, read: Callable[[str], Awaitable[V]]) -> V:
        """The value kept for key, or what `read(key)` returns (then kept, unless changed)."""
        if key in self._values:
            return self._values[key]
        changes = self._changes
        value = await read(key)
        if changes == self._changes:
            if len(self._values) >= self._limit:  # bounded; it refills on demand
                self._values.clear()
            self._values[key] = value
        return value
