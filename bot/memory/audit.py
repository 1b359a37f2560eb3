"""The audit trail: every change of a preference or admin setting, who made it and when."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiosqlite

from bot.memory.database import Database


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One recorded change; `actor` is a platform user id, values are as stored."""

    at: float
    actor: str
    setting: str
    old: Any
    new: Any

    @property
    def when(self) -> str:
        """The time of the change, to the minute, in UTC."""
        return datetime.fromtimestamp(self.at, UTC).strftime("%Y-%m-%d %H:%M UTC")


class AuditLog:
    """Records changes per channel and reads back the most recent ones."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def recent(self, scope: str, limit: int = 20) -> list[AuditEntry]:
        """The channel's latest changes, newest first."""
        rows = await self._db.fetchall(
            "SELECT at, actor, setting, old, new FROM audit_log WHERE scope = ?"
            " ORDER BY id DESC LIMIT ?",
            (scope, limit),
        )
        return [
            AuditEntry(
                float(r["at"]),
                str(r["actor"]),
                str(r["setting"]),
                None if r["old"] is None else json.loads(r["old"]),
                None if r["new"] is None else json.loads(r["new"]),
            )
            for r in rows
        ]


async def record_change(
    conn: aiosqlite.Connection, scope: str, actor: str, setting: str, old: Any, new: Any
) -> None:
    """Record one change inside the caller's write transaction (both commit together)."""
    await conn.execute(
        "INSERT INTO audit_log (scope, actor, at, setting, old, new) VALUES (?, ?, ?, ?, ?, ?)",
        (scope, actor, time.time(), setting, _json(old), _json(new)),
    )


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)
