"""What Skald stores about a channel: exported on request, pruned when old, forgotten on demand."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import shutil
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.invocation import ChannelRef
from bot.memory.database import Database
from bot.plugin import Plugin
from bot.reply import Attachment

log = logging.getLogger(__name__)

DAY_S = 86400.0
# Export files are for downloading once; they are deleted a day after they were made.
EXPORT_KEEP_S = DAY_S


def export_folder(exports_dir: Path, scope: str) -> Path:
    """The folder of one channel's export files (named by a hash: ids stay out of paths)."""
    return exports_dir / hashlib.sha256(scope.encode()).hexdigest()[:16]


async def channel_data(db: Database, channel: ChannelRef) -> dict[str, Any]:
    """Every row stored for one channel, table by table, as plain data."""
    tables: dict[str, list[dict[str, Any]]] = {}
    for table in await db.scoped_tables():
        rows = await db.fetchall(f'SELECT * FROM "{table}" WHERE scope = ?', (channel.scope,))
        if rows:
            tables[table] = [dict(r) for r in rows]
    return {
        "channel": {
            "platform": channel.platform,
            "workspace": channel.workspace,
            "channel": channel.channel,
        },
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "tables": tables,
    }


async def write_export(db: Database, channel: ChannelRef, exports_dir: Path) -> Attachment:
    """Write the channel's data as a JSON file in the data folder; returns it as a file."""
    data = await channel_data(db, channel)
    folder = export_folder(exports_dir, channel.scope)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"skald-export-{stamp}.json"
    text = json.dumps(data, ensure_ascii=False, indent=2)
    await asyncio.to_thread(_write_private, path, text)
    return Attachment(path.name, text.encode("utf-8"), path)


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)


def forget_exports(exports_dir: Path, scope: str) -> int:
    """Delete a channel's export files; returns how many there were."""
    folder = export_folder(exports_dir, scope)
    if not folder.is_dir():
        return 0
    count = sum(1 for _ in folder.iterdir())
    shutil.rmtree(folder, ignore_errors=True)
    return count


def prune_exports(exports_dir: Path, now: float) -> int:
    """Delete export files older than EXPORT_KEEP_S; returns how many."""
    removed = 0
    if not exports_dir.is_dir():
        return 0
    for path in exports_dir.glob("*/*.json"):
        if now - path.stat().st_mtime > EXPORT_KEEP_S:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


async def prune_expired(
    db: Database, plugins: Iterable[Plugin], retention_days: float, now: float | None = None
) -> dict[str, int]:
    """Delete rows older than the retention from every table a plugin declares; counts."""
    cutoff = (time.time() if now is None else now) - retention_days * DAY_S
    counts: dict[str, int] = {}
    for plugin in plugins:
        for table, stamp in plugin.retention:
            async with db.write() as conn:
                cursor = await conn.execute(f'DELETE FROM "{table}" WHERE ({stamp}) < ?', (cutoff,))
            if cursor.rowcount:
                counts[table] = cursor.rowcount
    return counts
